"""Per-frame haze inputs of the haze backends: β and A from the frame's conditions, or a default.

Shared by the physics backend and the learned haze backends (the physics generator's haze graph
takes visibility V = 3/β and airlight A as inputs), so that ``haze.visibility_m``,
``haze.airlight``, the randomisation and the schedules drive both the same way.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from haze_ros.core.types import FrameConditions, HazeParams, beta_to_visibility, visibility_to_beta
from haze_ros.physics.scattering import as_airlight

MODEL_DEPTH_SOURCE = "model"  # depth_source of haze made with the model's own depth


def default_haze_from_options(options: dict) -> Optional[HazeParams]:
    """The haze used when a frame carries none (``None`` when neither β nor V is given).

    Options: ``beta_per_m`` [1/m] or ``visibility_m`` [m], and ``airlight`` (one value or R, G, B
    in [0, 1]; default white).
    """
    airlight = as_airlight(options.get("airlight", 1.0))
    if "beta_per_m" in options:
        return HazeParams(float(options["beta_per_m"]), airlight)
    if "visibility_m" in options:
        return HazeParams(visibility_to_beta(float(options["visibility_m"])), airlight)
    return None


def frame_haze(conditions: Optional[FrameConditions], default: Optional[HazeParams],
               backend: str) -> HazeParams:
    """The frame's haze (``conditions.haze``) or ``default``; ``ValueError`` naming ``backend`` if neither."""
    haze = conditions.haze if conditions is not None else None
    haze = haze if haze is not None else default
    if haze is None:
        raise ValueError(f"{backend} haze needs conditions.haze (beta, airlight) or a visibility_m / "
                         "beta_per_m option")
    return haze


def model_haze_inputs(conditions: Optional[FrameConditions], default: Optional[HazeParams],
                      backend: str, batch_size: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Inputs of a learned haze graph: visibility ``(B, 1)`` [m] (inf for β = 0) and airlight ``(B, 3)``.

    Records ``conditions.extras["depth_source"] = "model"`` (the depth came from the model).
    """
    haze = frame_haze(conditions, default, backend)
    if conditions is not None:
        conditions.extras["depth_source"] = MODEL_DEPTH_SOURCE
    visibility = beta_to_visibility(haze.beta_per_m)
    return (np.full((batch_size, 1), visibility, np.float32),
            np.tile(np.asarray(haze.airlight, np.float32)[None], (batch_size, 1)))
