"""``haze_node``: dehaze camera images, or inject synthetic haze, on ROS 2 topics.

Start-up order (DESIGN.md, data flow): declare parameters (no defaults here: the params file holds
them) → build the backend through ``create_backend(BackendSpec(...))`` and the ``FrameProcessor``,
run one warm-up frame → only then create publishers, subscriptions and timers. A failure names the
parameter at fault and the process exits with status 1.

Topics (relative, remappable): in ``image_raw`` (Image) or ``image_raw/compressed``
(CompressedImage), ``camera_info``, ``depth`` (haze mode with ``depth_source: topic``); out ``image_dehazed``
or ``image_hazed`` (Image, input header and encoding), ``<out>/camera_info``, and in haze mode
``image_hazed/haze_params`` (diagnostic_msgs/DiagnosticArray, stamp = the frame's stamp).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Dict, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from haze_ros.backends.factory import create_backend
from haze_ros.backends.model_identity import model_identity
from haze_ros.core import image_msgs
from haze_ros.core.backend import BackendError, BackendSpec
from haze_ros.core.exit_status import EXIT_SIGINT, StopSignals
from haze_ros.core.params_file import backend_knobs, runtime_options
from haze_ros.core.processor import FrameProcessor, FrameRejected, ProcessorConfig
from haze_ros.core.types import Direction
from haze_ros.export.onnx_session import usable_cores
from haze_ros.hazing.depth_policy import check_depth_source
from haze_ros.ros import conversions, params
from haze_ros.ros.diagnostics import FrameStats, format_summary, to_diagnostic_array
from haze_ros.ros.frame_pipeline import FrameJob, FramePipeline
from haze_ros.ros.haze_control import HazeControl

OUTPUT_TOPIC = {"dehaze": "image_dehazed", "haze": "image_hazed"}
BAD_FRAME_LOG_PERIOD_S = 2.0  # at most one "bad frame" warning per reason in this period
CLASSICAL_BACKENDS = ("physics", "dcp")  # take their options from dcp.* / depth_free.*, not runtime.*
# REP-2003 QoS overrides (``qos_overrides.<topic>.<publisher|subscription>.<policy>``): rclpy's
# ``with_default_policies()`` plus durability, e.g. a transient-local camera_info.
OVERRIDABLE_QOS_POLICIES = (QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY,
                            QoSPolicyKind.DURABILITY)


AUTO_WORKERS = 0  # inference_workers: 0 = two frames in flight on ONNX Runtime's CPU backend, else one


def planned_workers(requested: int, cores: int) -> int:
    """Workers to build for ``inference_workers`` = ``requested`` on ``cores`` usable cores.

    0 (automatic) plans 2 where there are at least 2 cores (one-thread sessions keep both busy:
    ``scripts/bench_ort_workers.py``); the node falls back to 1 when the backend is not ONNX Runtime
    on the CPU. Otherwise ``requested`` itself.
    """
    if requested == AUTO_WORKERS:
        return 2 if cores >= 2 else 1
    return requested


@dataclass(frozen=True)
class Outcome:
    """What became of one frame: ``processed``, else dropped or ``passed_through`` with ``reason``."""

    processed: bool
    reason: str = ""
    passed_through: bool = False


class HazeNode(Node):
    """One node for both modes; what runs per frame is fixed at start-up."""

    def __init__(self, node_name: str = "haze_node", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        mode = params.declare_all(self, [params.BY_NAME["mode"]])["mode"]
        self.values = params.declare_all(self, [s for s in params.specs_for_mode(mode) if s.name != "mode"])
        self.values["mode"] = mode
        self.mode = mode
        if mode == "haze":
            self._apply_deprecated_use_depth()
        self.stats = FrameStats()
        self._last_bad_frame_log: Dict[str, float] = {}  # reason -> monotonic time of its last warning
        if mode == "haze":  # the backend/depth_source pairing by name, before any model is loaded
            self._check_depth_source(self.values["backend"])
        self._pipeline: Optional[FramePipeline] = None
        requested = int(self.values.get("inference_workers", 1))
        workers = planned_workers(requested, usable_cores())
        self.processor, self.backend_notes = self._build_processor(workers)
        self.processors = [self.processor]
        self.haze: Optional[HazeControl] = None
        try:
            self.model = model_identity(self.processor.backend.name, self.values["model_path"])
            if self.model.path:
                self.get_logger().info(f"model {self.model.path} (sha256 {self.model.sha256})")
            if mode == "haze":
                backend = self.processor.backend
                self._check_depth_source(backend.name, bool(getattr(backend, "conditioned", False)))
                self.haze = HazeControl(self, self.values, self.model.sha256)
            if requested == AUTO_WORKERS and not self._runs_on_ort_cpu():
                workers = 1  # automatic: frames in flight only pay off on ONNX Runtime's CPU threads
            if workers > 1:
                self._start_pipeline(workers, requested)
        except (ValueError, OSError):  # ParameterError, HazeSourceError; a model file gone meanwhile
            for processor in self.processors:
                processor.backend.close()
            raise
        self._create_topics()
        self._last_log = time.monotonic()
        self._diag_timer = self.create_timer(self.values["diagnostics_period_s"], self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def announce_ready(self) -> None:
        """Log the ``ready:`` line.

        Called by :func:`_run` once it holds the node object, so a stop signal after this line
        always counts as stopping a running node (exit status 0).
        """
        depth = f", depth_source={self.haze.depth_source}" if self.haze is not None else ""
        self.get_logger().info(f"ready: mode={self.values['mode']}, backend={self.processor.backend.name}"
                               f"{depth}, input {self._image_sub.topic_name} -> output "
                               f"{self._image_pub.topic_name}")

    # ------------------------------------------------------------------ start-up
    def _check_depth_source(self, backend: str, conditioned: bool = True) -> None:
        """``ParameterError`` when ``depth_source`` and the haze backend do not go together."""
        reason = check_depth_source(self.values["depth_source"], backend, conditioned)
        if reason:
            raise params.ParameterError(f"parameter {reason} (backend={self.values['backend']!r}, "
                                        f"model_path={self.values['model_path']!r})")

    def _apply_deprecated_use_depth(self) -> None:
        """Honour the old ``use_depth`` (true = ``depth_source: topic``) with a deprecation warning."""
        use_depth = params.declare_deprecated(self, "use_depth")
        if use_depth is None:
            return
        wanted = "topic" if use_depth else "flat_road"
        self.get_logger().warning(f"parameter use_depth is deprecated: use depth_source (use_depth="
                                  f"{use_depth} -> depth_source={wanted!r}; it overrides depth_source="
                                  f"{self.values['depth_source']!r})")
        self.values["depth_source"] = wanted

    def _build_processor(self, workers: int = 1):
        """The backend and its ``FrameProcessor``, warmed up; ``(processor, selection notes)``.

        With ``workers`` > 1 (``inference_workers``) an automatic ONNX Runtime thread count is
        split between the workers' sessions (``runtime.intra_op_threads`` 0 → cores / workers).
        """
        v = self.values
        learned = v["backend"] not in CLASSICAL_BACKENDS
        options = runtime_options(v) if learned else {}
        if learned and workers > 1:
            options["intra_op_threads"] = self._worker_threads(workers)
        spec = BackendSpec(name=v["backend"], direction=Direction(self.mode), model_path=v["model_path"],
                           device=v["device"], precision=v["precision"], options=options)
        try:
            backend, notes = create_backend(spec)
        except BackendError as exc:
            raise params.ParameterError(f"parameter backend={v['backend']!r} (model_path="
                                        f"{v['model_path']!r}, device={v['device']!r}): {exc}") from exc
        for note in notes:
            self.get_logger().info(f"backend selection: {note}")
        if v["device"] not in ("", "cpu") and backend.name in CLASSICAL_BACKENDS:
            self.get_logger().warning(f"device={v['device']!r} is ignored: backend {backend.name!r} runs on "
                                      "the CPU")
        knobs = backend_knobs(v)
        tunables = backend.tunables()
        ignored = sorted(k for k in knobs if k not in tunables)
        if ignored:
            self.get_logger().info(f"backend {backend.name!r} does not use {ignored}")
        try:
            backend.configure(**{k: val for k, val in knobs.items() if k in tunables})
            backend.warm_up(v["warmup_height"], v["warmup_width"])
        except ValueError as exc:
            backend.close()
            raise params.ParameterError(f"backend {backend.name!r} refused its parameters: {exc}") from exc
        except Exception:
            backend.close()
            raise
        processor = FrameProcessor(backend, ProcessorConfig(max_pixels=v["max_pixels"]))
        return processor, notes

    def _worker_threads(self, workers: int) -> int:
        """Intra-op threads of each worker's session: ``runtime.intra_op_threads``, 0 → cores / workers."""
        return runtime_options(self.values).get("intra_op_threads") or max(1, usable_cores() // workers)

    def _runs_on_ort_cpu(self) -> bool:
        backend = self.processor.backend
        return backend.name == "onnxruntime" and getattr(backend, "device", "cpu") == "cpu"

    def _start_pipeline(self, workers: int, requested: int) -> None:
        """More than one worker: a backend per worker and the pipeline (ONNX Runtime CPU only)."""
        backend = self.processor.backend
        device = getattr(backend, "device", "cpu")
        if not self._runs_on_ort_cpu():
            raise params.ParameterError(
                f"parameter inference_workers={workers}: frames in flight at once need the ONNX Runtime "
                f"CPU backend (mode={self.mode!r}, backend={backend.name!r}, device={device!r}); use 1")
        for _ in range(workers - 1):
            self.processors.append(self._build_processor(workers)[0])
        self._pipeline = FramePipeline(self, self.processors, self._finish_job)
        asked = f"inference_workers={requested} (automatic) -> {workers}" if requested == AUTO_WORKERS \
            else f"inference_workers={workers}"
        self.get_logger().info(f"{asked}: {workers} ONNX Runtime sessions of "
                               f"{self._worker_threads(workers)} "
                               "intra-op thread(s), frames published in arrival order")

    def _create_topics(self) -> None:
        depth = self.values["queue_depth"]

        def sub_qos() -> QoSProfile:
            return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                              reliability=qos_profile_sensor_data.reliability,
                              durability=qos_profile_sensor_data.durability)

        def pub_qos() -> QoSProfile:
            return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                              reliability=ReliabilityPolicy.RELIABLE)

        # A fresh profile for every publisher/subscription: rclpy writes a topic's QoS override into
        # the profile object it is given, so a shared object would carry one topic's override to all.
        overrides = QoSOverridingOptions(policy_kinds=OVERRIDABLE_QOS_POLICIES)
        out = OUTPUT_TOPIC[self.mode]
        self._image_pub = self.create_publisher(Image, out, pub_qos(), qos_overriding_options=overrides)
        self._info_pub = self.create_publisher(CameraInfo, f"{out}/camera_info", pub_qos(),
                                               qos_overriding_options=overrides)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        if self.values["input_transport"] == "compressed":
            self._image_sub = self.create_subscription(CompressedImage, "image_raw/compressed",
                                                       self._on_compressed,
                                                       sub_qos(), qos_overriding_options=overrides)
        else:
            self._image_sub = self.create_subscription(Image, "image_raw", self._on_image, sub_qos(),
                                                       qos_overriding_options=overrides)
        self._info_sub = self.create_subscription(CameraInfo, "camera_info", self._info_pub.publish,
                                                  sub_qos(), qos_overriding_options=overrides)
        if self.haze is not None:
            self.haze.create_topics(out, sub_qos, pub_qos, overrides)

    # ------------------------------------------------------------------ frames
    def _on_image(self, msg: Image) -> None:
        t0 = time.perf_counter()
        self.stats.on_received()
        try:
            array = image_msgs.image_to_array(msg)
        except image_msgs.ConversionError as exc:
            self._refuse_unconverted(msg.header, t0, msg, exc)
            return
        self.submit(msg.header, array, msg.encoding, t0, msg)

    def _on_compressed(self, msg: CompressedImage) -> None:
        t0 = time.perf_counter()
        self.stats.on_received()
        try:
            array, encoding = image_msgs.decode_compressed(msg.format, msg.data)
        except image_msgs.ConversionError as exc:
            self._refuse_unconverted(msg.header, t0, None, exc)  # a CompressedImage is not passed through
            return
        self.submit(msg.header, array, encoding, t0, None)

    def _refuse_unconverted(self, header, t0: float, raw_msg, exc: image_msgs.ConversionError) -> None:
        """An image that cannot be converted: dropped, or ``raw_msg`` passed through, in its place."""
        if self.haze is None:
            self.refuse(FrameJob(header, None, None, t0, raw_msg), exc.reason, str(exc))
        else:
            self.haze.refuse(header, t0, raw_msg, exc.reason, str(exc))

    def submit(self, header, array, encoding: str, t0: float, raw_msg) -> None:
        """Hand a converted frame on: straight to ``process`` (dehaze), or via haze control (haze mode)."""
        if self.haze is None:
            self.process(header, array, encoding, t0, raw_msg, None)
        else:
            self.haze.submit(header, array, encoding, t0, raw_msg)

    def process(self, header, array, encoding: str, t0: float, raw_msg, conditions,
                on_outcome=None) -> Optional[Outcome]:
        """Run the processor on one frame and publish the result; bad frames are counted, never raised.

        ``on_outcome(outcome)``, if given, is called once the frame is published or dropped. With
        ``inference_workers`` > 1 the frame goes to the pipeline and this returns None:
        :meth:`_finish_job` publishes it later, in input order, on the executor thread.
        """
        job = FrameJob(header, array, encoding, t0, raw_msg, conditions, on_outcome)
        if self._pipeline is not None:
            self._pipeline.submit(job)
            return None
        try:
            result = self.processor.process(array, encoding, conditions)
        except Exception as exc:  # noqa: BLE001 - a bad frame or a backend failure must not kill the node
            return self._finish_job(job, None, exc)
        return self._finish_job(job, result, None)

    def refuse(self, job: FrameJob, reason: str, detail: str) -> None:
        """A frame refused before processing: dropped or passed through in its place in the output order."""
        error = FrameRejected(reason, detail)
        if self._pipeline is not None:
            self._pipeline.submit_refused(job, error)
        else:
            self._finish_job(job, None, error)

    def _finish_job(self, job: FrameJob, result, error: Optional[BaseException]) -> Outcome:
        """Publish ``result`` (a ``ProcessedFrame``) or count the frame under its drop reason."""
        if isinstance(error, FrameRejected):
            outcome = self.reject(error.reason, str(error), job.raw_msg, job.header, job.array, job.encoding)
        elif error is not None:
            self.get_logger().error(f"backend {self.processor.backend.name} failed on a frame: {error!r}",
                                    throttle_duration_sec=5.0)
            outcome = self.reject("backend_error", repr(error), job.raw_msg, job.header, job.array,
                                  job.encoding)
        else:
            self._image_pub.publish(conversions.to_image_msg(result.image, job.encoding, job.header))
            self.stats.on_processed((time.perf_counter() - job.t0) * 1e3, result.backend_ms)
            outcome = Outcome(True)
        if job.on_outcome is not None:
            job.on_outcome(outcome)
        return outcome

    def reject(self, reason: str, detail: str, raw_msg=None, header=None, array=None,
               encoding=None) -> Outcome:
        """Count a bad frame under ``reason``; publish it unchanged if ``passthrough_bad_frames``."""
        passthrough = bool(self.values["passthrough_bad_frames"])
        published = False
        if passthrough and raw_msg is not None:
            self._image_pub.publish(raw_msg)
            published = True
        elif passthrough and array is not None and header is not None:
            try:
                self._image_pub.publish(conversions.to_image_msg(array, encoding, header))
                published = True
            except ValueError:
                published = False
        self.stats.on_dropped(reason, detail, passed_through=published)
        outcome = "passed through" if published else "dropped"
        now = time.monotonic()  # throttled per reason, so one flood cannot hide another reason
        if now - self._last_bad_frame_log.get(reason, -math.inf) >= BAD_FRAME_LOG_PERIOD_S:
            self._last_bad_frame_log[reason] = now
            self.get_logger().warning(f"bad frame ({reason}): {detail} — {outcome}")
        return Outcome(False, reason, published)

    # ------------------------------------------------------------------ observability
    def _publish_diagnostics(self) -> None:
        summary = self.stats.snapshot()
        backend = self.processor.backend
        info = {"mode": self.mode, "backend": backend.name, "device": backend.device,
                "input": self._image_sub.topic_name, "output": self._image_pub.topic_name,
                "backend_notes": " | ".join(self.backend_notes), "model_path": self.model.path,
                "model_sha256": self.model.sha256}
        if self.haze is not None:
            info["depth_source"] = self.haze.depth_source
        self._diag_pub.publish(to_diagnostic_array(
            summary, f"{self.get_name()}: haze_ros {self.mode}", self.get_fully_qualified_name(), info,
            self.stats.last_drop, self.get_clock().now().to_msg()))
        now = time.monotonic()
        if now - self._last_log >= self.values["log_period_s"]:
            self._last_log = now
            self.get_logger().info(format_summary(summary))

    # ------------------------------------------------------------------ live parameters
    def _on_set_parameters(self, changed) -> SetParametersResult:
        changes = {p.name: p.value for p in changed}
        reason = params.validate_changes(changes)
        if reason is None:
            reason = self._apply_changes(changes)
        if reason is not None:
            self.get_logger().warning(f"parameter change refused: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_changes(self, changes: dict) -> Optional[str]:
        """Apply validated changes atomically; a reason string if the backend refuses them."""
        knobs = backend_knobs(changes)
        if knobs:
            unknown = sorted(set(knobs) - set(self.processor.backend.tunables()))
            if unknown:
                return f"backend {self.processor.backend.name!r} has no tunable {unknown}"
            try:
                for processor in self.processors:
                    processor.backend.configure(**knobs)
            except ValueError as exc:
                return f"backend refused {knobs}: {exc}"
        new_values = dict(self.values)
        new_values.update({k: v for k, v in changes.items() if k in params.BY_NAME})
        if self.haze is not None:
            reason = self.haze.reconfigure(new_values)
            if reason:
                return reason
        if new_values["diagnostics_period_s"] != self.values["diagnostics_period_s"]:
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(new_values["diagnostics_period_s"],
                                                 self._publish_diagnostics)
        self.values = new_values
        return None

    def destroy_node(self) -> None:
        """Close the backend (sessions, engines) and destroy the node."""
        if getattr(self, "_pipeline", None) is not None:
            self._pipeline.close()  # waits for the frames in flight
        for processor in getattr(self, "processors", []):
            processor.backend.close()
        super().destroy_node()


def _run(args, stop: StopSignals) -> int:
    """rclpy.init → build the node → spin; the exit status (see :func:`main`)."""
    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: BLE001 - RCLError's module differs by distro (e.g. a bad params file)
        print(f"haze_node: cannot start: rclpy.init failed (check --params-file and the --ros-args): "
              f"{str(exc).strip()}", file=sys.stderr)
        return 1
    logger = rclpy.logging.get_logger("haze_node")
    node = None
    status = 0
    try:
        try:
            node = HazeNode()
        except (params.ParameterError, BackendError, ValueError) as exc:
            logger.fatal(f"cannot start: {exc}")
            return stop.exit_status(1)  # 130 / 143 if a stop signal (which shuts rclpy down) caused it
        except Exception as exc:  # e.g. a runtime failing in the warm-up frame
            logger.fatal(f"cannot start (backend set-up or warm-up): {exc!r}")
            return stop.exit_status(1)
        node.announce_ready()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):  # SIGINT/SIGTERM (or rclpy shut down)
        # the normal way to stop a running node is a clean exit; during start-up it is an interruption
        status = 0 if node is not None else stop.exit_status(EXIT_SIGINT)
    finally:
        stop.hold()  # a second signal during the shutdown is only recorded
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return status


def main(args=None) -> int:
    """Entry point of ``haze_node`` / ``python -m haze_ros.ros.node --ros-args ...``; exit status.

    0 stopped by SIGINT (Ctrl-C, what ``ros2 launch`` sends first), SIGTERM or an external shutdown
    once the node is running; 1 cannot start (the parameter at fault is logged); 130 / 143 when
    SIGINT / SIGTERM came during start-up (rclpy.init, backend set-up, warm-up).

    The stop signals are taken by :class:`~haze_ros.core.exit_status.StopSignals`, installed before
    ``rclpy.init()`` (whose handlers chain to them): a plain ``KeyboardInterrupt`` raised inside
    ``exec()``'d code (``@dataclass`` while a backend is imported lazily) would end a
    ``python -m`` run with SIGINT (status -2) whatever this returns (issue 12). Written for Humble
    as well as Jazzy/Kilted: ``rclpy.init()`` is not used as a context manager (Humble's returns None).
    """
    with StopSignals() as stop:
        try:
            return _run(args, stop)
        except KeyboardInterrupt:  # landed outside _run's try (before or inside rclpy.init)
            rclpy.try_shutdown()
            return stop.exit_status(EXIT_SIGINT)


if __name__ == "__main__":
    sys.exit(main())
