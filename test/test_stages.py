"""``haze_ros.core.stages``: the one normalise and the one quantise of the frame path, exhaustively."""

import numpy as np
import pytest

from haze_ros.core import stages
from haze_ros.core.backend import Backend
from haze_ros.core.types import Direction


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_normalise_is_the_correctly_rounded_quotient_on_every_path(dtype):
    top = np.iinfo(dtype).max
    values = np.arange(top + 1, dtype=dtype)
    plane = values.reshape(-1, 256)
    frames = {
        "(H, W) OpenCV": plane,
        "(H, W, 3) OpenCV": np.repeat(plane[..., None], 3, axis=2),
        "(H, W, 4) OpenCV": np.repeat(plane[..., None], 4, axis=2),
        "(H, W, 3) reversed view, numpy": np.repeat(plane[..., None], 3, axis=2)[..., ::-1],
        "(H, W, 1) numpy": plane[..., None],
        "(1, 1, 3) numpy (too small for OpenCV)": values[:3].reshape(1, 1, 3),
        "(N,) numpy": values,
    }
    for name, frame in frames.items():
        out = stages.to_unit_float(frame)
        assert out.dtype == np.float32 and out.shape == frame.shape, name
        quotient = frame.astype(np.float32) / np.float32(top)  # IEEE float32 division: correctly rounded
        np.testing.assert_array_equal(out, quotient, err_msg=name)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_quantise_inverts_normalise_and_rounds_half_up(dtype):
    top = np.iinfo(dtype).max
    values = np.arange(top + 1, dtype=dtype)
    np.testing.assert_array_equal(stages.quantise(stages.to_unit_float(values), dtype), values)
    half = (np.arange(4, dtype=np.float64) + 0.5) / top  # exactly between two levels
    np.testing.assert_array_equal(stages.quantise(half, dtype), np.arange(1, 5))
    np.testing.assert_array_equal(stages.quantise(np.array([-0.5, 1.5, 1.0]), dtype), [0, top, top])


def test_float_input_is_cast_not_scaled_and_bad_dtypes_are_refused():
    image = np.array([[0.25, 1.5]], np.float64)
    out = stages.to_unit_float(image)
    assert out.dtype == np.float32 and out.tolist() == [[0.25, 1.5]]
    same = np.zeros((2, 2), np.float32)
    assert stages.to_unit_float(same) is same
    assert stages.full_scale(np.uint8) == 255.0 and stages.full_scale(np.uint16) == 65535.0
    with pytest.raises(ValueError, match="unsupported image dtype"):
        stages.to_unit_float(np.zeros((2, 2), np.int32))


def test_batch_layout_round_trip_and_shape_errors():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    batch = stages.to_batch(rgb[:, :, ::-1])  # a BGR message's channel-reversed view
    assert batch.shape == (1, 3, 5, 7) and batch.flags.c_contiguous
    np.testing.assert_array_equal(stages.from_batch(batch, np.uint8), rgb[:, :, ::-1])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        stages.to_batch(rgb[..., :2])
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        stages.from_batch(batch[0], np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_batch_stages_give_the_bits_of_normalise_and_quantise(dtype):
    """to_batch / from_batch work plane by plane; they must equal the whole-frame formulas."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, np.iinfo(dtype).max + 1, (64, 96, 3)).astype(dtype)
    for name, view in {"contiguous": frame, "BGR view": frame[..., ::-1], "strided crop": frame[1::2, ::3],
                       "one pixel": frame[:1, :1]}.items():
        expected = stages.to_unit_float(np.ascontiguousarray(view)).transpose(2, 0, 1)[None]
        np.testing.assert_array_equal(stages.to_batch(view), expected, err_msg=name)
    for batch_dtype in (np.float32, np.float64):
        batch = (rng.random((1, 3, 37, 53)) * 1.4 - 0.2).astype(batch_dtype)  # out of range too
        out = stages.from_batch(batch, dtype)
        assert out.dtype == dtype and out.shape == (37, 53, 3) and out.flags.c_contiguous
        np.testing.assert_array_equal(out, stages.quantise(batch[0].transpose(1, 2, 0), dtype))


def test_default_process_frame_is_normalise_infer_quantise_without_padding():
    seen = []

    class Echo(Backend):
        def infer(self, batch, conditions=None):
            seen.append(batch.shape)
            return batch

    class Grows(Backend):
        def infer(self, batch, conditions=None):
            return np.pad(batch, ((0, 0), (0, 0), (0, 1), (0, 1)))

    for dtype in (np.uint8, np.uint16):
        rgb = np.random.default_rng(2).integers(0, np.iinfo(dtype).max + 1, (37, 53, 3)).astype(dtype)
        np.testing.assert_array_equal(Echo(Direction.DEHAZE).process_frame(rgb), rgb)
    assert seen == [(1, 3, 37, 53)] * 2  # the odd size itself: no padding outside the graphs
    with pytest.raises(ValueError, match="returned"):
        Grows(Direction.DEHAZE).process_frame(rgb)
