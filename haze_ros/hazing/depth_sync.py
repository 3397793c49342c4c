"""Match aligned depth images to camera images by stamp (message_filters is not available here).

ROS-free: stamps are integer nanoseconds, payloads are whatever the caller stores (the node stores
the depth message and converts it only when it is used). Rules, with ``tolerance_ns`` and
``max_age_ns`` from the node's ``depth.sync_tolerance_s`` / ``depth.max_age_s`` parameters:

* a depth matches an image when ``|t_depth − t_image| ≤ tolerance``; the closest one wins;
* **stale**: the newest depth is older than the image by more than ``max_age`` → the image is
  dropped at once (the depth stream lags or has stopped);
* **wait**: no match yet, but the newest depth is within ``max_age`` behind the image → the image
  waits (at most ``max_pending`` images) for a depth that may still come;
* **unmatched**: a depth newer than ``t_image + tolerance`` arrived, so no match can come any more.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, List, Optional, Tuple

MATCHED = "matched"
WAIT = "wait"
NO_DEPTH = "no_depth"
DEPTH_STALE = "depth_stale"
DEPTH_UNMATCHED = "depth_unmatched"
DEPTH_TIMEOUT = "depth_timeout"


@dataclass
class SyncResult:
    """Outcome for one image: ``status`` is one of the module's constants; ``depth`` set if matched."""

    status: str
    depth: Any = None
    detail: str = ""


class DepthSynchronizer:
    """Bounded buffer of depth messages and images waiting for one; single-threaded use."""

    def __init__(self, tolerance_ns: int, max_age_ns: int, buffer_size: int = 8,
                 max_pending: int = 2) -> None:
        if tolerance_ns < 0 or max_age_ns < 0 or buffer_size < 1 or max_pending < 0:
            raise ValueError("tolerance/max_age must be >= 0, buffer_size >= 1, max_pending >= 0")
        self.tolerance_ns = int(tolerance_ns)
        self.max_age_ns = int(max_age_ns)
        self._stamps: List[int] = []          # sorted depth stamps
        self._depths: List[Any] = []          # payloads, same order
        self._buffer_size = int(buffer_size)
        self._pending: Deque[Tuple[int, Any]] = deque()
        self._max_pending = int(max_pending)

    def set_limits(self, tolerance_ns: int, max_age_ns: int) -> None:
        """Change the tolerance and maximum age (live parameters); both ≥ 0 ns."""
        self.tolerance_ns, self.max_age_ns = int(tolerance_ns), int(max_age_ns)

    @property
    def newest_stamp(self) -> Optional[int]:
        """Stamp (ns) of the newest buffered depth, or ``None`` when none arrived yet."""
        return self._stamps[-1] if self._stamps else None

    def _closest(self, stamp_ns: int) -> Optional[int]:
        if not self._stamps:
            return None
        i = bisect.bisect_left(self._stamps, stamp_ns)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(self._stamps)]
        best = min(candidates, key=lambda j: abs(self._stamps[j] - stamp_ns))
        return best if abs(self._stamps[best] - stamp_ns) <= self.tolerance_ns else None

    def match(self, stamp_ns: int) -> SyncResult:
        """Classify an image stamp against the buffered depth (does not queue the image)."""
        j = self._closest(stamp_ns)
        if j is not None:
            return SyncResult(MATCHED, self._depths[j])
        newest = self.newest_stamp
        if newest is None:
            return SyncResult(NO_DEPTH, detail="no depth message received yet")
        if newest > stamp_ns + self.tolerance_ns:
            return SyncResult(DEPTH_UNMATCHED, detail=f"no depth within {self.tolerance_ns / 1e6:.1f} ms of "
                                                      "the image stamp")
        lag = stamp_ns - newest
        if lag > self.max_age_ns:
            return SyncResult(DEPTH_STALE, detail=f"newest depth is {lag / 1e9:.3f} s older than the image "
                                                  f"(max_age {self.max_age_ns / 1e9:.3f} s)")
        return SyncResult(WAIT)

    def add_image(self, stamp_ns: int, image: Any) -> Tuple[SyncResult, List[Tuple[Any, SyncResult]]]:
        """Offer an image; returns (its result, images evicted from the wait queue with their result).

        With status ``WAIT`` the image is queued and will come out of ``add_depth`` later.
        """
        result = self.match(stamp_ns)
        evicted: List[Tuple[Any, SyncResult]] = []
        if result.status == WAIT:
            if self._max_pending == 0:
                return SyncResult(DEPTH_TIMEOUT, detail="no matching depth yet and depth.max_pending = 0"), []
            self._pending.append((stamp_ns, image))
            while len(self._pending) > self._max_pending:
                _s, old = self._pending.popleft()
                evicted.append((old, SyncResult(DEPTH_TIMEOUT,
                                                detail="a newer image arrived before its depth")))
        return result, evicted

    def add_depth(self, stamp_ns: int, depth: Any) -> List[Tuple[Any, SyncResult]]:
        """Store a depth message; returns waiting images now resolved (matched or unmatched), in order."""
        i = bisect.bisect_right(self._stamps, stamp_ns)
        self._stamps.insert(i, stamp_ns)
        self._depths.insert(i, depth)
        while len(self._stamps) > self._buffer_size:
            self._stamps.pop(0)
            self._depths.pop(0)
        resolved: List[Tuple[Any, SyncResult]] = []
        still: Deque[Tuple[int, Any]] = deque()
        for img_stamp, image in self._pending:
            result = self.match(img_stamp)
            if result.status == WAIT:
                still.append((img_stamp, image))
            else:
                resolved.append((image, result))
        self._pending = still
        return resolved

    def pending_count(self) -> int:
        """Number of images waiting for their depth."""
        return len(self._pending)
