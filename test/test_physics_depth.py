"""Depth tests.

Decoding (uint16 scale, float, disparity, ROS encodings), invalid → far, LiDAR completion, and the
depth-free flat-road geometry.
"""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SAMPLES, shared_data

from haze_ros.physics import depth as dp
from haze_ros.physics.depth_free import DEPTH_SOURCE, FlatRoadGeometry, flat_road_depth, flat_road_row_depth

DDAD_DEPTH = sorted((SAMPLES / "ddad_scene01_cam01" / "depth").glob("*.png"))


def test_uint16_with_scale_and_zero_is_far():
    raw = np.array([[0, 100, 50000], [256, 65535, 1]], np.uint16)
    frida = dp.depth_from_uint16(raw, dp.FRIDA_CM)
    np.testing.assert_allclose(frida, [[np.inf, 1.0, 500.0], [2.56, 655.35, 0.01]], rtol=1e-6)
    ddad = dp.depth_from_uint16(raw, dp.DDAD_LIDAR, far_m=300.0)
    expected = [[300.0, 100 / 256, 50000 / 256], [1.0, 65535 / 256, 1 / 256]]
    np.testing.assert_allclose(ddad, expected, rtol=1e-6)
    assert frida.dtype == np.float32
    with pytest.raises(ValueError, match="uint16"):
        dp.depth_from_uint16(raw.astype(np.int32), 0.01)
    with pytest.raises(ValueError, match="metres_per_unit"):
        dp.depth_from_uint16(raw, 0.0)


def test_float_invalid_values_are_far():
    depth = np.array([[0.0, np.nan, np.inf, -np.inf, -3.0, 12.5]], np.float32)
    np.testing.assert_array_equal(dp.depth_from_float(depth), [[np.inf] * 5 + [12.5]])
    np.testing.assert_array_equal(dp.depth_from_float(depth, far_m=500.0), [[500.0] * 5 + [12.5]])
    sky = np.array([[False] * 5 + [True]])
    assert dp.invalid_to_far(depth, 80.0, sky_mask=sky)[0, 5] == 80.0
    with pytest.raises(ValueError, match="far_m"):
        dp.invalid_to_far(depth, 0.0)


def test_ros_encodings():
    mm = np.array([[0, 1500]], np.uint16)
    np.testing.assert_allclose(dp.depth_from_ros_image(mm, "16UC1"), [[np.inf, 1.5]])
    metres = np.array([[np.nan, 2.0]], np.float32)
    np.testing.assert_allclose(dp.depth_from_ros_image(metres, "32FC1"), [[np.inf, 2.0]])
    with pytest.raises(ValueError, match="unsupported depth encoding"):
        dp.depth_from_ros_image(mm, "rgb8")


def test_shipped_ddad_png_decodes():
    raw = cv2.imread(str(DDAD_DEPTH[0]), cv2.IMREAD_UNCHANGED)
    depth = dp.load_depth_png(DDAD_DEPTH[0], dp.DDAD_LIDAR)
    measured = raw > 0
    np.testing.assert_allclose(depth[measured], raw[measured] / 256.0, rtol=1e-6)
    assert np.isinf(depth[~measured]).all()
    assert 0.001 < measured.mean() < 0.01  # sparse projected LiDAR


@pytest.mark.parametrize("fixture, fx, baseline", [
    ("stereo-transformer/KITTI_2015/training/disp_occ_0/000046_10.png", 721.0, 0.54),
    ("argoverse_stereo/disparity_maps_v1.1/test/1/stereo_front_left_rect_disparity/disparity_1.png",
     3894.03, 0.2984),
])
def test_disparity_fixtures(fixture, fx, baseline):
    path = shared_data("stereo_disparity_fixtures", *Path(fixture).parts)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    depth = dp.depth_from_disparity(raw, fx, baseline)  # uint16: disparity = raw / 256
    valid = raw > 0
    np.testing.assert_allclose(depth[valid], fx * baseline / (raw[valid] / 256.0), rtol=1e-5)
    assert np.isinf(depth[~valid]).all()
    # real driving scenes: most valid depths between 1 m and 200 m
    assert 1.0 < np.median(depth[valid]) < 200.0
    assert np.mean((depth[valid] > 0.5) & (depth[valid] < 500.0)) > 0.95


def test_disparity_float_pixels_and_bad_calibration():
    disparity = np.array([[0.0, 10.0, -1.0, np.nan]], np.float32)
    expected = [[np.inf, 35.0, np.inf, np.inf]]
    np.testing.assert_allclose(dp.depth_from_disparity(disparity, 700.0, 0.5), expected)
    with pytest.raises(ValueError, match="fx_px"):
        dp.depth_from_disparity(disparity, 0.0, 0.5)


