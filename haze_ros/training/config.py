"""Typed, validated training configuration: YAML (``yaml.safe_load``) → frozen dataclasses.

Unknown keys are errors; every section has its own dataclass. ``key=value`` overrides from the
command line use dotted paths (``loss.lambda_m=0.1``) and YAML scalars for values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from haze_ros.networks.config import NetworkConfig, preset_config


class ConfigError(ValueError):
    """The training configuration is invalid (the message names the key)."""


@dataclass(frozen=True)
class RunConfig:
    """Run control. ``output_dir`` receives checkpoints, TensorBoard logs, samples and the resolved config."""

    output_dir: str = "runs/edge"
    seed: int = 0
    iterations: int = 250_000
    checkpoint_every: int = 10_000
    val_every: int = 10_000
    log_every: int = 50
    sample_every: int = 10_000
    threads: int = 0            # torch intra-op threads; 0 = leave torch's default
    device: str = "cpu"         # "cpu", "cuda", "cuda:N" or "auto" (CUDA when available)
    max_nonfinite_steps: int = 20
    resume: str = ""            # checkpoint (either file of the pair, or the stem) to resume from
    keep_last: int = 3          # periodic checkpoints kept on disk (best and last always kept)
    time_limit_min: float = 0.0  # stop (validate, sample, save) after this much wall time [min]; 0 = none


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and variants (paper defaults: λ_m = 0.01, λ_adv = 1, λ_recon = 10, BCE, MMD).

    ``mmd_bandwidth_scales``: the kernel's σ² = scale · C (C = latent channels), one kernel per scale.
    ``lambda_paired``: optional supervised L1 on paired synthetic samples (0 = the paper, unpaired),
    applied to both translations through the posterior mean (the inference path).
    """

    latent_divergence: str = "mmd"     # "mmd" (the paper) or "kl" (UNIT, ablation)
    gan_mode: str = "bce"              # "bce" (the paper) or "lsgan" (UNIT)
    lambda_m: float = 0.01
    lambda_adv: float = 1.0
    lambda_recon: float = 10.0
    lambda_paired: float = 0.0
    mmd_bandwidth_scales: Tuple[float, ...] = (0.25, 1.0, 4.0)
    mmd_max_samples: int = 512
    # physics generator only (model.generator: physics); see haze_ros/training/physics_trainer.py
    lambda_t: float = 10.0          # synthetic pairs: L1 of the predicted t (1/s) to the true t
    lambda_airlight: float = 10.0   # synthetic pairs: L1 of the predicted A to the true A
    lambda_clear: float = 10.0      # synthetic pairs: L1 of the recomposed J to the clear image
    lambda_depth: float = 1.0       # FRIDA2 depth and DDAD LiDAR: L1 of the log-depth [log m]
    lambda_haze: float = 10.0       # synthetic pairs: L1 of the synthesised I to the true hazy image
    lambda_self: float = 10.0       # real clear frames hazed by the model's own depth: dehazed back
    lambda_smooth_depth: float = 0.0  # edge-aware 2nd-order smoothness of real frames' log-depth maps
    lambda_smooth_keep: float = 0.0   # ... of the keep weight k (every dehazed frame)
    lambda_road_bound: float = 0.0  # real clear frames: hinge of log-depth above the flat-road bound
    lambda_adv_haze: float = 0.1    # weight of eq. (2) (D_I on the model's haze), times lambda_adv
    lambda_adv_clear: float = 0.1   # weight of eq. (3) (D_J on dehazed real fog), times lambda_adv


