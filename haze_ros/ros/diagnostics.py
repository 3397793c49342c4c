"""Frame statistics (fps, latency p50/p95, drops by reason) and their ``/diagnostics`` message.

``FrameStats`` is plain Python (no ROS); ``to_diagnostic_array`` builds a
``diagnostic_msgs/DiagnosticArray`` (imported when called).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np


class FrameStats:
    """Counters and a sliding window of per-frame latencies.

    Latency is the wall time (ms) from the start of the subscription callback to the publish call
    returning: conversion in, processing (backend), conversion out and publish.
    """

    def __init__(self, window: int = 300, clock=time.monotonic) -> None:
        self._clock = clock
        self._latency_ms: Deque[float] = deque(maxlen=window)
        self._backend_ms: Deque[float] = deque(maxlen=window)
        self.received = 0
        self.processed = 0
        self.passed_through = 0
        self.drops: Counter = Counter()
        self.last_drop: Dict[str, str] = {}
        self._period_start = clock()
        self._period_processed = 0
        self._period_drops = 0
        self.last_fps = 0.0

    def on_received(self) -> None:
        """Count one incoming image message."""
        self.received += 1

    def on_processed(self, latency_ms: float, backend_ms: float) -> None:
        """Count one published output with its latencies in milliseconds."""
        self.processed += 1
        self._period_processed += 1
        self._latency_ms.append(latency_ms)
        self._backend_ms.append(backend_ms)

    def on_dropped(self, reason: str, detail: str = "", passed_through: bool = False) -> None:
        """Count one bad frame under ``reason`` (passed through unchanged or dropped)."""
        self.drops[reason] += 1
        self._period_drops += 1
        self.last_drop[reason] = detail
        if passed_through:
            self.passed_through += 1

    def window(self) -> Tuple[List[float], List[float]]:
        """Per-frame (latency_ms, backend_ms) of the frames in the sliding window, oldest first."""
        return list(self._latency_ms), list(self._backend_ms)

    @staticmethod
    def _percentiles(values: Sequence[float]) -> List[float]:
        if not values:
            return [float("nan"), float("nan")]
        return [float(v) for v in np.percentile(np.asarray(values, np.float64), [50, 95])]

    def snapshot(self) -> dict:
        """Return fps and drops since the previous call, and p50/p95 latency (ms) over the window."""
        now = self._clock()
        elapsed = max(now - self._period_start, 1e-9)
        self.last_fps = self._period_processed / elapsed
        p50, p95 = self._percentiles(self._latency_ms)
        b50, b95 = self._percentiles(self._backend_ms)
        summary = {
            "fps": self.last_fps, "latency_p50_ms": p50, "latency_p95_ms": p95,
            "backend_p50_ms": b50, "backend_p95_ms": b95,
            "received": self.received, "processed": self.processed, "passed_through": self.passed_through,
            "dropped_total": sum(self.drops.values()), "dropped_in_period": self._period_drops,
            "drops": dict(self.drops),
        }
        self._period_start, self._period_processed, self._period_drops = now, 0, 0
        return summary


def format_summary(summary: dict) -> str:
    """One log line for a ``FrameStats.snapshot()``."""
    drops = ", ".join(f"{k}={v}" for k, v in sorted(summary["drops"].items())) or "none"
    if not summary["processed"]:
        return (f"no frame processed yet: received {summary['received']}, dropped {summary['dropped_total']} "
                f"({drops})")
    return (f"{summary['fps']:.1f} fps, latency p50 {summary['latency_p50_ms']:.2f} ms / p95 "
            f"{summary['latency_p95_ms']:.2f} ms (backend p50 {summary['backend_p50_ms']:.2f} ms), "
            f"processed {summary['processed']}, dropped {summary['dropped_total']} ({drops})")


def to_diagnostic_array(summary: dict, name: str, hardware_id: str, info: Dict[str, str],
                        last_drop: Optional[Dict[str, str]] = None, stamp=None):
    """``diagnostic_msgs/DiagnosticArray`` with one status for the node.

    Level: OK while frames flow without drops in the period, WARN when frames were dropped in the
    period, STALE when nothing arrived. ``info`` (backend name, selection notes, mode ...) and every
    drop counter (``drops.<reason>``) go in as key/values, with the last message of each reason.
    """
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(name=name, hardware_id=hardware_id)
    if summary["dropped_in_period"]:
        status.level = DiagnosticStatus.WARN
        status.message = f"dropped {summary['dropped_in_period']} frame(s)"
    elif summary["received"] == 0:
        status.level, status.message = DiagnosticStatus.STALE, "no input received yet"
    else:
        status.level, status.message = DiagnosticStatus.OK, f"{summary['fps']:.1f} fps"
    values = [KeyValue(key=k, value=str(v)) for k, v in info.items()]
    for key in ("fps", "latency_p50_ms", "latency_p95_ms", "backend_p50_ms", "backend_p95_ms"):
        values.append(KeyValue(key=key, value=f"{summary[key]:.3f}"))
    for key in ("received", "processed", "passed_through", "dropped_total"):
        values.append(KeyValue(key=key, value=str(summary[key])))
    for reason, count in sorted(summary["drops"].items()):
        values.append(KeyValue(key=f"drops.{reason}", value=str(count)))
        if last_drop and last_drop.get(reason):
            values.append(KeyValue(key=f"last_drop.{reason}", value=last_drop[reason]))
    status.values = values
    array_msg = DiagnosticArray(status=[status])
    if stamp is not None:
        array_msg.header.stamp = stamp
    return array_msg
