"""Command-line haze options → a per-frame haze parameter source from ``physics.haze_params``.

The sources themselves (constant, the paper's randomisation, YAML schedules) live in
``haze_ros.physics.haze_params``; this adapter only maps ``haze_bag`` / ``haze_demo`` options onto
them and, for ``--random-airlight`` with a fixed β or a schedule, takes each frame's airlight from
the paper's randomisation (same per-frame seeding).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from haze_ros.core.types import HazeParams, visibility_to_beta

DEFAULT_VISIBILITY_M = 150.0


class HazeSourceError(ValueError):
    """Haze options that do not make a valid parameter source (the message names the option)."""


def parse_airlight(text: Optional[str]) -> Tuple[float, float, float]:
    """``"R,G,B"`` (or one value for grey) → airlight triple in [0, 1]; ``None`` → white."""
    if not text:
        return (1.0, 1.0, 1.0)
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise HazeSourceError(f"--airlight {text!r}: expected R,G,B numbers in [0, 1]") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise HazeSourceError(f"--airlight {text!r}: expected three values in [0, 1]")
    return values


class RandomAirlight:
    """Wrap a source: its β per frame, with the airlight of the paper's randomisation for that frame.

    The airlight comes from ``PaperRandomHaze(seed).params_for(frame_index, ...)`` (A ∈ [0.8, 1.0]
    per channel), so it is deterministic per (seed, frame index). ``params_for`` as for any source.
    """

    def __init__(self, inner, seed: int) -> None:
        from haze_ros.physics.haze_params import PaperRandomHaze

        self.inner, self.seed = inner, int(seed)
        self._random = PaperRandomHaze(seed=self.seed)

    def params_for(self, frame_index: int, stamp_ns: int) -> HazeParams:
        """Parameters of frame ``frame_index`` (0-based) with a per-frame random airlight."""
        base = self.inner.params_for(frame_index, stamp_ns)
        airlight = self._random.params_for(frame_index, stamp_ns).airlight
        return dataclasses.replace(base, airlight=airlight, seed=self.seed)


def haze_source_from_args(args):
    """Build the parameter source for parsed ``haze_bag`` options.

    ``args`` has visibility, beta, schedule, random, airlight, random_airlight and seed; without a
    strength option the haze is a constant 150 m visibility.
    """
    from haze_ros.physics import haze_params as hp

    seed = int(getattr(args, "seed", 0) or 0)
    explicit_airlight = getattr(args, "airlight", None)
    random_airlight = getattr(args, "random_airlight", False)
    schedule, random = getattr(args, "schedule", None), getattr(args, "random", False)
    if (schedule or random) and explicit_airlight:
        raise HazeSourceError("--airlight cannot be combined with --schedule (set airlight in the YAML) "
                              "or --random (which draws it)")
    if random and random_airlight:
        raise HazeSourceError("--random already draws the airlight per frame; drop --random-airlight")
    airlight = parse_airlight(explicit_airlight)
    try:
        if schedule:
            source = hp.ScheduleHaze.from_yaml(str(schedule))
        elif random:
            source = hp.PaperRandomHaze(seed=seed)
        else:
            beta = args.beta if getattr(args, "beta", None) is not None else \
                visibility_to_beta(args.visibility or DEFAULT_VISIBILITY_M)
            source = hp.ConstantHaze(beta, airlight)
    except (ValueError, OSError) as exc:
        raise HazeSourceError(f"invalid haze options: {exc}") from exc
    if random_airlight:
        source = RandomAirlight(source, seed)
    return source


def depth_completion():
    """``f(sparse (H, W) float32 m) -> dense`` from ``physics.depth.complete_sparse_depth``."""
    from haze_ros.physics.depth import complete_sparse_depth

    return complete_sparse_depth
