"""Haze mode of ``haze_node``: per-frame haze parameters, aligned depth matched by stamp, their topic.

The haze-mode rules are ROS-free and shared with ``haze_bag`` (``haze_ros.hazing``): the haze
source factory (``hazing.sources.make_haze_source``, from the ``haze.*`` parameters), the depth
decode-and-check policy (``hazing.depth_policy``, from ``depth_source`` and ``depth.*``) and the
per-frame record (``hazing.record.HazeRecord``). This module adds the rclpy parts: the ``depth``
subscription matched by stamp (``depth_sync.DepthSynchronizer``, with ``depth_source: topic``) and
the record's publisher.

Every frame published on ``image_hazed`` gets one ``image_hazed/haze_params`` message
(``diagnostic_msgs/DiagnosticArray``, header = the frame's header): ``applied: true`` for a hazed
frame, ``applied: false`` (level WARN, the drop reason as message) for a bad frame published
unchanged with ``passthrough_bad_frames``. Dropped frames publish nothing.

Message classes are imported where used, so that ROS-free code can import this module.
"""

from __future__ import annotations

from haze_ros.core import image_msgs
from haze_ros.core.types import FrameConditions
from haze_ros.hazing import depth_policy as dp
from haze_ros.hazing import depth_sync
from haze_ros.hazing.record import STATUS_NAME, HazeRecord, stamp_to_ns
from haze_ros.hazing.sources import HazeSourceError, make_haze_source
from haze_ros.ros.frame_pipeline import FrameJob


def haze_params_message(header, record: HazeRecord):
    """``DiagnosticArray`` (rclpy) for one frame: the frame's header, one status named ``haze_params``."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(level=bytes([record.level]), name=STATUS_NAME, message=record.message,
                              hardware_id=header.frame_id,
                              values=[KeyValue(key=k, value=v) for k, v in record.values()])
    return DiagnosticArray(header=header, status=[status])


class HazeControl:
    """Everything haze-mode specific, owned by a ``HazeNode``.

    ``model_sha256`` is the SHA-256 of the learned backend's model file (``backends.model_identity``;
    ``""`` for the physics backend), written into every record. Raises ``ValueError``
    (``HazeSourceError``) at construction when the ``haze.*`` values make no haze source.
    """

    def __init__(self, node, values: dict, model_sha256: str = "") -> None:
        self.node = node
        self.values = values
        self.model_sha256 = model_sha256
        self.depth_source = values["depth_source"]
        self.policy = dp.DepthPolicy.from_values(values)
        self._origin_ns = None  # stamp of the first frame: where a ``unit: seconds`` schedule starts
        self.source = make_haze_source(values)  # checked now; made again at the first frame (origin)
        self.sync = None
        if self.depth_source == dp.TOPIC:
            self.sync = depth_sync.DepthSynchronizer(
                int(values["depth.sync_tolerance_s"] * 1e9), int(values["depth.max_age_s"] * 1e9),
                buffer_size=values["depth.buffer_size"], max_pending=values["depth.max_pending"])
        self._params_pub = None
        self._frame_index = 0  # index of every image received (bad ones too), as haze_bag counts them

    def create_topics(self, out: str, sub_qos, pub_qos, overrides) -> None:
        """Create the ``<out>/haze_params`` publisher, and the ``depth`` subscription for ``topic``.

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
            source = make_haze_source(values, self._origin_ns)
        except HazeSourceError as exc:
            return str(exc)
        self.source, self.values = source, values
        self.policy = dp.DepthPolicy.from_values(values)
        if self.sync is not None:
            self.sync.set_limits(int(values["depth.sync_tolerance_s"] * 1e9),
                                 int(values["depth.max_age_s"] * 1e9))
        return None

    # ------------------------------------------------------------------ frames
    def _draw(self, header):
        """``(stamp [ns], HazeParams)`` of the next received image: from its index and its stamp."""
        stamp = stamp_to_ns(header.stamp)
        if self._origin_ns is None:
            self._origin_ns = stamp
            self.source = make_haze_source(self.values, self._origin_ns)
        haze = self.source.params_for(self._frame_index, stamp)
        self._frame_index += 1
        return stamp, haze

    def refuse(self, header, t0: float, raw_msg, reason: str, detail: str) -> None:
        """An image that could not be converted: it takes a frame index and its draw, as in ``haze_bag``.

        Passed through (``passthrough_bad_frames``), it gets its ``applied: false`` record.
        """
        _stamp, haze = self._draw(header)
        self._reject((header, None, None, t0, raw_msg, haze), reason, detail)

    def submit(self, header, array, encoding: str, t0: float, raw_msg) -> None:
        """Process a converted frame now (no depth topic), or once its depth is matched.

        The frame's haze is drawn on arrival, from its index among the received images and its stamp.
        """
        stamp, haze = self._draw(header)
        frame = (header, array, encoding, t0, raw_msg, haze)
        if self.sync is None:
            self._run(frame, None)
            return
        result, evicted = self.sync.add_image(stamp, frame)
        for old_frame, old_result in evicted:
            self._reject(old_frame, old_result.status, old_result.detail)
        if result.status == depth_sync.MATCHED:
            self._run(frame, result.depth)
        elif result.status != depth_sync.WAIT:
            self._reject(frame, result.status, result.detail)

    def _on_depth(self, msg) -> None:
        for frame, result in self.sync.add_depth(stamp_to_ns(msg.header.stamp), msg):
            if result.status == depth_sync.MATCHED:
                self._run(frame, result.depth)
            else:
                self._reject(frame, result.status, result.detail)

    def _reject(self, frame, reason: str, detail: str) -> None:
        header, array, encoding, t0, raw_msg, haze = frame
        self.node.refuse(FrameJob(header, array, encoding, t0, raw_msg,
                                  on_outcome=self._recorder(header, haze, None, None)), reason, detail)

    def _run(self, frame, depth_msg) -> None:
        header, array, encoding, t0, raw_msg, haze = frame
        depth_m = None
        if depth_msg is not None:
            try:
                depth_m = dp.depth_metres(image_msgs.depth_image_to_array(depth_msg), depth_msg.encoding,
                                          array.shape, self.policy)
            except (image_msgs.ConversionError, dp.DepthRejected) as exc:
                self._reject(frame, exc.reason, str(exc))
                return
        conditions = FrameConditions(depth_m=depth_m, haze=haze)
        self.node.process(header, array, encoding, t0, raw_msg, conditions,
                          self._recorder(header, haze, depth_m, conditions))

    def _recorder(self, header, haze, depth_m, conditions):
        """``on_outcome`` of one frame: publish its ``haze_params`` record when the frame was published.

        Called on the executor thread once the frame is finished (at once, or in input order with
        ``inference_workers`` > 1); ``conditions.extras`` then holds what the backend reported.
        """
        def record(outcome) -> None:
            backend = self.node.processor.backend.name
            if outcome.processed:
                label = dp.record_label(depth_m is not None, conditions.extras.get("depth_source"),
                                        self.depth_source)
                self._publish(header, HazeRecord(haze, backend, label, model_sha256=self.model_sha256))
            elif outcome.passed_through:
                self._publish(header, HazeRecord(haze, backend, dp.RECORD_LABELS[self.depth_source],
                                                 applied=False, reason=outcome.reason,
                                                 model_sha256=self.model_sha256))
        return record

    def _publish(self, header, record: HazeRecord) -> None:
        self._params_pub.publish(haze_params_message(header, record))
