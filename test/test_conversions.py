"""Image / CompressedImage conversions: every encoding, padded steps, byte order, round trips, errors.

``core.image_msgs`` (ROS-free) and ``ros.conversions.to_image_msg`` (rclpy messages).
"""

import sys
import types

import numpy as np
import pytest

from haze_ros.core import layout
from haze_ros.core import image_msgs as conv

RNG = np.random.default_rng(7)
H, W = 5, 7


def _pixels(encoding):
    channels, dtype, _ = layout.ENCODINGS[encoding]
    shape = (H, W) if channels == 1 else (H, W, channels)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)


def _message(pixels, encoding, pad=0, bigendian=False, as_bytes=True):
    """A duck-typed Image (same fields as sensor_msgs/Image) with ``pad`` bytes after each row."""
    channels, dtype, _ = layout.ENCODINGS[encoding]
    ordered = pixels.astype(dtype.newbyteorder(">" if bigendian else "<"))
    rows = ordered.reshape(H, -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((H, pad), 0xAB, np.uint8)], axis=1)
    data = padded.tobytes() if as_bytes else padded.reshape(-1)
    return types.SimpleNamespace(height=H, width=W, encoding=encoding, is_bigendian=bigendian,
                                 step=rows.shape[1] + pad, data=data)


@pytest.mark.parametrize("encoding", sorted(layout.ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_every_encoding_step_and_byte_order(encoding, pad, bigendian):
    pixels = _pixels(encoding)
    out = conv.image_to_array(_message(pixels, encoding, pad, bigendian))
    assert out.dtype == layout.ENCODINGS[encoding][1] and out.dtype.isnative
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize("encoding", sorted(layout.ENCODINGS))
def test_round_trip_through_fields(encoding):
    pixels = _pixels(encoding)
    step, data = conv.array_to_image_fields(pixels, encoding)
    msg = types.SimpleNamespace(height=H, width=W, encoding=encoding, step=step,
                                is_bigendian=conv.is_host_bigendian(), data=data)
    np.testing.assert_array_equal(conv.image_to_array(msg), pixels)


def test_view_without_copy_for_native_data_and_rosbags_style_arrays():
    pixels = _pixels("rgb8")
    msg = _message(pixels, "rgb8", pad=4, as_bytes=False)  # rosbags: data is a numpy uint8 array
    out = conv.image_to_array(msg)
    assert np.shares_memory(out, msg.data)
    np.testing.assert_array_equal(out, pixels)
    native16 = _message(_pixels("mono16"), "mono16", bigendian=sys.byteorder == "big", as_bytes=False)
    assert np.shares_memory(conv.image_to_array(native16), native16.data)


def test_swapped_16bit_is_a_native_copy():
    pixels = _pixels("bgr16")
    msg = _message(pixels, "bgr16", bigendian=sys.byteorder != "big", as_bytes=False)
    out = conv.image_to_array(msg)
    assert not np.shares_memory(out, msg.data) and out.dtype.isnative


@pytest.mark.parametrize("mutate, reason", [
    (dict(data=b"\x00" * (H * W * 3 - 1)), "short_data"),
    (dict(encoding="yuv422_yuy2"), "bad_encoding"),
    (dict(height=0), "empty"),
    (dict(width=0), "empty"),
    (dict(step=W * 3 - 1), "bad_step"),
])
def test_bad_messages_give_reasons(mutate, reason):
    msg = _message(_pixels("rgb8"), "rgb8")
    for key, value in mutate.items():
        setattr(msg, key, value)
    with pytest.raises(conv.ConversionError) as info:
        conv.image_to_array(msg)
    assert info.value.reason == reason


def test_depth_encodings():
    depth = RNG.random((H, W), dtype=np.float32) * 50
    msg = types.SimpleNamespace(height=H, width=W, encoding="32FC1", is_bigendian=True, step=W * 4 + 8,
                                data=np.pad(depth.astype(">f4").view(np.uint8), ((0, 0), (0, 8))).tobytes())
    np.testing.assert_array_equal(conv.depth_image_to_array(msg), depth)
    msg.encoding = "rgb8"
    with pytest.raises(conv.ConversionError, match="depth encoding") as info:
        conv.depth_image_to_array(msg)
    assert info.value.reason == "bad_depth_encoding"


def test_rclpy_message_round_trip_keeps_header():
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from haze_ros.ros.conversions import to_image_msg

    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    for encoding in ("bgra8", "mono16", "rgb16"):
        pixels = _pixels(encoding)
        msg = to_image_msg(pixels, encoding, header)
        assert isinstance(msg, Image) and msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 345
        assert msg.encoding == encoding and msg.step * msg.height == len(msg.data)
        np.testing.assert_array_equal(conv.image_to_array(msg), pixels)


@pytest.mark.parametrize("fmt", ["rgb8; jpeg compressed bgr8", "jpeg", "bgr8; png compressed bgr8", "png"])
def test_compressed_round_trip_keeps_format_and_encoding(fmt):
    ramp = np.broadcast_to(np.linspace(0, 255, 32)[None, :], (16, 32))
    smooth = np.stack([ramp, np.full_like(ramp, 90), 255 - ramp], axis=-1).astype(np.uint8)  # R != B
    encoding = "rgb8" if fmt.startswith("rgb8") else "bgr8"
    out_fmt, data = conv.encode_compressed(smooth, encoding, fmt, quality=95)
    codec = "png" if "png" in fmt else "jpeg"
    assert out_fmt.startswith(f"{encoding}; {codec} compressed")
    decoded, decoded_encoding = conv.decode_compressed(out_fmt, data)
    assert decoded_encoding == encoding and decoded.shape == smooth.shape
    error = np.abs(decoded.astype(int) - smooth).mean()
    assert error == 0 if codec == "png" else error < 6  # a channel swap would give ~ 85


def test_compressed_16bit_png_and_errors():
    pixels = _pixels("mono16")
    fmt, data = conv.encode_compressed(pixels, "mono16", "png")
    decoded, encoding = conv.decode_compressed(fmt, data)
    assert encoding == "mono16"
    np.testing.assert_array_equal(decoded, pixels)
    with pytest.raises(conv.ConversionError) as info:
        conv.decode_compressed("16UC1; compressedDepth", data)
    assert info.value.reason == "bad_format"
    with pytest.raises(conv.ConversionError) as info:
        conv.decode_compressed("jpeg", b"not a jpeg")
    assert info.value.reason == "decode_failed"
