"""The ROS-free haze-mode front end (``haze_ros.hazing``) and how ``haze_bag`` maps its options onto it."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import REPO
from haze_ros.core.params_file import package_params_file, read_params_file
from haze_ros.core.types import HazeParams
from haze_ros.hazing import depth_policy as dp
from haze_ros.hazing.record import HazeRecord, ns_to_sec_nanosec, read_record_values, stamp_to_ns
from haze_ros.hazing.sources import HazeSourceError, RandomAirlight, make_haze_source
from haze_ros.physics.haze_params import ConstantHaze, PaperRandomHaze, ScheduleHaze

POLICY = dp.DepthPolicy(scale_m_per_unit=0.001, max_invalid_fraction=0.95)
HAZE_VALUES = read_params_file(REPO / "config" / "hazify.yaml")


def test_depth_metres_decodes_both_encodings():
    mm = np.array([[0, 1500], [30000, 65535]], np.uint16)
    depth = dp.depth_metres(mm, "16UC1", (2, 2, 3), POLICY)
    assert depth.dtype == np.float32 and depth[0, 0] == math.inf  # 0 = no return = far
    assert depth[0, 1] == pytest.approx(1.5) and depth[1, 0] == pytest.approx(30.0)
    metres = np.array([[np.nan, -1.0], [12.5, np.inf]], np.float32)
    depth = dp.depth_metres(metres, "32FC1", (2, 2), POLICY)
    assert depth[1, 0] == 12.5 and np.isinf(depth[[0, 0, 1], [0, 1, 1]]).all()


def test_depth_metres_drop_reasons():
    with pytest.raises(dp.DepthRejected) as size:
        dp.depth_metres(np.ones((4, 6), np.float32), "32FC1", (4, 5, 3), POLICY)
    assert size.value.reason == "depth_size" and "6x4" in str(size.value)
    depth = np.full((10, 10), np.nan, np.float32)
    depth.flat[:4] = 5.0  # 96 % NaN > 0.95
    with pytest.raises(dp.DepthRejected) as invalid:
        dp.depth_metres(depth, "32FC1", (10, 10), POLICY)
    assert invalid.value.reason == "depth_invalid" and "96.0%" in str(invalid.value)
    depth.flat[:5] = 5.0  # exactly 95 %: kept
    assert np.isfinite(dp.depth_metres(depth, "32FC1", (10, 10), POLICY)).sum() == 5
    assert dp.invalid_fraction(np.zeros((3, 3), np.uint16)) == 0.0  # integer depth: never invalid


def test_depth_policy_from_the_params_file_and_completion():
    policy = dp.DepthPolicy.from_values(HAZE_VALUES)
    assert policy == dp.DepthPolicy(0.001, 0.95, False)
    sparse = np.zeros((40, 40), np.float32)
    sparse[30:, ::4] = 10.0
    dense = dp.depth_metres(sparse, "32FC1", (40, 40), dp.DepthPolicy(0.001, 0.95, True))
    assert np.isfinite(dense[30:]).mean() > np.isfinite(np.where(sparse > 0, sparse, np.inf)[30:]).mean()


def test_depth_source_choices_and_backend_check():
    assert dp.DEPTH_SOURCES == ("topic", "model", "flat_road")
    assert HAZE_VALUES["depth_source"] == "model"  # learned depth by default (config/hazify.yaml)
    assert HAZE_VALUES["backend"] == "model"
    assert dp.check_depth_source("topic", "physics") is None
    assert dp.check_depth_source("flat_road", "physics") is None
    assert dp.check_depth_source("model", "onnxruntime") is None
    assert dp.check_depth_source("model", "model") is None  # by name, before the backend is built
    assert "learned" in dp.check_depth_source("model", "physics")
    assert "one of" in dp.check_depth_source("lidar", "physics")
    # a learned backend ignores a depth topic and the flat-road geometry: use physics there
    assert "would ignore the depth topic" in dp.check_depth_source("topic", "torch")
    assert "would ignore the flat-road" in dp.check_depth_source("flat_road", "model")
    # an unconditioned (pixel) model ignores haze.visibility_m / haze.airlight
    assert "model_path" in dp.check_depth_source("model", "torch", conditioned=False)
    # a depth choice on a command line picks the backend that goes with it
    assert dp.paired_backend("topic", "model") == "physics" and dp.paired_backend("flat_road", "torch") == \
        "physics"
    assert dp.paired_backend("model", "physics") == "model" and dp.paired_backend("model", "torch") == "torch"
    assert dp.record_label(True, "depth_image", "topic") == "depth_topic"
    assert dp.record_label(False, "flat_road_approximation", "flat_road") == "flat_road_approximation"
    assert dp.record_label(False, None, "model") == "model"
    assert dp.record_label(True, None, "topic") == "none"  # a backend that ignores depth


def test_haze_source_factory_from_parameter_names(tmp_path):
    constant = make_haze_source(HAZE_VALUES)
    assert isinstance(constant, ConstantHaze) and constant.params_for(3, 0).beta_per_m == pytest.approx(0.02)
    random = make_haze_source({**HAZE_VALUES, "haze.randomize": True, "haze.seed": 4,
                               "haze.reference_distance_m": 50.0})
    assert random == PaperRandomHaze(seed=4, reference_distance_m=50.0)
    assert 0.016 <= random.params_for(0, 0).beta_per_m <= 0.032  # [0.8, 1.6] per 50 m
    schedule = tmp_path / "ramp.yaml"
    schedule.write_text("ramp: {from_visibility_m: 1000, to_visibility_m: 100, length: 10}\n")
    ramp = make_haze_source({**HAZE_VALUES, "haze.schedule_file": str(schedule)})
    assert isinstance(ramp, ScheduleHaze) and ramp.params_for(10, 0).visibility_m == pytest.approx(100.0)
    by_beta = make_haze_source({**HAZE_VALUES, "haze.beta_per_m": 0.01, "haze.random_airlight": True})
    assert isinstance(by_beta, RandomAirlight) and by_beta.params_for(2, 0).beta_per_m == 0.01
    assert by_beta.params_for(2, 0).airlight == PaperRandomHaze(seed=0).params_for(2, 0).airlight


def test_haze_source_factory_needs_only_the_keys_of_its_source():
    """Training can build the paper's randomisation from three keys."""
    source = make_haze_source({"haze.randomize": True, "haze.seed": 7, "haze.reference_distance_m": 100.0})
    assert source.params_for(5, 0) == PaperRandomHaze(seed=7).params_for(5, 0)
    with pytest.raises(HazeSourceError, match="haze.visibility_m is not set"):
        make_haze_source({"haze.airlight": [1.0, 1.0, 1.0]})
    with pytest.raises(HazeSourceError, match="random_airlight"):
        make_haze_source({**HAZE_VALUES, "haze.randomize": True, "haze.random_airlight": True})
    with pytest.raises(HazeSourceError, match="no_such.yaml"):
        make_haze_source({**HAZE_VALUES, "haze.schedule_file": "no_such.yaml"})
    with pytest.raises(HazeSourceError, match="airlight"):
        make_haze_source({**HAZE_VALUES, "haze.airlight": [1.0, 2.0, 1.0]})


