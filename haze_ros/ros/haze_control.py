"""Haze mode of ``haze_node``: per-frame haze parameters, aligned depth matched by stamp, their topic.

Per frame: the haze parameters (constant visibility/airlight, or the paper's randomisation with a
seed) and, with ``use_depth``, the depth image matched to the frame by stamp
(``depth_sync.DepthSynchronizer``); without a depth topic the physics backend uses its depth-free
flat-road approximation, and the frame's parameters say so (``depth_source``).

The parameters of every published frame go out on ``image_hazed/haze_params`` as a
``diagnostic_msgs/DiagnosticArray`` whose header is the frame's header (same stamp and frame_id)
and whose one status holds ``haze_params_fields`` as key/values. A standard type because no custom
message package can be built here; it has a header (stamp matching, ``ros2 topic echo``, bags) and
typed-by-name key/values, which a ``std_msgs/String`` with JSON would not have.

Message classes are imported where used, so that ROS-free tools (the bag tool) can import
``haze_params_fields`` without rclpy or message packages.
"""

from __future__ import annotations

from dataclasses import replace
from typing import List, Tuple

import numpy as np

from haze_ros.core.types import FrameConditions, HazeParams
from haze_ros.physics import depth as depth_physics
from haze_ros.physics.haze_params import ConstantHaze, PaperRandomHaze
from haze_ros.ros import conversions, depth_sync

DEPTH_TOPIC_SOURCE = "depth_topic"


def haze_params_fields(haze: HazeParams, backend: str) -> List[Tuple[str, str]]:
    """Key/value strings describing one frame's haze (shared with the bag tool's companion topic).

    Keys: ``beta_per_m`` (1/m), ``visibility_m`` (m, β = 3/V), ``airlight_r/g/b`` in [0, 1],
    ``seed`` (``""`` when not sampled), ``depth_source``, ``backend``.
    """
    return [("beta_per_m", f"{haze.beta_per_m:.9g}"), ("visibility_m", f"{haze.visibility_m:.9g}"),
            ("airlight_r", f"{haze.airlight[0]:.9g}"), ("airlight_g", f"{haze.airlight[1]:.9g}"),
            ("airlight_b", f"{haze.airlight[2]:.9g}"), ("seed", "" if haze.seed is None else str(haze.seed)),
            ("depth_source", haze.depth_source), ("backend", backend)]


