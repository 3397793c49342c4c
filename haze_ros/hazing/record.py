"""The per-frame ``haze_params`` record, written by the node and by ``haze_bag`` next to each frame.

Both tools publish it as a ``diagnostic_msgs/msg/DiagnosticArray`` on ``<image topic>/haze_params``
whose header is the frame's header (same stamp and frame_id: match frames by stamp) and whose one
``DiagnosticStatus`` is named ``haze_params``: level OK (0) when the haze was applied, WARN (1) when
the frame went out unchanged (the node's ``passthrough_bad_frames``, the bag's copied-unchanged
frames), message = the depth label or ``not applied: <reason>``, hardware_id = the frame_id, and the
key/values of ``HazeRecord.values``. A standard type because no custom message package can be built
here; it has a header (stamp matching, ``ros2 topic echo``, bags) and typed-by-name key/values.

This module builds the content only; ``ros.haze_control`` (rclpy) and ``bags.haze_params_msg``
(rosbags) turn it into their message classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from haze_ros.core.types import HazeParams

STATUS_NAME = "haze_params"
TOPIC_SUFFIX = "/haze_params"
MESSAGE_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
LEVEL_OK, LEVEL_WARN = 0, 1  # diagnostic_msgs/DiagnosticStatus OK / WARN


def stamp_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` (anything with ``sec`` and ``nanosec``) → integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_sec_nanosec(stamp_ns: int) -> Tuple[int, int]:
    """Integer nanoseconds → ``(sec, nanosec)`` of a ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return sec, nanosec


@dataclass(frozen=True)
class HazeRecord:
    """The haze one frame received.

    Attributes:
        haze: β [1/m], airlight A (R, G, B) in [0, 1] and seed (``None`` when not sampled).
        backend: name of the backend that made the frame (``physics``, ``model`` ...).
        depth_source: the depth label (``depth_topic``, ``flat_road_approximation``, ``model`` ...;
            see ``hazing.depth_policy.record_label``).
        applied: ``True`` when the published frame carries this haze; ``False`` when it went out
            unchanged.
        reason: why it was not applied (drop reason), ``""`` when applied.
        model_sha256: SHA-256 of the model file of a learned backend; ``""`` without a model.
    """

    haze: HazeParams
    backend: str
    depth_source: str
    applied: bool = True
    reason: str = ""
    model_sha256: str = ""

    def values(self) -> List[Tuple[str, str]]:
        """Key/value strings of the record, in a fixed order.

        ``beta_per_m`` (1/m), ``visibility_m`` (m, β = 3/V), ``airlight_r/g/b`` in [0, 1], ``seed``
        (``""`` when not sampled), ``depth_source``, ``backend``, ``applied`` (``true``/``false``),
        ``model_sha256`` (``""`` without a model).
        """
        haze = self.haze
        return [("beta_per_m", f"{haze.beta_per_m:.9g}"), ("visibility_m", f"{haze.visibility_m:.9g}"),
                ("airlight_r", f"{haze.airlight[0]:.9g}"), ("airlight_g", f"{haze.airlight[1]:.9g}"),
                ("airlight_b", f"{haze.airlight[2]:.9g}"),
                ("seed", "" if haze.seed is None else str(haze.seed)),
                ("depth_source", self.depth_source), ("backend", self.backend),
                ("applied", "true" if self.applied else "false"), ("model_sha256", self.model_sha256)]

    @property
    def level(self) -> int:
        """Diagnostic level: OK when applied, WARN when the frame went out unchanged."""
        return LEVEL_OK if self.applied else LEVEL_WARN

    @property
    def message(self) -> str:
        """Status message: the depth label, or ``not applied: <reason>``."""
        return self.depth_source if self.applied else f"not applied: {self.reason}"


def read_record_values(message) -> Dict[str, str]:
    """Key → value of a decoded ``haze_params`` DiagnosticArray (rosbags or rclpy message)."""
    for status in message.status:
        if status.name == STATUS_NAME:
            return {kv.key: kv.value for kv in status.values}
    raise ValueError("message holds no haze_params status")
