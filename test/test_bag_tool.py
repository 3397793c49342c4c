"""haze_bag end to end on bags built at test time from real frames (FRIDA2 clear images + depth).

Each bag: ``/cam/image_raw`` (Image bgr8), ``/cam/image_raw/compressed`` (JPEG, quality 83),
``/cam/depth`` (32FC1 metres, stamped 1 ms after its image and written after it), ``/cam/camera_info``
and ``/chatter`` (std_msgs/String): 4 frames of 320x240 at 10 Hz, in sqlite3 and in MCAP storage.
"""

import shutil
import sqlite3

import numpy as np
import pytest
import yaml
from conftest import shared_data

from haze_ros.bags.build import BagContents, CameraStream, load_frames, write_bag
from haze_ros.bags.cli import main as haze_bag
from haze_ros.bags.frames import estimate_jpeg_quality
from haze_ros.bags.haze_params_msg import read_params
from haze_ros.bags.io import open_input

RAW, JPEG, DEPTH = "/cam/image_raw", "/cam/image_raw/compressed", "/cam/depth"
PASS_THROUGH = ("/cam/camera_info", DEPTH, "/chatter")
N_FRAMES = 4
SIZE = (320, 240)


def _contents():
    from haze_ros.physics.depth import FRIDA_CM, load_depth_png
    import cv2

    root = shared_data("frida2")
    clear = sorted((root / "clear").glob("*.png"))[:N_FRAMES]
    depth_files = sorted((root / "depth_cm_uint16").glob("*.png"))[:N_FRAMES]
    frames = load_frames(clear, SIZE)
    depth = [cv2.resize(load_depth_png(str(p), FRIDA_CM), SIZE, interpolation=cv2.INTER_NEAREST)
             for p in depth_files]
    return BagContents(
        streams=[CameraStream(RAW, camera_info_topic="/cam/camera_info"),
                 CameraStream(JPEG, compressed=True, jpeg_quality=83)],
        frames=frames, depth_topic=DEPTH, depth_m=depth,
        extra_strings={"/chatter": [f"note {i}" for i in range(N_FRAMES)]})


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    """Build one input bag per storage (same messages); storage -> path."""
    root = tmp_path_factory.mktemp("bags")
    contents = _contents()
    return {s: write_bag(root / f"in_{s}", s, contents) for s in ("sqlite3", "mcap")}


def read_all(path):
    """[(topic, bag_time, raw bytes)] in reading order, and topic -> first connection."""
    with open_input(path) as bag:
        rows = [(c.topic, t, bytes(raw)) for c, t, raw in bag.messages()]
        conns = {c.topic: c for c in bag.connections}
        typestore = bag.typestore
        decoded = {}
        for topic, t, raw in rows:
            decoded.setdefault(topic, []).append(typestore.deserialize_cdr(raw, conns[topic].msgtype))
    return rows, conns, decoded


def hdr(msg):
    """(sec, nanosec, frame_id) of a message header (messages of two readers compare by value)."""
    return (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)


def run(args, expect=0):
    code = haze_bag([str(a) for a in args] + ["--no-progress"])
    assert code == expect
    return code


def no_partial_left(folder):
    return not [p for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_haze_rewrites_images_and_copies_everything_else(bags, tmp_path, storage):
    out = tmp_path / "out"
    run([bags[storage], out, "--mode", "haze", "--topic", RAW, "--topic", JPEG, "--depth-topic", DEPTH,
         "--visibility", "150"])
    assert no_partial_left(tmp_path)
    # the storage file carries the bag's own name, not the temporary one it was written under
    data_file = "out." + {"sqlite3": "db3", "mcap": "mcap"}[storage]
    assert sorted(p.name for p in out.iterdir()) == ["haze_bag_summary.json", "metadata.yaml", data_file]
    assert yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"][
        "relative_file_paths"] == [data_file]
    rows_in, conns_in, dec_in = read_all(bags[storage])
    rows_out, conns_out, dec_out = read_all(out)
    # same topics, counts, timestamps and order for every input topic; one companion per frame
    assert [(t, s) for t, s, _ in rows_out if t in conns_in] == [(t, s) for t, s, _ in rows_in]
    assert sorted(conns_out) == sorted(list(conns_in) + [RAW + "/haze_params", JPEG + "/haze_params"])
    for topic in conns_in:
        assert conns_out[topic].msgtype == conns_in[topic].msgtype
        assert conns_out[topic].ext.offered_qos_profiles == conns_in[topic].ext.offered_qos_profiles
    # non-image messages byte for byte
    raw_in = {(t, s): r for t, s, r in rows_in}
    for topic, stamp, raw in rows_out:
        if topic in PASS_THROUGH:
            assert raw == raw_in[(topic, stamp)]
    # images: same header and layout, hazed (brighter towards A = 1), as the pipeline computes them
    for before, after, params in zip(dec_in[RAW], dec_out[RAW], dec_out[RAW + "/haze_params"]):
        assert hdr(after) == hdr(before) and after.encoding == "bgr8"
        assert (after.height, after.width, after.step) == (before.height, before.width, before.step)
        assert after.data.astype(float).mean() > before.data.astype(float).mean() + 5
        assert hdr(params) == hdr(before)
        values = read_params(params)
        assert float(values["visibility_m"]) == pytest.approx(150.0)
        assert values["depth_source"] == "depth_topic" and values["applied"] == "true"
    _check_same_as_pipeline(dec_in, dec_out[RAW][0])
    for before, after in zip(dec_in[JPEG], dec_out[JPEG]):
        assert hdr(after) == hdr(before) and after.format == before.format
        assert bytes(after.data) != bytes(before.data)
        assert estimate_jpeg_quality(after.data) == 83
    _check_independent_reader(out, storage, dec_out[RAW])


