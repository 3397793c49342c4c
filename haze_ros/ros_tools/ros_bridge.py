"""Glue between bags (``rosbags``) and live topics (``rclpy``) for ``haze_replay`` / ``haze_record``.

* message classes from type names (``pkg/msg/Type`` → ``pkg.msg.Type``; ``rosidl_runtime_py`` is not
  installed with the PyPI wheels, so this is its ``get_message`` in a few lines);
* QoS both ways: a bag connection's recorded ``offered_qos_profiles`` → ``rclpy`` ``QoSProfile``
  and an ``rclpy`` profile → the ``rosbags`` ``Qos`` stored in a recorded bag's metadata;
* the command line split into the tool's own arguments and the ``--ros-args`` block for rclpy.
"""

from __future__ import annotations

import importlib
from typing import List, Optional, Tuple

from rclpy.duration import Duration
from rclpy.qos import (QoSDurabilityPolicy, QoSHistoryPolicy, QoSLivelinessPolicy, QoSProfile,
                       QoSReliabilityPolicy, qos_profile_sensor_data)
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

SENSOR_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/PointCloud2",
                "sensor_msgs/msg/LaserScan", "sensor_msgs/msg/Imu")
# rclpy policy name (enum member name) ↔ rosbags enum member name; the names agree.
_INFINITE_S = 2**31 - 1


def split_ros_args(argv: List[str]) -> Tuple[List[str], List[str]]:
    """Split ``argv`` (program name first) into the tool's arguments and the arguments for rclpy.

    Every ``--ros-args ... [--]`` block goes to rclpy (as rcl reads them); everything else is the
    tool's. Unlike ``rclpy.utilities.remove_ros_args``, a bare ``FROM:=TO`` outside such a block
    stays with the tool: rcl would take it as a deprecated remap rule and remove it, which broke
    ``haze_replay --remap FROM:=TO``. Returns ``(tool_argv, ros_argv)``, both starting with the
    program name.
    """
    tool, ros, in_block = [argv[0]], [argv[0]], False
    for arg in argv[1:]:
        if arg == "--ros-args":
            in_block = True
            ros.append(arg)
        elif in_block and arg == "--":
            in_block = False
        else:
            (ros if in_block else tool).append(arg)
    return tool, ros


def message_class(msgtype: str):
    """Import the Python message class for ``pkg/msg/Type`` (or ``pkg/Type``); raises ``ImportError``."""
    parts = msgtype.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ImportError(f"not a ROS 2 message type name: {msgtype!r}")
    module = importlib.import_module(f"{parts[0]}.{parts[1]}")
    try:
        return getattr(module, parts[2])
    except AttributeError:
        raise ImportError(f"{parts[0]}.{parts[1]} has no message {parts[2]!r}") from None


def _duration(time: QosTime) -> Optional[Duration]:
    if time.sec == 0 and time.nsec == 0 or time.sec >= _INFINITE_S:
        return None  # default / infinite
    return Duration(seconds=time.sec, nanoseconds=time.nsec)


def qos_from_bag(profiles, msgtype: str, depth_min: int = 10) -> QoSProfile:
    """``QoSProfile`` for replaying a connection: its first recorded profile, else a default.

    Default (no profile recorded): sensor-data QoS for camera/LiDAR/IMU types, else reliable,
    volatile, keep last ``depth_min``. History depth is at least ``depth_min``.
    """
    if not profiles:
        if msgtype in SENSOR_TYPES:
            return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST,
                              depth=max(depth_min, qos_profile_sensor_data.depth),
                              reliability=QoSReliabilityPolicy.BEST_EFFORT,
                              durability=QoSDurabilityPolicy.VOLATILE)
        return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=depth_min,
                          reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)
    qos: Qos = profiles[0]

    def policy(enum_cls, value, fallback):
        name = value.name
        return getattr(enum_cls, name) if name in enum_cls.__members__ and name != "UNKNOWN" else fallback

    profile = QoSProfile(
        history=policy(QoSHistoryPolicy, qos.history, QoSHistoryPolicy.KEEP_LAST),
        depth=max(depth_min, int(qos.depth)),
        reliability=policy(QoSReliabilityPolicy, qos.reliability, QoSReliabilityPolicy.RELIABLE),
        durability=policy(QoSDurabilityPolicy, qos.durability, QoSDurabilityPolicy.VOLATILE),
        liveliness=policy(QoSLivelinessPolicy, qos.liveliness, QoSLivelinessPolicy.SYSTEM_DEFAULT),
    )
    for attr, value in (("deadline", qos.deadline), ("lifespan", qos.lifespan),
                        ("liveliness_lease_duration", qos.liveliness_lease_duration)):
        duration = _duration(value)
        if duration is not None:
            setattr(profile, attr, duration)
    return profile


def qos_to_bag(profile: QoSProfile) -> Qos:
    """``rosbags`` ``Qos`` recording an ``rclpy`` profile (for a recorded bag's metadata)."""
    def enum(rosbags_cls, value):
        name = getattr(value, "name", str(value)).upper()
        return getattr(rosbags_cls, name, rosbags_cls.UNKNOWN)

    def time(duration) -> QosTime:
        nanoseconds = int(getattr(duration, "nanoseconds", 0) or 0)
        return QosTime(sec=nanoseconds // 10**9, nsec=nanoseconds % 10**9)

    return Qos(history=enum(QosHistory, profile.history), depth=int(profile.depth or 0),
               reliability=enum(QosReliability, profile.reliability),
               durability=enum(QosDurability, profile.durability), deadline=time(profile.deadline),
               lifespan=time(profile.lifespan), liveliness=enum(QosLiveliness, profile.liveliness),
               liveliness_lease_duration=time(profile.liveliness_lease_duration),
               avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions))
