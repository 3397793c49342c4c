"""Plain value types that cross the package's seams.

Frames cross seams as ``numpy`` arrays ``(H, W, 3)`` RGB (``uint8`` or ``uint16``); batches for
learned backends as ``(B, 3, H, W)`` ``float32`` in ``[0, 1]``; depth as ``(H, W)`` ``float32``
metres (``inf`` = far / sky / no return after depth handling).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np


class Direction(str, enum.Enum):
    """Translation direction. ``dehaze`` is F_I→J = G_J∘E_I, ``haze`` is F_J→I = G_I∘E_J."""

    DEHAZE = "dehaze"
    HAZE = "haze"


# Meteorological visibility uses the 5 % contrast threshold (Koschmieder): V = -ln(0.05)/β ≈ 3/β.
VISIBILITY_CONTRAST_THRESHOLD = 0.05


def visibility_to_beta(visibility_m: float) -> float:
    """Scattering coefficient β [1/m] for a meteorological visibility V [m] (β = 3/V, 5 % contrast)."""
    if not visibility_m > 0.0 or not math.isfinite(visibility_m):
        raise ValueError(f"visibility must be a positive finite number of metres, got {visibility_m!r}")
    return 3.0 / visibility_m


def beta_to_visibility(beta_per_m: float) -> float:
    """Meteorological visibility V [m] for a scattering coefficient β [1/m] (V = 3/β); β = 0 → inf."""
    if beta_per_m < 0.0 or not math.isfinite(beta_per_m):
        raise ValueError(f"beta must be a finite non-negative number in 1/m, got {beta_per_m!r}")
    return math.inf if beta_per_m == 0.0 else 3.0 / beta_per_m


@dataclass(frozen=True)
class HazeParams:
    """Parameters of eq. (1), I = J·t + A·(1 − t), t = exp(−β·d), for one frame.

    Attributes:
        beta_per_m: scattering coefficient β in 1/m (≥ 0).
        airlight: atmospheric light A per channel (R, G, B), each in [0, 1].
        seed: seed that produced these values (``None`` when they were set, not sampled).
        depth_source: where d came from: ``"depth_topic"``, ``"depth_image"``,
            ``"flat_road_approximation"`` (depth-free, see ``physics.depth_free``) or ``"none"``.
    """

    beta_per_m: float
    airlight: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    seed: Optional[int] = None
    depth_source: str = "none"

    def __post_init__(self) -> None:
        if self.beta_per_m < 0.0 or not math.isfinite(self.beta_per_m):
            raise ValueError(f"beta_per_m must be finite and >= 0, got {self.beta_per_m!r}")
        if len(self.airlight) != 3 or not all(0.0 <= a <= 1.0 for a in self.airlight):
            raise ValueError(f"airlight must be three values in [0, 1], got {self.airlight!r}")

    @property
    def visibility_m(self) -> float:
        """Meteorological visibility V = 3/β in metres (inf for β = 0)."""
        return beta_to_visibility(self.beta_per_m)


@dataclass
class FrameConditions:
    """Per-frame side inputs for a backend; learned backends ignore them.

    Attributes:
        depth_m: ``(H, W)`` float32 depth in metres, same size as the frame; ``inf`` where far.
            ``None`` when no depth is available (physics haze then uses its depth-free model).
        haze: haze parameters for the physics backend in haze mode, else ``None``.
    """

    depth_m: Optional[np.ndarray] = None
    haze: Optional[HazeParams] = None
    extras: dict = field(default_factory=dict)
