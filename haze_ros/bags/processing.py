"""The ``haze_bag`` frame loop: stream a bag, rewrite the image topics, copy everything else.

Messages are read in timestamp order and written in the same order. Image / CompressedImage
messages of the selected topics go through ``FrameCodec`` (the shared ``FrameProcessor``); every
other message is copied byte for byte. In haze mode each processed frame gets a companion message
on ``<topic>/haze_params`` (same header stamp, same bag time) recording the haze it received.
Frames are processed by a pool of ``workers`` threads (NumPy and OpenCV release the GIL), each
thread with its own backend, while the main thread reads and writes the bag; results are written
back in input order. At most ``4·workers`` frames are in flight, so memory stays bounded whatever
the bag's length.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import logging
import threading
import time
from types import SimpleNamespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, List, Optional, Tuple

from haze_ros import __version__
from haze_ros.backends.factory import create_backend
from haze_ros.backends.model_identity import model_identity
from haze_ros.bags import io as bag_io
from haze_ros.bags.depth import DepthMatcher, header_stamp_ns
from haze_ros.bags.frames import FrameCodec, FrameResult, FrameTask
from haze_ros.bags.haze_params_msg import PARAMS_SUFFIX, PARAMS_TYPE, params_message
from haze_ros.core.backend import BackendSpec
from haze_ros.core.processor import FrameProcessor
from haze_ros.core.types import Direction
from haze_ros.hazing import depth_policy as dp
from haze_ros.hazing.record import HazeRecord, ns_to_sec_nanosec

LOG = logging.getLogger(__name__)
SUMMARY_FILE = "haze_bag_summary.json"
IMAGE_TYPES = (bag_io.IMAGE_TYPE, bag_io.COMPRESSED_TYPE)
MAX_REPORTED_FAILURES = 50


@dataclass(frozen=True)
class BagJob:
    """Everything one ``haze_bag`` run needs.

    Attributes:
        input_path / output_path: input bag (folder, ``.mcap``, ``.db3`` or ROS 1 ``.bag``) and the
            output rosbag2 folder.
        backend: the backend to build (its ``direction`` is the mode).
        topics: image topics to process (Image or CompressedImage).
        haze_source: object with ``params_for(frame_index, stamp_ns) -> HazeParams`` (haze mode;
            ``hazing.sources.make_haze_source``).
        depth_source: ``topic`` / ``flat_road`` / ``model`` (``hazing.depth_policy``); ``None`` =
            ``topic`` with a ``depth_topic``, else ``flat_road``.
        depth_topic: aligned depth image topic (``32FC1`` metres or ``16UC1``), with ``topic``.
        depth_policy: how its depth is decoded and checked (``hazing.depth_policy.DepthPolicy``, the
            node's ``depth.*`` parameters); required with a ``depth_topic``.
        depth_tolerance_ns: largest |image stamp − depth stamp| accepted as a match.
        storage: output storage ``sqlite3``/``mcap``; ``None`` = same as the input (mcap for ROS 1).
        workers: frame-processing threads (≥ 1; the main thread reads and writes meanwhile).
        strict: stop at the first frame that cannot be processed instead of copying it unchanged.
        jpeg_quality: JPEG re-encoding quality; ``None`` = estimated per input frame.
        seed: the run's seed (recorded in the summary).
        arguments: the command line, recorded in the summary.
    """

    input_path: Path
    output_path: Path
    backend: BackendSpec
    topics: Tuple[str, ...]
    haze_source: object = None
    depth_source: Optional[str] = None
    depth_topic: Optional[str] = None
    depth_policy: Optional[dp.DepthPolicy] = None
    depth_tolerance_ns: int = 50_000_000
    storage: Optional[str] = None
    workers: int = 1
    strict: bool = False
    overwrite: bool = False
    jpeg_quality: Optional[int] = None
    seed: Optional[int] = None
    progress: bool = True
    arguments: dict = field(default_factory=dict)


@dataclass
class RunStats:
    """Counters reported at the end and written to the summary."""

    messages_in: Dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    messages_out: Dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    frames_processed: int = 0
    frames_copied_unchanged: int = 0
    failures: List[dict] = field(default_factory=list)
    depth_sources: Dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    backend_ms_total: float = 0.0


class _Workers:
    """Per-thread ``FrameCodec`` (each with its own backend) behind an ordered submit/result API."""

    def __init__(self, job: BagJob, typestore) -> None:
        self.job, self.typestore = job, typestore
        self.local = threading.local()
        self.codecs: List[FrameCodec] = []
        self.lock = threading.Lock()
        self.first_codec, self.notes = self._make_codec()
        self._first_claimed = False
        self.pool = cf.ThreadPoolExecutor(max(1, job.workers), thread_name_prefix="haze_bag")

    def _make_codec(self) -> Tuple[FrameCodec, List[str]]:
        backend, notes = create_backend(self.job.backend)
        codec = FrameCodec(FrameProcessor(backend), self.typestore, self.job.jpeg_quality)
        with self.lock:
            self.codecs.append(codec)
        return codec, notes

    def _codec(self) -> FrameCodec:
        codec = getattr(self.local, "codec", None)
        if codec is None:
            with self.lock:
                claim, self._first_claimed = not self._first_claimed, True
            codec = self.first_codec if claim else self._make_codec()[0]
            self.local.codec = codec
        return codec

    def submit(self, task: FrameTask) -> cf.Future:
        """Queue ``task`` on the pool; the future gives its :class:`FrameResult`."""
        return self.pool.submit(lambda: self._codec().run(task))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for codec in self.codecs:
            codec.processor.backend.close()


def _depth_source(job: BagJob) -> str:
    """The job's ``depth_source`` (``None`` = ``topic`` with a depth topic, else ``flat_road``)."""
    return job.depth_source or (dp.TOPIC if job.depth_topic else dp.FLAT_ROAD)


def _check_depth(job: BagJob) -> None:
    """The depth options agree: ``topic`` ⇔ a depth topic (with a ``DepthPolicy``)."""
    source = _depth_source(job)
    if source not in dp.DEPTH_SOURCES:
        raise bag_io.BagToolError(f"--depth-source must be one of {list(dp.DEPTH_SOURCES)}, got {source!r}")
    if source == dp.TOPIC and not job.depth_topic:
        raise bag_io.BagToolError("--depth-source topic needs --depth-topic")
    if source != dp.TOPIC and job.depth_topic:
        raise bag_io.BagToolError(f"--depth-topic needs --depth-source topic (got {source!r})")
    if job.depth_topic and job.depth_policy is None:
        raise bag_io.BagToolError("a depth topic needs a depth policy (BagJob.depth_policy)")
    if job.backend.direction == Direction.HAZE:  # the node's pairing rule, before any model is loaded
        _check_pairing(source, job.backend.name)


def _check_pairing(depth_source: str, backend: str, conditioned: bool = True) -> None:
    """``BagToolError`` when ``depth_source`` and the haze backend do not go together (the node's rule)."""
    reason = dp.check_depth_source(depth_source, backend, conditioned)
    if reason:
        raise bag_io.BagToolError(f"{reason} (haze_bag options: --depth-source, --backend, --model)")


def _check_topics(bag: bag_io.InputBag, job: BagJob) -> Dict[str, str]:
    """Validate the requested topics; returns topic → type for the processed ones."""
    types = bag.topic_types()
    chosen = {}
    for topic in job.topics:
        if topic not in types:
            raise bag_io.BagToolError(f"topic {topic} is not in {job.input_path}; it has: "
                                      f"{', '.join(sorted(types)) or 'no topics'}")
        if types[topic] not in IMAGE_TYPES:
            raise bag_io.BagToolError(f"topic {topic} has type {types[topic]}, which haze_bag cannot "
                                      f"process (supported: {', '.join(IMAGE_TYPES)})")
        chosen[topic] = types[topic]
    if job.depth_topic:
        if job.depth_topic not in types:
            raise bag_io.BagToolError(f"depth topic {job.depth_topic} is not in {job.input_path}")
        if types[job.depth_topic] != bag_io.IMAGE_TYPE:
            raise bag_io.BagToolError(f"depth topic {job.depth_topic} must be {bag_io.IMAGE_TYPE}, "
                                      f"not {types[job.depth_topic]}")
    return chosen


class _Run:
    """State of one run: input, output, workers, ordered write-back queue and counters."""

    def __init__(self, job: BagJob, bag: bag_io.InputBag, out: bag_io.OutputBag) -> None:
        self.job, self.bag, self.out = job, bag, out
        self.stats = RunStats()
        self.haze = job.backend.direction == Direction.HAZE
        self.pending: Deque[tuple] = collections.deque()
        self.frame_index: Dict[str, int] = collections.defaultdict(int)
        self.workers = _Workers(job, bag.typestore)
        backend = self.workers.first_codec.processor.backend
        self.backend_name = backend.name
        self.depth_source = _depth_source(job)
        try:
            if self.haze:
                _check_pairing(self.depth_source, backend.name, bool(getattr(backend, "conditioned", False)))
            self.model = model_identity(backend.name, job.backend.model_path)
        except (bag_io.BagToolError, OSError):
            self.workers.close()
            raise
        self.depth = DepthMatcher(job.input_path, job.depth_topic, job.depth_tolerance_ns) \
            if job.depth_topic else None

    def feed(self, conn, stamp: int, raw: bytes, frame_types: Dict[str, str]) -> int:
        """Queue one input message; returns the number of frames it added (0 or 1)."""
        self.stats.messages_in[conn.topic] += 1
        out_conn = self.out.connection_like(conn, self.bag.typestore)
        if conn.topic not in frame_types:
            self.pending.append((out_conn, stamp, raw, None, None))
            return 0
        index = self.frame_index[conn.topic]
        self.frame_index[conn.topic] += 1
        header_ns = _header_stamp_ns(raw)
        depth = self.depth.match(header_ns) if self.depth else None
        params = self.job.haze_source.params_for(index, header_ns) if self.haze else None
        task = FrameTask(index, conn.msgtype, raw, params, depth, header_ns, self.job.depth_policy)
        # what a frame that is not hazed is labelled with: the depth it was meant to get
        planned = dp.TOPIC_LABEL if depth is not None else dp.RECORD_LABELS[
            dp.FLAT_ROAD if self.depth_source == dp.TOPIC else self.depth_source]
        info = (conn.topic, task, planned)
        self.pending.append((out_conn, stamp, raw, self.workers.submit(task), info))
        return 1

    def drain(self, keep: int) -> int:
        """Write queued messages in order until at most ``keep`` remain; returns frames written."""
        frames = 0
        while len(self.pending) > keep:
            out_conn, stamp, raw, result, info = self.pending.popleft()
            if result is None:
                self.out.write(out_conn, stamp, raw)
                self.stats.messages_out[out_conn.topic] += 1
                continue
            result = result.result()
            self._write_frame(out_conn, stamp, result, info)
            frames += 1
        return frames

    def _write_frame(self, out_conn, stamp: int, result: FrameResult, info) -> None:
        topic, task, planned = info
        self.out.write(out_conn, stamp, result.raw)
        self.stats.messages_out[topic] += 1
        applied = result.reason is None
        label = dp.record_label(task.depth is not None, result.depth_label, self.depth_source) \
            if applied else planned
        if not applied:
            self._report_failure(topic, stamp, task.index, result)
        else:
            self.stats.frames_processed += 1
            self.stats.backend_ms_total += result.backend_ms
            self.stats.depth_sources[label] += 1
        if task.params is not None:
            header = result.header or _bare_header(task.header_ns)
            record = HazeRecord(task.params, self.backend_name, label, applied, result.reason or "",
                                self.model.sha256)
            companion = params_message(header, record)
            conn = self.out.new_connection(topic.rstrip("/") + PARAMS_SUFFIX, PARAMS_TYPE)
            self.out.write(conn, stamp, self.out.serialize_new(companion, PARAMS_TYPE))
            self.stats.messages_out[conn.topic] += 1

    def _report_failure(self, topic: str, stamp: int, index: int, result: FrameResult) -> None:
        self.stats.frames_copied_unchanged += 1
        text = f"{topic} frame {index} (bag time {stamp} ns): {result.reason}: {result.detail}"
        if self.job.strict:
            raise bag_io.BagToolError(f"frame cannot be processed (--strict): {text}")
        LOG.warning("copied unchanged: %s", text)
        if len(self.stats.failures) < MAX_REPORTED_FAILURES:
            self.stats.failures.append({"topic": topic, "frame_index": index, "bag_time_ns": stamp,
                                        "reason": result.reason, "detail": result.detail})

    def close(self) -> None:
        self.workers.close()
        if self.depth:
            self.depth.close()


def _header_stamp_ns(raw: bytes) -> int:
    """Header stamp (ns) of an image message; 0 when the CDR cannot be read (reported later)."""
    try:
        return header_stamp_ns(raw)
    except ValueError:  # the frame itself is reported as undecodable by FrameCodec
        return 0


def _bare_header(stamp_ns: int):
    """Build a header with only a stamp, for frames whose own header could not be read."""
    sec, nanosec = ns_to_sec_nanosec(stamp_ns)
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec), frame_id="")


