"""FrameProcessor and core.layout tests.

Every encoding round-trips exactly through an identity backend; padded / strided inputs, alpha,
mono, 16-bit, rejected frames; the classical backends give the same image whatever the channel
order of the input.
"""

import numpy as np
import pytest

from haze_ros.backends.classical import IdentityBackend
from haze_ros.backends.factory import create_backend
from haze_ros.core import layout
from haze_ros.core.backend import BackendSpec
from haze_ros.core.processor import FrameProcessor, FrameRejected, ProcessorConfig
from haze_ros.core.types import Direction, FrameConditions, HazeParams

RNG = np.random.default_rng(3)
H, W = 9, 13


def _frame(encoding, height=H, width=W):
    channels, dtype, order = layout.ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _padded(frame, pad_bytes):
    """View the same pixels in a buffer whose rows are ``pad_bytes`` longer (a ROS ``step``)."""
    height = frame.shape[0]
    row = frame.reshape(height, -1).view(np.uint8)
    buffer = np.full((height, row.shape[1] + pad_bytes), 0xAB, np.uint8)
    buffer[:, :row.shape[1]] = row
    view = buffer[:, :row.shape[1]].view(frame.dtype).reshape(frame.shape)
    assert not view.flags.c_contiguous and np.shares_memory(view, buffer)
    return view


@pytest.mark.parametrize("encoding", sorted(layout.ENCODINGS))
def test_identity_round_trip_every_encoding(encoding):
    processor = FrameProcessor(IdentityBackend())
    frame = _frame(encoding)
    if layout.ENCODINGS[encoding][2] == "mono":
        frame_3d = frame[..., None]
        np.testing.assert_array_equal(processor.process(frame_3d, encoding).image, frame_3d)
    result = processor.process(frame, encoding)
    assert result.image.dtype == frame.dtype and result.image.shape == frame.shape
    assert result.image.flags.c_contiguous
    np.testing.assert_array_equal(result.image, frame)
    assert result.total_ms >= result.backend_ms >= 0.0


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono8", "bgr16", "rgba16", "mono16"])
@pytest.mark.parametrize("pad_bytes", [3, 64])
def test_padded_rows_round_trip(encoding, pad_bytes):
    frame = _frame(encoding)
    view = _padded(frame, pad_bytes * frame.dtype.itemsize)
    out = FrameProcessor(IdentityBackend()).process(view, encoding).image
    np.testing.assert_array_equal(out, frame)
    assert out.flags.c_contiguous


def test_strided_crop_and_alpha_preserved():
    big = _frame("bgra8", 30, 40)
    crop = big[5:5 + H, 7:7 + W]  # a non-contiguous crop of a larger image
    out = FrameProcessor(IdentityBackend()).process(crop, "bgra8").image
    np.testing.assert_array_equal(out, crop)
    processor = FrameProcessor(create_backend(BackendSpec("physics", Direction.HAZE))[0])
    hazy = processor.process(crop, "bgra8", FrameConditions(haze=HazeParams(0.05))).image
    np.testing.assert_array_equal(hazy[..., 3], crop[..., 3])  # alpha untouched by the haze
    assert not np.array_equal(hazy[..., :3], crop[..., :3])


def test_to_rgb_makes_views_not_copies():
    bgr = _frame("bgr8")
    assert np.shares_memory(layout.to_rgb(bgr, "bgr8"), bgr)
    mono = _frame("mono16")
    assert np.shares_memory(layout.to_rgb(mono, "mono16"), mono)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "8UC3", "rgb16", "bgr16", "bgra16"])