@dataclass(frozen=True)
class OptimConfig:
    """Adam for both the generator side and the discriminators (paper: lr 1e-4, betas (0.5, 0.999)).

    Learning-rate schedule (the paper is silent; UNIT's ``lr_policy: step``): at iteration ``k``,
    lr_k = lr · lr_gamma^⌊k / lr_step_iterations⌋; ``lr_step_iterations`` 0 = constant (default).
    """

    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    lr_step_iterations: int = 0
    lr_gamma: float = 0.5

    def lr_at(self, step: int) -> float:
        """Learning rate for iteration ``step`` (0-based count of completed iterations)."""
        if self.lr_step_iterations <= 0:
            return self.lr
        return self.lr * self.lr_gamma ** (step // self.lr_step_iterations)


@dataclass(frozen=True)
class DataConfig:
    """Data from ``root`` (../shared/data) following the paper's recipe, split by FRIDA2 scene.

    Synthetic hazy: I = J·t + A·(1 − t), t = exp(−β·d / ``beta_unit_m``), A ~ U(airlight_range) per
    channel and β ~ U(beta_range) drawn freshly for every sample. Scene lists are FRIDA2 numbers.
    """

    root: str = "../shared/data"
    crop: int = 256
    batch_size: int = 1
    train_scenes: Tuple[int, ...] = tuple(range(1, 41))
    val_scenes: Tuple[int, ...] = tuple(range(41, 45))
    test_scenes: Tuple[int, ...] = tuple(range(45, 67))
    beta_range: Tuple[float, float] = (0.8, 1.6)
    beta_unit_m: float = 100.0
    airlight_range: Tuple[float, float] = (0.8, 1.0)
    real_clear: bool = True            # add udacity_clear_highway to the clear domain
    real_hazy: bool = True             # add dawn_fog to the hazy domain
    real_probability: float = 0.3      # chance that a domain sample is a real image (when enabled)
    real_width: int = 640              # real images are resized to this width first
    paired_fraction: float = 0.0       # chance that (hazy, clear) is one synthetic pair
    val_haze_draws: int = 2            # fixed-seed haze draws per validation scene
    val_max_images: int = 8
    # physics generator only (haze_ros/training/physics_data.py)
    visibility_range_m: Tuple[float, float] = (40.0, 1000.0)   # log-uniform V, β = 3/V
    airlight_base_range: Tuple[float, float] = (0.6, 1.0)      # grey level of A
    airlight_tint: float = 0.06                                # ± per-channel tint of A
    udacity_train_folders: Tuple[str, ...] = ("frames/solidWhiteRight", "stills")
    ddad_train_scenes: Tuple[int, ...] = (1,)                  # DDAD scene_02 is held out
    dawn_test_every: int = 5                                   # DAWN images 0, 5, 10 ... held out
    # flat-road upper bound of real clear frames' depth (physics_data.flat_road_log_depth_bound)
    road_bound_folders: Tuple[str, ...] = ()   # udacity folders whose camera geometry is below
    road_horizon_frac: float = 0.56            # horizon row / image height
    road_camera_height_m: float = 1.25         # camera height above the road [m]
    road_hfov_deg: float = 60.0                # horizontal field of view [deg]
    road_bound_slack: float = 2.0              # bound = slack x flat-road depth (>= 1)


@dataclass(frozen=True)
class TrainConfig:
    """The whole training configuration."""

    model: NetworkConfig = field(default_factory=lambda: preset_config("edge"))
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON/YAML-serialisable dict (tuples as lists)."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse_scene_list(value: Any, key: str) -> Tuple[int, ...]:
    """Scene numbers from a list of ints and/or ``"a-b"`` ranges (inclusive), e.g. ``["1-40", 50]``."""
    items = value if isinstance(value, (list, tuple)) else [value]
    scenes = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            scenes.append(item)
        elif isinstance(item, str) and "-" in item:
            low, _, high = item.partition("-")
            try:
                scenes.extend(range(int(low), int(high) + 1))
            except ValueError:
                raise ConfigError(f"{key}: bad scene range {item!r}") from None
        else:
            raise ConfigError(f"{key}: scene entries must be integers or 'a-b' ranges, got {item!r}")
    if not scenes:
        raise ConfigError(f"{key}: empty scene list")
    return tuple(scenes)
