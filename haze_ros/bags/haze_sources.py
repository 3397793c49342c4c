"""``haze_bag`` / ``haze_demo`` haze options → the shared haze-source factory.

The options map onto the node's parameter names and go through ``hazing.sources.make_haze_source``
(one factory for the node, the bag tool and training): ``--visibility`` → ``haze.visibility_m``,
``--beta`` → ``haze.beta_per_m``, ``--airlight`` → ``haze.airlight``, ``--random`` →
``haze.randomize``, ``--seed`` → ``haze.seed``, ``--reference-distance`` →
``haze.reference_distance_m``, ``--schedule`` → ``haze.schedule_file``, ``--random-airlight`` →
``haze.random_airlight``. Options not given keep the params file's values (``defaults``).
"""

from __future__ import annotations

from typing import Mapping, Optional, Tuple

from haze_ros.hazing.sources import HazeSourceError, make_haze_source

__all__ = ["HazeSourceError", "haze_source_from_args", "haze_values_from_args", "parse_airlight"]


def parse_airlight(text: Optional[str]) -> Tuple[float, float, float]:
    """``"R,G,B"`` (or one value for grey) → airlight triple in [0, 1]."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise HazeSourceError(f"--airlight {text!r}: expected R,G,B numbers in [0, 1]") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise HazeSourceError(f"--airlight {text!r}: expected three values in [0, 1]")
    return values


def haze_values_from_args(args, defaults: Mapping[str, object]) -> dict:
    """``haze.*`` parameter values: ``defaults`` (the params file) overridden by the given options.

    ``args`` has visibility, beta, schedule, random, airlight, random_airlight, seed and
    reference_distance (each ``None``/``False`` when not given).
    """
    explicit_airlight = getattr(args, "airlight", None)
    schedule, random = getattr(args, "schedule", None), getattr(args, "random", False)
    if (schedule or random) and explicit_airlight:
        raise HazeSourceError("--airlight cannot be combined with --schedule (set airlight in the YAML) "
                              "or --random (which draws it)")
    if random and getattr(args, "random_airlight", False):
        raise HazeSourceError("--random already draws the airlight per frame; drop --random-airlight")
    values = {k: v for k, v in defaults.items() if k.startswith("haze.")}
    strength_given = schedule or random or getattr(args, "visibility", None) is not None or \
        getattr(args, "beta", None) is not None
    if strength_given:  # the options choose the source; the file's choice does not apply
        values.update({"haze.randomize": bool(random), "haze.schedule_file": str(schedule or "")})
    for option, name in (("visibility", "haze.visibility_m"), ("beta", "haze.beta_per_m"),
                         ("seed", "haze.seed"), ("reference_distance", "haze.reference_distance_m")):
        if getattr(args, option, None) is not None:
            values[name] = getattr(args, option)
    if explicit_airlight:
        values["haze.airlight"] = list(parse_airlight(explicit_airlight))
    values["haze.random_airlight"] = bool(getattr(args, "random_airlight", False))
    return values


def haze_source_from_args(args, defaults: Mapping[str, object]):
    """Build the per-frame haze source for parsed ``haze_bag`` options (``haze_values_from_args``)."""
    return make_haze_source(haze_values_from_args(args, defaults))
