"""Per-frame haze parameter sources: determinism, ranges, schedules and YAML validation."""

import math

import pytest

from haze_ros.core.types import HazeParams, visibility_to_beta
from haze_ros.physics.haze_params import ConstantHaze, HazeParamSource, PaperRandomHaze, ScheduleHaze


def test_constant_haze_forms():
    by_visibility = ConstantHaze(visibility_m=150.0, airlight=(0.9, 0.9, 1.0))
    assert by_visibility.params_for(7, 0) == HazeParams(0.02, (0.9, 0.9, 1.0), None)
    assert ConstantHaze(0.02).params_for(0, 0).airlight == (1.0, 1.0, 1.0)
    assert ConstantHaze(HazeParams(0.01, (0.8, 0.8, 0.8))).params_for(3, 5).beta_per_m == 0.01
    assert ConstantHaze.of_visibility(80.0).params_for(0, 0).beta_per_m == pytest.approx(0.0375)
    assert isinstance(ConstantHaze(0.01), HazeParamSource)
    with pytest.raises(ValueError, match="exactly one"):
        ConstantHaze(0.01, visibility_m=100.0)
    with pytest.raises(ValueError, match="airlight"):
        ConstantHaze(0.01, airlight=(1.5, 1.0, 1.0))


def test_paper_random_is_deterministic_and_order_independent():
    forward = [PaperRandomHaze(seed=42).params_for(i, i * 100) for i in range(50)]
    source = PaperRandomHaze(seed=42)
    backward = {i: source.params_for(i, 0) for i in reversed(range(50))}
    assert forward == [backward[i] for i in range(50)]  # stamps do not matter, order does not matter
    assert PaperRandomHaze(seed=42).params_for(10, 0) == forward[10]
    other = [PaperRandomHaze(seed=43).params_for(i, 0) for i in range(50)]
    assert other != forward
    assert len({p.beta_per_m for p in forward}) == 50  # frames differ from each other
    assert all(p.seed == 42 for p in forward)


def test_paper_random_ranges():
    params = [PaperRandomHaze(seed=1).params_for(i, 0) for i in range(400)]
    betas = [p.beta_per_m for p in params]
    assert 0.008 <= min(betas) and max(betas) <= 0.016  # β ∈ [0.8, 1.6] per 100 m
    assert max(betas) - min(betas) > 0.007  # covers the range
    channels = [a for p in params for a in p.airlight]
    assert 0.8 <= min(channels) and max(channels) <= 1.0 and max(channels) - min(channels) > 0.18
    assert all(abs(a * 255 - round(a * 255)) < 1e-9 for a in channels)  # on the 8-bit grid
    assert any(len(set(p.airlight)) == 3 for p in params)  # per-channel by default
    grey = PaperRandomHaze(seed=1, grey_airlight=True, reference_distance_m=50.0).params_for(0, 0)
    assert len(set(grey.airlight)) == 1 and 0.016 <= grey.beta_per_m <= 0.032
    with pytest.raises(ValueError, match="seed"):
        PaperRandomHaze(seed=-1)
    with pytest.raises(ValueError, match="airlight_range"):
        PaperRandomHaze(seed=0, airlight_range=(0.9, 1.2))


def test_ramp_is_log_linear_in_beta():
    ramp = ScheduleHaze.ramp_visibility(1000.0, 50.0, 100)
    assert ramp.params_for(0, 0).visibility_m == pytest.approx(1000.0)
    assert ramp.params_for(100, 0).visibility_m == pytest.approx(50.0)
    assert ramp.params_for(500, 0).visibility_m == pytest.approx(50.0)  # holds after the end
    assert ramp.params_for(50, 0).visibility_m == pytest.approx(math.sqrt(1000.0 * 50.0))  # geometric mean
    betas = [ramp.params_for(i, 0).beta_per_m for i in range(101)]
    assert all(b1 > b0 for b0, b1 in zip(betas, betas[1:]))


def test_ramp_in_seconds_from_yaml(tmp_path):
    path = tmp_path / "ramp.yaml"
    path.write_text("unit: seconds\nairlight: 0.9\n"
                    "ramp: {from_visibility_m: 400, to_beta_per_m: 0.03, length: 10}\n")
    origin = 1_700_000_000_000_000_000
    schedule = ScheduleHaze.from_yaml(str(path), origin_ns=origin)
    assert schedule.params_for(99, origin + 5 * 10**9).beta_per_m == pytest.approx(
        math.sqrt(visibility_to_beta(400.0) * 0.03))
    assert schedule.params_for(0, origin + 20 * 10**9).beta_per_m == pytest.approx(0.03)
    assert schedule.params_for(0, origin).airlight == (0.9, 0.9, 0.9)
    implicit = ScheduleHaze.from_yaml(str(path))
    with pytest.raises(ValueError, match="origin_ns"):
        implicit.params_for(3, origin)
    assert implicit.params_for(0, origin).visibility_m == pytest.approx(400.0)
    assert implicit.params_for(3, origin + 10 * 10**9).beta_per_m == pytest.approx(0.03)


def test_segments_from_yaml(tmp_path):
    path = tmp_path / "segments.yaml"
    path.write_text(
        "unit: frames\n"
        "segments:\n"
        "  - {length: 10, visibility_m: 1000}\n"
        "  - {length: 5, beta_per_m: 0.02, airlight: [0.9, 0.8, 0.7]}\n"
        "  - {visibility_m: 80}\n")
    schedule = ScheduleHaze.from_yaml(str(path))
    assert schedule.params_for(9, 0).visibility_m == pytest.approx(1000.0)
    assert schedule.params_for(10, 0) == HazeParams(0.02, (0.9, 0.8, 0.7), None)
    assert schedule.params_for(14, 0).beta_per_m == 0.02
    assert schedule.params_for(15, 0).visibility_m == pytest.approx(80.0)
    assert schedule.params_for(10**6, 0).visibility_m == pytest.approx(80.0)


@pytest.mark.parametrize("text, message", [
    ("ramp: {from_visibility_m: 100, to_visibility_m: 50, length: 10}\nspeed: 3\n", "unknown key"),
    ("ramp: {from_visibility_m: 100, to_visiblity_m: 50, length: 10}\n", "unknown key"),
    ("segments:\n  - {length: 10, visibility_m: 100, colour: red}\n", "unknown key"),
    ("ramp: {from_visibility_m: 100, to_visibility_m: 50}\n", "length"),
    ("ramp: {from_visibility_m: 100, from_beta_per_m: 0.1, to_visibility_m: 50, length: 3}\n", "exactly one"),
    ("segments:\n  - {visibility_m: 100}\n  - {visibility_m: 50}\n", "length"),
    ("segments:\n  - {length: -1, visibility_m: 100}\n", "length"),
    ("segments:\n  - {length: 3, visibility_m: 0}\n", "visibility"),
    ("segments: []\n", "non-empty"),
    ("unit: hours\nsegments:\n  - {visibility_m: 100}\n", "unit"),
    ("airlight: [1, 1]\nsegments:\n  - {visibility_m: 100}\n", "airlight"),
    ("{}\n", "exactly one"),
    ("ramp: {from_visibility_m: 100, to_visibility_m: 50, length: 10}\n"
     "segments:\n  - {visibility_m: 100}\n", "exactly one"),
    ("ramp: [1, 2\n", "schedule"),
    ("- just\n- a list\n", "mapping"),
])
def test_yaml_validation_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        ScheduleHaze.from_yaml(str(path))
    assert str(path) in str(info.value)
