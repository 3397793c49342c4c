"""sensor_msgs Image / CompressedImage ↔ numpy, without per-pixel Python loops.

Duck-typed: ``image_to_array`` reads any object with ``height``, ``width``, ``step``, ``encoding``,
``is_bigendian`` and ``data`` (an rclpy ``sensor_msgs.msg.Image`` whose ``data`` is an
``array.array('B')``, a ``rosbags`` dataclass whose ``data`` is a ``numpy`` uint8 array, or bytes).
Nothing here imports rclpy or a message package (the node and the bag tool share it); building a
new rclpy message is ``haze_ros.ros.conversions.to_image_msg``.

Arrays are ``(H, W, C)`` for multi-channel encodings and ``(H, W)`` for one channel, with the dtype
of ``haze_ros.core.layout.ENCODINGS`` (uint8 or native-endian uint16).
"""

from __future__ import annotations

import array
import sys
from typing import Tuple

import numpy as np

from haze_ros.core import layout

_NATIVE_BIG = sys.byteorder == "big"


class ConversionError(ValueError):
    """A message that cannot be turned into an array. ``reason`` is a stable drop-counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _as_uint8_buffer(data) -> np.ndarray:
    """1-D uint8 view of a message's ``data`` (array.array, bytes, memoryview or ndarray); no copy."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # a plain sequence of ints
        return np.asarray(data, dtype=np.uint8)


def image_to_array(msg) -> np.ndarray:
    """View an Image message's pixels as ``(H, W, C)`` / ``(H, W)`` numpy, honouring ``step``.

    Returns a read-only view of ``msg.data`` where one will do (any row padding is sliced off, not
    copied); 16-bit data whose byte order differs from the host's (``is_bigendian``) is byte-swapped
    into a new native array. Raises ``ConversionError`` with reason ``bad_encoding`` (unknown
    encoding), ``empty`` (zero height or width), ``bad_step`` (step < width·channels·bytes) or
    ``short_data`` (fewer than height·step bytes).
    """
    try:
        channels, dtype, _order = layout.encoding_info(msg.encoding)
    except layout.UnsupportedEncoding as exc:
        raise ConversionError("bad_encoding", str(exc)) from None
    return _pixels(msg, channels, dtype)


DEPTH_ENCODINGS = {"16UC1": np.dtype(np.uint16), "mono16": np.dtype(np.uint16), "32FC1": np.dtype(np.float32)}


def depth_image_to_array(msg) -> np.ndarray:
    """``(H, W)`` array of a depth Image (``16UC1``/``mono16`` uint16 or ``32FC1`` float32 metres).

    Same rules as ``image_to_array`` (view, ``step``, ``is_bigendian``); reason ``bad_depth_encoding``
    for any other encoding. Units are not applied here (see ``physics.depth.depth_from_ros_image``).
    """
    dtype = DEPTH_ENCODINGS.get(msg.encoding)
    if dtype is None:
        raise ConversionError("bad_depth_encoding", f"unsupported depth encoding {msg.encoding!r}; "
                                                    f"supported: {', '.join(DEPTH_ENCODINGS)}")
    return _pixels(msg, 1, dtype)


