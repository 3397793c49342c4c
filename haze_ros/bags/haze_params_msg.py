"""The rosbags writer of the per-frame ``haze_params`` record (``haze_ros.hazing.record``).

``haze_bag`` writes one next to each frame of a processed topic, on ``<topic>/haze_params``: the
same ``diagnostic_msgs/msg/DiagnosticArray`` content as the node's ``image_hazed/haze_params``
(``HazeRecord``: header = the image's header, one status named ``haze_params``), with
``applied: false`` and level WARN for a frame that was copied unchanged. Built as a ``rosbags``
dataclass (ROS 2 typestore), written as CDR.
"""

from __future__ import annotations

from haze_ros.bags.io import ros2_typestore
from haze_ros.hazing.record import MESSAGE_TYPE, STATUS_NAME, TOPIC_SUFFIX, HazeRecord, read_record_values

PARAMS_SUFFIX = TOPIC_SUFFIX
PARAMS_TYPE = MESSAGE_TYPE
read_params = read_record_values  # key -> value of a decoded haze_params message
_TYPES = ros2_typestore().types


def params_message(header, record: HazeRecord):
    """Build the DiagnosticArray (rosbags dataclass) of ``record`` for the frame with ``header``."""
    key_value = _TYPES["diagnostic_msgs/msg/KeyValue"]
    status_cls = _TYPES["diagnostic_msgs/msg/DiagnosticStatus"]
    header_cls, time_cls = _TYPES["std_msgs/msg/Header"], _TYPES["builtin_interfaces/msg/Time"]
    own_header = header_cls(stamp=time_cls(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                            frame_id=str(header.frame_id))
    status = status_cls(level=record.level, name=STATUS_NAME, message=record.message,
                        hardware_id=str(header.frame_id),
                        values=[key_value(key=k, value=v) for k, v in record.values()])
    return _TYPES[PARAMS_TYPE](header=own_header, status=[status])
