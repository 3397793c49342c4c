"""Eq. (1) synthesis and its inverse: properties, golden values computed by hand, input checks."""

import math

import numpy as np
import pytest

from haze_ros.core.types import beta_to_visibility, visibility_to_beta
from haze_ros.physics.scattering import (PreparedHaze, recover_radiance, synthesize_haze,
                                         transmission_from_depth)

RNG = np.random.default_rng(11)
H, W = 24, 32


def _clear(dtype):
    if dtype == np.float32:
        return RNG.random((H, W, 3), dtype=np.float32)
    return RNG.integers(0, np.iinfo(dtype).max, (H, W, 3), dtype=dtype, endpoint=True)


def _depth():
    return (RNG.random((H, W)) * 150.0 + 1.0).astype(np.float32)


def _reference(clear, depth, beta, airlight):
    """Float64 eq. (1), rounded for integer images: the independent reference."""
    scale = 1.0 if clear.dtype.kind == "f" else float(np.iinfo(clear.dtype).max)
    t = np.exp(-beta * depth.astype(np.float64))[..., None]
    hazy = clear.astype(np.float64) * t + np.asarray(airlight) * scale * (1.0 - t)
    return hazy if clear.dtype.kind == "f" else np.floor(hazy + 0.5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_unit_transmission_leaves_image_unchanged(dtype):
    clear = _clear(dtype)
    for airlight in (1.0, (0.8, 0.9, 0.85)):
        out = synthesize_haze(clear, _depth(), 0.0, airlight)
        assert out.dtype == clear.dtype
        np.testing.assert_array_equal(out, clear)
        out = synthesize_haze(clear, airlight=airlight, transmission=np.ones((H, W), np.float32))
        np.testing.assert_array_equal(out, clear)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("airlight", [(1.0, 1.0, 1.0), (0.8, 0.9, 0.85), (204 / 255, 1.0, 230 / 255)])
def test_matches_float64_reference(dtype, airlight):
    clear, depth = _clear(dtype), _depth()
    depth[0, :3] = np.inf
    out = synthesize_haze(clear, depth, 0.02, airlight)
    ref = _reference(clear, depth, 0.02, airlight)
    tolerance = 1e-5 if dtype == np.float32 else 1.0  # ±1 level: float32 vs float64 near .5 ties
    assert np.abs(out.astype(np.float64) - ref).max() <= tolerance
    if dtype != np.float32:
        assert (out != ref).mean() < 0.01


def test_golden_values_by_hand():
    # d = 20 m, β = ln 2 / 10 m → t = 0.25; A = 1 → I = 0.25·J + 0.75·255.
    clear = np.array([[[100, 200, 50]]], np.uint8)
    depth = np.array([[20.0]], np.float32)
    out = synthesize_haze(clear, depth, math.log(2.0) / 10.0, 1.0)
    np.testing.assert_array_equal(out, [[[216, 241, 204]]])  # 216.25, 241.25, 203.75
    # β = 0.02 1/m, d = 50 m → t = e^-1; J = 0.2, A = 0.8 → 0.2·0.367879 + 0.8·0.632121 = 0.579272.
    out = synthesize_haze(np.full((1, 1, 3), 0.2, np.float32), np.array([[50.0]], np.float32), 0.02, 0.8)
    np.testing.assert_allclose(out, 0.579272, atol=1e-6)
    # 16-bit, A = 0.5, t = 0.5: 0.5·65535 + 0.5·32767.5 = 49151.25 → 49151.
    out = synthesize_haze(np.full((1, 1, 3), 65535, np.uint16), np.array([[10.0]], np.float32),
                          math.log(2.0) / 10.0, 0.5)
    np.testing.assert_array_equal(out, 49151)


def test_far_and_invalid_depth_give_pure_airlight():
    clear = _clear(np.uint8)
    depth = np.full((H, W), np.inf, np.float32)
    depth[:4] = np.nan
    out = synthesize_haze(clear, depth, 0.01, (1.0, 0.8, 0.6))
    np.testing.assert_array_equal(out, np.broadcast_to(np.array([255, 204, 153], np.uint8), out.shape))


def test_monotonic_in_beta():
    clear, depth = _clear(np.float32), _depth()
    airlight = np.array([0.9, 0.95, 1.0], np.float32)
    previous = np.abs(clear - airlight)
    for beta in (0.001, 0.005, 0.01, 0.03, 0.1):
        distance = np.abs(synthesize_haze(clear, depth, beta, tuple(airlight)) - airlight)
        assert np.all(distance <= previous + 1e-6)  # every pixel moves towards A
        assert distance.mean() < previous.mean()
        previous = distance


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_recover_inverts_synthesis(dtype):
    clear, depth = _clear(dtype), _depth()
    airlight = (0.9, 0.95, 1.0)
    beta = 0.01  # t >= exp(-1.51) = 0.22 > t0: the inverse is exact up to rounding
    t = transmission_from_depth(depth, beta)
    recovered = recover_radiance(synthesize_haze(clear, depth, beta, airlight), t, airlight, t0=0.1)
    if dtype == np.float32:
        np.testing.assert_allclose(recovered, clear, atol=2e-5)
    else:  # rounding of I by ±0.5 level is amplified by 1/t ≤ 4.6
        assert np.abs(recovered.astype(np.int64) - clear).max() <= 3


def test_recover_uint8_within_rounding():
    clear, depth = _clear(np.uint8), _depth()
    t = transmission_from_depth(depth, 0.005)  # t >= 0.47
    recovered = recover_radiance(synthesize_haze(clear, depth, 0.005, 1.0), t, 1.0)
    assert np.abs(recovered.astype(int) - clear).max() <= 2


def test_recover_clamps_transmission_at_t0():
    hazy = np.full((1, 1, 3), 0.6, np.float32)
    out = recover_radiance(hazy, np.array([[0.01]], np.float32), 1.0, t0=0.2)
    np.testing.assert_allclose(out, (0.6 - 1.0) / 0.2 + 1.0, atol=1e-6)  # -1.0: t used 0.2, not 0.01
    with pytest.raises(ValueError, match="t0"):
        recover_radiance(hazy, np.ones((1, 1), np.float32), 1.0, t0=0.0)


def test_beta_visibility_conversion():
    assert visibility_to_beta(80.0) == pytest.approx(0.0375)  # FRIDA2 U080
    for visibility in (10.0, 150.0, 1000.0):
        assert beta_to_visibility(visibility_to_beta(visibility)) == pytest.approx(visibility)
    # at the visibility distance the contrast is ~5 %: t = exp(-3) ≈ 0.0498
    t = transmission_from_depth(np.array([[150.0]], np.float32), visibility_to_beta(150.0))
    assert t[0, 0] == pytest.approx(math.exp(-3.0), rel=1e-5)
    assert beta_to_visibility(0.0) == math.inf
    with pytest.raises(ValueError):
        visibility_to_beta(0.0)


def test_bad_inputs_are_rejected():
    clear = _clear(np.uint8)
    with pytest.raises(ValueError, match="depth_m must have shape"):
        synthesize_haze(clear, np.ones((H + 1, W), np.float32), 0.01)
    with pytest.raises(ValueError, match="airlight"):
        synthesize_haze(clear, _depth(), 0.01, (1.2, 1.0, 1.0))
    with pytest.raises(ValueError, match="beta"):
        synthesize_haze(clear, _depth(), -0.01)
    with pytest.raises(ValueError, match="either"):
        synthesize_haze(clear)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        synthesize_haze(clear[..., 0], _depth(), 0.01)
    with pytest.raises(ValueError, match="dtype"):
        synthesize_haze(clear.astype(np.int32), _depth(), 0.01)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_prepared_haze_matches_eq1_for_repeated_frames(dtype):
    rng = np.random.default_rng(3)
    scale = 1.0 if dtype == np.float32 else float(np.iinfo(dtype).max)
    t = np.repeat(np.linspace(0.02, 1.0, 37, dtype=np.float32)[:, None], 53, axis=1)
    airlight = (0.81, 0.9, 0.97)  # off the 8-bit grid: the float32-plane path for every dtype
    prepared = PreparedHaze(t, airlight, dtype)
    for _ in range(2):  # the same prepared state serves every frame
        clear = (rng.random((37, 53, 3)) * scale).astype(dtype)
        exact = clear.astype(np.float64) * t[..., None] + np.asarray(airlight) * scale * (1 - t[..., None])
        out = prepared.apply(clear)
        assert out.dtype == np.dtype(dtype) and out.shape == clear.shape
        if dtype == np.float32:
            np.testing.assert_allclose(out, exact, atol=1e-6)
        else:
            assert np.abs(out.astype(np.float64) - exact).max() <= 0.5 + 1e-2  # rounded to nearest
            assert np.abs(out.astype(np.int64) - synthesize_haze(clear, airlight=airlight, transmission=t)
                          .astype(np.int64)).max() <= 1


def test_prepared_haze_on_the_8bit_grid_is_synthesize_haze_exactly():
    rng = np.random.default_rng(6)
    t = rng.random((31, 47)).astype(np.float32)
    prepared = PreparedHaze(t, (200 / 255, 1.0, 230 / 255), np.uint8)
    for _ in range(2):
        clear = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
        reference = synthesize_haze(clear, airlight=(200 / 255, 1.0, 230 / 255), transmission=t)
        np.testing.assert_array_equal(prepared.apply(clear), reference)
    prepared.update(t, (0.81, 0.9, 0.97))  # leaves the grid: float32-plane path, eq. (1) rounded
    clear = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    exact = clear * t[..., None].astype(np.float64) + np.asarray((0.81, 0.9, 0.97)) * 255 * (1 - t[..., None])
    assert np.abs(prepared.apply(clear) - exact).max() <= 0.5 + 1e-3


def test_prepared_haze_rejects_other_frames_and_dtypes():
    prepared = PreparedHaze(np.full((4, 5), 0.5, np.float32), 1.0, np.uint8)
    with pytest.raises(ValueError, match="does not match"):
        prepared.apply(np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="does not match"):
        prepared.apply(np.zeros((4, 5, 3), np.uint16))
    with pytest.raises(ValueError, match="supports"):
        PreparedHaze(np.ones((4, 5), np.float32), 1.0, np.float64)
    one = PreparedHaze(np.full((1, 1), 0.25, np.float32), (0.2, 0.5, 1.0), np.uint8)
    np.testing.assert_array_equal(one.apply(np.full((1, 1, 3), 200, np.uint8)), [[[88, 146, 241]]])


def test_prepared_haze_update_reuses_buffers_and_matches_a_fresh_one():
    rng = np.random.default_rng(5)
    clear = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    t1, t2 = (rng.random((20, 30)).astype(np.float32) for _ in range(2))
    prepared = PreparedHaze(t1, (0.8, 0.9, 1.0), np.uint16)
    buffers = prepared._planes
    prepared.update(t2, 0.85)
    assert prepared._planes[0] is buffers[0] and prepared._planes[1] is buffers[1]
    clear16 = clear.astype(np.uint16) * 257
    np.testing.assert_array_equal(prepared.apply(clear16), PreparedHaze(t2, 0.85, np.uint16).apply(clear16))
    prepared.update(t2[:10], 0.85)  # another size: new buffers
    assert prepared.apply(clear16[:10]).shape == (10, 30, 3)