def haze_params_message(header, haze: HazeParams, backend: str):
    """``DiagnosticArray`` for one frame: the frame's header, one status named ``haze_params``."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(level=DiagnosticStatus.OK, name="haze_params", message=haze.depth_source,
                              hardware_id=header.frame_id,
                              values=[KeyValue(key=k, value=v) for k, v in haze_params_fields(haze, backend)])
    return DiagnosticArray(header=header, status=[status])


def invalid_fraction(depth: np.ndarray) -> float:
    """Fraction of pixels that are NaN, ±inf or negative (float depth); 0 for integer depth."""
    if depth.dtype.kind != "f" or depth.size == 0:
        return 0.0
    return 1.0 - np.count_nonzero(np.isfinite(depth) & (depth >= 0.0)) / depth.size


class HazeControl:
    """Everything haze-mode specific, owned by a ``HazeNode``."""

    def __init__(self, node, values: dict) -> None:
        self.node = node
        self.values = values
        self.source = make_haze_source(values)
        self.sync = None
        if values["use_depth"]:
            self.sync = depth_sync.DepthSynchronizer(
                int(values["depth.sync_tolerance_s"] * 1e9), int(values["depth.max_age_s"] * 1e9),
                buffer_size=values["depth.buffer_size"], max_pending=values["depth.max_pending"])
        self._params_pub = None
        self._frame_index = 0  # index of every image received, the ``frame_index`` of the haze source

    def create_topics(self, out: str, sub_qos, pub_qos, overrides) -> None:
        """Create the ``<out>/haze_params`` publisher, and the ``depth`` subscription with ``use_depth``.

        ``sub_qos`` / ``pub_qos`` make a fresh ``QoSProfile`` per call (overrides are written into it).
        """
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image

        self._params_pub = self.node.create_publisher(DiagnosticArray, f"{out}/haze_params", pub_qos(),
                                                      qos_overriding_options=overrides)
        if self.sync is not None:
            self.depth_sub = self.node.create_subscription(Image, "depth", self._on_depth, sub_qos(),
                                                           qos_overriding_options=overrides)

    def reconfigure(self, values: dict):
        """Take new live values (haze.*, depth.*); returns a reason string if they cannot be used."""
        try:
            source = make_haze_source(values)
        except ValueError as exc:
            return str(exc)
        self.source, self.values = source, values
        if self.sync is not None:
            self.sync.set_limits(int(values["depth.sync_tolerance_s"] * 1e9),
                                 int(values["depth.max_age_s"] * 1e9))
        return None

    # ------------------------------------------------------------------ frames
    def submit(self, header, array, encoding: str, t0: float, raw_msg) -> None:
        """Process a converted frame now (no depth topic), or once its depth is matched."""
        frame = (header, array, encoding, t0, raw_msg, self._frame_index)
        self._frame_index += 1
        if self.sync is None:
            self._run(frame, None)
            return
        stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        result, evicted = self.sync.add_image(stamp, frame)
        for old_frame, old_result in evicted:
            self._fail(old_frame, old_result)
        if result.status == depth_sync.MATCHED:
            self._run(frame, result.depth)
        elif result.status != depth_sync.WAIT:
            self._fail(frame, result)

    def _on_depth(self, msg) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        for frame, result in self.sync.add_depth(stamp, msg):
            if result.status == depth_sync.MATCHED:
                self._run(frame, result.depth)
            else:
                self._fail(frame, result)

    def _fail(self, frame, result: depth_sync.SyncResult) -> None:
        header, array, encoding, _t0, raw_msg, _index = frame
        self.node.reject(result.status, result.detail, raw_msg, header, array, encoding)

    def _depth_metres(self, msg, shape) -> np.ndarray:
        """Depth message → ``(H, W)`` float32 metres (far = inf); raises ``ConversionError``."""
        if (msg.height, msg.width) != tuple(shape[:2]):
            raise conversions.ConversionError(
                "depth_size", f"depth {msg.width}x{msg.height} does not match image {shape[1]}x{shape[0]}")
        raw = conversions.depth_image_to_array(msg)
        bad = invalid_fraction(raw)
        if bad > self.values["depth.max_invalid_fraction"]:
            raise conversions.ConversionError(
                "depth_invalid", f"{bad:.1%} of depth pixels are NaN/inf/negative "
                                 f"(depth.max_invalid_fraction={self.values['depth.max_invalid_fraction']})")
        depth_m = depth_physics.depth_from_ros_image(raw, msg.encoding, self.values["depth.scale_m_per_unit"])
        if self.values["depth.complete_sparse"]:
            depth_m = depth_physics.complete_sparse_depth(depth_m)
        return depth_m

    def _run(self, frame, depth_msg) -> None:
        header, array, encoding, t0, raw_msg, index = frame
        depth_m = None
        if depth_msg is not None:
            try:
                depth_m = self._depth_metres(depth_msg, array.shape)
            except conversions.ConversionError as exc:
                self.node.reject(exc.reason, str(exc), raw_msg, header, array, encoding)
                return
        haze = self.source.params_for(index, header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)
        conditions = FrameConditions(depth_m=depth_m, haze=haze)
        if self.node.process(header, array, encoding, t0, raw_msg, conditions):
            used = conditions.extras.get("depth_source", "none")  # set by depth-aware backends
            source = DEPTH_TOPIC_SOURCE if depth_m is not None and used != "none" else used
            haze = replace(haze, depth_source=source)
            self._params_pub.publish(haze_params_message(header, haze, self.node.processor.backend.name))


def make_haze_source(values: dict):
    """Per-frame haze source (``params_for(frame_index, stamp_ns) -> HazeParams``) from ``haze.*`` values.

    ``haze.randomize``: the paper's randomisation (``PaperRandomHaze``, seeded per frame index);
    else constant β = 3 / ``haze.visibility_m`` and A = ``haze.airlight``.
    """
    if values["haze.randomize"]:
        return PaperRandomHaze(seed=values["haze.seed"],
                               reference_distance_m=values["haze.reference_distance_m"])
    return ConstantHaze(visibility_m=values["haze.visibility_m"], airlight=tuple(values["haze.airlight"]))