def _check_same_as_pipeline(dec_in, hazed):
    """Frame 0 equals FrameProcessor + the physics backend applied directly (one pipeline)."""
    from haze_ros.backends.factory import create_backend
    from haze_ros.core.backend import BackendSpec
    from haze_ros.core.image_msgs import depth_image_to_array
    from haze_ros.core.processor import FrameProcessor
    from haze_ros.core.types import Direction, FrameConditions, HazeParams
    from haze_ros.hazing.depth_policy import DepthPolicy, depth_metres

    backend, _notes = create_backend(BackendSpec(name="physics", direction=Direction.HAZE))
    image = dec_in[RAW][0]
    pixels = image.data.reshape(image.height, image.width, 3)
    haze = HazeParams(beta_per_m=3.0 / 150.0, depth_source="depth_topic")
    policy = DepthPolicy(scale_m_per_unit=0.001, max_invalid_fraction=0.95)
    depth = depth_metres(depth_image_to_array(dec_in[DEPTH][0]), "32FC1", pixels.shape, policy)
    conditions = FrameConditions(depth_m=depth, haze=haze)
    expected = FrameProcessor(backend).process(pixels, "bgr8", conditions).image
    assert bytes(hazed.data) == expected.tobytes()


def _check_independent_reader(out, storage, images):
    """Decode the output's raw images with a reader that is not rosbags."""
    if storage == "mcap":
        from mcap_ros2.reader import read_ros2_messages

        (mcap_file,) = out.glob("*.mcap")
        decoded = [m.ros_msg for m in read_ros2_messages(str(mcap_file), topics=[RAW])]
    else:
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image

        (db,) = out.glob("*.db3")
        with sqlite3.connect(db) as con:
            blobs = con.execute("SELECT m.data FROM messages m JOIN topics t ON m.topic_id = t.id "
                                "WHERE t.name = ? ORDER BY m.timestamp", (RAW,)).fetchall()
        decoded = [deserialize_message(bytes(b), Image) for (b,) in blobs]
    assert len(decoded) == len(images)
    for msg, ref in zip(decoded, images):
        assert bytes(msg.data) == bytes(ref.data) and msg.header.stamp.sec == ref.header.stamp.sec


def _images(path):
    _rows, _conns, dec = read_all(path)
    return [bytes(m.data) for m in dec[RAW] + dec[JPEG]], dec


def test_same_seed_same_bytes_and_workers_keep_order(bags, tmp_path):
    common = ["--mode", "haze", "--topic", RAW, "--topic", JPEG, "--random", "--depth-source", "flat_road"]
    run([bags["mcap"], tmp_path / "a", *common, "--seed", "5"])
    run([bags["mcap"], tmp_path / "b", *common, "--seed", "5", "--workers", "2", "--storage", "sqlite3"])
    run([bags["mcap"], tmp_path / "c", *common, "--seed", "6"])
    images_a, dec_a = _images(tmp_path / "a")
    images_b, _ = _images(tmp_path / "b")
    images_c, _ = _images(tmp_path / "c")
    assert images_a == images_b
    assert images_a != images_c
    values = [read_params(m) for m in dec_a[RAW + "/haze_params"]]
    assert {v["seed"] for v in values} == {"5"}
    assert {v["depth_source"] for v in values} == {"flat_road_approximation"}
    assert len({v["beta_per_m"] for v in values}) == N_FRAMES  # drawn per frame


