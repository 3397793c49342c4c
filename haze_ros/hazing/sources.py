"""One factory of per-frame haze sources, keyed by the node's parameter names.

``make_haze_source(values)`` reads (``values`` is a mapping: the node's parameters, a params file,
or ``haze_bag``'s options mapped onto the same names):

* ``haze.randomize`` (bool): the paper's randomisation (``PaperRandomHaze``: A ∈ U[0.8, 1.0] per
  channel, β ∈ U[0.8, 1.6] per ``haze.reference_distance_m`` metres, drawn from
  ``default_rng([haze.seed, frame_index])``); needs ``haze.seed`` and ``haze.reference_distance_m``;
* else ``haze.schedule_file`` (path; ``""`` or missing = none): a ramp or segments
  (``ScheduleHaze.from_yaml``, format in its docstring);
* else constant haze: β = 3 / ``haze.visibility_m`` [m] (or ``haze.beta_per_m`` [1/m] when given and
  not ``None``), A = ``haze.airlight`` (three values in [0, 1]).

``haze.random_airlight`` (bool, ``haze_bag --random-airlight``) keeps that β and takes each frame's
A from the paper's randomisation (``RandomAirlight``). Only the keys the chosen source needs must be
present, so training can build one from a few keys, e.g.
``make_haze_source({"haze.randomize": True, "haze.seed": 7, "haze.reference_distance_m": 100.0})``.
Every source answers ``params_for(frame_index, stamp_ns) -> HazeParams``.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

from haze_ros.core.types import HazeParams
from haze_ros.physics.haze_params import ConstantHaze, HazeParamSource, PaperRandomHaze, ScheduleHaze

SOURCE_PARAMETERS = ("haze.visibility_m", "haze.airlight", "haze.randomize", "haze.seed",
                     "haze.reference_distance_m", "haze.schedule_file")


class HazeSourceError(ValueError):
    """Haze values that do not make a valid source; the message names the parameter."""


class RandomAirlight:
    """Wrap a source: its β per frame, with the airlight of the paper's randomisation for that frame.

    The airlight comes from ``PaperRandomHaze(seed).params_for(frame_index, ...)`` (A ∈ [0.8, 1.0]
    per channel), so it is deterministic per (seed, frame index). ``params_for`` as for any source.
    """

    def __init__(self, inner: HazeParamSource, seed: int) -> None:
        self.inner, self.seed = inner, int(seed)
        self._random = PaperRandomHaze(seed=self.seed)

    def params_for(self, frame_index: int, stamp_ns: int) -> HazeParams:
        """Parameters of frame ``frame_index`` (0-based) with a per-frame random airlight."""
        base = self.inner.params_for(frame_index, stamp_ns)
        airlight = self._random.params_for(frame_index, stamp_ns).airlight
        return dataclasses.replace(base, airlight=airlight, seed=self.seed)


def _get(values: Mapping[str, object], name: str):
    try:
        return values[name]
    except KeyError:
        raise HazeSourceError(f"haze source: parameter {name} is not set") from None


def make_haze_source(values: Mapping[str, object], origin_ns: Optional[int] = None) -> HazeParamSource:
    """Per-frame haze source from ``haze.*`` values (see the module docstring for the keys).

    Args:
        values: parameter name → value.
        origin_ns: stamp [ns] where a ``unit: seconds`` schedule starts (``None`` = the stamp of
            frame 0).

    Raises:
        HazeSourceError: a missing or invalid value (the message names the parameter or the file).
    """
    randomize = bool(values.get("haze.randomize", False))
    schedule = str(values.get("haze.schedule_file") or "")
    random_airlight = bool(values.get("haze.random_airlight", False))
    try:
        if randomize:
            if random_airlight:
                raise HazeSourceError("haze.randomize already draws the airlight per frame; "
                                      "haze.random_airlight needs a fixed beta or a schedule")
            return PaperRandomHaze(seed=int(_get(values, "haze.seed")),
                                   reference_distance_m=float(_get(values, "haze.reference_distance_m")))
        if schedule:
            source = ScheduleHaze.from_yaml(schedule, origin_ns)
        elif values.get("haze.beta_per_m") is not None:
            source = ConstantHaze(float(values["haze.beta_per_m"]), tuple(_get(values, "haze.airlight")))
        else:
            source = ConstantHaze(visibility_m=float(_get(values, "haze.visibility_m")),
                                  airlight=tuple(_get(values, "haze.airlight")))
    except HazeSourceError:
        raise
    except (ValueError, OSError) as exc:
        raise HazeSourceError(f"invalid haze parameters: {exc}") from exc
    if random_airlight:
        source = RandomAirlight(source, int(_get(values, "haze.seed")))
    return source
