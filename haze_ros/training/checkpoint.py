"""Writing checkpoint pairs (``NAME.safetensors`` + ``NAME.json``) and the optimiser resume state.

The format is defined and read by :mod:`haze_ros.networks.loading`. Files are written to a temporary
name and renamed, weights first and JSON last, so a pair whose JSON exists is complete.
"""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from haze_ros.core.files import atomic_write_bytes
from haze_ros.networks.config import NetworkConfig
from haze_ros.networks.loading import (FORMAT_NAME, FORMAT_VERSION, CheckpointError, checkpoint_paths,
                                       sha256_bytes)


def software_versions() -> Dict[str, str]:
    """Versions recorded in every checkpoint (python, torch, haze_ros)."""
    try:
        from importlib.metadata import version
        package = version("haze_ros")
    except Exception:  # not installed (source tree)
        package = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "haze_ros": package}


def _contiguous(tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def save_checkpoint(stem: Path, tensors: Mapping[str, torch.Tensor], network: NetworkConfig, *, step: int,
                    metrics: Mapping[str, float], training: Mapping[str, Any],
                    optimizer_tensors: Optional[Mapping[str, torch.Tensor]] = None,
                    optimizer_meta: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``stem.safetensors`` (+ ``stem.optim.safetensors``) and ``stem.json``; returns the JSON path.

    ``tensors`` are the model weights with ``vae.`` / ``dis_hazy.`` / ``dis_clear.`` prefixes;
    ``optimizer_tensors`` the flattened optimiser state (see :mod:`haze_ros.training.trainer`).
    """
    json_path, weights_path = checkpoint_paths(stem)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    weights = save_safetensors_bytes(_contiguous(tensors))
    meta: Dict[str, Any] = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "weights_file": weights_path.name, "weights_sha256": sha256_bytes(weights),
        "model": {"preset": network.preset, "architecture": network.to_dict()},
        "step": int(step), "metrics": {k: float(v) for k, v in metrics.items()},
        "versions": software_versions(), "training": dict(training),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_bytes(weights_path, weights)
    if optimizer_tensors is not None:
        optim_path = weights_path.with_name(weights_path.stem + ".optim.safetensors")
        optim_bytes = save_safetensors_bytes(_contiguous(optimizer_tensors))
        atomic_write_bytes(optim_path, optim_bytes)
        meta.update(optimizer_file=optim_path.name, optimizer_sha256=sha256_bytes(optim_bytes),
                    optimizer_meta=dict(optimizer_meta or {}))
    atomic_write_bytes(json_path, json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"))
    return json_path


def load_optimizer_tensors(checkpoint_path: Path, meta: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
    """Load the optimiser state tensors recorded in ``meta`` (sha256 checked first)."""
    name = meta.get("optimizer_file")
    if not name:
        raise CheckpointError(f"{checkpoint_path}: no optimizer state recorded (cannot resume)")
    json_path, _ = checkpoint_paths(checkpoint_path)
    path = json_path.with_name(name)
    if path.parent != json_path.parent or not path.is_file():
        raise CheckpointError(f"optimizer state not found: {path}")
    data = path.read_bytes()
    if sha256_bytes(data) != meta.get("optimizer_sha256"):
        raise CheckpointError(f"{path}: sha256 does not match the checkpoint JSON")
    return load_safetensors_bytes(data)