def test_schedule_ramp_is_applied(bags, tmp_path):
    schedule = tmp_path / "ramp.yaml"
    schedule.write_text(f"unit: frames\nramp: {{from_visibility_m: 1000, to_visibility_m: 50, "
                        f"length: {N_FRAMES - 1}}}\n")
    run([bags["sqlite3"], tmp_path / "out", "--mode", "haze", "--topic", RAW, "--schedule", schedule])
    _rows, _conns, dec = read_all(tmp_path / "out")
    vis = [float(read_params(m)["visibility_m"]) for m in dec[RAW + "/haze_params"]]
    assert vis[0] == pytest.approx(1000.0) and vis[-1] == pytest.approx(50.0)
    assert all(a > b for a, b in zip(vis, vis[1:]))
    means = [m.data.astype(float).mean() for m in dec[RAW]]
    assert means[-1] > means[0]  # thicker haze at the end of the ramp


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_input_is_rejected_without_output(bags, tmp_path, storage, damage, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(bags[storage], broken)
    (storage_file,) = [p for p in broken.iterdir() if p.suffix in (".mcap", ".db3")]
    data = storage_file.read_bytes()
    if damage == "truncated":
        storage_file.write_bytes(data[: len(data) // 2])
    else:
        storage_file.write_bytes(b"\0" * 4096 + data[4096:])
    run([broken, tmp_path / "out", "--mode", "haze", "--topic", RAW], expect=2)
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and no_partial_left(tmp_path)


def test_existing_output_is_refused_unless_overwrite(bags, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    run([bags["mcap"], out, "--mode", "dehaze", "--topic", JPEG], expect=2)
    assert "exists already" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
    run([bags["mcap"], out, "--mode", "dehaze", "--topic", JPEG, "--overwrite"])
    assert not (out / "keep.txt").exists() and (out / "metadata.yaml").is_file() and no_partial_left(tmp_path)


def test_dehaze_mode_with_dcp(bags, tmp_path):
    run([bags["sqlite3"], tmp_path / "out", "--mode", "dehaze", "--topic", RAW, "--backend", "dcp"])
    _rows, conns, dec = read_all(tmp_path / "out")
    _rows, _conns, dec_in = read_all(bags["sqlite3"])
    assert RAW + "/haze_params" not in conns
    assert [bytes(m.data) for m in dec[RAW]] != [bytes(m.data) for m in dec_in[RAW]]


def test_bad_topics_are_clear_errors(bags, tmp_path, capsys):
    run([bags["mcap"], tmp_path / "o1", "--mode", "haze", "--topic", "/nope"], expect=2)
    assert "/nope is not in" in capsys.readouterr().err
    run([bags["mcap"], tmp_path / "o2", "--mode", "haze", "--topic", "/chatter"], expect=2)
    assert "std_msgs/msg/String" in capsys.readouterr().err
    run([tmp_path / "missing.mcap", tmp_path / "o3", "--mode", "haze", "--topic", RAW], expect=2)
    assert not any(p.name.startswith("o") for p in tmp_path.iterdir())


def _bag_with_a_broken_frame(path, contents):
    """Write the bag again, but frame 1 of /cam/image_raw claims more rows than its data holds."""
    from haze_ros.bags.io import ros2_typestore
    from rosbags.rosbag2 import Writer, StoragePlugin

    src = write_bag(path.parent / "tmp_src", "mcap", contents)
    ts = ros2_typestore()
    with open_input(src) as bag, Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        out = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=ts) for c in bag.connections}
        seen = 0
        for conn, t, raw in bag.messages():
            if conn.topic == RAW:
                seen += 1
                if seen == 2:
                    msg = ts.deserialize_cdr(raw, conn.msgtype)
                    msg.height += 10
                    raw = bytes(ts.serialize_cdr(msg, conn.msgtype))
            writer.write(out[conn.id], t, raw)
    return path


def test_undecodable_frame_is_copied_unchanged_and_reported(tmp_path, capsys):
    bag = _bag_with_a_broken_frame(tmp_path / "in", _contents())
    run([bag, tmp_path / "out", "--mode", "haze", "--topic", RAW], expect=0)
    printed = capsys.readouterr().out
    assert "1 copied unchanged" in printed and "short_data" in printed
    rows_in, _c, _d = read_all(bag)
    rows_out, _c, dec = read_all(tmp_path / "out")
    raw_in = [r for t, _s, r in rows_in if t == RAW]
    raw_out = [r for t, _s, r in rows_out if t == RAW]
    assert len(raw_out) == N_FRAMES and raw_out[1] == raw_in[1] and raw_out[0] != raw_in[0]
    assert [read_params(m)["applied"] for m in dec[RAW + "/haze_params"]] == ["true", "false", "true", "true"]
    run([bag, tmp_path / "strict", "--mode", "haze", "--topic", RAW, "--strict"], expect=2)
    assert not (tmp_path / "strict").exists() and no_partial_left(tmp_path)


def test_jpeg_quality_estimate_matches_opencv():
    import cv2

    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    for quality in (30, 50, 83, 95):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert estimate_jpeg_quality(data.tobytes()) == quality
    assert estimate_jpeg_quality(b"not a jpeg") is None


def test_ros1_bag_input_is_converted(tmp_path):
    """A ROS 1 .bag (Image rgb8 + String): read, converted to CDR, hazed, written as rosbag2."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    frames = _contents().frames[:2]
    ts = get_typestore(Stores.ROS1_NOETIC)
    types = ts.types
    bag = tmp_path / "drive.bag"
    with Writer(bag) as writer:
        image_conn = writer.add_connection(RAW, "sensor_msgs/msg/Image", typestore=ts)
        text_conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=ts)
        for i, bgr in enumerate(frames):
            stamp = types["builtin_interfaces/msg/Time"](sec=100 + i, nanosec=5)
            header = types["std_msgs/msg/Header"](seq=i, stamp=stamp, frame_id="cam")
            h, w = bgr.shape[:2]
            msg = types["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="bgr8",
                                                 is_bigendian=0, step=w * 3, data=bgr.reshape(-1))
            writer.write(image_conn, (100 + i) * 10**9, ts.serialize_ros1(msg, "sensor_msgs/msg/Image"))
            note = types["std_msgs/msg/String"](data=f"note {i}")
            writer.write(text_conn, (100 + i) * 10**9 + 1, ts.serialize_ros1(note, "std_msgs/msg/String"))
    run([bag, tmp_path / "out", "--mode", "haze", "--topic", RAW])
    rows, conns, dec = read_all(tmp_path / "out")
    assert [(t, s) for t, s, _ in rows if t != RAW + "/haze_params"] == [
        (RAW, 100 * 10**9), ("/chatter", 100 * 10**9 + 1), (RAW, 101 * 10**9), ("/chatter", 101 * 10**9 + 1)]
    assert [m.data for m in dec["/chatter"]] == ["note 0", "note 1"]
    assert [hdr(m) for m in dec[RAW]] == [(100, 5, "cam"), (101, 5, "cam")]
    assert dec[RAW][0].data.astype(float).mean() > frames[0].astype(float).mean() + 5


def _signal_mid_run(tmp_path, signum):
    """Start haze_bag on a 40-frame bag, send ``signum`` once its staging folder exists; (status, stderr)."""
    import subprocess
    import sys
    import time

    frames = load_frames(sorted((shared_data("frida2") / "clear").glob("*.png"))[:8]) * 5  # 40 x 640x480
    bag = write_bag(tmp_path / "long", "mcap", BagContents(streams=[CameraStream(RAW)], frames=frames))
    proc = subprocess.Popen([sys.executable, "-m", "haze_ros.bags.cli", str(bag), str(tmp_path / "out"),
                             "--mode", "dehaze", "--topic", RAW, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.partial-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the partial folder, bounded by the deadline
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path):
    """Ctrl-C in the middle of a run: exit 130, no output folder, no partial folder left."""
    import signal

    returncode, err = _signal_mid_run(tmp_path, signal.SIGINT)
    assert returncode == 130, err
    assert "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long"]


def test_sigterm_mid_run_exits_143_and_leaves_nothing(tmp_path):
    """SIGTERM (e.g. a CI job's timeout) in the middle of a run: exit 143, nothing left either."""
    import signal

    returncode, err = _signal_mid_run(tmp_path, signal.SIGTERM)
    assert returncode == 143, err
    assert "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long"]


def test_model_backend_records_the_model_hash(bags, tmp_path):
    """A learned backend (torch, a seeded random edge checkpoint): frames processed, model hashed."""
    import hashlib
    import json

    from model_fixtures import write_random_checkpoint

    checkpoint = write_random_checkpoint(tmp_path / "tiny", preset="edge", seed=1)
    run([bags["mcap"], tmp_path / "out", "--mode", "dehaze", "--topic", JPEG, "--backend", "torch",
         "--model", checkpoint])
    summary = json.loads((tmp_path / "out" / "haze_bag_summary.json").read_text())
    assert summary["frames_processed"] == N_FRAMES and summary["frames_copied_unchanged"] == 0
    assert summary["model_path"] == str(checkpoint)
    assert summary["model_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert summary["backend"]["backend"] == "torch"
