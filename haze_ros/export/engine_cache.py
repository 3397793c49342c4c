"""Content-addressed cache of TensorRT engines.

An engine is only valid for the exact ONNX graph, TensorRT version, GPU (name and compute
capability), precision and optimisation-shape profile it was built for. ``EngineKey`` covers all
of them; its SHA-256 names the cached file, and a sidecar JSON next to the engine records every
key field plus the engine's own SHA-256. On lookup:

* no engine for the key → ``EngineMissing`` (build it with ``haze_export --engine`` or allow a build),
* sidecar missing/unreadable, or the engine bytes not matching the recorded hash → ``EngineCorrupt``,
* sidecar fields not matching the key (e.g. an engine from another GPU) → ``EngineMismatch``.

``get_or_build`` rebuilds in those cases only when ``allow_rebuild`` is true, and logs that it
does (builds take minutes). No single fixed ``/tmp`` path: the directory is per user, configurable.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

from haze_ros import __version__
from haze_ros.core.files import atomic_write_bytes

LOG = logging.getLogger(__name__)
SIDECAR_FORMAT = 1
ENGINE_CACHE_ENV = "HAZE_ROS_ENGINE_CACHE"
PRECISIONS = ("fp32", "fp16")
Shape = Tuple[int, int, int, int]


class EngineCacheError(RuntimeError):
    """Base class: an engine cannot be used as it is; the message says why and what to do."""


class EngineMissing(EngineCacheError):
    """No engine in the cache for this key."""


class EngineCorrupt(EngineCacheError):
    """The engine file or its sidecar is damaged (unreadable JSON, hash mismatch, failed deserialise)."""


class EngineMismatch(EngineCacheError):
    """The engine was built for something else (another GPU, TensorRT version, ONNX, profile...)."""


def parse_shape(text: str) -> Shape:
    """``"1x3x256x256"`` → ``(1, 3, 256, 256)`` (B, C, H, W); C must be 3, all positive."""
    match = re.fullmatch(r"\s*(\d+)x(\d+)x(\d+)x(\d+)\s*", str(text))
    if not match:
        raise ValueError(f"shape {text!r} is not BxCxHxW, e.g. 1x3x720x1280")
    shape = tuple(int(v) for v in match.groups())
    if shape[1] != 3 or min(shape) < 1:
        raise ValueError(f"shape {text!r}: need B >= 1, C = 3, H >= 1, W >= 1")
    return shape  # type: ignore[return-value]


def format_shape(shape: Shape) -> str:
    """``(1, 3, 256, 256)`` → ``"1x3x256x256"``."""
    return "x".join(str(int(v)) for v in shape)


@dataclass(frozen=True)
class ShapeProfile:
    """TensorRT optimisation profile for the input: min ≤ opt ≤ max elementwise, shapes (B, 3, H, W)."""

    min: Shape = (1, 3, 256, 256)
    opt: Shape = (1, 3, 720, 1280)
    max: Shape = (1, 3, 1088, 1920)

    def __post_init__(self) -> None:
        for lo, mid, hi in zip(self.min, self.opt, self.max):
            if not lo <= mid <= hi:
                raise ValueError(f"shape profile needs min <= opt <= max, got {self.describe()}")

    @classmethod
    def parse(cls, min_shape: str, opt_shape: str, max_shape: str) -> "ShapeProfile":
        """Build from ``"BxCxHxW"`` strings."""
        return cls(parse_shape(min_shape), parse_shape(opt_shape), parse_shape(max_shape))

    def contains(self, shape: Shape) -> bool:
        """True if ``shape`` lies inside [min, max] elementwise."""
        return all(lo <= v <= hi for lo, v, hi in zip(self.min, shape, self.max))

    def describe(self) -> str:
        """``"min 1x3x256x256, opt ..., max ..."``."""
        return f"min {format_shape(self.min)}, opt {format_shape(self.opt)}, max {format_shape(self.max)}"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on. ``digest()`` is the cache address.

    Attributes:
        onnx_sha256: SHA-256 of the ONNX file's bytes.
        tensorrt_version: ``tensorrt.__version__``.
        gpu_name: e.g. ``"NVIDIA H100 80GB HBM3"``.
        compute_capability: e.g. ``"9.0"``.
        precision: ``"fp32"`` or ``"fp16"``.
        profile: input shape profile.
    """

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    profile: ShapeProfile

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def fields(self) -> Dict[str, str]:
        """Key fields as plain strings (what the sidecar records and compares)."""
        values = {k: str(v) for k, v in asdict(self).items() if k != "profile"}
        values.update(min_shape=format_shape(self.profile.min), opt_shape=format_shape(self.profile.opt),
                      max_shape=format_shape(self.profile.max))
        return values

    def digest(self) -> str:
        """Hex SHA-256 over the canonical JSON of ``fields()``."""
        text = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def default_cache_dir() -> Path:
    """Engine cache directory of this user.

    ``$HAZE_ROS_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/haze_ros/engines``, else
    ``~/.cache/haze_ros/engines``.
    """
    if os.environ.get(ENGINE_CACHE_ENV):
        return Path(os.environ[ENGINE_CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "haze_ros" / "engines"


def sidecar_path(engine_path: Union[str, Path]) -> Path:
    """``model.engine`` → ``model.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def write_engine(engine_path: Union[str, Path], engine_bytes: bytes, key: EngineKey,
                 extra: Optional[dict] = None) -> Path:
    """Write an engine and its sidecar JSON (key fields, digest, engine SHA-256, creator); atomic each."""
    engine_path = Path(engine_path)
    sidecar = {"format": SIDECAR_FORMAT, "key": key.fields(), "key_sha256": key.digest(),
               "engine_sha256": hashlib.sha256(engine_bytes).hexdigest(), "engine_bytes": len(engine_bytes),
               "haze_ros_version": __version__,
               "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    sidecar.update(extra or {})
    # The sidecar goes last: an engine without a sidecar is treated as corrupt, never as valid.
    sidecar_path(engine_path).unlink(missing_ok=True)
    atomic_write_bytes(engine_path, engine_bytes)
    sidecar_text = json.dumps(sidecar, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(sidecar_path(engine_path), sidecar_text.encode())
    return engine_path


def read_sidecar(engine_path: Union[str, Path]) -> dict:
    """The sidecar JSON of an engine; ``EngineCorrupt`` if missing or unreadable."""
    path = sidecar_path(engine_path)
    try:
        sidecar = json.loads(path.read_text())
    except FileNotFoundError:
        raise EngineCorrupt(f"engine {engine_path} has no sidecar {path.name}: cannot tell what it was "
                            f"built for") from None
    except (OSError, ValueError) as exc:
        raise EngineCorrupt(f"engine sidecar {path} is unreadable: {exc}") from None
    if not isinstance(sidecar, dict) or not isinstance(sidecar.get("key"), dict):
        raise EngineCorrupt(f"engine sidecar {path} has no 'key' record")
    return sidecar


def verify_engine(engine_path: Union[str, Path], expected: Dict[str, str]) -> bytes:
    """Check an engine file against its sidecar and the ``expected`` key fields; return its bytes.

    ``expected`` may hold a subset of ``EngineKey.fields()`` (e.g. without ``onnx_sha256`` for a
    user-given engine with no ONNX). Raises ``EngineMissing``, ``EngineCorrupt`` or ``EngineMismatch``
    with a message naming the file and each differing field.
    """
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        raise EngineMissing(f"no engine at {engine_path}")
    sidecar = read_sidecar(engine_path)
    data = engine_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sidecar.get("engine_sha256"):
        raise EngineCorrupt(f"engine {engine_path} does not match the SHA-256 in its sidecar "
                            f"(truncated or overwritten)")
    recorded = sidecar["key"]
    diffs = [f"{name}: engine has {recorded.get(name)!r}, need {value!r}"
             for name, value in sorted(expected.items()) if str(recorded.get(name)) != str(value)]
    if diffs:
        raise EngineMismatch(f"engine {engine_path} was built for something else: " + "; ".join(diffs))
    return data


class EngineCache:
    """Engines under ``cache_dir`` named ``<stem>-<key digest[:20]>.engine`` (+ ``.engine.json``)."""

    def __init__(self, cache_dir: Optional[Union[str, Path]] = None) -> None:
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()

    def engine_path(self, key: EngineKey, stem: str = "model") -> Path:
        """Where the engine for ``key`` lives (whether or not it exists)."""
        safe_stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "model"
        return self.cache_dir / f"{safe_stem}-{key.digest()[:20]}.engine"

    def timing_cache_path(self, key: EngineKey) -> Path:
        """Persistent TensorRT timing cache shared by builds for the same GPU and TensorRT version."""
        tag = hashlib.sha256(f"{key.tensorrt_version}|{key.gpu_name}|{key.compute_capability}".encode())
        return self.cache_dir / f"timing-{tag.hexdigest()[:16]}.timing-cache"

    def lookup(self, key: EngineKey, stem: str = "model") -> Tuple[Path, bytes]:
        """Return (path, bytes) of the valid engine for ``key``; raises an ``EngineCacheError`` otherwise."""
        path = self.engine_path(key, stem)
        if not path.is_file():
            raise EngineMissing(f"no engine for key {key.digest()[:20]} in {self.cache_dir} "
                                f"({key.precision}, {key.profile.describe()}, {key.gpu_name})")
        return path, verify_engine(path, key.fields())

    def get_or_build(self, key: EngineKey, build: Callable[[Path], bytes], allow_rebuild: bool,
                     stem: str = "model") -> Tuple[Path, bytes, str]:
        """Cached engine for ``key``, or (only if ``allow_rebuild``) a fresh build stored in the cache.

        ``build(timing_cache_path)`` returns serialised engine bytes. Returns ``(path, bytes, how)``
        with ``how`` in ``{"cached", "built"}``. Without ``allow_rebuild`` a missing, corrupt or
        mismatched engine raises its ``EngineCacheError`` with advice (parameter
        ``allow_engine_rebuild``, or ``haze_export --engine``).
        """
        try:
            path, data = self.lookup(key, stem)
            LOG.info("TensorRT engine cache hit: %s", path)
            return path, data, "cached"
        except EngineCacheError as exc:
            if not allow_rebuild:
                raise type(exc)(f"{exc}. Not building: set allow_engine_rebuild:=true to build it here "
                                f"(takes minutes), or build it ahead with haze_export --engine") from None
            LOG.warning("%s; building a new TensorRT engine (allow_engine_rebuild is set; this can take "
                        "minutes, progress follows)", exc)
        path = self.engine_path(key, stem)
        data = build(self.timing_cache_path(key))
        write_engine(path, data, key)
        LOG.info("TensorRT engine written to %s (%.1f MB)", path, len(data) / 1e6)
        return path, data, "built"

    def invalidate(self, key: EngineKey, stem: str = "model") -> None:
        """Remove the engine for ``key`` and its sidecar (after a failed deserialisation)."""
        path = self.engine_path(key, stem)
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)
