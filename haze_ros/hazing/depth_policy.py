"""Where haze mode gets its depth, and the one rule that turns a depth image into metres or a drop.

``depth_source`` (parameter of the node, ``--depth-source`` of ``haze_bag``) is one of

* ``topic``: an aligned depth image (``sensor_msgs/Image`` ``16UC1``/``mono16`` in units of
  ``depth.scale_m_per_unit`` metres, REP 118 mm by default, or ``32FC1`` metres), matched by stamp;
  backend ``physics``;
* ``flat_road``: no depth input, the physics backend's flat-road approximation
  (``physics.depth_free``); backend ``physics``;
* ``model``: no depth input, the learned haze backend infers depth itself (it reads β and A from
  ``FrameConditions.haze`` like the physics backend and ignores ``depth_m``); a learned backend
  (``model``, ``auto``, ``torch``, ``onnxruntime``, ``tensorrt``) with a physics-generator model
  (``backend.conditioned``).

``check_depth_source`` holds that pairing: a learned haze backend would ignore a depth topic and
the flat-road geometry, and an unconditioned (pixel) model would ignore ``haze.visibility_m`` and
``haze.airlight``, so those combinations are start-up errors rather than silently different haze.

The per-frame record says what a frame actually used (``RECORD_LABELS``: ``depth_topic``,
``flat_road_approximation``, ``model``; ``depth_image`` / ``none`` from backends).

``depth_metres`` is the decode-and-check rule of both tools: size check (reason ``depth_size``),
invalid-fraction check (reason ``depth_invalid``: more than ``max_invalid_fraction`` of a float
depth is NaN/±inf/negative), units, optional sparse completion. The caller turns the message into
its ``(H, W)`` array first (``core.image_msgs.depth_image_to_array``, reason ``bad_depth_encoding``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

import numpy as np

from haze_ros.physics import depth as depth_physics
from haze_ros.physics.depth_free import DEPTH_SOURCE as FLAT_ROAD_LABEL

TOPIC, MODEL, FLAT_ROAD = "topic", "model", "flat_road"
DEPTH_SOURCES: Tuple[str, ...] = (TOPIC, MODEL, FLAT_ROAD)
# What a frame's record says for each choice (``HazeParams.depth_source`` / ``HazeRecord``).
TOPIC_LABEL, MODEL_LABEL = "depth_topic", "model"
RECORD_LABELS = {TOPIC: TOPIC_LABEL, MODEL: MODEL_LABEL, FLAT_ROAD: FLAT_ROAD_LABEL}
PHYSICS_BACKEND = "physics"  # the only haze backend that cannot infer depth itself
# Drop reasons (stable counter keys, the same in the node's diagnostics and the bag's summary).
DEPTH_SIZE, DEPTH_INVALID = "depth_size", "depth_invalid"


class DepthRejected(ValueError):
    """A depth image that the frame cannot use; ``reason`` is the stable drop-counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class DepthPolicy:
    """How a depth image becomes metres (the node's ``depth.*`` parameters).

    Attributes:
        scale_m_per_unit: metres per unit of 16-bit depth (> 0; REP 118: 0.001).
        max_invalid_fraction: drop the frame when more than this fraction of a float depth is
            NaN/±inf/negative, in [0, 1].
        complete_sparse: densify sparse (LiDAR) depth (``physics.depth.complete_sparse_depth``).
    """

    scale_m_per_unit: float
    max_invalid_fraction: float
    complete_sparse: bool = False

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> "DepthPolicy":
        """Policy from parameter values (a params file, the node's values or ``haze_bag``'s options).

        Keys: ``depth.scale_m_per_unit``, ``depth.max_invalid_fraction``, ``depth.complete_sparse``.
        """
        return cls(float(values["depth.scale_m_per_unit"]), float(values["depth.max_invalid_fraction"]),
                   bool(values["depth.complete_sparse"]))