def _sparse_ddad():
    return dp.load_depth_png(DDAD_DEPTH[0], dp.DDAD_LIDAR)


@pytest.mark.parametrize("work_scale", [1, 2, 4])
def test_completion_fills_holes_and_keeps_measured(work_scale):
    sparse = _sparse_ddad()
    measured = np.isfinite(sparse)
    dense = dp.complete_sparse_depth(sparse, config=dp.CompletionConfig(work_scale=work_scale))
    assert dense.shape == sparse.shape and dense.dtype == np.float32
    np.testing.assert_array_equal(dense[measured], sparse[measured])
    # below the highest return every pixel is filled; the lower half of a road scene is never sky
    assert np.isfinite(dense[sparse.shape[0] // 2:]).all()
    assert 0.55 < np.isfinite(dense).mean() < 0.95  # sky and above-scan rows stay far
    assert np.isinf(dense[:40]).all()  # top rows: sky, no LiDAR return


def test_completion_predicts_held_out_returns():
    sparse = _sparse_ddad()
    rows, cols = np.nonzero(np.isfinite(sparse))
    held = np.random.default_rng(0).random(rows.size) < 0.1
    kept = sparse.copy()
    kept[rows[held], cols[held]] = 0.0
    dense = dp.complete_sparse_depth(kept)
    truth, predicted = sparse[rows[held], cols[held]], dense[rows[held], cols[held]]
    relative = np.abs(predicted - truth) / truth
    assert np.median(relative) < 0.1, np.median(relative)
    unblurred = dp.complete_sparse_depth(sparse, config=dp.CompletionConfig(keep_measured=False, blur=False))
    measured = np.isfinite(sparse)
    close = np.abs(unblurred[measured] - sparse[measured]) / sparse[measured]
    assert np.median(close) < 0.02  # measured pixels stay close even when not put back


def test_completion_input_checks():
    with pytest.raises(ValueError, match="odd"):
        dp.CompletionConfig(small_fill=4)
    with pytest.raises(ValueError, match="work_scale"):
        dp.CompletionConfig(work_scale=0)
    empty = dp.complete_sparse_depth(np.zeros((8, 8), np.float32), far_m=500.0)
    assert (empty == 500.0).all()


def test_flat_road_geometry_formula():
    geometry = FlatRoadGeometry(camera_height_m=1.5, focal_px=1000.0, horizon_row=50.0, far_m=math.inf,
                                max_depth_m=400.0)
    rows = flat_road_row_depth(100, geometry, 200)
    assert np.isinf(rows[:50]).all()  # at and above the horizon: sky / far
    assert rows[50] == 400.0  # 1500 / 0.5 = 3000 m, capped
    assert rows[99] == pytest.approx(1000.0 * 1.5 / 49.5)
    depth = flat_road_depth(100, 200, geometry)
    assert depth.shape == (100, 200) and not depth.flags.writeable
    assert flat_road_depth(100, 200, geometry) is depth  # cached per (size, geometry)
    assert np.all(np.diff(rows[53:]) < 0)  # nearer towards the bottom (rows 50-52 capped)
    assert DEPTH_SOURCE == "flat_road_approximation"


def test_flat_road_defaults_and_validation():
    geometry = FlatRoadGeometry(camera_height_m=1.2, hfov_deg=90.0)
    assert geometry.focal_for(640) == pytest.approx(320.0)
    assert geometry.horizon_for(480) == 240.0
    for bad in ({"camera_height_m": 0.0}, {"focal_px": -1.0}, {"hfov_deg": 180.0}, {"horizon_row": math.nan}):
        with pytest.raises(ValueError):
            FlatRoadGeometry(**bad)


def test_flat_road_matches_frida_road_depth():
    """Compare the flat-road model with FRIDA2's rendered road depth.

    FRIDA2: camera 1.305 m high, axis parallel to a flat road, f = 7 mm on a 6.4 × 4.8 mm sensor of
    640 × 480 pixels, i.e. 700 px. The model's depth equals the rendered depth on the road in the
    bottom rows of the image centre.
    """
    depth_png = shared_data("frida2", "depth_cm_uint16", "LDep-000001.png")
    truth = dp.load_depth_png(depth_png, dp.FRIDA_CM)
    geometry = FlatRoadGeometry(camera_height_m=1.305, focal_px=7e-3 / (6.4e-3 / 640))
    model = flat_road_depth(*truth.shape, geometry)
    road = (slice(400, 480), slice(300, 340))
    relative = np.abs(model[road] - truth[road]) / truth[road]
    assert np.median(relative) < 0.05, np.median(relative)


def test_physics_backend_depth_free_and_tunables():
    from haze_ros.backends.factory import create_backend
    from haze_ros.core.backend import BackendError, BackendSpec
    from haze_ros.core.types import Direction, FrameConditions, HazeParams
    from haze_ros.physics.scattering import synthesize_haze

    backend, _ = create_backend(BackendSpec("physics", Direction.HAZE, options={"camera_height_m": 1.2,
                                                                                "focal_px": 500.0}))
    clear = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    haze = HazeParams(0.02, (1.0, 1.0, 1.0))
    conditions = FrameConditions(haze=haze)
    out = backend.process_frame(clear, conditions)
    assert conditions.extras["depth_source"] == DEPTH_SOURCE
    geometry = FlatRoadGeometry(camera_height_m=1.2, focal_px=500.0)
    np.testing.assert_array_equal(out, synthesize_haze(clear, flat_road_depth(60, 80, geometry), 0.02, 1.0))
    assert (out[:30] == 255).all()  # above the horizon: sky, pure airlight
    backend.configure(horizon_row=10.0)
    moved = backend.process_frame(clear, FrameConditions(haze=haze))
    assert (moved[:10] == 255).all() and not (moved[10:30] == 255).all()  # cache follows the geometry
    with pytest.raises(ValueError, match="camera_height_m"):
        backend.configure(camera_height_m=-1.0)
    with pytest.raises(ValueError, match="no tunable"):
        backend.configure(omega=0.5)
    assert backend.tunables()["horizon_row"] == 10.0 and backend.tunables()["camera_height_m"] == 1.2
    with pytest.raises(ValueError, match="conditions.haze"):
        backend.process_frame(clear, FrameConditions())
    with pytest.raises(BackendError, match="direction"):
        create_backend(BackendSpec("physics", Direction.DEHAZE))
    with pytest.raises(BackendError, match="camera_height_m"):
        create_backend(BackendSpec("physics", Direction.HAZE, options={"camera_height_m": 0.0}))
    batch = (clear.transpose(2, 0, 1)[None] / 255.0).astype(np.float32)
    hazed = backend.infer(batch, FrameConditions(depth_m=np.full((60, 80), 20.0, np.float32), haze=haze))
    np.testing.assert_allclose(hazed, batch * np.exp(-0.4) + (1 - np.exp(-0.4)), atol=1e-5)


def test_physics_backend_depth_free_frames_follow_haze_changes():
    """The prepared depth-free blend is rebuilt when β, A or the frame's size/dtype/order change."""
    from haze_ros.backends.factory import create_backend
    from haze_ros.core.backend import BackendSpec
    from haze_ros.core.types import Direction, FrameConditions, HazeParams
    from haze_ros.physics.scattering import synthesize_haze, transmission_from_depth

    backend, _ = create_backend(BackendSpec("physics", Direction.HAZE))
    rng = np.random.default_rng(4)
    geometry = FlatRoadGeometry()
    cases = [((48, 64), np.uint8, HazeParams(0.01, (0.85, 0.9, 0.95))),
             ((48, 64), np.uint8, HazeParams(0.01, (0.85, 0.9, 0.95))),   # same: reused
             ((48, 64), np.uint8, HazeParams(0.03, (0.85, 0.9, 0.95))),   # new β
             ((48, 64), np.uint8, HazeParams(0.03, (0.7, 0.8, 0.9))),     # new A
             ((40, 64), np.uint16, HazeParams(0.03, (0.7, 0.8, 0.9))),    # new size and dtype
             ((40, 64), np.float32, HazeParams(0.02, (1.0, 1.0, 1.0)))]
    for (h, w), dtype, haze in cases:
        scale = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
        clear = (rng.random((h, w, 3)) * scale).astype(dtype)
        t = transmission_from_depth(flat_road_depth(h, w, geometry), haze.beta_per_m)
        want = synthesize_haze(clear, airlight=haze.airlight, transmission=t).astype(np.float64)
        for frame in (clear, np.ascontiguousarray(clear[..., ::-1])[..., ::-1]):  # RGB and a BGR view
            got = backend.process_frame(frame, FrameConditions(haze=haze))
            assert got.dtype == np.dtype(dtype) and got.shape == clear.shape
            assert np.abs(got.astype(np.float64) - want).max() <= (1e-5 if dtype == np.float32 else 1.0)
