"""Deterministic one-direction translator: the unit the rest of the package loads and exports.

F_I→J = G_J∘E_I (``Direction.DEHAZE``) and F_J→I = G_I∘E_J (``Direction.HAZE``), using the posterior
mean (no noise). Input and output are ``(B, 3, H, W)`` float32 in [0, 1] at any H, W: the frame is
padded (replicate, with tensor ops only, so an ONNX export keeps H and W dynamic) to the network's
size multiple and cropped back (:func:`pad_to_multiple`, the one padding policy of the learned
graphs). The [0, 1] ↔ [−1, 1] conversion is :mod:`haze_ros.networks.range`.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from haze_ros.core.types import Direction
from haze_ros.networks.config import NetworkConfig
from haze_ros.networks.physics_model import (AirlightHead, MapDecoder, PhysicsHeads, PhysicsSharedLatentVAE,
                                             encoder_input, pool_frame)
from haze_ros.networks.range import from_network_range, to_network_range
from haze_ros.networks.vae import DomainDecoder, DomainEncoder, SharedLatentVAE, SharedResBlocks

# Source / target domain of each direction.
DIRECTION_DOMAINS = {Direction.DEHAZE: ("hazy", "clear"), Direction.HAZE: ("clear", "hazy")}


def _pad_index(size: torch.Tensor, multiple: int, device: torch.device) -> torch.Tensor:
    """Return indices 0..size-1 followed by size-1 repeated up to the next multiple (replicate padding).

    The padded length is at least ``2 * multiple`` so that the latent map is ≥ 2 pixels (reflect
    padding inside the residual blocks needs that); ``size`` is a 0-d int64 tensor (so tracing keeps
    it symbolic; ``torch._shape_as_tensor`` always gives a CPU tensor); returns a 1-D int64 tensor on
    ``device`` (the frame's device: ``index_select`` on CUDA needs CUDA indices).
    """
    padded = torch.clamp((size + (multiple - 1)) // multiple * multiple, min=2 * multiple)
    index = torch.arange(padded, device=device)
    return torch.minimum(index, (size - 1).to(device))


def _pad_index_eager(size: int, multiple: int, device: torch.device) -> torch.Tensor:
    """:func:`_pad_index` for a Python-int ``size`` (eager mode: built on ``device``, capturable)."""
    padded = max(-(-size // multiple) * multiple, 2 * multiple)
    return torch.arange(padded, device=device).clamp_(max=size - 1)


def pad_to_multiple(x: torch.Tensor, multiple: int):
    """Replicate-pad ``(B, C, H, W)`` to multiples of ``multiple`` (at least ``2·multiple``).

    Returns ``(padded, height, width)`` with the original sizes: Python ints in eager mode (no
    host↔device copy; CUDA-graph capturable), 0-d tensors while tracing (ONNX keeps H, W dynamic).
    The one padding policy of the learned graphs; :func:`crop_to` undoes it.
    """
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        shape = torch._shape_as_tensor(x)
        height, width = shape[2], shape[3]
        rows = _pad_index(height, multiple, x.device)
        cols = _pad_index(width, multiple, x.device)
    else:
        height, width = int(x.shape[2]), int(x.shape[3])
        rows = _pad_index_eager(height, multiple, x.device)
        cols = _pad_index_eager(width, multiple, x.device)
    return x.index_select(2, rows).index_select(3, cols), height, width


def crop_to(y: torch.Tensor, height, width) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: the top-left ``height × width`` of ``(B, C, H', W')``."""
    if isinstance(height, int):
        return y[:, :, :height, :width]
    y = y.index_select(2, torch.arange(height, device=y.device))
    return y.index_select(3, torch.arange(width, device=y.device))


class _DirectionDomains:
    """Source and target domain names of a translator's ``direction``."""

    direction: Direction

    @property
    def source_domain(self) -> str:
        """``hazy`` for dehaze, ``clear`` for haze."""
        return DIRECTION_DOMAINS[self.direction][0]

    @property
    def target_domain(self) -> str:
        """``clear`` for dehaze, ``hazy`` for haze."""
        return DIRECTION_DOMAINS[self.direction][1]


class OneDirectionTranslator(_DirectionDomains, nn.Module):
    """E_src (private + shared) → posterior mean z → G_dst (shared + private); [0, 1] in and out.

    The pixel generator (``generator: pixel``; the ``paper`` preset). See
    :class:`PhysicsTranslator` for the physics generator and :func:`build_translator`.

    Attributes:
        direction: :class:`~haze_ros.core.types.Direction` served.
        size_multiple: the networks' internal multiple (``2**n_downsample``); callers need not pad.
        preset: architecture preset name (``paper``, ``edge`` or ``custom``).
        config: the :class:`NetworkConfig`.
    """

    conditioned = False  # takes no visibility / airlight inputs

    def __init__(self, config: NetworkConfig, direction) -> None:
        super().__init__()
        self.direction = Direction(direction)
        self.config = config
        self.size_multiple = config.size_multiple
        self.preset = config.preset
        self.encoder = DomainEncoder(config)
        self.encoder_shared = SharedResBlocks(config)
        self.decoder_shared = SharedResBlocks(config)
        self.decoder = DomainDecoder(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``(B, 3, H, W)`` float32 in [0, 1] → ``(B, 3, H, W)`` float32 in [0, 1]; any H, W ≥ 1."""
        padded, height, width = pad_to_multiple(x, self.size_multiple)
        z = self.encoder_shared(self.encoder(to_network_range(padded)))  # posterior mean E_μ(x)
        y = self.decoder(self.decoder_shared(z))
        return from_network_range(crop_to(y, height, width))


class PhysicsTranslator(_DirectionDomains, nn.Module):
    """One direction of the physics model (eq. (1)) as one module from image to image; [0, 1] in and out.

    * ``dehaze``: ``forward(hazy)``: E_I → μ → G_J's t, k, A, c →
      J = J₁ + k↑·(I − J₁), J₁ = (I − A)/max(t↑, t0) + A + c.
    * ``haze``: ``forward(clear, visibility_m, airlight)``: E_J → μ → G_I's depth d →
      t = exp(−(3/V)·d), I = J·t↑ + A·(1 − t↑). ``visibility_m`` ``(B, 1)`` metres > 0,
      ``airlight`` ``(B, 3)`` in [0, 1].

    The padding of the pooled frame to the size multiple, the guided upsampling and the
    recomposition are all inside, so an export is one graph. The exported graph needs H, W ≥
    ``input_stride`` (eager mode pads smaller frames). Attributes as :class:`OneDirectionTranslator`;
    ``conditioned`` is
    true for the haze direction (it takes visibility and airlight inputs).
    """

    def __init__(self, config: NetworkConfig, direction) -> None:
        super().__init__()
        if not config.is_physics:
            raise ValueError("PhysicsTranslator needs generator='physics'")
        self.direction = Direction(direction)
        self.config = config
        self.size_multiple = config.size_multiple
        self.preset = config.preset
        self.conditioned = self.direction == Direction.HAZE
        self.heads = PhysicsHeads(config)
        self.encoder = DomainEncoder(config)
        self.encoder_shared = SharedResBlocks(config)
        self.decoder_shared = SharedResBlocks(config)
        self.decoder = MapDecoder(config, 1 if self.conditioned else 2)
        if not self.conditioned:
            self.airlight = AirlightHead(config)

    def network_outputs(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_lr, raw, shared)``: the pooled frame, the map head's raw maps, the shared decoder features.

        ``x`` ``(B, 3, H, W)`` in [0, 1], H, W ≥ ``input_stride``; ``x_lr`` ``(B, 3, ⌊H/s⌋, ⌊W/s⌋)``;
        ``raw`` ``(B, 2 or 1, ⌊H/s⌋, ⌊W/s⌋)`` (dehaze: t, k; haze: log-depth); ``shared`` the input of
        the global head (dehaze) at the latent's resolution. The full frame is never padded or copied.
        """
        x_lr = pool_frame(x, self.config.input_stride, self.config.scale_width_px)
        padded, height, width = pad_to_multiple(x_lr, 2 ** self.config.n_downsample)
        shared = self.decoder_shared(self.encoder_shared(self.encoder(encoder_input(padded))))  # G(E_μ(x))
        return x_lr, crop_to(self.decoder(shared), height, width), shared

    def forward(self, x: torch.Tensor, visibility_m: Optional[torch.Tensor] = None,
                airlight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``(B, 3, H, W)`` float32 in [0, 1] (+ ``(B, 1)`` V [m] and ``(B, 3)`` A for haze) → same shape."""
        stride = self.config.input_stride
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not tracing and (x.shape[2] < stride or x.shape[3] < stride):  # tiny frames (eager only)
            padded, height, width = pad_to_multiple(x, stride)
            return crop_to(self.forward(padded, visibility_m, airlight), height, width)
        x_lr, raw, shared = self.network_outputs(x)
        if self.conditioned:
            if visibility_m is None or airlight is None:
                raise ValueError("the haze direction needs visibility_m (B, 1) and airlight (B, 3)")
            beta = 3.0 / torch.clamp(visibility_m, min=1e-3)  # β = 3/V (5 % contrast threshold)
            out, _t = self.heads.haze(x, x_lr, self.heads.log_depth(raw), beta, airlight)
        else:
            out, _t = self.heads.dehaze(x, x_lr, raw, self.airlight(shared))
        return torch.clamp(out, 0.0, 1.0)


def build_translator(config: NetworkConfig, direction) -> nn.Module:
    """The translator class that fits ``config.generator`` (pixel or physics), randomly initialised."""
    if config.is_physics:
        return PhysicsTranslator(config, direction)
    return OneDirectionTranslator(config, direction)


def build_vae(config: NetworkConfig) -> nn.Module:
    """Both VAEs (the training model) for ``config.generator``, randomly initialised."""
    return PhysicsSharedLatentVAE(config) if config.is_physics else SharedLatentVAE(config)
