"""The physics generator: the shared-latent VAE whose generators speak eq. (1).

Paper symbols → code (domain I = ``hazy``, J = ``clear``, as :mod:`haze_ros.networks.vae`):

* E_I, E_J: ``encoder_hazy`` / ``encoder_clear`` (private) then ``encoder_shared``. They see the
  frame average-pooled by ``input_stride`` (s) plus its dark channel, so the whole network runs at
  H/s and below; the posterior is q(z|x) = N(E_μ(x), I) as in the pixel model (eqs. 8–10).
* G_J (the dehazing generator): ``decoder_shared`` then ``decoder_clear``, a map decoder that
  predicts the transmission t and a keep weight k at H/s, and ``airlight_clear``, a global head
  for the airlight A and a small bounded colour correction c (per channel). The clear image is
  recomposed at full resolution from the input I by the inverse of eq. (1),
  J₁ = (I − A) / max(t↑, t0) + A + c, with t↑ the fast guided filter upsampling of t on the
  full-resolution input (He & Sun 2015). Where eq. (1) cannot give the scene back (the sky, whose
  radiance the haze has erased: t ≈ 0 there, and 1/t amplifies every error and every JPEG block)
  the output keeps the input instead: J = J₁ + k↑·(I − J₁), k ∈ [0, 1] (guided too). The output is
  a convex blend of the eq. (1) inverse and the input itself, so no region can be painted with
  something that is in neither.
* G_I (the haze generator): ``decoder_shared`` then ``decoder_hazy``, a map decoder that predicts
  the scene depth d in metres (log-depth) at H/s. Haze is made for a requested scattering
  coefficient β = 3/V [1/m] and airlight A by eq. (1): t = exp(−β·d), t↑ guided on J,
  I = J·t↑ + A·(1 − t↑). No depth sensor is needed; the metric scale of d is learned from the
  metric depth of the training data (FRIDA2, DDAD LiDAR).

The detail of every output comes from the input frame, not from the network: the network only
predicts what is smooth (t, d, c at H/s, A global). All images here are ``(B, 3, H, W)`` float32 in
[0, 1]; H and W multiples of ``config.size_multiple`` (s · 2^n_downsample); the encoders' input is
converted to the networks' [−1, 1] by :func:`haze_ros.networks.translator.to_network_range`.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from haze_ros.networks.blocks import BinomialLowPass, ResBlock, UpBlock, make_pad
from haze_ros.networks.config import NetworkConfig
from haze_ros.networks.range import to_network_range
from haze_ros.networks.vae import DomainEncoder, SharedResBlocks

DOMAINS = ("hazy", "clear")
GLOBAL_OUTPUTS = 6  # A (3), c (3)
DARK_PATCH = 3                # dark-channel patch at map resolution (≈ 12 px of the frame at s = 4)


def guide_image(x: torch.Tensor) -> torch.Tensor:
    """Grey guide of the guided filter: (R + G + B) / 3; ``(B, 3, H, W)`` → ``(B, 1, H, W)`` in [0, 1].

    Two adds of channel slices: in the exported graph that is half the time of a ReduceMean over
    the channel axis (1.0 against 2.2 ms at 1280×720, ONNX Runtime, 2 cores).
    """
    return (x[:, 0:1] + x[:, 1:2] + x[:, 2:3]) * (1.0 / 3.0)


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)²`` window, border windows cropped: ``(B, C, h, w)`` → same shape."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def dark_channel(x: torch.Tensor, patch: int = DARK_PATCH) -> torch.Tensor:
    """He et al.'s dark channel: min over RGB, then a ``patch``² min filter; ``(B, 1, h, w)`` in [0, 1]."""
    darkest = torch.amin(x, dim=1, keepdim=True)
    return -F.max_pool2d(-darkest, patch, stride=1, padding=patch // 2)


def guided_coefficients(source_lr: torch.Tensor, guide_lr: torch.Tensor, radius: int,
                        eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fast guided filter (He & Sun 2015), low-resolution half: the local linear model q = a·g + b.

    Fitted in windows of ``(2·radius+1)²`` map pixels with regulariser ``eps``, then box-averaged.
    ``source_lr`` ``(B, C, h, w)``, ``guide_lr`` ``(B, 1, h, w)`` in [0, 1] → ``(a, b)``, each
    ``(B, C, h, w)``. Upsampled bilinearly and applied to the full-resolution guide as a↑·g + b↑,
    the output's edges follow the guide's.
    """
    mean_g = box_mean(guide_lr, radius)
    mean_p = box_mean(source_lr, radius)
    cov_gp = box_mean(guide_lr * source_lr, radius) - mean_g * mean_p
    var_g = box_mean(guide_lr * guide_lr, radius) - mean_g * mean_g
    a = cov_gp / (var_g + eps)
    b = mean_p - a * mean_g
    return box_mean(a, radius), box_mean(b, radius)


def fast_guided_upsample(source_lr: torch.Tensor, guide_lr: torch.Tensor, guide: torch.Tensor,
                         radius: int, eps: float, *, one_resize: bool = False) -> torch.Tensor:
    """Edge-aware upsampling of a smooth map to the guide's size (fast guided filter, He & Sun 2015).

    ``source_lr`` ``(B, C, h, w)``; ``guide_lr`` ``(B, 1, h, w)`` and ``guide`` ``(B, 1, H, W)``
    (H ≈ s·h; any size) in [0, 1] → ``(B, C, H, W)``, not clamped. ``one_resize``: upsample a and b
    together and split them after (one Resize in the exported graph). For a one-channel map that
    is 1–2 ms faster at 720p in ONNX Runtime than two Resizes; for more channels the split of the
    full-resolution tensor costs more than it saves. A static choice of the caller, so the traced
    graph has no shape-dependent branch.
    """
    a, b = guided_coefficients(source_lr, guide_lr, radius, eps)
    if one_resize:
        a_up, b_up = upsample_to(torch.cat([a, b], dim=1), guide).chunk(2, dim=1)
        return a_up * guide + b_up
    return upsample_to(a, guide) * guide + upsample_to(b, guide)


def upsample_to(maps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling (half-pixel centres) of ``(B, C, h, w)`` to ``like``'s ``(H, W)``."""
    return F.interpolate(maps, size=(like.shape[2], like.shape[3]), mode="bilinear", align_corners=False)


def recompose_clear(hazy: torch.Tensor, t: torch.Tensor, airlight: torch.Tensor, t0: Optional[float],
                    keep: Optional[torch.Tensor] = None,
                    correction: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Inverse of eq. (1), J₁ = (I − A) / max(t, t0) + A + c, blended with the input: J = J₁ + k·(I − J₁).

    ``hazy`` ``(B, 3, H, W)`` in [0, 1]; ``t`` ``(B, 1, H, W)`` in [0, 1]; ``airlight`` ``(B, 3)``;
    ``t0`` the floor of t (None: t is already ≥ its floor; one full-resolution pass less); ``keep``
    k ``(B, 1, H, W)`` in [0, 1] (None: k = 0, the plain inverse); ``correction`` c
    ``(B, 3)`` (None: 0). Not clamped. Computed in the algebraically equal form
    J = I·α + (A + c) − A·α − c·k with α = (1 − k)/max(t, t0) + k: the per-channel offset
    (A + c) − A·α − c·k is one batched (3 × n) matrix product over the n planes (1, α[, k]), so
    the three colour channels are written three times (offset, I·α, sum) instead of five. Alone,
    at 1280×720 in ONNX Runtime on the 2-core VM: 5.0–5.5 ms against 7.8–8.3 ms for the previous
    form; outputs equal to within 3·10⁻⁷.
    """
    inverse_t = 1.0 / (t if t0 is None else torch.clamp(t, min=t0))
    alpha = inverse_t if keep is None else (1.0 - keep) * inverse_t + keep
    planes = [torch.ones_like(alpha), alpha]
    columns = [airlight if correction is None else airlight + correction, -airlight]
    if keep is not None and correction is not None:  # the −c·k term; without c there is none
        planes.append(keep)
        columns.append(-correction)
    mix = torch.stack(columns, dim=2)                                   # (B, 3, n)
    basis = torch.cat(planes, dim=1).flatten(2)                         # (B, n, H·W)
    offset = torch.bmm(mix, basis).view_as(hazy)                        # (B, 3, H, W)
    return hazy * alpha + offset


def synthesize_hazy(clear: torch.Tensor, t: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
    """Eq. (1): I = J·t + A·(1 − t), computed as A + (J − A)·t (three passes over the channels, not four).

    ``clear`` ``(B, 3, H, W)`` in [0, 1], ``t`` ``(B, 1, H, W)`` in [0, 1], ``airlight`` ``(B, 3)``.
    """
    a = airlight[:, :, None, None]
    return a + (clear - a) * t


class MapDecoder(nn.Module):
    """Private generator layers of the physics model: res blocks, up-samplings, a 3×3 head.

    n − 1 learned ×2 up-samplings, the head at stride 2s, optionally a fixed binomial low-pass
    (``map_lowpass``), then a bilinear ×2 (the maps are smooth: a learned last up-sampling buys
    nothing). ``(B, C_lat, H/m, W/m)`` → raw maps
    ``(B, out_channels, H/s, W/s)`` (m = size multiple, s = input stride); the caller maps them to
    t or log-depth.
    """

    def __init__(self, cfg: NetworkConfig, out_channels: int) -> None:
        super().__init__()
        pad, eps, widths, norm = cfg.padding, cfg.norm_eps, cfg.widths, cfg.norm == "instance"
        layers = [ResBlock(widths[-1], padding=pad, eps=eps, norm=norm) for _ in range(cfg.n_res_private)]
        for level in range(cfg.n_downsample, 1, -1):
            layers.append(UpBlock(widths[level], widths[level - 1], cfg.upsample, padding=pad, eps=eps,
                                  norm=norm))
        layers += [make_pad(1, pad), nn.Conv2d(widths[1], out_channels, 3)]
        if cfg.map_lowpass:
            layers.append(BinomialLowPass(out_channels))
        layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Raw maps ``(B, out_channels, H/s, W/s)``, unbounded."""
        return self.layers(z)


class AirlightHead(nn.Module):
    """Global outputs of G_J: mean- and max-pooled latent → MLP → raw ``(B, 6)``.

    A and c (see :class:`PhysicsHeads`); input ``(B, C, h, w)``.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        c = cfg.latent_channels
        self.mlp = nn.Sequential(nn.Linear(2 * c, c), nn.ReLU(inplace=True), nn.Linear(c, GLOBAL_OUTPUTS))
        with torch.no_grad():
            self.mlp[-1].bias.zero_()
            self.mlp[-1].bias[:3] = 2.0   # start near A = 0.88 (bright haze), c = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Raw global outputs ``(B, 6)``, unbounded."""
        pooled = torch.cat([z.mean(dim=(2, 3)), torch.amax(z, dim=(2, 3))], dim=1)
        return self.mlp(pooled)


class PhysicsHeads:
    """Maps of the heads' raw outputs to physical quantities (shared by the VAE and the translators)."""

    def __init__(self, cfg: NetworkConfig) -> None:
        self.cfg = cfg
        self.log_dmin, self.log_dmax = math.log(cfg.depth_min_m), math.log(cfg.depth_max_m)

    def transmission(self, raw: torch.Tensor) -> torch.Tensor:
        """Transmission t = t_min + (1 − t_min)·sigmoid(raw[:, :1]) ∈ (t_min, 1); ``(B, 1, h, w)``."""
        return self.cfg.t_min + (1.0 - self.cfg.t_min) * torch.sigmoid(raw[:, 0:1])

    @staticmethod
    def keep_weight(raw: torch.Tensor) -> torch.Tensor:
        """Keep weight k = sigmoid(raw[:, 1:2] − 3) ∈ (0, 1) of the dehaze head (≈ 0.05 at init).

        ``(B, 1, h, w)``; where k → 1 the output keeps the input (see the module docstring).
        """
        return torch.sigmoid(raw[:, 1:2] - 3.0)

    @staticmethod
    def airlight(global_raw: torch.Tensor) -> torch.Tensor:
        """A = sigmoid(raw[:, :3]) ∈ (0, 1)³; ``(B, 3)``."""
        return torch.sigmoid(global_raw[:, :3])

    def correction(self, global_raw: torch.Tensor) -> torch.Tensor:
        """Colour correction c = correction_max·tanh(raw[:, 3:6]); ``(B, 3)``."""
        return self.cfg.correction_max * torch.tanh(global_raw[:, 3:6])

    def log_depth(self, raw: torch.Tensor) -> torch.Tensor:
        """Log-depth log d [log m], between log(depth_min_m) and log(depth_max_m); ``(B, 1, h, w)``."""
        return self.log_dmin + (self.log_dmax - self.log_dmin) * torch.sigmoid(raw)

    def dehaze_maps(self, hazy: torch.Tensor, hazy_lr: torch.Tensor,
                    raw: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """G_J's maps at full resolution: ``(t↑ in [t0, 1], k↑ in [0, 1])``, each ``(B, 1, H, W)``.

        Fast guided upsampling of t and k on the input's grey guide. ``hazy`` ``(B, 3, H, W)`` and
        ``hazy_lr`` ``(B, 3, ⌊H/s⌋, ⌊W/s⌋)`` in [0, 1]; ``raw`` the dehaze head's
        ``(B, 2, ⌊H/s⌋, ⌊W/s⌋)`` (t, k).
        """
        cfg = self.cfg
        maps = torch.cat([self.transmission(raw), self.keep_weight(raw)], dim=1)
        maps = fast_guided_upsample(maps, guide_image(hazy_lr), guide_image(hazy), cfg.guided_radius,
                                    cfg.guided_eps)
        return torch.clamp(maps[:, 0:1], cfg.t0, 1.0), torch.clamp(maps[:, 1:2], 0.0, 1.0)

    def dehaze(self, hazy: torch.Tensor, hazy_lr: torch.Tensor, raw: torch.Tensor,
               global_raw: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """G_J's recomposition at full resolution: ``(J unclamped, t↑)``, both full size.

        J = J₁ + k↑·(I − J₁), J₁ = (I − A) / max(t↑, t0) + A + c (:func:`recompose_clear`), with
        t↑, k↑ from :meth:`dehaze_maps`; ``global_raw`` the global head's ``(B, 6)`` (A, c).
        """
        t_up, k_up = self.dehaze_maps(hazy, hazy_lr, raw)
        clear = recompose_clear(hazy, t_up, self.airlight(global_raw), None, keep=k_up,
                                correction=self.correction(global_raw))
        return clear, t_up

    def haze(self, clear: torch.Tensor, clear_lr: torch.Tensor, log_depth: torch.Tensor,
             beta_per_m: torch.Tensor, airlight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """G_I's synthesis at full resolution by eq. (1): ``(I, t↑)``.

        ``log_depth`` ``(B, 1, H/s, W/s)``; ``beta_per_m`` ``(B, 1)`` ≥ 0 [1/m]; ``airlight`` ``(B, 3)``.
        """
        cfg = self.cfg
        t_lr = torch.exp(-beta_per_m[:, :, None, None] * torch.exp(log_depth))
        t_up = fast_guided_upsample(t_lr, guide_image(clear_lr), guide_image(clear), cfg.guided_radius,
                                    cfg.guided_eps, one_resize=True)
        t_up = torch.clamp(t_up, 0.0, 1.0)
        return synthesize_hazy(clear, t_up, airlight), t_up


def encoder_input(x_lr: torch.Tensor) -> torch.Tensor:
    """The encoders' input: [x_lr, dark channel of x_lr] in the networks' [−1, 1], ``(B, 4, h, w)``.

    ``x_lr``: the frame as :func:`pool_frame` gives it, ``(B, 3, h, w)`` in [0, 1].
    """
    return to_network_range(torch.cat([x_lr, dark_channel(x_lr)], dim=1))


def scale_factor(width, scale_width_px: int):
    """How many times wider than the training frames a frame is: r = max(1, round(W / scale_width_px)).

    ``width`` a Python int (eager) or a 0-d int64 tensor (tracing: the exported graph computes r
    from the frame's width); ``scale_width_px`` > 0.
    """
    if isinstance(width, int):
        return max(1, (width + scale_width_px // 2) // scale_width_px)
    return torch.clamp((width + scale_width_px // 2) // scale_width_px, min=1)


def pool_frame(x: torch.Tensor, stride: int, scale_width_px: int = 0) -> torch.Tensor:
    """The frame as the encoders see it: ``(B, 3, H, W)`` → ``(B, 3, ⌊H/S⌋, ⌊W/S⌋)`` box means.

    S = stride·r with r = :func:`scale_factor` (W, ``scale_width_px``); r = 1 when
    ``scale_width_px`` is 0. The networks were trained on frames about ``scale_width_px`` wide
    (FRIDA2's 640 px, real frames resized to ``data.real_width``): a 1280×720 frame is pooled by
    2·stride, a 1920×1080 one by 3·stride, so a car covers as many map pixels as it did in
    training whatever the camera's resolution (and the network's cost stops growing with it). The
    last ``H mod S`` rows and ``W mod S`` columns do not enter the maps (the upsampling stretches
    the maps over the whole frame); frames need H, W ≥ stride (r is capped so the map keeps ≥ 1
    pixel).
    """
    pooled = F.avg_pool2d(x, stride)
    if scale_width_px <= 0:
        return pooled
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        shape = torch._shape_as_tensor(pooled)
        r = torch.minimum(scale_factor(torch._shape_as_tensor(x)[3], scale_width_px),
                          torch.minimum(shape[2], shape[3]))
        height, width = shape[2] // r, shape[3] // r
        pooled = pooled.index_select(2, torch.arange(height * r, device=x.device))
        pooled = pooled.index_select(3, torch.arange(width * r, device=x.device))
        return _block_means(pooled, r, height, width)
    r = min(scale_factor(int(x.shape[3]), scale_width_px), pooled.shape[2], pooled.shape[3])
    if r == 1:
        return pooled
    height, width = pooled.shape[2] // r, pooled.shape[3] // r
    return _block_means(pooled[:, :, :height * r, :width * r], r, height, width)


def _block_means(x: torch.Tensor, r, height, width) -> torch.Tensor:
    """Means of r×r blocks: ``(B, C, height·r, width·r)`` → ``(B, C, height, width)``.

    ``r``, ``height``, ``width``: ints, or 0-d tensors under tracing (the batch stays dynamic).
    """
    return x.reshape(-1, x.shape[1], height, r, width, r).mean(dim=(3, 5))


class PhysicsSharedLatentVAE(nn.Module):
    """{E_I, G_I}, {E_J, G_J} with shared layers, generators through eq. (1) (the training model).

    Unlike :class:`~haze_ros.networks.vae.SharedLatentVAE`, images in and out are in [0, 1]
    (the recomposition works on the frame itself); the [−1, 1] conversion is in :func:`encoder_input`.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        if not cfg.is_physics:
            raise ValueError("PhysicsSharedLatentVAE needs generator='physics'")
        self.config = cfg
        self.heads = PhysicsHeads(cfg)
        self.encoder_hazy = DomainEncoder(cfg)
        self.encoder_clear = DomainEncoder(cfg)
        self.encoder_shared = SharedResBlocks(cfg)
        self.decoder_shared = SharedResBlocks(cfg)
        self.decoder_clear = MapDecoder(cfg, 2)   # G_J: t and the keep weight k
        self.airlight_clear = AirlightHead(cfg)    # G_J: A and the colour correction c
        self.decoder_hazy = MapDecoder(cfg, 1)    # G_I: log-depth

    def encode(self, x: torch.Tensor, domain: str) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(μ, x_lr)``: posterior mean ``(B, C_lat, H/m, W/m)`` of ``(B, 3, H, W)`` in [0, 1], and x pooled.

        Training crops are multiples of ``size_multiple`` (no padding here).
        """
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        x_lr = pool_frame(x, self.config.input_stride, self.config.scale_width_px)
        private = self.encoder_hazy if domain == "hazy" else self.encoder_clear
        return self.encoder_shared(private(encoder_input(x_lr))), x_lr

    def dehaze_raw(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """G_J's raw outputs: the t, k maps ``(B, 2, H/s, W/s)`` and the global ``(B, 6)`` (A, c)."""
        shared = self.decoder_shared(z)
        return self.decoder_clear(shared), self.airlight_clear(shared)

    def log_depth(self, z: torch.Tensor) -> torch.Tensor:
        """G_I's map: log-depth ``(B, 1, H/s, W/s)`` [log m]."""
        return self.heads.log_depth(self.decoder_hazy(self.decoder_shared(z)))