def _pixels(msg, channels: int, dtype: np.dtype) -> np.ndarray:
    """Pixel array of ``msg`` with ``channels`` x ``dtype`` per pixel (view unless a byte swap is needed)."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ConversionError("empty", f"image has zero size ({width}x{height})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ConversionError("bad_step", f"step {step} < width {width} x {channels} channel(s) x "
                                          f"{dtype.itemsize} byte(s) = {row_bytes} ({msg.encoding})")
    buf = _as_uint8_buffer(msg.data)
    if buf.size < height * step:
        raise ConversionError("short_data", f"data has {buf.size} bytes, height {height} x step {step} "
                                            f"needs {height * step}")
    pixels = buf[:height * step].reshape(height, step)[:, :row_bytes]
    if dtype.itemsize > 1:
        big = bool(msg.is_bigendian)
        pixels = pixels.view(dtype.newbyteorder(">" if big else "<"))
        # the only copy: data in the other byte order than this host's
        pixels = pixels.byteswap().view(dtype) if big != _NATIVE_BIG else pixels.view(dtype)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return pixels.reshape(shape)


def array_to_image_fields(image: np.ndarray, encoding: str) -> Tuple[int, np.ndarray]:
    """``(step, data)`` for an Image message holding ``image`` in ``encoding`` (no row padding).

    ``image`` is ``(H, W, C)`` or ``(H, W)`` with the encoding's dtype; ``data`` is a 1-D uint8
    array in host byte order (set ``is_bigendian`` to ``sys.byteorder == "big"``); it shares memory
    with ``image`` when ``image`` is C-contiguous. Raises ``ValueError`` on a shape/dtype mismatch.
    """
    channels, dtype, _order = layout.encoding_info(encoding)
    if image.dtype != dtype:
        raise ValueError(f"encoding {encoding} needs dtype {dtype}, got {image.dtype}")
    got_channels = 1 if image.ndim == 2 else image.shape[2]
    if image.ndim not in (2, 3) or got_channels != channels:
        raise ValueError(f"encoding {encoding} needs {channels} channel(s), got shape {image.shape}")
    contiguous = np.ascontiguousarray(image)
    step = contiguous.shape[1] * channels * dtype.itemsize
    return step, contiguous.reshape(-1).view(np.uint8)


def is_host_bigendian() -> bool:
    """``True`` on a big-endian host: the value of ``is_bigendian`` for arrays this module writes."""
    return _NATIVE_BIG


def fill_image_msg(msg, image: np.ndarray, encoding: str, header=None):
    """Fill a ``sensor_msgs/Image`` (rclpy's, or any object with its fields) in place; returns ``msg``.

    One copy of the pixels into an ``array.array('B')`` (what rclpy's setter accepts without a
    per-element check). ``header`` (if given) is assigned as is, stamp and frame_id included.
    """
    step, data = array_to_image_fields(image, encoding)
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = _NATIVE_BIG
    msg.step = step
    payload = array.array("B")
    payload.frombytes(data)
    msg.data = payload
    return msg


# --- CompressedImage (image_transport "compressed" format strings) ---------------------------------

_DECODED_ENCODINGS = {  # (channels, dtype) of cv2.imdecode(IMREAD_UNCHANGED) -> encoding
    (1, np.dtype(np.uint8)): "mono8", (3, np.dtype(np.uint8)): "bgr8", (4, np.dtype(np.uint8)): "bgra8",
    (1, np.dtype(np.uint16)): "mono16", (3, np.dtype(np.uint16)): "bgr16",
    (4, np.dtype(np.uint16)): "bgra16",
}
_RGB_TWIN = {"rgb8": "bgr8", "rgba8": "bgra8", "rgb16": "bgr16", "rgba16": "bgra16"}


def parse_compressed_format(fmt: str) -> Tuple[str, str]:
    """``(original_encoding, codec)`` from a CompressedImage ``format`` string.

    Accepts image_transport's ``"rgb8; jpeg compressed bgr8"`` / ``"mono16; png compressed"`` and
    the bare ``"jpeg"``, ``"jpg"``, ``"png"``. ``original_encoding`` is ``""`` when not stated;
    ``codec`` is ``"jpeg"`` or ``"png"``. Raises ``ConversionError("bad_format", ...)`` otherwise.
    """
    original, text = "", (fmt or "").strip()
    if ";" in text:
        original, text = (part.strip() for part in text.split(";", 1))  # keep case: e.g. 16UC1
    text = text.lower()
    codec = text.split()[0] if text else ""
    codec = {"jpg": "jpeg"}.get(codec, codec)
    if codec not in ("jpeg", "png"):
        raise ConversionError("bad_format", f"unsupported CompressedImage format {fmt!r} "
                                            "(expected jpeg or png, e.g. 'rgb8; jpeg compressed bgr8')")
    return original, codec


def decode_compressed(fmt: str, data) -> Tuple[np.ndarray, str]:
    """Decode a CompressedImage (``format``, ``data``) to ``(array, encoding)`` with OpenCV.

    The result is in the original encoding named by ``fmt`` where the decoded layout allows it
    (``rgb8``/``rgba8``/16-bit twins get their channels reversed from OpenCV's BGR; mono stays mono),
    otherwise in the decoded layout: ``bgr8``, ``bgra8``, ``mono8`` (16-bit PNG: ``bgr16``,
    ``bgra16``, ``mono16``). Raises ``ConversionError`` (``bad_format`` or ``decode_failed``).
    """
    import cv2

    original, _codec = parse_compressed_format(fmt)
    buf = _as_uint8_buffer(data)
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if decoded is None:
        raise ConversionError("decode_failed", f"could not decode {buf.size} bytes of {fmt!r}")
    channels = 1 if decoded.ndim == 2 else decoded.shape[2]
    encoding = _DECODED_ENCODINGS.get((channels, decoded.dtype))
    if encoding is None:
        raise ConversionError("decode_failed", f"decoded {decoded.dtype} image with {channels} channels")
    if _RGB_TWIN.get(original) == encoding:
        return np.ascontiguousarray(decoded[..., ::-1] if channels == 3 else
                                    decoded[..., [2, 1, 0, 3]]), original
    if (original, encoding) in (("8UC1", "mono8"), ("16UC1", "mono16")):
        return decoded, original
    return decoded, encoding


def encode_compressed(image: np.ndarray, encoding: str, fmt: str, quality: int = 90) -> Tuple[str, bytes]:
    """Encode ``image`` (in ``encoding``) as a CompressedImage; returns ``(format, data)``.

    ``fmt`` is the format to keep (any string ``parse_compressed_format`` accepts): its codec is
    used and the returned format follows image_transport, e.g. ``"rgb8; jpeg compressed bgr8"``.
    ``quality`` is the JPEG quality 1–100 (PNG: ignored, level 3). JPEG needs 8-bit data.
    """
    import cv2

    _original, codec = parse_compressed_format(fmt)
    channels, dtype, order = layout.encoding_info(encoding)
    if order == "mono":
        bgr = image if image.ndim == 2 else image[..., 0]
        stored = "mono8" if dtype.itemsize == 1 else "mono16"
    elif order == "rgb":
        bgr = image[..., [2, 1, 0, 3]] if channels == 4 else image[..., ::-1]
        stored = _RGB_TWIN[encoding]
    else:
        bgr, stored = image, encoding
    if codec == "jpeg" and dtype.itemsize != 1:
        raise ValueError(f"JPEG needs 8-bit data; {encoding} must be stored as png")
    if codec == "jpeg" and channels == 4:
        bgr, stored = bgr[..., :3], "bgr8"  # JPEG has no alpha channel
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, encoded = cv2.imencode("." + ("jpg" if codec == "jpeg" else "png"), np.ascontiguousarray(bgr), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {encoding} image as {codec}")
    return f"{encoding}; {codec} compressed {stored}", encoded.tobytes()
