"""Depth for bag frames: an aligned depth topic matched to each image by header stamp.

Offline, the bag can be read ahead: a second reader walks the depth topic only, staying just ahead
of the image being processed (bounded buffer), and the node's ``DepthSynchronizer`` (same rule as
live: closest stamp within the tolerance) picks the depth. Frames without a match get the
depth-free approximation, labelled ``flat_road_approximation`` in their haze parameters.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from haze_ros.physics.depth_free import DEPTH_SOURCE as DEPTH_FREE
from haze_ros.ros.depth_sync import MATCHED, DepthSynchronizer
from haze_ros.ros.haze_control import DEPTH_TOPIC_SOURCE as DEPTH_FROM_TOPIC
from haze_ros.tools import bag_io

LOG = logging.getLogger(__name__)


def header_stamp_ns(raw: bytes) -> int:
    """``header.stamp`` in ns of a CDR message whose first field is a ``std_msgs/Header``.

    Reads the two stamp fields right after the 4-byte encapsulation header (byte 1 = 1 means
    little endian), without deserialising the (possibly large) rest of the message.
    """
    if len(raw) < 12:
        raise ValueError(f"CDR message of {len(raw)} bytes is too short for a header")
    fmt = "<iI" if raw[1] == 1 else ">iI"
    sec, nanosec = struct.unpack_from(fmt, raw, 4)
    return sec * 1_000_000_000 + nanosec


class DepthMatcher:
    """Closest-stamp depth (within ``tolerance_ns``) for each image stamp, read ahead lazily.

    Args:
        bag_path: the input bag (opened a second time, depth topic only).
        topic: depth topic (sensor_msgs/Image, ``32FC1`` metres or ``16UC1`` × ``scale_16u`` m).
        tolerance_ns: largest accepted |image stamp − depth stamp|.
        scale_16u: metres per unit of 16-bit depth (REP 118: 0.001).
        completion: optional ``f((H, W) float32 m, inf = none) -> (H, W) float32 m`` densifying sparse
            depth (e.g. LiDAR projections) before use.
    """

    def __init__(self, bag_path: Path, topic: str, tolerance_ns: int, scale_16u: float = 0.001,
                 completion: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 buffer_size: int = 16) -> None:
        self.bag = bag_io.open_input(bag_path)
        conns = [c for c in self.bag.connections if c.topic == topic]
        self._stream = self.bag.messages(conns)
        self._sync = DepthSynchronizer(tolerance_ns, max_age_ns=2**62, buffer_size=buffer_size)
        self._exhausted = False
        self.tolerance_ns = tolerance_ns
        self.scale_16u = scale_16u
        self.completion = completion

    def _read_until(self, stamp_ns: int) -> None:
        """Buffer depth messages until one is newer than ``stamp_ns + tolerance`` (or the topic ends)."""
        while not self._exhausted:
            newest = self._sync.newest_stamp
            if newest is not None and newest > stamp_ns + self.tolerance_ns:
                return
            try:
                conn, _t, raw = next(self._stream)
            except StopIteration:
                self._exhausted = True
                return
            try:
                self._sync.add_depth(header_stamp_ns(raw), (conn.msgtype, raw))
            except ValueError as exc:
                LOG.warning("skipping unreadable depth message: %s", exc)

    def match(self, stamp_ns: int) -> Tuple[Optional[np.ndarray], str]:
        """``(depth (H, W) float32 metres or None, depth source label)`` for an image stamp."""
        from haze_ros.tools.bag_frames import depth_to_metres

        self._read_until(stamp_ns)
        result = self._sync.match(stamp_ns)
        if result.status != MATCHED:
            return None, DEPTH_FREE
        msgtype, raw = result.depth
        try:
            depth = depth_to_metres(self.bag.deserialize(raw, msgtype), self.scale_16u)
        except Exception as exc:  # noqa: BLE001 - a bad depth frame falls back to depth-free haze
            LOG.warning("depth message at %d ns unusable (%s); using the depth-free approximation",
                        stamp_ns, exc)
            return None, DEPTH_FREE
        if self.completion is not None:
            depth = self.completion(depth)
        return depth, DEPTH_FROM_TOPIC

    def close(self) -> None:
        """Close the second reader."""
        self._stream.close()
        self.bag.close()