def test_physics_haze_independent_of_channel_order(encoding):
    """The bgr fast path (computing on BGR memory with A reversed) equals the RGB computation."""
    channels, dtype, order = layout.ENCODINGS[encoding]
    frame = _frame(encoding, 40, 60)
    depth = (RNG.random((40, 60)) * 120 + 2).astype(np.float32)
    haze = HazeParams(0.02, (0.8, 0.9, 1.0))
    processor = FrameProcessor(create_backend(BackendSpec("physics", Direction.HAZE))[0])
    out = processor.process(frame, encoding, FrameConditions(depth_m=depth, haze=haze)).image
    rgb = np.ascontiguousarray(layout.to_rgb(frame, encoding))
    expected = processor.backend.process_frame(rgb, FrameConditions(depth_m=depth, haze=haze))
    np.testing.assert_array_equal(layout.to_rgb(out, encoding), expected)


def test_dcp_independent_of_channel_order():
    frame = _frame("bgr8", 48, 64)
    processor = FrameProcessor(create_backend(BackendSpec("dcp", Direction.DEHAZE))[0])
    from_bgr = processor.process(frame, "bgr8").image
    from_rgb = processor.process(np.ascontiguousarray(frame[..., ::-1]), "rgb8").image
    np.testing.assert_array_equal(from_bgr, from_rgb[..., ::-1])


def test_mono_output_is_luma_of_result():
    frame = _frame("mono8", 20, 30)
    processor = FrameProcessor(create_backend(BackendSpec("physics", Direction.HAZE))[0])
    depth = np.full((20, 30), 10.0, np.float32)
    conditions = FrameConditions(depth_m=depth, haze=HazeParams(np.log(2) / 10))
    out = processor.process(frame, "mono8", conditions).image
    expected = np.floor(frame * 0.5 + 127.5 + 0.5)  # t = 0.5, A = 1, grey in → grey out
    assert np.abs(out.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("image, encoding, conditions, config, reason", [
    (np.zeros((H, W, 2), np.uint8), "yuv422", None, None, "bad_encoding"),
    (np.zeros((0, W, 3), np.uint8), "rgb8", None, None, "empty"),
    (np.zeros((H, 0, 3), np.uint8), "bgr8", None, None, "empty"),
    (np.zeros((H, W, 3), np.uint8), "rgb8", None, ProcessorConfig(max_pixels=H * W - 1), "too_large"),
    (np.zeros((H, W, 3), np.uint8), "rgb8", FrameConditions(depth_m=np.ones((H, W + 1), np.float32)), None,
     "depth_size"),
    (np.zeros((H, W, 3), np.uint16), "rgb8", None, None, "bad_layout"),
    (np.zeros((H, W, 4), np.uint8), "rgb8", None, None, "bad_layout"),
    (np.zeros((H, W, 3), np.uint8), "mono16", None, None, "bad_layout"),
])
def test_rejected_frames_name_their_reason(image, encoding, conditions, config, reason):
    processor = FrameProcessor(IdentityBackend(), config)
    with pytest.raises(FrameRejected) as info:
        processor.process(image, encoding, conditions)
    assert info.value.reason == reason
    assert str(info.value)  # a human-readable message too
    ok = processor.process(np.zeros((2, 2, 3), np.uint8), "rgb8")  # the next good frame works
    assert ok.image.shape == (2, 2, 3)


class _FreshOutput(IdentityBackend):
    """Returns a new C-contiguous RGB array, as real backends do (exercises the OpenCV output path)."""

    def process_frame(self, rgb, conditions=None):
        return np.array(rgb, order="C", copy=True)


@pytest.mark.parametrize("encoding", sorted(layout.ENCODINGS))
@pytest.mark.parametrize("shape", [(H, W), (1, 1), (1, 5), (4, 1)])
def test_fresh_output_round_trip_padded(encoding, shape):
    frame = _frame(encoding, *shape)
    view = _padded(frame, 8 * frame.dtype.itemsize) if shape[0] > 1 else frame
    out = FrameProcessor(_FreshOutput()).process(view, encoding).image
    np.testing.assert_array_equal(out, frame)
    assert out.flags.c_contiguous and out.dtype == frame.dtype
