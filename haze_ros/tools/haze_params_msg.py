"""The per-frame haze record written next to each hazed frame in a bag: ``<topic>/haze_params``.

Same type and fields as the node's ``image_hazed/haze_params`` (``haze_ros.ros.haze_control``):
``diagnostic_msgs/msg/DiagnosticArray`` whose ``header`` is the image's header (stamp and frame_id
copied: match frames by stamp), with one ``DiagnosticStatus`` named ``haze_params`` holding the
node's key/values (``beta_per_m`` [1/m], ``visibility_m`` [m], ``airlight_r/g/b`` in [0, 1],
``seed``, ``depth_source``, ``backend``) plus ``applied`` (``true``, or ``false`` for a frame that
was copied unchanged, whose status is then WARN with the reason as its message). Built as a
``rosbags`` dataclass (ROS 2 typestore), written as CDR.
"""

from __future__ import annotations

from typing import Dict

from haze_ros.core.types import HazeParams
from haze_ros.ros.haze_control import haze_params_fields
from haze_ros.tools.bag_io import ros2_typestore

PARAMS_SUFFIX = "/haze_params"
PARAMS_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
STATUS_NAME = "haze_params"
_TYPES = ros2_typestore().types


def params_values(params: HazeParams, backend: str, applied: bool) -> Dict[str, str]:
    """Return the node's key/value strings for ``params`` plus ``applied``."""
    values = dict(haze_params_fields(params, backend))
    values["applied"] = "true" if applied else "false"
    return values


def params_message(header, params: HazeParams, backend: str, applied: bool, reason: str = ""):
    """Build the DiagnosticArray (rosbags dataclass) recording ``params`` for the frame with ``header``."""
    key_value = _TYPES["diagnostic_msgs/msg/KeyValue"]
    status_cls = _TYPES["diagnostic_msgs/msg/DiagnosticStatus"]
    array_cls = _TYPES[PARAMS_TYPE]
    header_cls, time_cls = _TYPES["std_msgs/msg/Header"], _TYPES["builtin_interfaces/msg/Time"]
    own_header = header_cls(stamp=time_cls(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                            frame_id=str(header.frame_id))
    values = [key_value(key=k, value=v) for k, v in params_values(params, backend, applied).items()]
    status = status_cls(level=0 if applied else 1, name=STATUS_NAME,
                        message=params.depth_source if applied else f"copied unchanged: {reason}",
                        hardware_id=str(header.frame_id), values=values)
    return array_cls(header=own_header, status=[status])


def read_params(message) -> Dict[str, str]:
    """Key → value of a decoded ``haze_params`` DiagnosticArray (rosbags or rclpy message)."""
    for status in message.status:
        if status.name == STATUS_NAME:
            return {kv.key: kv.value for kv in status.values}
    raise ValueError("message holds no haze_params status")
