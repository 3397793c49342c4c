"""Depth for bag frames: an aligned depth topic matched to each image by header stamp.

Offline, the bag can be read ahead: a second reader walks the depth topic only, staying just ahead
of the image being processed (bounded buffer), and the node's ``DepthSynchronizer`` (same rule as
live: closest stamp within the tolerance) picks the depth. The matched depth message is decoded
and checked by the frame's worker with the node's rule (``hazing.depth_policy.depth_metres``: a
depth that is too invalid drops the frame as ``depth_invalid``, as in the node). Frames without a
match get the depth-free approximation, labelled ``flat_road_approximation`` in their record.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Optional, Tuple

from haze_ros.bags import io as bag_io
from haze_ros.hazing.depth_sync import MATCHED, DepthSynchronizer

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
        topic: depth topic (sensor_msgs/Image, ``32FC1`` metres or ``16UC1``).
        tolerance_ns: largest accepted |image stamp − depth stamp|.
        buffer_size: depth messages kept for matching.
    """

    def __init__(self, bag_path: Path, topic: str, tolerance_ns: int, buffer_size: int = 16) -> None:
        self.bag = bag_io.open_input(bag_path)
        conns = [c for c in self.bag.connections if c.topic == topic]
        self._stream = self.bag.messages(conns)
        self._sync = DepthSynchronizer(tolerance_ns, max_age_ns=2**62, buffer_size=buffer_size)
        self._exhausted = False
        self.tolerance_ns = tolerance_ns

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

    def match(self, stamp_ns: int) -> Optional[Tuple[str, bytes]]:
        """``(message type, CDR bytes)`` of the closest depth message for an image stamp, or ``None``."""
        self._read_until(stamp_ns)
        result = self._sync.match(stamp_ns)
        return result.depth if result.status == MATCHED else None

    def close(self) -> None:
        """Close the second reader."""
        self._stream.close()
        self.bag.close()