def test_record_values_and_stamps():
    record = HazeRecord(HazeParams(0.02, (0.9, 0.9, 1.0), 7), "physics", "depth_topic")
    values = dict(record.values())
    assert list(values) == ["beta_per_m", "visibility_m", "airlight_r", "airlight_g", "airlight_b", "seed",
                            "depth_source", "backend", "applied", "model_sha256"]
    assert values["visibility_m"] == "150" and values["seed"] == "7" and values["applied"] == "true"
    assert values["model_sha256"] == "" and record.level == 0 and record.message == "depth_topic"
    dropped = HazeRecord(HazeParams(0.02), "physics", "depth_topic", applied=False, reason="depth_invalid")
    assert dropped.level == 1 and dropped.message == "not applied: depth_invalid"
    assert dict(dropped.values())["applied"] == "false" and dict(dropped.values())["seed"] == ""
    message = SimpleNamespace(status=[SimpleNamespace(name="haze_params", values=[
        SimpleNamespace(key=k, value=v) for k, v in record.values()])])
    assert read_record_values(message) == values
    assert stamp_to_ns(SimpleNamespace(sec=3, nanosec=5)) == 3_000_000_005
    assert ns_to_sec_nanosec(3_000_000_005) == (3, 5)


def test_rosbags_writer_writes_the_record():
    from haze_ros.bags.haze_params_msg import params_message, read_params

    header = SimpleNamespace(stamp=SimpleNamespace(sec=1, nanosec=2), frame_id="cam")
    record = HazeRecord(HazeParams(0.01), "physics", "flat_road_approximation", applied=False, reason="x")
    msg = params_message(header, record)
    assert msg.header.frame_id == "cam" and msg.status[0].level == 1 and msg.status[0].hardware_id == "cam"
    assert read_params(msg) == dict(record.values())