def _summary(job: BagJob, run: _Run, seconds: float, storage: str) -> dict:
    stats = run.stats
    backend = run.workers.first_codec.processor.backend
    return {
        "tool": "haze_bag", "tool_version": __version__, "input": str(job.input_path),
        "output": str(job.output_path), "storage": storage, "mode": job.backend.direction.value,
        "backend": backend.describe(), "backend_notes": run.workers.notes,
        "model_path": run.model.path or None, "model_sha256": run.model.sha256 or None,
        "seed": job.seed, "arguments": job.arguments, "topics": list(job.topics),
        "depth_source": run.depth_source, "depth_topic": job.depth_topic, "workers": job.workers,
        "messages_in": dict(stats.messages_in), "messages_out": dict(stats.messages_out),
        "frames_processed": stats.frames_processed,
        "frames_copied_unchanged": stats.frames_copied_unchanged,
        "failures": stats.failures, "depth_sources": dict(stats.depth_sources),
        "wall_time_s": round(seconds, 3),
        "frames_per_s": round((stats.frames_processed + stats.frames_copied_unchanged) / seconds, 3)
        if seconds > 0 else None,
    }


def run_job(job: BagJob, progress_factory=None) -> dict:
    """Rewrite ``job.input_path`` into ``job.output_path``; returns the summary dict.

    Raises ``bag_io.BagToolError`` for bad input (nothing is left at the output path then).
    ``progress_factory(total)`` returns a tqdm-like object (``update(n)``, ``close()``) or ``None``.
    """
    if job.input_path.resolve() == job.output_path.resolve():
        raise bag_io.BagToolError("output must differ from the input bag")
    if job.backend.direction == Direction.HAZE and job.haze_source is None:
        raise bag_io.BagToolError("haze mode needs a haze parameter source (--visibility/--beta/--schedule/"
                                  "--random)")
    _check_depth(job)
    with bag_io.open_input(job.input_path) as bag:
        frame_types = _check_topics(bag, job)
        storage = job.storage or ("mcap" if bag.storage == "ros1" else bag.storage)
        total = sum(c.msgcount for c in bag.connections if c.topic in frame_types)
        out, run, bar, started = None, None, None, time.perf_counter()
        try:
            out = bag_io.OutputBag(job.output_path, storage, job.overwrite)
            run = _Run(job, bag, out)
            bar = progress_factory(total) if progress_factory else None
            window = 4 * max(1, job.workers)
            seen: Dict[int, int] = collections.defaultdict(int)
            for conn, stamp, raw in bag.messages():
                seen[conn.id] += 1
                run.feed(conn, stamp, raw, frame_types)
                done = run.drain(window)
                if bar and done:
                    bar.update(done)
            done = run.drain(0)
            if bar and done:
                bar.update(done)
            bag.check_counts(seen)
            summary = _summary(job, run, time.perf_counter() - started, storage)
            text = json.dumps(summary, indent=2, sort_keys=True)
            out.set_metadata("haze_ros.haze_bag", json.dumps(
                {k: summary[k] for k in ("tool_version", "mode", "seed", "model_sha256")}, sort_keys=True))
            out.add_sidecar(SUMMARY_FILE, text + "\n")
            run.close()
            run = None
            out.commit()
            return summary
        except BaseException:
            if out is not None:
                out.abort()
            bag_io.discard_partial(job.output_path)  # also when interrupted inside OutputBag()
            raise
        finally:
            if run is not None:
                run.close()
            if bar is not None:
                bar.close()