def check_depth_source(depth_source: str, backend: str, conditioned: bool = True) -> Optional[str]:
    """Reason why ``depth_source`` cannot work with haze backend ``backend`` (``None`` if it can).

    Args:
        depth_source: ``topic`` / ``model`` / ``flat_road``.
        backend: the ``backend`` parameter (before start-up) or the built backend's name
            (``physics``, ``torch``, ``onnxruntime`` ...); every name but ``physics`` is learned.
        conditioned: for a built learned backend, ``backend.conditioned`` (its haze graph takes
            visibility and airlight per frame: a physics-generator model).

    ``model`` needs a learned backend with a conditioned model; ``topic`` and ``flat_road`` need
    ``physics`` (a learned backend infers depth from the image and would ignore both).
    """
    if depth_source not in DEPTH_SOURCES:
        return f"depth_source must be one of {list(DEPTH_SOURCES)}, got {depth_source!r}"
    learned = backend != PHYSICS_BACKEND
    if depth_source == MODEL and not learned:
        return ("depth_source 'model' needs a learned haze backend (backend: model), not 'physics'; use "
                "depth_source 'topic' or 'flat_road' with the physics backend")
    if depth_source == MODEL and not conditioned:
        return (f"depth_source 'model' needs a physics-generator model (it infers depth and takes "
                f"haze.visibility_m / haze.airlight per frame); the model of backend {backend!r} "
                "(parameter model_path) is an unconditioned pixel model that ignores them: give a "
                "physics checkpoint as model_path, or use backend 'physics' with depth_source 'flat_road'")
    if depth_source != MODEL and learned:
        what = "the depth topic" if depth_source == TOPIC else "the flat-road approximation"
        return (f"depth_source {depth_source!r} needs backend 'physics': a learned haze backend "
                f"({backend!r}) infers depth from the image and would ignore {what}; use backend "
                "'physics', or depth_source 'model' with the learned backend")
    return None


def paired_backend(depth_source: str, backend: str) -> str:
    """``backend`` if it goes with ``depth_source`` by name, else the haze backend that does.

    For a command line that chooses the depth but not the backend (``haze_bag --depth-topic``, a
    launch file's ``depth_source:=topic``): ``topic`` / ``flat_road`` → ``physics``, ``model`` →
    ``model`` (the fastest learned runtime). The node itself never changes its ``backend``.
    """
    if depth_source not in DEPTH_SOURCES or check_depth_source(depth_source, backend) is None:
        return backend
    return MODEL if depth_source == MODEL else PHYSICS_BACKEND


def invalid_fraction(depth: np.ndarray) -> float:
    """Fraction in [0, 1] of pixels that are NaN, ±inf or negative (float depth); 0 for integer depth.

    Integer depth has no invalid values: 0 means "no return" and becomes far.
    """
    if depth.dtype.kind != "f" or depth.size == 0:
        return 0.0
    return 1.0 - np.count_nonzero(np.isfinite(depth) & (depth >= 0.0)) / depth.size


def depth_metres(raw: np.ndarray, encoding: str, image_shape, policy: DepthPolicy) -> np.ndarray:
    """Depth image array → ``(H, W)`` float32 metres (far / no return = ``inf``), or ``DepthRejected``.

    Args:
        raw: ``(H, W)`` uint16 (``16UC1``/``mono16``) or float32 (``32FC1``, metres) pixels of the
            depth message, as ``core.image_msgs.depth_image_to_array`` returns them.
        encoding: the depth message's encoding.
        image_shape: shape of the camera frame, ``(H, W[, C])``; the depth must have its ``(H, W)``.
        policy: units, invalid-fraction limit and completion.

    Raises:
        DepthRejected: ``depth_size`` (size differs from the frame), ``depth_invalid`` (too many
            invalid pixels).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    if tuple(raw.shape[:2]) != (height, width):
        raise DepthRejected(DEPTH_SIZE, f"depth {raw.shape[1]}x{raw.shape[0]} does not match image "
                                        f"{width}x{height}")
    bad = invalid_fraction(raw)
    if bad > policy.max_invalid_fraction:
        raise DepthRejected(DEPTH_INVALID, f"{bad:.1%} of depth pixels are NaN/inf/negative "
                                           f"(depth.max_invalid_fraction={policy.max_invalid_fraction})")
    depth_m = depth_physics.depth_from_ros_image(raw, encoding, policy.scale_m_per_unit)
    if policy.complete_sparse:
        depth_m = depth_physics.complete_sparse_depth(depth_m)
    return depth_m


def record_label(depth_given: bool, backend_label: Optional[str], depth_source: str) -> str:
    """What a hazed frame's record says about its depth.

    Args:
        depth_given: the frame carried a depth image (``depth_source`` ``topic``).
        backend_label: ``FrameConditions.extras["depth_source"]`` as the backend set it, or ``None``.
        depth_source: the configured choice (``topic`` / ``model`` / ``flat_road``).

    Returns ``depth_topic`` when a depth-aware backend used the topic's depth, else the backend's own
    label (``flat_road_approximation`` ...), else ``model`` for ``depth_source`` ``model``, else ``none``.
    """
    if depth_given and backend_label not in (None, "none"):
        return TOPIC_LABEL
    if backend_label is not None:
        return backend_label
    return MODEL_LABEL if depth_source == MODEL else "none"
