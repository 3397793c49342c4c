"""Depth files for the evaluation: decode to metres with ``haze_ros.physics.depth``, complete if sparse.

Formats: single-channel uint16 PNG / TIFF (metres = value · scale, 0 = no measurement), float
images (TIFF / EXR / PFM: metres = value · scale), and numpy ``.npz`` (key ``depth``, or the only
array in the file) / ``.npy``, integer or float, with the same scale. Decoding and completion are
the physics package's (``depth_from_uint16``, ``depth_from_float``, ``complete_sparse_depth``);
this module only opens files safely (``allow_pickle=False``) and decides when to complete.
``load_depth`` also keeps the depth as measured (before completion) and its mask, for scores on the
measured pixels only (``haze_eval --synthesis-mask measured``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from haze_ros.physics.depth import complete_sparse_depth, depth_from_float, depth_from_uint16

# Below this fraction of measured pixels a depth map counts as sparse (projected LiDAR: 0.2–0.5 %).
SPARSE_VALID_FRACTION = 0.5
COMPLETION_MODES = ("auto", "always", "never")


def _read_array(path: Path) -> np.ndarray:
    """Raw (H, W) depth array from an image or numpy file, without unpickling anything."""
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        try:
            loaded = np.load(str(path), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a readable numpy file ({exc})") from exc
        if suffix == ".npy":
            return loaded
        with loaded:
            names = list(loaded.files)
            if "depth" in names:
                return loaded["depth"]
            if len(names) == 1:
                return loaded[names[0]]
        raise ValueError(f"{path}: .npz needs a 'depth' array or exactly one array, has {names}")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if raw is None:
        raise ValueError(f"{path}: not a readable depth image")
    return raw


@dataclass
class DepthMaps:
    """One depth file decoded: the depth used for haze, and the depth as measured.

    Attributes:
        depth_m: ``(H, W)`` float32 metres used for eq. (1): completed if sparse (see
            ``load_depth``), else as measured; ``inf`` = far / no return.
        measured_m: ``(H, W)`` float32 metres as stored, before any completion; ``inf`` where the
            file has no measurement (0, NaN, inf, negative).
        measured: ``(H, W)`` bool, True where the file has a measurement (finite ``measured_m``).
        note: whether the depth was completed, and the measured fraction.
    """

    depth_m: np.ndarray
    measured_m: np.ndarray
    measured: np.ndarray
    note: str


def load_depth(path: Path, metres_per_unit: float, shape: Tuple[int, int],
               complete_sparse: str = "auto") -> DepthMaps:
    """Decode a depth file to metres, complete it if sparse, and keep the measured pixels.

    Args:
        path: depth file (see the module docstring for formats).
        metres_per_unit: S, metres per stored unit (FRIDA2 cm PNG: 0.01; DDAD LiDAR PNG: 1/256).
        shape: the image's (H, W); the depth must match it.
        complete_sparse: ``auto`` (complete when fewer than half the pixels are measured),
            ``always`` or ``never``.

    Raises:
        ValueError: unreadable file, wrong shape or channel count, bad ``complete_sparse``.
    """
    if complete_sparse not in COMPLETION_MODES:
        raise ValueError(f"complete_sparse must be one of {COMPLETION_MODES}, got {complete_sparse!r}")
    path = Path(path)
    raw = _read_array(path)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if raw.ndim != 2:
        raise ValueError(f"{path}: depth must be single-channel (H, W), got shape {raw.shape}")
    if raw.shape != tuple(shape):
        raise ValueError(f"{path}: depth is {raw.shape[1]}×{raw.shape[0]}, image is {shape[1]}×{shape[0]}")
    if raw.dtype == np.uint16:
        depth = depth_from_uint16(raw, metres_per_unit)
    else:  # other integer or float arrays: value · S metres, 0 / NaN / inf = no measurement
        depth = depth_from_float(raw.astype(np.float32) * np.float32(metres_per_unit))
    measured = np.isfinite(depth)
    fraction = float(measured.mean())
    sparse = fraction < SPARSE_VALID_FRACTION
    if complete_sparse == "always" or (complete_sparse == "auto" and sparse):
        completed = complete_sparse_depth(depth)
        return DepthMaps(completed, depth, measured, f"completed (measured {fraction:.2%})")
    return DepthMaps(depth, depth, measured, f"dense (measured {fraction:.2%})")


def load_depth_m(path: Path, metres_per_unit: float, shape: Tuple[int, int],
                 complete_sparse: str = "auto") -> Tuple[np.ndarray, str]:
    """Depth in metres for one image (``load_depth`` without the measured maps).

    Args:
        path: depth file (see the module docstring for formats).
        metres_per_unit: S, metres per stored unit (FRIDA2 cm PNG: 0.01; DDAD LiDAR PNG: 1/256).
        shape: the image's (H, W); the depth must match it.
        complete_sparse: ``auto`` (complete when fewer than half the pixels are measured),
            ``always`` or ``never``.

    Returns:
        (``(H, W)`` float32 metres, ``inf`` = far / no return; a note saying whether it was
        completed and the measured fraction).
    """
    maps = load_depth(path, metres_per_unit, shape, complete_sparse)
    return maps.depth_m, maps.note
