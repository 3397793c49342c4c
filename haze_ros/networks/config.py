"""Architecture configuration of the shared-latent VAE-GAN (frozen dataclass + the two presets).

The paper (Li et al., "Joint haze image synthesis and dehazing with MMD-VAE losses") does not give
layer sizes; where it is silent we follow UNIT (Liu et al. 2017, "Unsupervised image-to-image
translation networks"): a 7×7 stem, two stride-2 down-samplings, residual blocks of which the last
encoder block(s) and the first generator block(s) are shared between the domains, two up-samplings
and a tanh output; multi-scale PatchGAN discriminators.

Presets:
    ``paper``: UNIT size, pixel generator. 64 channels, 2 down-samplings, 4 residual blocks per
        encoder of which 1 is shared, mirrored in the generator (8 residual blocks at 256 channels).
    ``edge``: the shipped model, physics generator (eq. (1)): the encoders see the frame pooled ×4,
        two stride-2 down-samplings (widths 16 → 32 → 48), one shared residual block on each side;
        the dehaze head predicts t (+ a bounded colour correction) and A, the haze head a log-depth
        map, both at H/4 (H/4r for frames wider than ``scale_width_px``); the full-resolution
        recomposition is part of the network. Real time on a CPU (see ``docs/model.md``).
    ``edge_pixel``: the previous compact pixel generator (UNIT at edge size, space-to-depth stem),
        for comparison only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Tuple

UPSAMPLE_MODES = ("nearest_conv", "transpose", "bilinear_conv")
PADDING_MODES = ("reflect", "zeros")
GENERATORS = ("pixel", "physics")
NORMS = ("instance", "none")


def _require_positive(obj: Any, names) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Multi-scale PatchGAN (UNIT ``MsImageDis``): ``num_scales`` copies, input average-pooled ×2 each.

    Attributes:
        channels: channels of the first 4×4 stride-2 convolution (doubles per layer).
        n_layers: number of 4×4 stride-2 convolutions per scale.
        num_scales: number of image scales (1 = a single PatchGAN).
    """

    channels: int = 64
    n_layers: int = 4
    num_scales: int = 3

    def __post_init__(self) -> None:
        _require_positive(self, ("channels", "n_layers", "num_scales"))


