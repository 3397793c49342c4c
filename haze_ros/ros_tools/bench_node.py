"""``haze_bench`` suites for the ROS layer: message conversions and the node itself.

* ``suite_conversion``: sensor_msgs/Image → array view → processed-array → Image per frame (the
  node's conversion in and out), and JPEG CompressedImage decoding, on real frames.
* ``suite_node``: (1) the node's overhead excluding the algorithm, in one process: the subscription
  callback is called directly (no DDS) and the backend's own time is subtracted per frame;
  (2) end-to-end latency across processes over DDS: ``haze_node`` in a child process, this process
  publishes a frame, waits for the output, then sends the next (ping-pong, no queueing), so each
  sample is publish → DDS → convert → backend → convert → publish → DDS → callback;
  (3) throughput over DDS, in the same session: frames published at 30 Hz like a camera's, the
  sustained output rate (the "fps through the node") and the share of frames that came out.
  (4) capacity over DDS: the same at 60 Hz, faster than the node can go, so the output rate is
  what the node sustains (its headroom above a 30 fps camera; the publisher shares the cores).
  Cases (``node_cases``): dehaze with ``dcp`` and with ``backend: model``; haze with the physics
  backend's flat road and with learned depth (``backend: model``, ``depth_source: model``); both
  learned ones again with ``inference_workers: 2`` (ONNX Runtime, across processes only). The
  learned cases use ``haze_bench --model`` ('' = the shipped model) and ``--device``; a case the
  model cannot run (learned depth needs a physics-generator model) is skipped with its reason on
  stderr.

Rows have the keys of ``bench_common.ROW_KEYS``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from haze_ros.bench.common import REPO, peak_traced_mb, size_label, stats_from_samples, time_call
from haze_ros.core import image_msgs
from haze_ros.core.backend import BackendError
from haze_ros.core.params_file import read_params_file
from haze_ros.ros import conversions, params

CONFIG = REPO / "config"
STREAM_RATE_HZ = 30.0     # the throughput case's input rate (a 30 fps camera)
CAPACITY_RATE_HZ = 60.0   # the capacity case's input rate: faster than the node, so output = capacity
STREAM_MIN_FRAMES = 30    # ... at least this many frames (2 × runs otherwise)
STREAM_DRAIN_S = 2.0      # ... time given to the last outputs after the last frame is sent


@dataclass(frozen=True)
class NodeCase:
    """One node configuration: ``mode``, its params file, a label and the parameter overrides.

    ``in_process``: also measure the callback's overhead in process (not for ``inference_workers``
    > 1, whose callback hands the frame on and returns: it is measured across processes only).
    """

    mode: str
    config: str
    label: str
    overrides: Tuple[Tuple[str, object], ...]
    in_process: bool = True

    def values(self, size: Tuple[int, int]) -> dict:
        """Parameter values: the params file, the overrides, a warm-up frame of ``size``."""
        values = read_params_file(CONFIG / self.config)
        values.update(dict(self.overrides), warmup_width=size[0], warmup_height=size[1],
                      max_pixels=max(int(values["max_pixels"]), size[0] * size[1]), log_period_s=3600.0)
        return values


def node_cases(model_path: str = "", device: str = "") -> List[NodeCase]:
    """The node configurations the suite measures (learned ones with ``model_path`` / ``device``)."""
    learned = tuple((k, v) for k, v in (("model_path", model_path), ("device", device)) if v)
    flat_road = (("backend", "physics"), ("depth_source", "flat_road"))
    learned_depth = (("backend", "model"), ("depth_source", "model"), ("inference_workers", 1)) + learned
    return [NodeCase("dehaze", "dehaze.yaml", "dcp", (("backend", "dcp"),)),
            NodeCase("haze", "hazify.yaml", "physics, flat road", flat_road),
            NodeCase("dehaze", "dehaze.yaml", "model", (("backend", "model"), ("inference_workers", 1))
                     + learned),
            NodeCase("dehaze", "dehaze.yaml", "model, 2 inference workers",
                     (("backend", "onnxruntime"), ("inference_workers", 2))
                     + tuple((k, v) for k, v in learned if k == "model_path"), in_process=False),
            NodeCase("haze", "hazify.yaml", "model, learned depth", learned_depth),
            NodeCase("haze", "hazify.yaml", "model, learned depth, 2 inference workers",
                     (("backend", "onnxruntime"), ("depth_source", "model"), ("inference_workers", 2))
                     + tuple((k, v) for k, v in learned if k == "model_path"), in_process=False)]


def _frame(size: Tuple[int, int]) -> np.ndarray:
    """A real dash-cam frame (data/samples) resized to ``size`` = (W, H), RGB uint8."""
    import cv2

    path = sorted((REPO / "data" / "samples" / "udacity_solidWhiteRight").glob("*.jpg"))[0]
    return np.ascontiguousarray(cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA)[...,
                                                                                                      ::-1])


def _row(suite, case, size, backend, stats, peak=None, notes=""):
    return {"suite": suite, "case": case, "size": size_label(size), "backend": backend, **stats,
            "peak_mem_mb": peak, "notes": notes}


def suite_conversion(sizes: Sequence[Tuple[int, int]], runs: int) -> List[dict]:
    """Per size: Image → array → Image round trip (rgb8, bgr8), and JPEG CompressedImage decoding."""
    from std_msgs.msg import Header

    rows = []
    for size in sizes:
        rgb = _frame(size)
        for encoding in ("rgb8", "bgr8"):
            msg = conversions.to_image_msg(rgb, encoding, Header(frame_id="cam"))

            def round_trip(msg=msg, encoding=encoding):
                array = image_msgs.image_to_array(msg)
                return conversions.to_image_msg(array, encoding, msg.header)
            rows.append(_row("conversion", f"Image -> array -> Image ({encoding})", size, "-",
                             time_call(round_trip, runs), peak_traced_mb(round_trip),
                             "array view in (no copy), one copy out into the message"))
        fmt, data = image_msgs.encode_compressed(rgb, "rgb8", "jpeg", 90)
        rows.append(_row("conversion", "CompressedImage jpeg -> array", size, "-",
                         time_call(lambda: image_msgs.decode_compressed(fmt, data), runs), None,
                         f"OpenCV imdecode, quality 90, {len(data) / 1e3:.0f} kB"))
    return rows


def _in_process_overhead(size, runs: int, case: NodeCase) -> dict:
    """Node callback time minus backend time, per frame, with the node in this process.

    Raises ``params.ParameterError`` / ``BackendError`` when the node cannot start with ``case``.
    """
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter
    from std_msgs.msg import Header

    from haze_ros.ros.node import HazeNode

    context = Context()
    rclpy.init(context=context, domain_id=_domain_id(7))
    node = None
    try:
        node = HazeNode(context=context, parameter_overrides=[Parameter(k, value=v) for k,
                                                              v in case.values(size).items()])
        backend = node.processor.backend.name
        msg = conversions.to_image_msg(_frame(size), "rgb8", Header(frame_id="cam"))
        for _ in range(3):
            node._on_image(msg)
        node.stats = type(node.stats)()
        for _ in range(runs):
            node._on_image(msg)
        latency, backend_ms = (np.asarray(v) for v in node.stats.window())
        drops = node.stats.snapshot().get("drops")
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.shutdown(context=context)
    if latency.size < runs:
        raise RuntimeError(f"{case.label}: {runs - latency.size} of {runs} frames were not processed "
                           f"(drops: {drops})")
    return _row("node", f"{case.mode} ({case.label}): overhead excl. algorithm (in-process)", size, backend,
                stats_from_samples(latency - backend_ms), None,
                f"callback p50 {np.median(latency):.2f} ms, backend p50 {np.median(backend_ms):.2f} ms; "
                "convert in + processor checks + convert out + publish (serialise)")


def _domain_id(offset: int) -> int:
    return 1 + (os.getpid() + 97 + offset) % 200


def _cross_process(size, runs: int, case: NodeCase, backend: str) -> List[dict]:
    """Three rows through haze_node in a child process: ping-pong latency, a 30 Hz stream, a 60 Hz stream.

    The 30 Hz stream is what a 30 fps camera gets (its output rate cannot exceed 30); the 60 Hz one
    measures the node's capacity, the headroom above the camera's rate (the publisher shares the cores).
    """
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    domain = _domain_id(11)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(CONFIG / "fastdds_shm.xml"))
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", env["FASTDDS_DEFAULT_PROFILES_FILE"])
    values = case.values(size)
    overrides = [f"{k}:={values[k]}" for k in ("warmup_width", "warmup_height", "max_pixels", "log_period_s")]
    overrides += [f"{k}:={v}" for k, v in case.overrides]
    child = subprocess.Popen([sys.executable, "-m", "haze_ros.ros.node", "--ros-args", "--params-file",
                              str(CONFIG / case.config)] + [a for o in overrides for a in ("-p", o)],
                             env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("haze_bench_client", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    arrived = {}
    out = "image_dehazed" if case.mode == "dehaze" else "image_hazed"
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    sub = node.create_subscription(
        Image, out, lambda m: arrived.setdefault(m.header.stamp.nanosec, time.perf_counter()), reliable)
    pub = node.create_publisher(Image, "image_raw", reliable)
    samples = []
    try:
        matched = lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0  # noqa: E731
        _spin_until(executor, matched, 120.0)
        msg = conversions.to_image_msg(_frame(size), "rgb8", Header(frame_id="cam"))
        stamp, lost = 0, 0
        while len(samples) < runs:
            stamp += 1
            msg.header.stamp.nanosec = stamp
            sent = time.perf_counter()
            pub.publish(msg)
            try:
                _spin_until(executor, lambda: stamp in arrived, 5.0)
            except TimeoutError:
                lost += 1  # best-effort input: a lost frame is re-sent under a new stamp
                if lost > max(3, runs // 5):
                    raise
                continue
            if stamp > 3:  # the first three are warm-up
                samples.append((arrived[stamp] - sent) * 1e3)
        frames = max(2 * runs, STREAM_MIN_FRAMES)
        stream = _stream(executor, pub, msg, arrived, stamp, frames, STREAM_RATE_HZ)
        capacity = _stream(executor, pub, msg, arrived, stamp + frames, frames, CAPACITY_RATE_HZ)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
        child.send_signal(subprocess.signal.SIGINT)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    profile = Path(env["FASTDDS_DEFAULT_PROFILES_FILE"]).name
    latency = _row("node", f"{case.mode} ({case.label}): end-to-end over DDS (2 processes)", size, backend,
                   stats_from_samples(samples), None,
                   f"ping-pong publish -> output callback, incl. algorithm; Fast DDS profile {profile}; "
                   f"{lost} frame(s) without answer in 5 s (re-sent)")
    rows = [latency]
    for (intervals, sent, delivered, fps), rate, what, kind in (
            (stream, STREAM_RATE_HZ, "throughput", "a camera-like stream:"),
            (capacity, CAPACITY_RATE_HZ, "capacity", "faster than the node: fps = its capacity;")):
        rows.append(_row("node", f"{case.mode} ({case.label}): {what} over DDS, input at {rate:g} Hz", size,
                         backend, dict(stats_from_samples(intervals or [float("nan")]), fps=fps), None,
                         f"{kind} {sent} frames published at {rate:g} Hz, {delivered} outputs received "
                         f"({100.0 * delivered / sent:.0f} %); fps = sustained output rate, p50/p95 = time "
                         f"between outputs; Fast DDS profile {profile}"))
    return rows


def _stream(executor, pub, msg, arrived: dict, last_stamp: int, frames: int, rate_hz: float):
    """Publish ``frames`` frames at ``rate_hz`` and collect the outputs (a camera's view of the node).

    Returns ``(intervals_ms, sent, delivered, fps)``: the times between consecutive outputs, the frames
    sent and received, and the sustained output rate (outputs − 1 over the time from the first to
    the last). Frames the node cannot keep up with are dropped by its keep-last input queue.
    """
    first = last_stamp + 1
    start = time.perf_counter()
    for index in range(frames):
        due = start + index / rate_hz
        while time.perf_counter() < due:
            executor.spin_once(timeout_sec=min(0.005, max(0.0, due - time.perf_counter())))
        msg.header.stamp.nanosec = first + index
        pub.publish(msg)
    last = first + frames - 1
    deadline = time.perf_counter() + STREAM_DRAIN_S
    while last not in arrived and time.perf_counter() < deadline:
        executor.spin_once(timeout_sec=0.01)
    times = sorted(arrived[s] for s in range(first, last + 1) if s in arrived)
    intervals = list(np.diff(times) * 1e3)
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return intervals, frames, len(times), fps


def _spin_until(executor, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from haze_node within {timeout} s")
        executor.spin_once(timeout_sec=0.01)


def suite_node(sizes: Sequence[Tuple[int, int]], runs: int, args=None) -> List[dict]:
    """Per size and case: node overhead excluding the algorithm (in-process), end-to-end latency over DDS.

    ``args`` (the ``haze_bench`` options) gives ``model`` and ``device`` of the learned cases.
    """
    cases = node_cases(getattr(args, "model", "") or "", getattr(args, "device", "") or "")
    rows, skipped = [], {}
    for size in sizes:
        for case in cases:
            if case.label in skipped:
                continue
            if not case.in_process:
                rows += _cross_process(size, runs, case, dict(case.overrides)["backend"])
                continue
            try:
                row = _in_process_overhead(size, runs, case)
            except (params.ParameterError, BackendError) as exc:  # e.g. no physics model: no learned depth
                skipped[case.label] = str(exc)
                print(f"suite node: skipped {case.mode} ({case.label}): {exc}", file=sys.stderr, flush=True)
                continue
            rows += [row] + _cross_process(size, runs, case, row["backend"])
    return rows
