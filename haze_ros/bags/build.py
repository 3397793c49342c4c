"""Build rosbag2 bags from image files: the shipped demo bag, benchmark bags and test fixtures.

Frames become ``sensor_msgs/msg/Image`` (``bgr8``/``rgb8``) or ``sensor_msgs/msg/CompressedImage``
(JPEG) messages, depth maps ``32FC1`` Images in metres, each with ``camera_info`` beside them,
stamped at a fixed rate; bag time equals header stamp. Uses the ``rosbags`` ROS 2 typestore only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Writer

from haze_ros.bags.io import STORAGES, ros2_typestore
from haze_ros.hazing.record import ns_to_sec_nanosec

_NO_TIME = QosTime(sec=0, nsec=0)
SENSOR_QOS = Qos(QosHistory.KEEP_LAST, 5, QosReliability.BEST_EFFORT, QosDurability.VOLATILE, _NO_TIME,
                 _NO_TIME, QosLiveliness.AUTOMATIC, _NO_TIME, False)
RELIABLE_QOS = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, _NO_TIME,
                   _NO_TIME, QosLiveliness.AUTOMATIC, _NO_TIME, False)


@dataclass
class CameraStream:
    """One camera: its topic and how frames are stored.

    Attributes:
        topic: image topic, e.g. ``/cam/image_raw`` (``.../compressed`` for CompressedImage).
        compressed: store JPEG ``CompressedImage`` (format ``bgr8; jpeg compressed bgr8``) if true.
        encoding: ``bgr8`` or ``rgb8`` for raw Images.
        jpeg_quality: JPEG quality 1–100 for compressed frames.
        frame_id: header frame id.
        camera_info_topic: topic for a ``CameraInfo`` per frame (``""`` = none).
    """

    topic: str
    compressed: bool = False
    encoding: str = "bgr8"
    jpeg_quality: int = 90
    frame_id: str = "camera"
    camera_info_topic: str = ""


@dataclass
class BagContents:
    """What to write: frames (BGR uint8 arrays, all the same size) per stream, optional depth."""

    streams: List[CameraStream]
    frames: List[np.ndarray]
    rate_hz: float = 10.0
    start_ns: int = 1_700_000_000_000_000_000
    depth_topic: str = ""
    depth_m: List[np.ndarray] = field(default_factory=list)
    extra_strings: Dict[str, List[str]] = field(default_factory=dict)


def _header(types, stamp_ns: int, frame_id: str):
    sec, nanosec = ns_to_sec_nanosec(stamp_ns)
    return types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                        frame_id=frame_id)


def image_message(types, bgr: np.ndarray, stamp_ns: int, stream: CameraStream):
    """Image or CompressedImage (rosbags dataclass) holding ``bgr`` ``(H, W, 3)`` uint8."""
    header = _header(types, stamp_ns, stream.frame_id)
    if stream.compressed:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, stream.jpeg_quality])
        assert ok
        return types["sensor_msgs/msg/CompressedImage"](header=header, format="bgr8; jpeg compressed bgr8",
                                                        data=data.reshape(-1))
    pixels = bgr[..., ::-1] if stream.encoding == "rgb8" else bgr
    h, w = bgr.shape[:2]
    return types["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding=stream.encoding,
                                          is_bigendian=0, step=w * 3,
                                          data=np.ascontiguousarray(pixels).reshape(-1))


def depth_message(types, depth_m: np.ndarray, stamp_ns: int, frame_id: str):
    """``32FC1`` Image (metres; ``0`` where unknown, as drivers publish no-return pixels)."""
    plane = np.where(np.isfinite(depth_m), depth_m, 0.0).astype("<f4")
    h, w = plane.shape
    return types["sensor_msgs/msg/Image"](header=_header(types, stamp_ns, frame_id), height=h, width=w,
                                          encoding="32FC1", is_bigendian=0, step=w * 4,
                                          data=plane.reshape(-1).view(np.uint8))


def camera_info_message(types, stamp_ns: int, frame_id: str, size: Tuple[int, int]):
    """Build a plain pinhole ``CameraInfo`` (focal length = width) for a frame of ``size`` = (H, W)."""
    h, w = size
    f = float(w)
    k = np.array([f, 0, w / 2, 0, f, h / 2, 0, 0, 1], np.float64)
    p = np.array([f, 0, w / 2, 0, 0, f, h / 2, 0, 0, 0, 1, 0], np.float64)
    roi_cls = types["sensor_msgs/msg/RegionOfInterest"]
    roi = roi_cls(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types["sensor_msgs/msg/CameraInfo"](
        header=_header(types, stamp_ns, frame_id), height=h, width=w, distortion_model="plumb_bob",
        d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0, roi=roi)


def write_bag(path: Path, storage: str, contents: BagContents) -> Path:
    """Write ``contents`` to a new rosbag2 folder ``path`` (``storage`` = sqlite3 or mcap)."""
    ts = ros2_typestore()
    types = ts.types
    period = int(round(1e9 / contents.rate_hz))
    with Writer(Path(path), version=9, storage_plugin=STORAGES[storage]) as writer:
        def conn(topic, msgtype, qos):
            return writer.add_connection(topic, msgtype, typestore=ts, offered_qos_profiles=[qos])
        cams = []
        for s in contents.streams:
            kind = "sensor_msgs/msg/CompressedImage" if s.compressed else "sensor_msgs/msg/Image"
            info = conn(s.camera_info_topic, "sensor_msgs/msg/CameraInfo", RELIABLE_QOS) \
                if s.camera_info_topic else None
            cams.append((s, kind, conn(s.topic, kind, SENSOR_QOS), info))
        depth = None
        if contents.depth_topic:
            depth = conn(contents.depth_topic, "sensor_msgs/msg/Image", SENSOR_QOS)
        strings = {t: conn(t, "std_msgs/msg/String", RELIABLE_QOS) for t in contents.extra_strings}
        for i, bgr in enumerate(contents.frames):
            stamp = contents.start_ns + i * period
            for stream, kind, c, info in cams:
                msg = image_message(types, bgr, stamp, stream)
                writer.write(c, stamp, bytes(ts.serialize_cdr(msg, kind)))
                if info is not None:
                    msg = camera_info_message(types, stamp, stream.frame_id, bgr.shape[:2])
                    writer.write(info, stamp, bytes(ts.serialize_cdr(msg, "sensor_msgs/msg/CameraInfo")))
            if depth is not None and i < len(contents.depth_m):
                frame_id = contents.streams[0].frame_id
                msg = depth_message(types, contents.depth_m[i], stamp + 1_000_000, frame_id)
                writer.write(depth, stamp + 2_000_000, bytes(ts.serialize_cdr(msg, "sensor_msgs/msg/Image")))
            for topic, texts in contents.extra_strings.items():
                if i < len(texts):
                    msg = types["std_msgs/msg/String"](data=texts[i])
                    raw = bytes(ts.serialize_cdr(msg, "std_msgs/msg/String"))
                    writer.write(strings[topic], stamp + 500_000, raw)
    return Path(path)


def load_frames(paths: Sequence[Path], size: Optional[Tuple[int, int]] = None) -> List[np.ndarray]:
    """Read image files as BGR uint8, resized to ``size`` = (W, H) with INTER_AREA when given."""
    frames = []
    for p in paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {p}")
        frames.append(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA) if size else bgr)
    return frames
