"""Several frames in flight: one ``FrameProcessor`` per worker thread, results handed back in order.

``haze_node`` with ``inference_workers`` > 1 (ONNX Runtime on the CPU, either mode). The subscription
callback (executor thread) hands each converted frame to :meth:`FramePipeline.submit`, which blocks
only while every worker is busy, so the node's keep-last input queue still drops what it cannot take,
as with one worker. A worker runs ``processor.process`` (pure computation: ONNX Runtime releases the
GIL) and triggers a guard condition; its callback, on the executor thread again, hands the results
to ``finish`` strictly in arrival order. A frame refused before it reaches a worker (it cannot be
converted, or its depth never matched) takes its place in the same order
(:meth:`FramePipeline.submit_refused`). Publishing, statistics, the haze mode's ``haze_params`` and
logging therefore never leave the executor thread, and the output stream keeps the input's order.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple


@dataclass(frozen=True)
class FrameJob:
    """One frame and what ``finish`` needs to publish or reject it.

    ``array`` / ``encoding`` are None for a frame that could not be converted; ``t0`` is
    ``time.perf_counter()`` at reception [s]; ``on_outcome`` (optional) is called with the frame's
    ``Outcome`` once it is published or dropped (haze mode: its ``haze_params`` record).
    """

    header: Any
    array: Any
    encoding: Optional[str]
    t0: float
    raw_msg: Any
    conditions: Any = None
    on_outcome: Optional[Callable[[Any], None]] = None


# finish(job, result, error): result is the ProcessedFrame, or None with the exception raised
Finish = Callable[[FrameJob, Optional[Any], Optional[BaseException]], None]


class FramePipeline:
    """``len(processors)`` frames in flight; ``finish`` called on the node's executor, in submit order."""

    def __init__(self, node, processors: Sequence[Any], finish: Finish) -> None:
        self._free: "queue.Queue[Any]" = queue.Queue()
        for processor in processors:
            self._free.put(processor)
        self._pool = ThreadPoolExecutor(max_workers=len(processors), thread_name_prefix="haze_infer")
        self._lock = threading.Lock()
        self._done: Dict[int, Tuple[FrameJob, Optional[Any], Optional[BaseException]]] = {}
        self._next_submit = 0   # executor thread only
        self._next_finish = 0   # executor thread only
        self._finish = finish
        self._node = node
        self._guard = node.create_guard_condition(self._drain)

    def submit(self, job: FrameJob) -> None:
        """Start ``job`` on a free worker (waiting for one while all are busy). Executor thread only."""
        processor = self._free.get()
        seq = self._next_submit
        self._next_submit += 1
        self._pool.submit(self._run, seq, processor, job)

    def submit_refused(self, job: FrameJob, error: BaseException) -> None:
        """Queue ``job`` as finished with ``error`` (refused before any worker), in submit order.

        Executor thread only; finished at once when nothing before it is still in flight.
        """
        seq = self._next_submit
        self._next_submit += 1
        with self._lock:
            self._done[seq] = (job, None, error)
        self._drain()

    def _run(self, seq: int, processor, job: FrameJob) -> None:
        result, error = None, None
        try:
            result = processor.process(job.array, job.encoding, job.conditions)
        except Exception as exc:  # handed to finish: a bad frame or a backend failure, never fatal
            error = exc
        finally:
            self._free.put(processor)
        with self._lock:
            self._done[seq] = (job, result, error)
        self._guard.trigger()

    def _drain(self) -> None:
        """Guard-condition callback: finish every completed frame that is next in order."""
        while True:
            with self._lock:
                item = self._done.pop(self._next_finish, None)
            if item is None:
                return
            self._next_finish += 1
            self._finish(*item)

    def close(self) -> None:
        """Wait for the frames in flight (their results are not published) and release the guard."""
        self._pool.shutdown(wait=True)
        self._node.destroy_guard_condition(self._guard)
