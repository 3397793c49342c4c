"""The live loop over real DDS: haze_replay (5 Hz) → haze_node (haze mode) → haze_record.

Every frame of the bag must come out of the node and into the recorded bag, with the input's
header (stamp and frame_id) on each hazed image and on its haze_params. Private ROS domain,
waits on readiness lines and subscriber counts with timeouts (no fixed sleeps).
"""

import json
import os
import signal
import sys

import pytest
from conftest import REPO, isolated_ros_domain_id, shared_data

from haze_ros.bags.build import BagContents, CameraStream, load_frames, write_bag
from haze_ros.bags.io import open_input
from haze_ros.ros_tools import demo_report
from haze_ros.ros_tools.demo import Proc

N_FRAMES = 10
TOPIC = "/loop/cam/image_raw"


def _env():
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(isolated_ros_domain_id())
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO / "config" / "fastdds_shm.xml")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _headers(bag, topic):
    with open_input(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        msgs = [reader.deserialize(raw, c.msgtype) for c, _t, raw in reader.messages(conns)]
    return [(m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) for m in msgs]


@pytest.mark.timeout(180)
def test_replay_node_record_delivers_every_frame(tmp_path):
    paths = sorted(shared_data("udacity_clear_highway", "frames", "solidWhiteRight").glob("*.jpg"))[:N_FRAMES]
    bag = write_bag(tmp_path / "in", "mcap", BagContents(
        streams=[CameraStream(TOPIC, frame_id="loop_cam", camera_info_topic="/loop/cam/camera_info")],
        frames=load_frames(paths, (320, 180)), rate_hz=5.0))
    env, logs = _env(), tmp_path / "logs"
    logs.mkdir()
    node = Proc("node", [sys.executable, "-m", "haze_ros.ros.node", "--ros-args", "--params-file",
                         str(REPO / "config" / "hazify.yaml"), "-r", "__ns:=/loop/cam"], env, logs)
    recorder = Proc("recorder", [sys.executable, "-m", "haze_ros.ros_tools.record", str(tmp_path / "rec"),
                                 "--topic", "/loop/cam/image_hazed",
                                 "--topic", "/loop/cam/image_hazed/haze_params", "--count", str(N_FRAMES),
                                 "--idle-timeout", "10", "--wait-topics", "60"], env, logs)
    procs = [node, recorder]
    try:
        assert recorder.wait_line("haze_record: recording", 90), "".join(node.lines + recorder.lines)
        replay = Proc("replay", [sys.executable, "-m", "haze_ros.ros_tools.replay", str(bag), "--rate", "1.0",
                                 "--wait-for", TOPIC, "--wait-subscribers", "60", "--require-subscribers",
                                 "--report", str(tmp_path / "report.json")], env, logs)
        procs.append(replay)
        assert replay.popen.wait(90) == 0, "".join(replay.lines)
        assert recorder.popen.wait(60) == 0, "".join(recorder.lines)
    finally:
        for proc in reversed(procs):
            proc.stop()
    expected = _headers(bag, TOPIC)
    assert len(expected) == N_FRAMES
    assert _headers(tmp_path / "rec", "/loop/cam/image_hazed") == expected
    assert _headers(tmp_path / "rec", "/loop/cam/image_hazed/haze_params") == expected
    hazed = demo_report.frames_by_stamp(tmp_path / "rec", "/loop/cam/image_hazed")
    clear = demo_report.frames_by_stamp(bag, TOPIC)
    assert all(hazed[s].mean() > clear[s].mean() for s in clear)  # haze brightens towards A = 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["per_topic"][TOPIC] == {"in_bag": N_FRAMES, "attempted": N_FRAMES, "published": N_FRAMES,
                                          "dropped": 0, "published_as": TOPIC}
    assert "10 published (10 in the bag), 0 dropped" in "".join(replay.lines)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_recorder_finalises_the_bag_on_sigint_or_sigterm(tmp_path, signum):
    """haze_record with no stop condition: SIGINT/SIGTERM after the replay ends → complete bag, exit 0."""
    notes = [f"note {i}" for i in range(5)]
    frames = load_frames(sorted(shared_data("udacity_clear_highway", "frames", "solidWhiteRight")
                                .glob("*.jpg"))[:5], (64, 36))
    bag = write_bag(tmp_path / "in", "sqlite3", BagContents(
        streams=[CameraStream("/sig/image_raw")], frames=frames, rate_hz=20.0,
        extra_strings={"/sig/notes": notes}))
    env, logs = _env(), tmp_path / "logs"
    logs.mkdir()
    recorder = Proc("recorder", [sys.executable, "-m", "haze_ros.ros_tools.record", str(tmp_path / "rec"),
                                 "--topic", "/sig/renamed", "--topic", "/sig/image_raw",
                                 "--storage", "sqlite3",
                                 "--wait-topics", "60"], env, logs)
    # the bare FROM:=TO form, as documented: rcl must not take it for a (deprecated) remap rule
    replay = Proc("replay", [sys.executable, "-m", "haze_ros.ros_tools.replay", str(bag), "--wait-for",
                             "/sig/renamed", "/sig/image_raw", "--wait-subscribers", "60",
                             "--require-subscribers", "--remap", "/sig/notes:=/sig/renamed"], env, logs)
    try:
        assert recorder.wait_line("haze_record: recording", 90), "".join(recorder.lines)
        assert replay.popen.wait(90) == 0, "".join(replay.lines)
    finally:
        replay.stop()
        if recorder.popen.poll() is None:
            recorder.popen.send_signal(signum)
        status = recorder.stop()  # waits (SIGINT, then SIGKILL, only if still running after 10 s)
    assert status == 0, "".join(recorder.lines)
    assert not list(tmp_path.glob(".rec.partial-*"))
    assert (tmp_path / "rec" / "rec.db3").is_file()  # named after the bag, not the temporary folder
    with open_input(tmp_path / "rec") as reader:
        conns = {c.topic: c for c in reader.connections}
        assert "/sig/notes" not in conns
        rows = reader.messages([conns["/sig/renamed"]])
        texts = [reader.deserialize(raw, c.msgtype).data for c, _t, raw in rows]
        assert conns["/sig/image_raw"].msgcount == 5
    assert texts == notes
    assert "/sig/notes: 5 published as /sig/renamed" in "".join(replay.lines)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_replay_stopped_by_a_signal_exits_128_plus_signal(tmp_path, signum, status):
    """haze_replay waiting for a subscriber that never comes: SIGINT → 130, SIGTERM → 143, report printed."""
    frames = load_frames(sorted(shared_data("udacity_clear_highway", "frames", "solidWhiteRight")
                                .glob("*.jpg"))[:2], (64, 36))
    bag = write_bag(tmp_path / "in", "mcap", BagContents(streams=[CameraStream("/stop/image_raw")],
                                                         frames=frames))
    logs = tmp_path / "logs"
    logs.mkdir()
    replay = Proc("replay", [sys.executable, "-m", "haze_ros.ros_tools.replay", str(bag), "--wait-for",
                             "/stop/nobody_listens", "--wait-subscribers", "60", "--report",
                             str(tmp_path / "report.json")], _env(), logs)
    try:
        assert replay.wait_line("haze_replay: waiting", 60), "".join(replay.lines)
        replay.popen.send_signal(signum)
        replay.popen.wait(30)
    finally:
        returncode = replay.stop()
    assert returncode == status, "".join(replay.lines)
    assert "interrupted after 0 complete loop(s)" in "".join(replay.lines)
    assert json.loads((tmp_path / "report.json").read_text())["interrupted"] is True