def test_package_params_files():
    assert package_params_file("haze").name == "hazify.yaml"
    assert read_params_file(package_params_file("dehaze"))["mode"] == "dehaze"


def _bag_args(*extra):
    from haze_ros.bags.cli import build_parser

    return build_parser().parse_args(["in", "out", "--mode", "haze", "--topic", "/cam", *extra])


def _job(*extra):
    from haze_ros.bags.cli import job_from_args

    return job_from_args(_bag_args(*extra), list(extra))


def test_bag_defaults_come_from_the_params_file(tmp_path):
    job = _job()
    assert job.backend.name == "model" and job.depth_source == "model" and job.seed == 0
    assert job.depth_tolerance_ns == 20_000_000 and job.haze_source.params_for(0, 0).visibility_m == 150.0
    job = _job("--depth-source", "flat_road")
    assert job.backend.name == "physics" and job.backend.options["camera_height_m"] == 1.5
    job = _job("--depth-topic", "/depth")
    assert job.depth_source == "topic" and job.depth_policy == dp.DepthPolicy(0.001, 0.95, False)
    assert job.backend.name == "physics"
    # a depth choice without --backend picks the backend that goes with it; --backend wins
    assert _job("--depth-source", "model").backend.name == "model"
    assert _job("--depth-source", "model", "--backend", "torch").backend.name == "torch"
    learned = tmp_path / "learned.yaml"
    learned.write_text("/**:\n  ros__parameters:\n    backend: model\n    depth_source: model\n")
    assert _job("--params-file", str(learned)).backend.name == "model"
    assert _job("--params-file", str(learned), "--depth-topic", "/depth").backend.name == "physics"
    own = tmp_path / "mine.yaml"
    own.write_text("/**:\n  ros__parameters:\n    haze:\n      visibility_m: 75.0\n      randomize: true\n"
                   "      seed: 3\n    depth:\n      max_invalid_fraction: 0.5\n"
                   "      sync_tolerance_s: 0.01\n")
    job = _job("--params-file", str(own), "--depth-topic", "/depth")
    assert job.haze_source == PaperRandomHaze(seed=3) and job.seed == 3
    assert job.depth_policy.max_invalid_fraction == 0.5 and job.depth_tolerance_ns == 10_000_000
    job = _job("--params-file", str(own), "--visibility", "60", "--max-invalid-depth", "0.2",
               "--depth-topic", "/depth")
    assert isinstance(job.haze_source, ConstantHaze) and job.haze_source.params_for(0, 0).visibility_m == 60.0
    assert job.depth_policy.max_invalid_fraction == 0.2
    job = _job("--random", "--reference-distance", "50", "--seed", "9")
    assert job.haze_source == PaperRandomHaze(seed=9, reference_distance_m=50.0)
    dehaze = tmp_path / "dehaze.yaml"
    dehaze.write_text("/**:\n  ros__parameters:\n    mode: dehaze\n")
    with pytest.raises(ValueError, match="for mode 'dehaze'"):
        _job("--params-file", str(dehaze))


