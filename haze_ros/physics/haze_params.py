"""Per-frame haze parameter sources for the node and the bag tool.

A source answers ``params_for(frame_index, stamp_ns) -> HazeParams`` (β [1/m], airlight A per
channel in [0, 1], seed). Every source is a pure function of its configuration and the arguments,
so frames may be processed in any order or in parallel and still get the same values.

* ``ConstantHaze``: fixed β (or visibility) and A.
* ``PaperRandomHaze``: the paper's randomisation (Sec. 4.1): A = [n1, n2, n3], n ∈ U[0.8, 1.0]
  per channel, β ∈ U[0.8, 1.6] with depth in units of a reference distance (default 100 m), so
  β [1/m] = β_ref / 100 m; drawn from ``numpy.random.default_rng([seed, frame_index])``.
* ``ScheduleHaze``: a visibility ramp (log-linear in β) or piecewise-constant segments, over frame
  counts or seconds, loaded from YAML (``ScheduleHaze.from_yaml``; format in its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np
import yaml

from haze_ros.core.types import HazeParams, visibility_to_beta
from haze_ros.physics.scattering import as_airlight


@runtime_checkable
class HazeParamSource(Protocol):
    """Anything that gives the haze parameters of a frame."""

    def params_for(self, frame_index: int, stamp_ns: int) -> HazeParams:
        """Haze parameters of frame ``frame_index`` (0-based) with header stamp ``stamp_ns`` [ns]."""


def _beta_from(beta_per_m: Optional[float], visibility_m: Optional[float], where: str) -> float:
    if (beta_per_m is None) == (visibility_m is None):
        raise ValueError(f"{where}: give exactly one of beta_per_m and visibility_m")
    if visibility_m is not None:
        return visibility_to_beta(float(visibility_m))
    beta = float(beta_per_m)
    if not (math.isfinite(beta) and beta >= 0.0):
        raise ValueError(f"{where}: beta_per_m must be finite and >= 0, got {beta_per_m!r}")
    return beta


class ConstantHaze:
    """The same β and A for every frame.

    ``ConstantHaze(beta_per_m, airlight)``, ``ConstantHaze(visibility_m=V, airlight=A)`` (β = 3/V) or
    ``ConstantHaze(HazeParams(...))``. Attributes ``beta_per_m`` [1/m] and ``airlight`` (R, G, B) in
    [0, 1].
    """

    def __init__(self, beta_per_m=None, airlight=(1.0, 1.0, 1.0),
                 visibility_m: Optional[float] = None) -> None:
        if isinstance(beta_per_m, HazeParams):
            beta_per_m, airlight = beta_per_m.beta_per_m, beta_per_m.airlight
        self.beta_per_m = _beta_from(beta_per_m, visibility_m, "ConstantHaze")
        self.airlight = as_airlight(airlight)

    @classmethod
    def of_visibility(cls, visibility_m: float, airlight=(1.0, 1.0, 1.0)) -> "ConstantHaze":
        """Constant haze for a meteorological visibility V [m] (β = 3/V)."""
        return cls(visibility_m=visibility_m, airlight=airlight)

    def params_for(self, frame_index: int, stamp_ns: int) -> HazeParams:
        """Constant parameters (``seed`` None)."""
        return HazeParams(self.beta_per_m, self.airlight, None)

    def __repr__(self) -> str:
        return f"ConstantHaze(beta_per_m={self.beta_per_m!r}, airlight={self.airlight!r})"


@dataclass(frozen=True)
class PaperRandomHaze:
    """The paper's randomisation, deterministic per (seed, frame_index).

    Attributes:
        seed: non-negative integer seed.
        airlight_range: per-channel A ∈ U[lo, hi] (paper: [0.8, 1.0]).
        beta_range: β in units of 1/``reference_distance_m`` (paper: [0.8, 1.6]).
        reference_distance_m: the depth unit of ``beta_range`` (default 100 m, so β ∈ [0.008, 0.016] m⁻¹).
        grey_airlight: one value for all three channels instead of one per channel.
        quantize_airlight: round A to k/255, which 8- and 16-bit images represent exactly
            (65535 = 255·257), so the fast integer blend applies; the change is < 0.002.
    """

    seed: int
    airlight_range: Tuple[float, float] = (0.8, 1.0)
    beta_range: Tuple[float, float] = (0.8, 1.6)
    reference_distance_m: float = 100.0
    grey_airlight: bool = False
    quantize_airlight: bool = True

    def __post_init__(self) -> None:
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        lo, hi = self.airlight_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"airlight_range must satisfy 0 <= lo <= hi <= 1, got {self.airlight_range!r}")
        lo, hi = self.beta_range
        if not 0.0 <= lo <= hi or not math.isfinite(hi):
            raise ValueError(f"beta_range must satisfy 0 <= lo <= hi < inf, got {self.beta_range!r}")
        if not (math.isfinite(self.reference_distance_m) and self.reference_distance_m > 0.0):
            raise ValueError(f"reference_distance_m must be > 0, got {self.reference_distance_m!r}")

    def params_for(self, frame_index: int, stamp_ns: int) -> HazeParams:
        """Sample β and A for ``frame_index`` from ``default_rng([seed, frame_index])``."""
        if frame_index < 0:
            raise ValueError(f"frame_index must be >= 0, got {frame_index}")
        rng = np.random.default_rng([int(self.seed), int(frame_index)])
        beta_ref = rng.uniform(*self.beta_range)
        values = rng.uniform(*self.airlight_range, size=1 if self.grey_airlight else 3)
        if self.quantize_airlight:
            values = np.clip(np.round(values * 255.0) / 255.0, *self.airlight_range)
        airlight = tuple(float(v) for v in np.resize(values, 3))
        return HazeParams(float(beta_ref) / self.reference_distance_m, airlight, int(self.seed))


@dataclass(frozen=True)
class _Segment:
    length: Optional[float]  # frames or seconds; None = until the end
    beta_per_m: float
    airlight: Tuple[float, float, float]


_TOP_KEYS = {"unit", "airlight", "ramp", "segments"}
_RAMP_KEYS = {"from_visibility_m", "to_visibility_m", "from_beta_per_m", "to_beta_per_m", "length"}
_SEGMENT_KEYS = {"length", "visibility_m", "beta_per_m", "airlight"}


def _reject_unknown(mapping: dict, allowed: set, where: str) -> None:
    if not isinstance(mapping, dict):
        raise ValueError(f"{where} must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _positive_length(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: length must be a positive number, got {value!r}")
    return float(value)


class ScheduleHaze:
    """Haze that changes over a recording: a visibility ramp or piecewise-constant segments.

    Position along the schedule is the frame index (``unit: frames``) or the time since
    ``origin_ns`` in seconds (``unit: seconds``). With ``unit: seconds`` and no ``origin_ns``, the
    stamp of frame 0 is the origin: give ``origin_ns`` (e.g. the bag's start time) when frames may
    arrive out of order. The haze before the start and after the end holds the first / last value.

    YAML format (``yaml.safe_load``; unknown keys are errors)::

        unit: frames            # or: seconds
        airlight: [1.0, 1.0, 1.0]   # default A for all frames (one value = grey), in [0, 1]
        # either a ramp, log-linear in beta (i.e. geometric in visibility) ...
        ramp:
          from_visibility_m: 1000   # or from_beta_per_m
          to_visibility_m: 50       # or to_beta_per_m
          length: 300               # frames or seconds
        # ... or segments, each held for its length (the last may omit it: until the end)
        segments:
          - {length: 100, visibility_m: 1000}
          - {length: 100, beta_per_m: 0.02, airlight: [0.9, 0.9, 0.9]}
          - {visibility_m: 80}
    """

    def __init__(self, unit: str, default_airlight=(1.0, 1.0, 1.0), ramp: Optional[Tuple[float, float, float]]
                 = None, segments: Sequence[_Segment] = (), origin_ns: Optional[int] = None) -> None:
        if unit not in ("frames", "seconds"):
            raise ValueError(f"unit must be 'frames' or 'seconds', got {unit!r}")
        if (ramp is None) == (not segments):
            raise ValueError("a schedule needs exactly one of 'ramp' and 'segments'")
        self.unit = unit
        self.airlight = as_airlight(default_airlight)
        self.ramp = ramp  # (beta_start, beta_end, length)
        self.segments: List[_Segment] = list(segments)
        self.origin_ns = origin_ns

    @classmethod
    def ramp_visibility(cls, start_visibility_m: float, end_visibility_m: float, length: float,
                        unit: str = "frames", airlight=(1.0, 1.0, 1.0)) -> "ScheduleHaze":
        """Visibility ramp V0 → V1 over ``length`` frames / seconds, log-linear in β."""
        ramp = (visibility_to_beta(start_visibility_m), visibility_to_beta(end_visibility_m),
                _positive_length(length, "ramp"))
        return cls(unit, airlight, ramp=ramp)

    @classmethod
    def from_dict(cls, config: dict, origin_ns: Optional[int] = None) -> "ScheduleHaze":
        """Build from the parsed YAML mapping (see the class docstring); raises ``ValueError``."""
        _reject_unknown(config, _TOP_KEYS, "schedule")
        unit = config.get("unit", "frames")
        airlight = as_airlight(config.get("airlight", 1.0))
        ramp, segments = None, []
        if "ramp" in config:
            spec = config["ramp"]
            _reject_unknown(spec, _RAMP_KEYS, "schedule.ramp")
            start = _beta_from(spec.get("from_beta_per_m"), spec.get("from_visibility_m"),
                               "schedule.ramp from")
            end = _beta_from(spec.get("to_beta_per_m"), spec.get("to_visibility_m"), "schedule.ramp to")
            if start <= 0.0 or end <= 0.0:
                raise ValueError("schedule.ramp: a log-linear ramp needs beta > 0 at both ends")
            ramp = (start, end, _positive_length(spec.get("length"), "schedule.ramp"))
        if "segments" in config:
            items = config["segments"]
            if not isinstance(items, list) or not items:
                raise ValueError("schedule.segments must be a non-empty list")
            for i, item in enumerate(items):
                where = f"schedule.segments[{i}]"
                _reject_unknown(item, _SEGMENT_KEYS, where)
                last = i == len(items) - 1
                length = (None if last and "length" not in item
                          else _positive_length(item.get("length"), where))
                beta = _beta_from(item.get("beta_per_m"), item.get("visibility_m"), where)
                segments.append(_Segment(length, beta, as_airlight(item.get("airlight", airlight))))
        return cls(unit, airlight, ramp, segments, origin_ns)

    @classmethod
    def from_yaml(cls, path: str, origin_ns: Optional[int] = None) -> "ScheduleHaze":
        """Load a schedule file (``yaml.safe_load``); errors name the file and the bad key."""
        try:
            with open(path, "r", encoding="utf-8") as handle:
                config = yaml.safe_load(handle)
            return cls.from_dict(config if config is not None else {}, origin_ns)
        except (ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"haze schedule {path}: {exc}") from None

    def _position(self, frame_index: int, stamp_ns: int) -> float:
        if self.unit == "frames":
            return float(frame_index)
        if self.origin_ns is None:
            if frame_index != 0:
                raise ValueError("unit 'seconds' needs origin_ns, or frame 0 to be asked for first")
            self.origin_ns = int(stamp_ns)
        return (int(stamp_ns) - self.origin_ns) * 1e-9

    def params_for(self, frame_index: int, stamp_ns: int) -> HazeParams:
        """β and A at this frame's position on the schedule."""
        position = max(0.0, self._position(frame_index, stamp_ns))
        if self.ramp is not None:
            start, end, length = self.ramp
            s = min(1.0, position / length)
            beta = math.exp((1.0 - s) * math.log(start) + s * math.log(end))
            return HazeParams(beta, self.airlight, None)
        edge = 0.0
        for segment in self.segments:
            if segment.length is None or position < edge + segment.length:
                return HazeParams(segment.beta_per_m, segment.airlight, None)
            edge += segment.length
        last = self.segments[-1]
        return HazeParams(last.beta_per_m, last.airlight, None)
