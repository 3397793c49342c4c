"""Architecture configuration of the shared-latent VAE-GAN (frozen dataclass + the two presets).

The paper (Li et al., "Joint haze image synthesis and dehazing with MMD-VAE losses") does not give
layer sizes; where it is silent we follow UNIT (Liu et al. 2017, "Unsupervised image-to-image
translation networks"): a 7×7 stem, two stride-2 down-samplings, residual blocks of which the last
encoder block(s) and the first generator block(s) are shared between the domains, two up-samplings
and a tanh output; multi-scale PatchGAN discriminators.

Presets:
    ``paper``: UNIT size. 64 channels, 2 down-samplings, 4 residual blocks per encoder of which 1 is
        shared, mirrored in the generator (so a translation passes 8 residual blocks at 256 channels).
    ``edge``: the same structure, compact for real time on a CPU (see ``docs/model.md`` for the
        measured latency, ≈ 28 ms at 640×360 through ONNX Runtime on 2 cores): 2 down-samplings (the
        first a space-to-depth, so no convolution runs at full resolution), widths 24 → 32, one shared
        residual block on each side (encoder and generator), 3×3 stem / head, transposed-conv
        up-sampling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Tuple

UPSAMPLE_MODES = ("nearest_conv", "transpose")
PADDING_MODES = ("reflect", "zeros")


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
        upsample: ``nearest_conv`` (nearest ×2 + 5×5 conv, UNIT) or ``transpose`` (4×4 stride 2).
        padding: ``reflect`` (UNIT) or ``zeros``.
        max_channels: cap on the width after each down-sampling (UNIT: no cap).
        pixel_shuffle: if true, the first down-sampling is a space-to-depth (pixel unshuffle, 3 → 12
            channels at H/2) followed by the stem conv, and the last up-sampling is the head conv to
            12 channels followed by depth-to-space, so that no convolution runs at full resolution
            (the ``edge`` preset's main saving; the paper's structure of 2 down-samplings, shared
            residual blocks and 2 up-samplings is kept).
        norm_eps: instance-norm epsilon (1e-5 exports identically to ONNX and TensorRT).
        discriminator: the discriminators' configuration (training only).
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

    @property
    def size_multiple(self) -> int:
        """H and W given to the generator must be multiples of this (``2**n_downsample``)."""
        return 2 ** self.n_downsample

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
    "edge": NetworkConfig(preset="edge", channels=12, n_downsample=2, n_res_private=0, n_res_shared=1,
                          stem_kernel=3, down_kernel=3, upsample="transpose", max_channels=32,
                          pixel_shuffle=True,
                          discriminator=DiscriminatorConfig(channels=32, n_layers=4, num_scales=2)),
}


def preset_config(name: str) -> NetworkConfig:
    """Return the :class:`NetworkConfig` of a named preset (``paper`` or ``edge``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown network preset {name!r}; known: {sorted(PRESETS)}") from None


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
