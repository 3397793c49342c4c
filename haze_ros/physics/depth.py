"""Depth handling: decode metric depth, mark invalid pixels and sky as far, complete sparse LiDAR.

Depth crosses the package as ``(H, W)`` ``float32`` metres. Pixels without a usable depth (0,
NaN, ±inf, negative) and the sky are *far*: they get ``far_m`` (default ``inf``, i.e. t = 0 and
pure airlight in eq. (1); pass a finite value such as FRIDA's 500 m to cap it).

Encodings handled:

* uint16 PNG with a scale in metres per unit: FRIDA2 ``depth_cm_uint16`` (``FRIDA_CM`` = 0.01),
  DDAD / KITTI projected LiDAR (``DDAD_LIDAR`` = 1/256), ROS ``16UC1`` depth (millimetres, 0.001).
* float32 images in metres (ROS ``32FC1``).
* disparity d_px → depth = fx·B / d_px (``depth_from_disparity``).

Sparse LiDAR depth is completed by ``complete_sparse_depth``: classical morphology after Ku, Harakeh
and Waslander, "In Defense of Classical Image Processing: Fast Depth Completion on the CPU"
(CRV 2018): depth inversion, multi-scale dilation with custom kernels, hole closing, small and
large hole fill, median and Gaussian blur; pixels above the highest LiDAR return of their column
are sky (far).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

FRIDA_CM = 0.01          # FRIDA2 depth_cm_uint16: metres = value / 100
DDAD_LIDAR = 1.0 / 256.0  # DDAD / KITTI projected LiDAR and disparity: value / 256
ROS_16UC1_MM = 0.001      # REP 118 16UC1 depth images: millimetres


def invalid_to_far(depth_m: np.ndarray, far_m: float = math.inf,
                   sky_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Copy of ``depth_m`` (float32) with 0, NaN, ±inf, negative values and ``sky_mask`` set to ``far_m``.

    Args:
        depth_m: ``(H, W)`` depth in metres, any float or integer dtype.
        far_m: depth given to far pixels, metres (> 0; ``inf`` allowed).
        sky_mask: optional ``(H, W)`` bool, True where the pixel is sky.
    """
    if not far_m > 0.0:
        raise ValueError(f"far_m must be > 0 metres (inf allowed), got {far_m!r}")
    depth = np.array(depth_m, dtype=np.float32, copy=True)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    invalid = ~(np.isfinite(depth) & (depth > 0.0))
    if sky_mask is not None:
        if sky_mask.shape != depth.shape:
            raise ValueError(f"sky_mask shape {sky_mask.shape} != depth shape {depth.shape}")
        invalid |= sky_mask.astype(bool)
    depth[invalid] = far_m
    return depth


def depth_from_uint16(raw: np.ndarray, metres_per_unit: float, far_m: float = math.inf) -> np.ndarray:
    """Metric depth from a uint16 depth image: d = raw · metres_per_unit; raw = 0 → ``far_m``.

    Args:
        raw: ``(H, W)`` uint16 (e.g. FRIDA cm: ``FRIDA_CM``; DDAD LiDAR: ``DDAD_LIDAR``).
        metres_per_unit: scale in metres per unit, > 0.
        far_m: depth for pixels without a measurement.

    Returns:
        ``(H, W)`` float32 metres.
    """
    if raw.dtype != np.uint16:
        raise ValueError(f"expected a uint16 depth image, got {raw.dtype}")
    if not metres_per_unit > 0.0:
        raise ValueError(f"metres_per_unit must be > 0, got {metres_per_unit!r}")
    return invalid_to_far(raw.astype(np.float32) * np.float32(metres_per_unit), far_m)


def depth_from_float(image: np.ndarray, far_m: float = math.inf) -> np.ndarray:
    """Metric depth from a float image in metres (ROS ``32FC1``); 0, NaN, inf, < 0 → ``far_m``."""
    if image.dtype.kind != "f":
        raise ValueError(f"expected a float depth image in metres, got {image.dtype}")
    return invalid_to_far(image, far_m)


