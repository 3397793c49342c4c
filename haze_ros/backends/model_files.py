"""Find the model file a learned backend should load, and the ONNX form of a checkpoint.

``model_path`` (the node parameter) may name a checkpoint (``NAME.safetensors`` + ``NAME.json``,
given as either file or as the stem ``NAME``), an ONNX file or a TensorRT engine. Empty means the
shipped model ``models/edge.safetensors``, found in the package share (``ament_index`` when
available, else the source tree's or the install's ``share/haze_ros/models``). Every failure is a
``BackendError`` naming the file and the parameter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from haze_ros.core.backend import BackendError
from haze_ros.core.params_file import package_share_candidates
from haze_ros.core.types import Direction
from haze_ros.export.metadata import MetadataError, read_onnx_metadata, sha256_file
from haze_ros.export.onnx_export import export_checkpoint, graph_code_sha256

LOG = logging.getLogger(__name__)
PARAM = "model_path"
SHIPPED_STEM = "edge"
CHECKPOINT_SUFFIXES = (".safetensors", ".json")
ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
ONNX_CACHE_ENV = "HAZE_ROS_ONNX_CACHE"


@dataclass(frozen=True)
class ModelFile:
    """A resolved model: ``kind`` is ``checkpoint`` (path = the .safetensors), ``onnx`` or ``engine``."""

    kind: str
    path: Path
    shipped: bool = False


def _share_candidates() -> List[Path]:
    """Folders that may hold the shipped checkpoint (``core.params_file.package_share_candidates``)."""
    return package_share_candidates("models")


def shipped_models_dir() -> Optional[Path]:
    """The first ``models`` folder holding the shipped checkpoint, else ``None``."""
    for folder in _share_candidates():
        if (folder / f"{SHIPPED_STEM}.safetensors").is_file():
            return folder
    return None


def resolve_model(model_path: str) -> ModelFile:
    """Classify and check ``model_path`` ('' = shipped model).

    Raises ``BackendError`` naming the file and the parameter when it is missing or of unknown type.
    """
    if not model_path:
        folder = shipped_models_dir()
        if folder is None:
            looked = ", ".join(str(p / f"{SHIPPED_STEM}.safetensors") for p in _share_candidates())
            raise BackendError(f"parameter {PARAM} is empty and the shipped model was not found (looked "
                               f"for {looked}); set {PARAM} to a checkpoint, .onnx or .engine file")
        model = ModelFile("checkpoint", folder / f"{SHIPPED_STEM}.safetensors", shipped=True)
    else:
        path = Path(os.path.expanduser(model_path))
        suffix = path.suffix.lower()
        if suffix in CHECKPOINT_SUFFIXES:
            model = ModelFile("checkpoint", path.with_suffix(".safetensors"))
        elif suffix in ONNX_SUFFIXES:
            model = ModelFile("onnx", path)
        elif suffix in ENGINE_SUFFIXES:
            model = ModelFile("engine", path)
        elif any(Path(f"{path}{ending}").is_file() for ending in CHECKPOINT_SUFFIXES):  # a checkpoint's stem
            model = ModelFile("checkpoint", Path(f"{path}.safetensors"))
        else:
            raise BackendError(f"parameter {PARAM}={model_path!r}: unknown model type {suffix!r} and no "
                               f"checkpoint {path}.safetensors (expected a .safetensors/.json checkpoint or "
                               f"its stem, .onnx or .engine)")
    needed = [model.path]
    if model.kind == "checkpoint":
        needed.append(model.path.with_suffix(".json"))
    for item in needed:
        if not item.is_file():
            raise BackendError(f"parameter {PARAM}={model_path!r}: model file {item} not found")
    return model


def validate_model(model: ModelFile, direction: Direction) -> None:
    """Check a resolved model before any runtime loads it.

    Checkpoint: JSON schema and weights hash; ONNX: metadata and direction. Raises ``BackendError``
    naming the file and ``model_path``.
    """
    try:
        if model.kind == "checkpoint":
            from haze_ros.networks.loading import read_checkpoint_meta

            read_checkpoint_meta(model.path)
        elif model.kind == "onnx":
            read_onnx_metadata(model.path, direction)
    except (ValueError, OSError) as exc:
        raise BackendError(f"parameter {PARAM}: invalid model {model.path}: {exc}") from None


def onnx_cache_dir() -> Path:
    """``$HAZE_ROS_ONNX_CACHE``, else ``$XDG_CACHE_HOME/haze_ros/onnx``, else ``~/.cache/haze_ros/onnx``."""
    if os.environ.get(ONNX_CACHE_ENV):
        return Path(os.environ[ONNX_CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "haze_ros" / "onnx"


def _valid_onnx_for(candidate: Path, checkpoint_sha: str, direction: Direction) -> bool:
    try:
        meta = read_onnx_metadata(candidate, direction)
    except (MetadataError, OSError) as exc:
        LOG.warning("ignoring %s: %s", candidate, exc)
        return False
    if meta.checkpoint_sha256 != checkpoint_sha:
        LOG.warning("ignoring %s: exported from another checkpoint (sha256 %s..., need %s...)",
                    candidate, meta.checkpoint_sha256[:12], checkpoint_sha[:12])
        return False
    return True


def architecture_sha256(checkpoint: Path) -> str:
    """SHA-256 of a checkpoint's resolved architecture (its JSON's ``model.architecture`` with defaults).

    The weights' hash alone does not identify a graph: the same weights released with another
    recomposition floor t0 or another ``scale_width_px`` (JSON only) export to another graph.
    """
    from haze_ros.networks.loading import network_config_of, read_checkpoint_meta

    config = network_config_of(read_checkpoint_meta(checkpoint)).to_dict()
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def onnx_for_model(model: ModelFile, direction: Direction, cache_dir: Optional[Path] = None) -> Path:
    """The ONNX file for ``model``.

    That is the model itself, a shipped ``<stem>_<direction>.onnx`` exported from this very checkpoint,
    or an export into ``cache_dir`` keyed by the checkpoint's SHA-256, its architecture's
    (:func:`architecture_sha256`) and the graph code's (``graph_code_sha256``: a haze_ros upgrade
    that changes the graphs re-exports; done on first use, logged).
    Raises ``BackendError`` (engine given, or export failure).
    """
    direction = Direction(direction)
    if model.kind == "onnx":
        return model.path
    if model.kind != "checkpoint":
        raise BackendError(f"parameter {PARAM}={str(model.path)!r}: a TensorRT engine has no ONNX form")
    checkpoint_sha = sha256_file(model.path)
    beside = model.path.with_name(f"{model.path.stem}_{direction.value}.onnx")
    if beside.is_file() and _valid_onnx_for(beside, checkpoint_sha, direction):
        return beside
    try:
        architecture = architecture_sha256(model.path)[:8]
    except (ValueError, OSError) as exc:
        raise BackendError(f"parameter {PARAM}: invalid model {model.path}: {exc}") from None
    name = (f"{model.path.stem}-{checkpoint_sha[:16]}-{architecture}-{graph_code_sha256()[:8]}"
            f"_{direction.value}.onnx")
    target = Path(cache_dir or onnx_cache_dir()) / name
    if target.is_file() and _valid_onnx_for(target, checkpoint_sha, direction):
        return target
    LOG.info("exporting %s (%s) to ONNX at %s (first use of this checkpoint)", model.path, direction.value,
             target)
    try:
        export_checkpoint(model.path, direction, target)
    except Exception as exc:
        raise BackendError(f"parameter {PARAM}: could not export {model.path} to ONNX: {exc}") from exc
    return target
