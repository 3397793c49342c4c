"""Depth-free haze: the flat-road approximation of scene depth, for cameras without a depth source.

**This is an approximation, not a measurement.** Outputs made with it carry
``depth_source = "flat_road_approximation"`` (``DEPTH_SOURCE``).

Model: a pinhole camera at height h [m] above a flat road, optical axis parallel to the road
(any small pitch folded into the horizon row). A pixel in image row v (0 at the top, pixel centre
at v + 0.5) below the horizon row v_h sees the road at the distance along the optical axis

    d(v) = f · h / (v + 0.5 − v_h)      for v + 0.5 > v_h,

with f the focal length in pixels (f = focal length / pixel pitch; FRIDA2: 7 mm on a 6.4 mm wide
sensor of 640 px = 700 px, h = 1.305 m, v_h = H / 2: matches its rendered road depth within 5 %).
Rows at or above the horizon are sky / far
(``far_m``, default ``inf``), and road depths are capped at ``max_depth_m``.

Limits (document them to users of the haze it produces): everything standing above the road
(vehicles, pedestrians, poles, buildings, trees) gets the depth of the road behind its pixels, i.e.
too far, so it is hazed too strongly, most of all for tall objects near the horizon; objects above
the horizon are treated as sky; slopes, bumps, camera roll and pitch changes move the true horizon
away from ``horizon_row``. Use a depth topic (or completed LiDAR) whenever one exists.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

DEPTH_SOURCE = "flat_road_approximation"


@dataclass(frozen=True)
class FlatRoadGeometry:
    """Camera geometry for the flat-road approximation.

    Attributes:
        camera_height_m: height h of the optical centre above the road, metres (> 0).
        focal_px: focal length f in pixels for the image size the depth is made for (> 0).
            ``None``: derived from ``hfov_deg`` and the image width.
        horizon_row: row v_h of the horizon in pixels (may be fractional, may lie outside the
            image); ``None``: the image centre H / 2 (optical axis parallel to the road).
        hfov_deg: horizontal field of view used when ``focal_px`` is ``None``, degrees (0, 180).
        max_depth_m: road depths are capped here, metres (> 0).
        far_m: depth for rows at or above the horizon (sky), metres; ``inf`` allowed.
    """

    camera_height_m: float = 1.5
    focal_px: Optional[float] = None
    horizon_row: Optional[float] = None
    hfov_deg: float = 60.0
    max_depth_m: float = 1000.0
    far_m: float = math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.camera_height_m) and self.camera_height_m > 0.0):
            raise ValueError(f"camera_height_m must be a positive number of metres, "
                             f"got {self.camera_height_m!r}")
        if self.focal_px is not None and not (math.isfinite(self.focal_px) and self.focal_px > 0.0):
            raise ValueError(f"focal_px must be a positive number of pixels, got {self.focal_px!r}")
        if self.horizon_row is not None and not math.isfinite(self.horizon_row):
            raise ValueError(f"horizon_row must be a finite row in pixels, got {self.horizon_row!r}")
        if not 0.0 < self.hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be in (0, 180) degrees, got {self.hfov_deg!r}")
        if not (math.isfinite(self.max_depth_m) and self.max_depth_m > 0.0):
            raise ValueError(f"max_depth_m must be a positive number of metres, got {self.max_depth_m!r}")
        if not self.far_m > 0.0:
            raise ValueError(f"far_m must be > 0 metres (inf allowed), got {self.far_m!r}")

    def focal_for(self, width: int) -> float:
        """Focal length in pixels for an image ``width`` pixels wide."""
        if self.focal_px is not None:
            return float(self.focal_px)
        return 0.5 * width / math.tan(math.radians(self.hfov_deg) / 2.0)

    def horizon_for(self, height: int) -> float:
        """Horizon row in pixels for an image ``height`` pixels tall."""
        return 0.5 * height if self.horizon_row is None else float(self.horizon_row)


def flat_road_row_depth(height: int, geometry: FlatRoadGeometry, width: int) -> np.ndarray:
    """Depth of each image row under the flat-road model: ``(height,)`` float32 metres.

    d(v) = f·h / (v + 0.5 − v_h) below the horizon (capped at ``max_depth_m``), ``far_m`` at and
    above it.
    """
    rows = np.arange(height, dtype=np.float64) + 0.5 - geometry.horizon_for(height)
    focal = geometry.focal_for(width)
    with np.errstate(divide="ignore"):
        depth = np.where(rows > 0.0, np.minimum(focal * geometry.camera_height_m / rows,
                                                geometry.max_depth_m), geometry.far_m)
    return depth.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _cached_depth(height: int, width: int, geometry: FlatRoadGeometry) -> np.ndarray:
    column = flat_road_row_depth(height, geometry, width)
    depth = np.ascontiguousarray(np.broadcast_to(column[:, None], (height, width)))
    depth.setflags(write=False)
    return depth


def flat_road_depth(height: int, width: int, geometry: FlatRoadGeometry) -> np.ndarray:
    """Dense ``(height, width)`` float32 depth in metres from the flat-road model (read-only, cached).

    The map depends only on the image size and the geometry, so it is computed once per
    (size, geometry) and reused across frames.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return _cached_depth(int(height), int(width), geometry)