@pytest.mark.parametrize("extra, message", [
    (["--depth-source", "topic"], "--depth-source topic needs --depth-topic"),
    (["--depth-source", "flat_road", "--depth-topic", "/d"], "--depth-topic needs --depth-source topic"),
    (["--depth-source", "model", "--backend", "physics"], "needs a learned haze backend"),
    (["--depth-source", "flat_road", "--backend", "torch"], "needs backend 'physics'"),
    (["--depth-topic", "/d", "--backend", "onnxruntime"], "would ignore the depth topic"),
])
def test_bag_depth_source_mismatches_are_errors(tmp_path, extra, message, capsys):
    from haze_ros.bags.build import BagContents, CameraStream, write_bag
    from haze_ros.bags.cli import main as haze_bag

    frames = [np.full((24, 32, 3), 100, np.uint8)]
    contents = BagContents(streams=[CameraStream("/cam")], frames=frames, depth_topic="/d",
                           depth_m=[np.ones((24, 32))])
    bag = write_bag(tmp_path / "in", "mcap", contents)
    assert haze_bag([str(bag), str(tmp_path / "out"), "--mode", "haze", "--topic", "/cam", *extra,
                     "--no-progress"]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_bag_copies_a_frame_with_invalid_depth_unchanged(tmp_path):
    """The node's rule in the bag: a 99 % NaN depth drops the frame (copied, reason depth_invalid)."""
    import json

    from haze_ros.bags.cli import main as haze_bag

    frames = [np.full((20, 30, 3), 90, np.uint8)] * 2
    depths = [np.full((20, 30), 25.0, np.float32), np.full((20, 30), np.nan, np.float32)]
    bag = _bag_with_float_depth(tmp_path / "in", frames, depths)
    assert haze_bag([str(bag), str(tmp_path / "out"), "--mode", "haze", "--topic", "/cam",
                     "--depth-topic", "/d", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "out" / "haze_bag_summary.json").read_text())
    assert summary["frames_processed"] == 1 and summary["depth_source"] == "topic"
    assert [(f["frame_index"], f["reason"]) for f in summary["failures"]] == [(1, "depth_invalid")]
    assert summary["depth_sources"] == {"depth_topic": 1}
    assert haze_bag([str(bag), str(tmp_path / "out2"), "--mode", "haze", "--topic", "/cam", "--depth-topic",
                     "/d", "--max-invalid-depth", "1.0", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "out2" / "haze_bag_summary.json").read_text())
    assert summary["frames_processed"] == 2


def _bag_with_float_depth(path, frames, depths):
    """Bag with /cam (bgr8) and /d (32FC1 exactly as given, NaN kept), depth 1 ms after its image."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from haze_ros.bags.build import CameraStream, image_message
    from haze_ros.bags.io import ros2_typestore

    ts = ros2_typestore()
    types = ts.types
    kind = "sensor_msgs/msg/Image"
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        cam, dep = (writer.add_connection(t, kind, typestore=ts) for t in ("/cam", "/d"))
        for i, (bgr, depth) in enumerate(zip(frames, depths)):
            stamp = 10**18 + i * 10**8
            image = image_message(types, bgr, stamp, CameraStream("/cam"))
            writer.write(cam, stamp, bytes(ts.serialize_cdr(image, kind)))
            header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](
                sec=(stamp + 10**6) // 10**9, nanosec=(stamp + 10**6) % 10**9), frame_id="camera")
            msg = types[kind](header=header, height=depth.shape[0], width=depth.shape[1], encoding="32FC1",
                              is_bigendian=0, step=depth.shape[1] * 4,
                              data=depth.astype("<f4").reshape(-1).view(np.uint8))
            writer.write(dep, stamp + 10**6, bytes(ts.serialize_cdr(msg, kind)))
    return path


def test_node_parameters_name_the_factory_keys():
    from haze_ros.hazing.sources import SOURCE_PARAMETERS
    from haze_ros.ros import params

    assert set(SOURCE_PARAMETERS) <= set(params.BY_NAME)
    assert params.BY_NAME["depth_source"].choices == dp.DEPTH_SOURCES