@dataclass(frozen=True)
class NetworkConfig:
    """Generator / encoder architecture shared by both domains (hazy I and clear J).

    Attributes:
        preset: name recorded in checkpoints (``paper``, ``edge`` or ``custom``).
        channels: channels after the stem; doubles at each down-sampling.
        n_downsample: number of stride-2 down-samplings (the size multiple is ``2**n_downsample``).
        n_res_private: residual blocks private to each encoder (and mirrored in each generator).
        n_res_shared: residual blocks shared by E_I, E_J (last encoder layers) and, separately,
            by G_I, G_J (first generator layers): UNIT's weight sharing.
        stem_kernel: kernel size of the first encoder and the last generator convolution.
        down_kernel: kernel of the stride-2 down-sampling convolutions (4 as UNIT, or 3).
        upsample: ``nearest_conv`` (nearest ×2 + 5×5 conv, UNIT), ``transpose`` (4×4 stride 2) or
            ``bilinear_conv`` (bilinear ×2 + 3×3 conv: a resize-convolution, Odena et al. 2016,
            which cannot draw the period-2 pattern a transposed convolution can: the ``edge``
            preset's since 2026-12-01, whose transposed convolution drew a row pattern into real
            frames' depth, see ``docs/model.md``).
        padding: ``reflect`` (UNIT) or ``zeros``.
        max_channels: cap on the width after each down-sampling (UNIT: no cap).
        pixel_shuffle: if true, the first down-sampling is a space-to-depth (pixel unshuffle, 3 → 12
            channels at H/2) followed by the stem conv, and the last up-sampling is the head conv to
            12 channels followed by depth-to-space, so that no convolution runs at full resolution
            (the ``edge`` preset's main saving; the paper's structure of 2 down-samplings, shared
            residual blocks and 2 up-samplings is kept).
        norm_eps: instance-norm epsilon (1e-5 exports identically to ONNX and TensorRT).
        discriminator: the discriminators' configuration (training only).
        generator: ``pixel`` (UNIT: G re-synthesises every pixel through the latent; the ``paper``
            preset) or ``physics`` (G predicts the maps of eq. (1) at reduced resolution and the
            image is recomposed at full resolution: see :mod:`haze_ros.networks.physics_model`).
        norm: ``instance`` (UNIT) or ``none``. Instance norm removes each image's mean and contrast,
            which is the haze signal itself, so the ``physics`` generator runs without it.
        input_stride: physics only: the encoders see the frame average-pooled by this factor, and
            the t / depth maps come out at this stride (so t is predicted at H/s × W/s), times r
            for frames wider than the training frames (``scale_width_px``).
        scale_width_px: physics only: width [px] of the frames the networks were trained on; a
            frame W px wide is pooled by input_stride · r, r = max(1, round(W / scale_width_px)),
            so the network sees objects at its training scale at any resolution
            (``physics_model.pool_frame``). 0: always input_stride.
        guided_radius: physics only: box radius [map pixels] of the fast guided filter that
            upsamples t edge-aware on the full-resolution input (He & Sun 2015).
        guided_eps: physics only: the guided filter's regulariser ε (guide in [0, 1]).
        t_min: physics only: lower bound of the predicted transmission (dehaze head), in (0, 1).
        t0: physics only: the floor of t in the recomposition J = (I − A)/max(t, t0) + A.
        correction_max: physics only: bound of the additive colour correction of the dehaze head
            (tanh · correction_max, per channel, at map resolution) for what eq. (1) cannot express.
        map_lowpass: physics only: a fixed 3×3 binomial low-pass ([1, 2, 1]/4 in each direction,
            zero response at the Nyquist frequency) on the map decoders' head output, before their
            final bilinear ×2. It removes the period-2 pattern that a transposed-convolution
            up-sampling can draw (the shipped weights' row pattern, see ``docs/model.md``); no
            weights, so it can be switched on at release like ``t0``.
        depth_min_m / depth_max_m: physics only: range of the haze head's depth d [m], predicted as
            log-depth (sigmoid between log(depth_min_m) and log(depth_max_m)).
    """

    preset: str = "custom"
    channels: int = 64
    n_downsample: int = 2
    n_res_private: int = 3
    n_res_shared: int = 1
    stem_kernel: int = 7
    down_kernel: int = 4
    upsample: str = "nearest_conv"
    padding: str = "reflect"
    max_channels: int = 1024
    pixel_shuffle: bool = False
    norm_eps: float = 1e-5
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    generator: str = "pixel"
    norm: str = "instance"
    input_stride: int = 4
    guided_radius: int = 2
    guided_eps: float = 1e-3
    t_min: float = 0.03
    t0: float = 0.1
    correction_max: float = 0.1
    map_lowpass: bool = False
    scale_width_px: int = 640
    depth_min_m: float = 1.0
    depth_max_m: float = 1000.0

    def __post_init__(self) -> None:
        _require_positive(self, ("channels", "n_downsample", "n_res_shared", "stem_kernel", "max_channels"))
        if self.n_res_private < 0:
            raise ValueError(f"n_res_private must be >= 0, got {self.n_res_private}")
        if self.stem_kernel % 2 != 1:
            raise ValueError(f"stem_kernel must be odd, got {self.stem_kernel}")
        if self.down_kernel not in (3, 4):
            raise ValueError(f"down_kernel must be 3 or 4, got {self.down_kernel}")
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}")
        if self.padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {self.padding!r}")
        if not 0.0 < self.norm_eps < 1.0:
            raise ValueError(f"norm_eps must be in (0, 1), got {self.norm_eps}")
        if self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}, got {self.generator!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.scale_width_px < 0:
            raise ValueError(f"scale_width_px must be >= 0, got {self.scale_width_px}")
        _require_positive(self, ("input_stride", "guided_radius"))
        for name in ("t_min", "t0", "guided_eps"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.correction_max <= 1.0:
            raise ValueError(f"correction_max must be in [0, 1], got {self.correction_max}")
        if not 0.0 < self.depth_min_m < self.depth_max_m:
            raise ValueError(f"need 0 < depth_min_m < depth_max_m, got {self.depth_min_m}, "
                             f"{self.depth_max_m}")

    @property
    def size_multiple(self) -> int:
        """H and W given to the generator must be multiples of this.

        ``2**n_downsample`` for the pixel generator; ``input_stride · 2**n_downsample`` for the
        physics generator (the encoders run on the frame pooled by ``input_stride``).
        """
        if self.generator == "physics":
            return self.input_stride * 2 ** self.n_downsample
        return 2 ** self.n_downsample

    @property
    def is_physics(self) -> bool:
        """Whether the generators speak eq. (1) (``generator == "physics"``)."""
        return self.generator == "physics"

    @property
    def widths(self) -> Tuple[int, ...]:
        """Channels at each scale, full resolution first: ``min(channels·2^k, max_channels)``."""
        return tuple(min(self.channels * 2 ** k, self.max_channels) for k in range(self.n_downsample + 1))

    @property
    def latent_channels(self) -> int:
        """Channels of the shared latent code z (a map of ``H / size_multiple × W / size_multiple``)."""
        return self.widths[-1]

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-serialisable dict (inverse of :func:`network_config_from_dict`)."""
        return dataclasses.asdict(self)


PRESETS: Dict[str, NetworkConfig] = {
    "paper": NetworkConfig(preset="paper", channels=64, n_downsample=2, n_res_private=3, n_res_shared=1,
                           stem_kernel=7, upsample="nearest_conv",
                           discriminator=DiscriminatorConfig(channels=64, n_layers=4, num_scales=3)),
    "edge": NetworkConfig(preset="edge", channels=16, n_downsample=2, n_res_private=0, n_res_shared=1,
                          stem_kernel=3, down_kernel=3, upsample="bilinear_conv", max_channels=48,
                          generator="physics", norm="none", input_stride=4,
                          discriminator=DiscriminatorConfig(channels=32, n_layers=3, num_scales=2)),
    # today's compact pixel generator (UNIT at edge size), kept for comparison
    "edge_pixel": NetworkConfig(preset="edge_pixel", channels=12, n_downsample=2, n_res_private=0,
                                n_res_shared=1, stem_kernel=3, down_kernel=3, upsample="transpose",
                                max_channels=32, pixel_shuffle=True,
                                discriminator=DiscriminatorConfig(channels=32, n_layers=4, num_scales=2)),
}


def preset_config(name: str) -> NetworkConfig:
    """Return the :class:`NetworkConfig` of a named preset (``paper``, ``edge`` or ``edge_pixel``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown network preset {name!r}; known: {sorted(PRESETS)}") from None


INFERENCE_FIELDS = ("t0", "map_lowpass")  # set at release time; the weights do not depend on them


def canonical_preset(config: NetworkConfig) -> NetworkConfig:
    """``config`` under its preset's own name when it equals that preset (``edge-custom`` → ``edge``).

    The fields of ``INFERENCE_FIELDS`` are not compared; any other difference keeps the name.
    """
    base = config.preset[:-len("-custom")] if config.preset.endswith("-custom") else config.preset
    if base not in PRESETS:
        return config
    reference = dataclasses.replace(PRESETS[base], **{f: getattr(config, f) for f in INFERENCE_FIELDS})
    renamed = dataclasses.replace(config, preset=base)
    return renamed if renamed == reference else config


def network_config_from_dict(data: Mapping[str, Any]) -> NetworkConfig:
    """Build a :class:`NetworkConfig` from a dict (e.g. a checkpoint's JSON); unknown keys are errors."""
    if not isinstance(data, Mapping):
        raise ValueError(f"network config must be a mapping, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(NetworkConfig)}
    unknown = set(data) - fields
    if unknown:
        raise ValueError(f"unknown network config keys: {sorted(unknown)}")
    values = dict(data)
    disc = values.get("discriminator", {})
    if isinstance(disc, Mapping):
        dfields = {f.name for f in dataclasses.fields(DiscriminatorConfig)}
        if set(disc) - dfields:
            raise ValueError(f"unknown discriminator config keys: {sorted(set(disc) - dfields)}")
        values["discriminator"] = DiscriminatorConfig(**disc)
    return NetworkConfig(**values)
