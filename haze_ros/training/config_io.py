"""Loading, overriding and validating :class:`~haze_ros.training.config.TrainConfig` from YAML."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Union

import yaml

from haze_ros.networks.config import (PRESETS, NetworkConfig, canonical_preset, network_config_from_dict,
                                      preset_config)
from haze_ros.training.config import (ConfigError, DataConfig, LossConfig, OptimConfig, RunConfig,
                                      TrainConfig, parse_scene_list)

SECTIONS = {"loss": LossConfig, "optim": OptimConfig, "data": DataConfig, "run": RunConfig}
SCENE_KEYS = ("train_scenes", "val_scenes", "test_scenes")


def load_train_config(path: Union[str, Path], overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config, apply ``key.sub=value`` overrides, validate; raises :class:`ConfigError`."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read training config {path}: {exc}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def apply_override(raw: Dict[str, Any], item: str) -> None:
    """Set ``section.key=value`` (value parsed as a YAML scalar/list) in the raw dict, in place."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r} must look like section.key=value")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(text)


def config_from_dict(raw: Mapping[str, Any]) -> TrainConfig:
    """Validate a raw mapping (unknown sections or keys are errors) into a :class:`TrainConfig`."""
    unknown = set(raw) - set(SECTIONS) - {"model"}
    if unknown:
        raise ConfigError(f"unknown config sections: {sorted(unknown)}")
    values: Dict[str, Any] = {"model": _model_config(raw.get("model") or {})}
    for name, cls in SECTIONS.items():
        values[name] = _section(name, cls, raw.get(name) or {})
    config = TrainConfig(**values)
    validate(config)
    return config


def _model_config(section: Any) -> NetworkConfig:
    if not isinstance(section, dict):
        raise ConfigError("model: must be a mapping")
    section = dict(section)
    try:
        base = preset_config(str(section.pop("preset", "edge"))).to_dict()
    except ValueError as exc:
        raise ConfigError(f"model.preset: {exc}") from None
    if "discriminator" in section and isinstance(section["discriminator"], dict):
        base["discriminator"].update(section.pop("discriminator"))
    unknown = set(section) - set(base)
    if unknown:
        raise ConfigError(f"model: unknown keys {sorted(unknown)}")
    base.update(section)
    if section:
        base["preset"] = "custom" if base["preset"] not in PRESETS else base["preset"] + "-custom"
    try:
        return canonical_preset(network_config_from_dict(base))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model: {exc}") from None


def _section(name: str, cls, section: Any):
    if not isinstance(section, dict):
        raise ConfigError(f"{name}: must be a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(section) - known
    if unknown:
        raise ConfigError(f"{name}: unknown keys {sorted(unknown)}")
    values = {}
    for key, value in section.items():
        if key in SCENE_KEYS:
            values[key] = parse_scene_list(value, f"{name}.{key}")
        else:
            values[key] = _coerce(f"{name}.{key}", hints[key], value)
    return cls(**values)


def _coerce(key: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        inner = args[0] if args[-1] is Ellipsis or len(args) == 1 else None
        if inner is None and len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(key, inner or args[i], v) for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (not isinstance(value, hint) or
                                            (hint is not bool and isinstance(value, bool))):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
    return value


def validate(config: TrainConfig) -> None:
    """Cross-field checks (ranges, disjoint scene splits); raises :class:`ConfigError`."""
    loss, data, run, optim = config.loss, config.data, config.run, config.optim
    checks = [
        (loss.latent_divergence in ("mmd", "kl"), "loss.latent_divergence must be 'mmd' or 'kl'"),
        (loss.gan_mode in ("bce", "lsgan"), "loss.gan_mode must be 'bce' or 'lsgan'"),
        (min(loss.lambda_m, loss.lambda_adv, loss.lambda_recon, loss.lambda_paired) >= 0,
         "loss weights must be >= 0"),
        (len(loss.mmd_bandwidth_scales) > 0 and min(loss.mmd_bandwidth_scales) > 0,
         "loss.mmd_bandwidth_scales must be positive"),
        (loss.mmd_max_samples >= 2, "loss.mmd_max_samples must be >= 2"),
        (optim.lr > 0 and 0 <= optim.beta1 < 1 and 0 <= optim.beta2 < 1, "optim: lr > 0, betas in [0, 1)"),
        (optim.lr_step_iterations >= 0 and 0 < optim.lr_gamma <= 1,
         "optim: lr_step_iterations >= 0 and lr_gamma in (0, 1]"),
        (data.crop >= 4 * config.model.size_multiple and data.crop % config.model.size_multiple == 0,
         f"data.crop must be a multiple of {config.model.size_multiple} and >= "
         f"{4 * config.model.size_multiple}"),
        (data.batch_size >= 1, "data.batch_size must be >= 1"),
        (0 < data.beta_range[0] <= data.beta_range[1], "data.beta_range must be 0 < low <= high"),
        (0 <= data.airlight_range[0] <= data.airlight_range[1] <= 1, "data.airlight_range within [0, 1]"),
        (data.beta_unit_m > 0, "data.beta_unit_m must be > 0"),
        (0 <= data.paired_fraction <= 1 and 0 <= data.real_probability <= 1, "probabilities in [0, 1]"),
        (0 < data.visibility_range_m[0] <= data.visibility_range_m[1],
         "data.visibility_range_m must be 0 < low <= high"),
        (0 <= data.airlight_base_range[0] <= data.airlight_base_range[1] <= 1 and data.airlight_tint >= 0,
         "data.airlight_base_range within [0, 1], airlight_tint >= 0"),
        (data.dawn_test_every >= 2, "data.dawn_test_every must be >= 2"),
        (not config.model.is_physics or config.model.scale_width_px in (0, data.real_width),
         "model.scale_width_px must be data.real_width (the width the real frames are trained at) or 0"),
        (min(loss.lambda_t, loss.lambda_airlight, loss.lambda_clear, loss.lambda_depth, loss.lambda_haze,
             loss.lambda_self, loss.lambda_adv_haze, loss.lambda_adv_clear, loss.lambda_smooth_depth,
             loss.lambda_smooth_keep) >= 0,
         "loss weights must be >= 0"),
        (not set(data.train_scenes) & (set(data.val_scenes) | set(data.test_scenes)),
         "data.train_scenes must not overlap val_scenes or test_scenes"),
        (run.iterations >= 1 and run.checkpoint_every >= 1 and run.val_every >= 1 and run.log_every >= 1
         and run.sample_every >= 1, "run: iterations and intervals must be >= 1"),
        (run.max_nonfinite_steps >= 0 and run.threads >= 0 and run.keep_last >= 1, "run: counts >= 0"),
        (run.time_limit_min >= 0, "run.time_limit_min must be >= 0 (0 = no limit)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