def depth_from_disparity(disparity: np.ndarray, fx_px: float, baseline_m: float,
                         disparity_scale: Optional[float] = None, far_m: float = math.inf) -> np.ndarray:
    """Metric depth from a disparity map: d = fx·B / disparity; disparity ≤ 0 or invalid → ``far_m``.

    Args:
        disparity: ``(H, W)`` disparity; uint16 images are scaled by ``disparity_scale``
            (default 1/256, the KITTI / Argoverse PNG convention), floats are in pixels.
        fx_px: focal length in pixels (KITTI ≈ 721, Argoverse stereo 3894.03).
        baseline_m: stereo baseline in metres (KITTI ≈ 0.54, Argoverse ≈ 0.2984).
        disparity_scale: pixels per unit of ``disparity``.
        far_m: depth for pixels without a disparity.

    Returns:
        ``(H, W)`` float32 metres.
    """
    if not (fx_px > 0.0 and baseline_m > 0.0):
        raise ValueError(f"fx_px and baseline_m must be > 0, got {fx_px!r}, {baseline_m!r}")
    if disparity_scale is None:
        disparity_scale = DDAD_LIDAR if disparity.dtype == np.uint16 else 1.0
    disp_px = disparity.astype(np.float32) * np.float32(disparity_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(fx_px * baseline_m) / disp_px
    return invalid_to_far(np.where(disp_px > 0.0, depth, 0.0), far_m)


def depth_from_ros_image(image: np.ndarray, encoding: str, uint16_metres_per_unit: float = ROS_16UC1_MM,
                         far_m: float = math.inf) -> np.ndarray:
    """Metric depth from a ROS depth image array: ``16UC1``/``mono16`` (mm by default) or ``32FC1`` (m)."""
    plane = image[..., 0] if image.ndim == 3 else image
    if encoding in ("16UC1", "mono16"):
        return depth_from_uint16(plane, uint16_metres_per_unit, far_m)
    if encoding == "32FC1":
        return depth_from_float(plane, far_m)
    raise ValueError(f"unsupported depth encoding {encoding!r}; use 16UC1, mono16 or 32FC1")


def load_depth_png(path: str, metres_per_unit: float, far_m: float = math.inf) -> np.ndarray:
    """Read a uint16 depth PNG (``cv2.IMREAD_UNCHANGED``) and decode it with ``depth_from_uint16``."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"cannot read depth image {path}")
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise ValueError(f"{path}: expected a single-channel uint16 PNG, got {raw.dtype} {raw.shape}")
    return depth_from_uint16(raw, metres_per_unit, far_m)


# --------------------------------------------------------------------------------------------
# Sparse depth completion (after Ku et al. 2018)


def _diamond(size: int) -> np.ndarray:
    radius = size // 2
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (np.abs(yy) + np.abs(xx) <= radius).astype(np.uint8)


def _full(size: int) -> np.ndarray:
    return np.ones((size, size), np.uint8)


@dataclass(frozen=True)
class CompletionConfig:
    """Parameters of ``complete_sparse_depth`` (sizes in pixels, depths in metres).

    Attributes:
        max_depth_m: returns beyond this are clipped to it (also the inversion offset).
        band_edges_m: near / medium / far split for the multi-scale dilation.
        band_kernels: dilation kernel size for (near, medium, far) points: near points are spread
            wider because LiDAR rows are further apart on near surfaces in the image.
        close_kernel: hole-closing kernel; small_fill / large_fill: hole-fill kernels.
        sky_smooth_px: width over which the top-most return of each column is smoothed before
            marking the rows above it as sky.
        blur: apply the 5×5 median and Gaussian blurs.
        keep_measured: put the measured values back at measured pixels after blurring.
        work_scale: complete on a grid ``work_scale`` times coarser (max-pooled so the nearest
            return in each block wins, kernels scaled down alike), then upsample (nearest): 2
            is ~4× faster than 1 at 1936×1216 with the same result up to block edges.
    """

    max_depth_m: float = 250.0
    band_edges_m: Tuple[float, float] = (15.0, 40.0)
    band_kernels: Tuple[int, int, int] = (9, 7, 5)
    close_kernel: int = 5
    small_fill: int = 9
    large_fill: int = 31
    sky_smooth_px: int = 41
    blur: bool = True
    keep_measured: bool = True
    work_scale: int = 2

    def __post_init__(self) -> None:
        sizes = (*self.band_kernels, self.close_kernel, self.small_fill, self.large_fill)
        if not all(int(k) == k and k >= 1 and k % 2 == 1 for k in sizes):
            raise ValueError(f"kernel sizes must be odd positive integers, got {sizes}")
        if int(self.work_scale) != self.work_scale or not 1 <= self.work_scale <= 8:
            raise ValueError(f"work_scale must be an integer in [1, 8], got {self.work_scale!r}")
        if not (0.0 < self.band_edges_m[0] < self.band_edges_m[1] < self.max_depth_m):
            raise ValueError("need 0 < band_edges_m[0] < band_edges_m[1] < max_depth_m")

    def scaled(self) -> "CompletionConfig":
        """Return this configuration with kernel sizes divided by ``work_scale`` (odd, ≥ 3)."""
        def down(size: int) -> int:
            return max(3, int(round(size / self.work_scale)) | 1)
        return dataclasses.replace(
            self, band_kernels=tuple(down(k) for k in self.band_kernels),
            close_kernel=down(self.close_kernel), small_fill=down(self.small_fill),
            large_fill=down(self.large_fill), sky_smooth_px=down(self.sky_smooth_px), work_scale=1)


def _multiscale_dilate(inverted: np.ndarray, depth: np.ndarray, cfg: CompletionConfig) -> np.ndarray:
    """Dilate each depth band with its own diamond kernel in inverted space; nearer wins (max)."""
    near_edge, far_edge = cfg.band_edges_m
    bands = ((depth > 0) & (depth <= near_edge), (depth > near_edge) & (depth <= far_edge),
             depth > far_edge)
    out = np.zeros_like(inverted)
    for mask, size in zip(bands, cfg.band_kernels):
        cv2.max(out, cv2.dilate(np.where(mask, inverted, 0.0).astype(np.float32), _diamond(size)), dst=out)
    return out


def _fill_holes(inverted: np.ndarray, kernel: np.ndarray) -> None:
    """Fill empty (0) pixels in place with the dilated (= nearest-depth) neighbourhood value."""
    dilated = cv2.dilate(inverted, kernel)
    holes = inverted == 0.0
    inverted[holes] = dilated[holes]


def _sky_mask(measured: np.ndarray, smooth_px: int) -> np.ndarray:
    """Mark rows above the (smoothed) top-most measured row of each column (all rows where none)."""
    height, width = measured.shape
    has_any = measured.any(axis=0)
    top = np.where(has_any, measured.argmax(axis=0), height).astype(np.float32)[None, :]
    if smooth_px > 1:  # min over neighbouring columns: sparse scans leave columns without returns
        top = cv2.erode(top, np.ones((1, smooth_px), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return np.arange(height, dtype=np.float32)[:, None] < top


def _complete_inverted(inverted: np.ndarray, depth: np.ndarray, cfg: CompletionConfig):
    """Dense inverted depth (0 = nothing reached) and sky mask, at the resolution given."""
    measured = inverted > 0.0
    inverted = _multiscale_dilate(inverted, depth, cfg)
    inverted = cv2.morphologyEx(inverted, cv2.MORPH_CLOSE, _full(cfg.close_kernel))
    _fill_holes(inverted, _full(cfg.small_fill))
    sky = _sky_mask(measured, cfg.sky_smooth_px)
    size = cfg.large_fill
    while size < 4 * max(inverted.shape) and bool((~sky & (inverted == 0.0)).any()):
        _fill_holes(inverted, _full(size))  # grow until every non-sky pixel has a neighbour value
        size = size * 2 + 1
    if cfg.blur:
        inverted = cv2.medianBlur(inverted, 5)
        blurred = cv2.GaussianBlur(inverted, (5, 5), 0)
        inverted = np.where(inverted > 0.0, blurred, inverted)  # do not smear into empty pixels
    return inverted, sky


def complete_sparse_depth(sparse_m: np.ndarray, far_m: float = math.inf,
                          config: CompletionConfig = CompletionConfig()) -> np.ndarray:
    """Dense depth from sparse LiDAR depth by classical morphology (Ku et al. 2018).

    Args:
        sparse_m: ``(H, W)`` depth in metres; 0, NaN and inf mean "no measurement".
        far_m: depth for sky pixels (above the top-most return of their column) and for pixels the
            fill cannot reach (columns without any return), metres; ``inf`` allowed.
        config: kernel sizes and switches, see ``CompletionConfig``.

    Returns:
        ``(H, W)`` float32 dense depth in metres, measured pixels kept (exactly with
        ``keep_measured``), everything else filled or ``far_m``.
    """
    depth = np.asarray(sparse_m, np.float32)
    if depth.ndim != 2:
        raise ValueError(f"sparse depth must be (H, W), got shape {depth.shape}")
    rows, cols = np.nonzero((depth > 0.0) & (depth < np.inf))  # NaN compares False
    values = depth[rows, cols]
    clipped = np.minimum(values, np.float32(config.max_depth_m))
    offset = np.float32(config.max_depth_m + 1.0)  # inverted value > 0 for every measurement
    height, width = depth.shape
    scale = config.work_scale
    grid_h, grid_w = -(-height // scale), -(-width // scale)
    inverted = np.zeros((grid_h, grid_w), np.float32)
    # Scatter with max: in each block the nearest return wins (as a dilation would choose it).
    np.maximum.at(inverted, (rows // scale, cols // scale), offset - clipped)
    grid_depth = np.where(inverted > 0.0, offset - inverted, np.float32(0.0))
    inverted, sky = _complete_inverted(inverted, grid_depth, config.scaled() if scale > 1 else config)
    coarse = np.where(inverted > 0.0, offset - inverted, np.float32(far_m)).astype(np.float32)
    coarse[sky] = np.float32(far_m)
    dense = coarse
    if scale > 1:
        dense = cv2.resize(coarse, (grid_w * scale, grid_h * scale), interpolation=cv2.INTER_NEAREST)
        dense = np.ascontiguousarray(dense[:height, :width])
    if config.keep_measured:
        dense[rows, cols] = clipped
    return dense
