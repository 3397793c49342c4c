"""Deterministic one-direction translator: the unit the rest of the package loads and exports.

F_I→J = G_J∘E_I (``Direction.DEHAZE``) and F_J→I = G_I∘E_J (``Direction.HAZE``), using the posterior
mean (no noise). Input and output are ``(B, 3, H, W)`` float32 in [0, 1] at any H, W: the frame is
padded (replicate, with tensor ops only, so an ONNX export keeps H and W dynamic) to the network's
size multiple and cropped back. The [0, 1] ↔ [−1, 1] conversion happens here and nowhere else.
"""

from __future__ import annotations

import torch
from torch import nn

from haze_ros.core.types import Direction
from haze_ros.networks.config import NetworkConfig
from haze_ros.networks.vae import DomainDecoder, DomainEncoder, SharedResBlocks

# Source / target domain of each direction.
DIRECTION_DOMAINS = {Direction.DEHAZE: ("hazy", "clear"), Direction.HAZE: ("clear", "hazy")}


def to_network_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images → the networks' [−1, 1] (the package's only conversion, with its inverse)."""
    return x * 2.0 - 1.0


def from_network_range(y: torch.Tensor) -> torch.Tensor:
    """Convert the networks' [−1, 1] → [0, 1], clamped."""
    return torch.clamp((y + 1.0) * 0.5, 0.0, 1.0)


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


class OneDirectionTranslator(nn.Module):
    """E_src (private + shared) → posterior mean z → G_dst (shared + private); [0, 1] in and out.

    Attributes:
        direction: :class:`~haze_ros.core.types.Direction` served.
        size_multiple: the networks' internal multiple (``2**n_downsample``); callers need not pad.
        preset: architecture preset name (``paper``, ``edge`` or ``custom``).
        config: the :class:`NetworkConfig`.
    """

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

    @property
    def source_domain(self) -> str:
        """``hazy`` for dehaze, ``clear`` for haze."""
        return DIRECTION_DOMAINS[self.direction][0]

    @property
    def target_domain(self) -> str:
        """``clear`` for dehaze, ``hazy`` for haze."""
        return DIRECTION_DOMAINS[self.direction][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``(B, 3, H, W)`` float32 in [0, 1] → ``(B, 3, H, W)`` float32 in [0, 1]; any H, W ≥ 1.

        While tracing (ONNX export) the sizes are taken as tensors so the graph keeps H and W
        dynamic; otherwise they are Python ints, so no host↔device copy happens and the call can be
        captured in a CUDA graph. Both paths compute the same indices.
        """
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            shape = torch._shape_as_tensor(x)
            height, width = shape[2], shape[3]
            rows = _pad_index(height, self.size_multiple, x.device)
            cols = _pad_index(width, self.size_multiple, x.device)
        else:
            height, width = int(x.shape[2]), int(x.shape[3])
            rows = _pad_index_eager(height, self.size_multiple, x.device)
            cols = _pad_index_eager(width, self.size_multiple, x.device)
        padded = x.index_select(2, rows).index_select(3, cols)
        z = self.encoder_shared(self.encoder(to_network_range(padded)))  # posterior mean E_μ(x)
        y = self.decoder(self.decoder_shared(z))
        if isinstance(height, int):
            y = y[:, :, :height, :width]
        else:
            y = y.index_select(2, torch.arange(height, device=x.device))
            y = y.index_select(3, torch.arange(width, device=x.device))
        return from_network_range(y)
