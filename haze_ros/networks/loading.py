"""Checkpoint format (``NAME.safetensors`` + ``NAME.json``) and the loaders the package uses.

A checkpoint is a pair of files with the same stem:

* ``NAME.safetensors``: tensors only (no pickle). Generator keys are prefixed ``vae.`` (e.g.
  ``vae.encoder_hazy.layers.0...``), discriminator keys ``dis_hazy.`` / ``dis_clear.``.
* ``NAME.json``: ``format`` (``haze_ros.checkpoint``), ``format_version``, ``weights_file``,
  ``weights_sha256``, ``model`` (``preset`` and ``architecture``, a :class:`NetworkConfig` dict),
  ``step``, ``metrics``, ``versions``, ``training`` (the resolved training config), ``created_utc``
  and optionally ``optimizer_file`` / ``optimizer_sha256`` (resume state, also safetensors).

The JSON is validated (schema, required keys, the weights' sha256) before any tensor is read.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch
from safetensors.torch import load as load_safetensors_bytes

from haze_ros.core.types import Direction
from haze_ros.networks.config import NetworkConfig, network_config_from_dict
from haze_ros.networks.translator import DIRECTION_DOMAINS, build_translator, build_vae

FORMAT_NAME = "haze_ros.checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = {
    "format": str, "format_version": int, "weights_file": str, "weights_sha256": str, "model": dict,
    "step": int, "metrics": dict, "versions": dict, "training": dict,
}
MAX_JSON_BYTES = 4 * 1024 * 1024

PathLike = Union[str, Path]


class CheckpointError(ValueError):
    """A checkpoint pair is missing, malformed, or its weights do not match the recorded hash."""


def checkpoint_paths(checkpoint_path: PathLike) -> Tuple[Path, Path]:
    """``(json_path, weights_path)`` for a checkpoint given as either file of the pair or its stem."""
    path = Path(checkpoint_path)
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".json"), path.with_name(path.name + ".safetensors")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def read_checkpoint_meta(checkpoint_path: PathLike) -> Dict[str, Any]:
    """Read and validate a checkpoint's JSON (schema, required keys, the weights file's sha256).

    Returns the JSON as a dict, with ``model.architecture`` validated as a :class:`NetworkConfig`.
    Raises :class:`CheckpointError` (a ``ValueError``) naming the problem.
    """
    meta, _ = _read_validated(checkpoint_path)
    return meta


def _read_validated(checkpoint_path: PathLike) -> Tuple[Dict[str, Any], bytes]:
    json_path, weights_path = checkpoint_paths(checkpoint_path)
    meta = _read_json(json_path)
    _validate_schema(meta, json_path)
    if meta["weights_file"] != weights_path.name:
        raise CheckpointError(f"{json_path}: weights_file {meta['weights_file']!r} does not match "
                              f"the pair's weights {weights_path.name!r}")
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint weights not found: {weights_path}")
    data = weights_path.read_bytes()
    if sha256_bytes(data) != meta["weights_sha256"]:
        raise CheckpointError(f"{weights_path}: sha256 does not match {json_path.name} "
                              "(corrupt, truncated, or from another checkpoint)")
    return meta, data


def _read_json(json_path: Path) -> Dict[str, Any]:
    if not json_path.is_file():
        raise CheckpointError(f"checkpoint metadata not found: {json_path}")
    if json_path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError(f"{json_path}: larger than {MAX_JSON_BYTES} bytes, not a checkpoint JSON")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{json_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{json_path}: top level must be an object")
    return meta


def _validate_schema(meta: Dict[str, Any], json_path: Path) -> None:
    for key, kind in REQUIRED_KEYS.items():
        if key not in meta:
            raise CheckpointError(f"{json_path}: missing required key {key!r}")
        if not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            raise CheckpointError(f"{json_path}: {key!r} must be {kind.__name__}")
    if meta["format"] != FORMAT_NAME:
        raise CheckpointError(f"{json_path}: format {meta['format']!r} is not {FORMAT_NAME!r}")
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{json_path}: format_version {meta['format_version']} unsupported "
                              f"(this code reads {FORMAT_VERSION})")
    if len(meta["weights_sha256"]) != 64:
        raise CheckpointError(f"{json_path}: weights_sha256 must be 64 hex digits")
    if meta["step"] < 0:
        raise CheckpointError(f"{json_path}: step must be >= 0")
    model = meta["model"]
    if not isinstance(model.get("preset"), str) or not isinstance(model.get("architecture"), dict):
        raise CheckpointError(f"{json_path}: model must hold 'preset' (str) and 'architecture' (object)")
    try:
        cfg = network_config_from_dict(model["architecture"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{json_path}: invalid model.architecture: {exc}") from None
    if cfg.preset != model["preset"]:
        raise CheckpointError(f"{json_path}: model.preset {model['preset']!r} != architecture preset "
                              f"{cfg.preset!r}")
    for name, value in meta["metrics"].items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise CheckpointError(f"{json_path}: metric {name!r} must be a finite number")


def network_config_of(meta: Dict[str, Any]) -> NetworkConfig:
    """Return the :class:`NetworkConfig` recorded in validated checkpoint metadata."""
    return network_config_from_dict(meta["model"]["architecture"])


def load_checkpoint_tensors(checkpoint_path: PathLike) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """Return the validated ``(meta, tensors)`` of a checkpoint.

    The bytes hashed are the bytes deserialised (no second read between check and use).
    """
    meta, data = _read_validated(checkpoint_path)
    try:
        tensors = load_safetensors_bytes(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{checkpoint_path}: unreadable safetensors ({exc})") from None
    return meta, tensors


def translator_state_keys(translator, direction) -> Dict[str, str]:
    """Map each translator tensor name to its checkpoint key (``vae.`` + the two-VAE module names).

    E_source (private + shared) and G_target (shared + private; for the physics dehaze direction
    also G_J's global head ``airlight_clear``).
    """
    source, target = DIRECTION_DOMAINS[Direction(direction)]
    prefixes = {"encoder.": f"vae.encoder_{source}.", "encoder_shared.": "vae.encoder_shared.",
                "decoder_shared.": "vae.decoder_shared.", "decoder.": f"vae.decoder_{target}.",
                "airlight.": f"vae.airlight_{target}."}
    keys = {}
    for name in translator.state_dict():
        own_prefix = next(p for p in prefixes if name.startswith(p))
        keys[name] = prefixes[own_prefix] + name[len(own_prefix):]
    return keys


def load_translator(checkpoint_path: PathLike, direction, device: Union[str, torch.device] = "cpu"
                    ) -> torch.nn.Module:
    """Load the deterministic translator F_I→J (``dehaze``) or F_J→I (``haze``) from a checkpoint.

    A :class:`OneDirectionTranslator` (pixel generator) or a :class:`PhysicsTranslator` (physics
    generator; its haze direction takes visibility and airlight inputs), by the checkpoint's
    ``model.architecture.generator``. Only E_source and G_target are taken from the weights.
    Returns the module in eval mode on ``device``; images ``(B, 3, H, W)`` float32 in [0, 1].
    """
    direction = Direction(direction)
    meta, tensors = load_checkpoint_tensors(checkpoint_path)
    translator = build_translator(network_config_of(meta), direction)
    state = {}
    for name, key in translator_state_keys(translator, direction).items():
        if key not in tensors:
            raise CheckpointError(f"{checkpoint_path}: missing tensor {key!r} for direction "
                                  f"{direction.value}")
        state[name] = tensors[key]
    translator.load_state_dict(state, strict=True)
    return translator.to(device).eval()


def load_vae(checkpoint_path: PathLike, device: Union[str, torch.device] = "cpu"
             ) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Load both VAEs (all generator-side weights) and the validated metadata; module in eval mode.

    A :class:`SharedLatentVAE` or a :class:`PhysicsSharedLatentVAE`, by the checkpoint's generator.
    """
    meta, tensors = load_checkpoint_tensors(checkpoint_path)
    vae = build_vae(network_config_of(meta))
    state = {k[len("vae."):]: v for k, v in tensors.items() if k.startswith("vae.")}
    vae.load_state_dict(state, strict=True)
    return vae.to(device).eval(), meta
