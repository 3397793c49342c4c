"""One bag frame through the shared pipeline: CDR → array → ``FrameProcessor`` → array → CDR.

Decoding and encoding use ``haze_ros.core.image_msgs`` (the node's own conversions, duck-typed so
they work on ``rosbags`` message dataclasses); a matched depth message is decoded and checked by
the node's rule (``hazing.depth_policy.depth_metres``); processing uses
``haze_ros.core.processor`` with a backend from ``haze_ros.backends.factory``: the bag tool has no
image pipeline of its own.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from haze_ros.bags.io import COMPRESSED_TYPE, IMAGE_TYPE
from haze_ros.core import image_msgs
from haze_ros.core.processor import FrameProcessor, FrameRejected
from haze_ros.core.types import FrameConditions, HazeParams
from haze_ros.hazing.depth_policy import DepthPolicy, DepthRejected, depth_metres

LOG = logging.getLogger(__name__)

DEFAULT_JPEG_QUALITY = 90
# IJG / JPEG Annex K luminance quantisation table, natural (row-major) order.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.int64)
_ZIGZAG = [r * 8 + c for r, c in sorted(((r, c) for r in range(8) for c in range(8)),
                                        key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1]))]
_STD_LUMA_ZIGZAG = _STD_LUMA[_ZIGZAG]


def _ijg_table(quality: int) -> np.ndarray:
    """Luminance table libjpeg writes for ``quality`` (1–100), zigzag order."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_STD_LUMA_ZIGZAG * scale + 50) // 100, 1, 255)


def _first_luma_table(data: bytes) -> Optional[np.ndarray]:
    """Return the first 8-bit quantisation table (id 0) of a JPEG stream, zigzag order; ``None`` if absent."""
    pos, end = 2, len(data)
    if data[:2] != b"\xff\xd8":
        return None
    while pos + 4 <= end and data[pos] == 0xFF:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDB:
            seg = data[pos + 4:pos + 2 + length]
            if seg and seg[0] >> 4 == 0 and len(seg) >= 65:
                return np.frombuffer(seg[1:65], np.uint8).astype(np.int64)
            return None
        if marker in (0xDA, 0xD9):  # start of scan / end: no table before it
            return None
        pos += 2 + length
    return None


def estimate_jpeg_quality(data) -> Optional[int]:
    """IJG quality (1–100) whose luminance table matches this JPEG's best; ``None`` if not a JPEG.

    Exact for files written by libjpeg/OpenCV with standard tables; for other encoders the closest
    IJG quality (mean absolute table difference).
    """
    table = _first_luma_table(bytes(data[:4096]))
    if table is None:
        return None
    errors = [np.abs(_ijg_table(q) - table).mean() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


@dataclass
class FrameTask:
    """One image message to process. ``params`` is ``None`` in dehaze mode.

    ``depth`` is the matched depth message as ``(message type, CDR bytes)`` (``None``: no depth),
    decoded with ``depth_policy`` next to the frame.
    """

    index: int
    msgtype: str
    raw: bytes
    params: Optional[HazeParams]
    depth: Optional[Tuple[str, bytes]] = None
    header_ns: int = 0
    depth_policy: Optional[DepthPolicy] = None


@dataclass
class FrameResult:
    """Outcome of one frame: ``raw`` is the output CDR (the input's bytes when ``reason`` is set)."""

    raw: object  # bytes or memoryview
    reason: Optional[str] = None
    detail: str = ""
    backend_ms: float = 0.0
    header: object = None
    depth_label: Optional[str] = None  # FrameConditions.extras["depth_source"] as the backend set it


class FrameCodec:
    """Decode → process → re-encode one message, with the bag's typestore and a ``FrameProcessor``.

    Args:
        processor: the shared pipeline (one per worker thread).
        typestore: rosbags typestore of the input bag (deserialise and serialise with the same types).
        jpeg_quality: JPEG quality for re-encoding; ``None`` = the input frame's estimated quality
            (falling back to ``DEFAULT_JPEG_QUALITY`` when it cannot be read).
    """

    def __init__(self, processor: FrameProcessor, typestore, jpeg_quality: Optional[int] = None) -> None:
        self.processor = processor
        self.typestore = typestore
        self.jpeg_quality = jpeg_quality

    def run(self, task: FrameTask) -> FrameResult:
        """Process ``task``; frames that cannot be decoded or are rejected come back unchanged."""
        try:
            msg = self.typestore.deserialize_cdr(task.raw, task.msgtype)
        except Exception as exc:  # noqa: BLE001 - any serde failure means an undecodable frame
            return FrameResult(task.raw, "undecodable", f"CDR does not deserialise: {exc}")
        conditions = FrameConditions(haze=task.params)
        header = getattr(msg, "header", None)
        try:
            if task.msgtype == IMAGE_TYPE:
                out_msg, ms = self._image(msg, task, conditions)
            elif task.msgtype == COMPRESSED_TYPE:
                out_msg, ms = self._compressed(msg, task, conditions)
            else:
                raise ValueError(f"unsupported message type {task.msgtype}")
        except (image_msgs.ConversionError, DepthRejected, FrameRejected) as exc:
            return FrameResult(task.raw, exc.reason, str(exc), header=header)
        return FrameResult(self.typestore.serialize_cdr(out_msg, task.msgtype), None, "", ms, header,
                           conditions.extras.get("depth_source"))

    def _depth(self, task: FrameTask, image_shape) -> Optional[np.ndarray]:
        """``(H, W)`` float32 metres of the task's depth message (``None`` without one).

        Raises ``DepthRejected`` (``depth_undecodable``, ``depth_size``, ``depth_invalid``) or
        ``image_msgs.ConversionError`` (``bad_depth_encoding`` ...), the node's reasons.
        """
        if task.depth is None:
            return None
        msgtype, raw = task.depth
        try:
            msg = self.typestore.deserialize_cdr(raw, msgtype)
        except Exception as exc:  # noqa: BLE001 - any serde failure means an undecodable depth
            raise DepthRejected("depth_undecodable", f"depth CDR does not deserialise: {exc}") from None
        return depth_metres(image_msgs.depth_image_to_array(msg), msg.encoding, image_shape,
                            task.depth_policy)

    def _image(self, msg, task: FrameTask, conditions: FrameConditions):
        pixels = image_msgs.image_to_array(msg)
        conditions.depth_m = self._depth(task, pixels.shape)
        out = self.processor.process(pixels, msg.encoding, conditions)
        step, data = image_msgs.array_to_image_fields(out.image, msg.encoding)
        out_msg = dataclasses.replace(msg, step=step, data=data,
                                      is_bigendian=int(image_msgs.is_host_bigendian()))
        return out_msg, out.backend_ms

    def _compressed(self, msg, task: FrameTask, conditions: FrameConditions):
        pixels, encoding = image_msgs.decode_compressed(msg.format, msg.data)
        conditions.depth_m = self._depth(task, pixels.shape)
        quality = self.jpeg_quality or estimate_jpeg_quality(msg.data) or DEFAULT_JPEG_QUALITY
        out = self.processor.process(pixels, encoding, conditions)
        _fmt, data = image_msgs.encode_compressed(out.image, encoding, msg.format, quality)
        # keep the input's format string verbatim: same codec, same stored layout
        return dataclasses.replace(msg, data=np.frombuffer(data, np.uint8)), out.backend_ms
