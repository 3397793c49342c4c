"""Haze mode: the same frames through ``haze_node`` (real rclpy, DDS) and ``haze_bag`` give the same result.

One recording: six real dash-cam frames (bgr8) with aligned depth (header stamp 1 ms after the
image) that has NaN, ±inf, negative and zero pixels, in ``32FC1`` metres and ``16UC1`` millimetres,
one frame whose depth is 99 % NaN (above ``depth.max_invalid_fraction`` = 0.95) and one image with
an unsupported encoding (it still takes a frame index in both tools). The node gets
exactly the bag's messages (the bag's CDR bytes deserialised with rclpy) on ``image_raw`` / ``depth``,
one image at a time; ``haze_bag`` rewrites the bag. For each haze source (constant, the paper's
randomisation with a reference distance, schedules in frames and in seconds), for the depth-free
``flat_road`` source and for ``depth_source: model`` (learned haze, backend torch on the CPU with a
seeded random physics-generator checkpoint: deterministic): byte-identical hazed images, the same
drop decisions with the same reasons (the node drops the 99 % NaN frame as ``depth_invalid``; the
bag copies it unchanged with that reason; both drop the bad image as ``bad_encoding``), and the same
``haze_params`` records (``model_sha256`` included). Every case names its backend, so the test does
not depend on the defaults of ``config/hazify.yaml``.
"""

import json

import cv2
import numpy as np
import pytest

from conftest import REPO, SAMPLES
from graph_utils import GraphClient, NodeProcess, stamp_of

pytestmark = pytest.mark.timeout(300)

IMAGE, DEPTH = "/cam/image_raw", "/cam/depth"
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000
INVALID_FRAME = 1  # its depth is 99 % NaN
BAD_IMAGE = 4  # its encoding is not supported: bad_encoding in both tools
SIZE = (192, 108)  # W, H
RAMP = ("unit: frames\nairlight: [0.95, 0.95, 1.0]\n"
        "ramp: {from_visibility_m: 800, to_visibility_m: 60, length: 5}\n")
SEGMENTS = ("unit: seconds\nsegments:\n  - {length: 0.25, visibility_m: 400}\n"
            "  - {visibility_m: 80, airlight: 0.9}\n")
MODEL = "<checkpoint>"  # replaced by the path of the random physics checkpoint
PHYSICS = ([("backend", "physics")], ["--backend", "physics"])
LEARNED = ([("backend", "torch"), ("device", "cpu"), ("depth_source", "model"), ("model_path", MODEL)],
           ["--backend", "torch", "--device", "cpu", "--depth-source", "model", "--model", MODEL])
# case -> (node parameter overrides, haze_bag options, schedule text, with a depth topic)
CASES = {
    "constant": ([("haze.visibility_m", 120.0), ("haze.airlight", "[0.9, 0.92, 0.95]")],
                 ["--visibility", "120", "--airlight", "0.9,0.92,0.95"], None, True),
    "paper_random": ([("haze.randomize", "true"), ("haze.seed", 7), ("haze.reference_distance_m", 50.0)],
                     ["--random", "--seed", "7", "--reference-distance", "50"], None, True),
    "schedule_frames": ([], [], RAMP, True),
    "schedule_seconds": ([], [], SEGMENTS, True),
    "flat_road": ([("haze.visibility_m", 90.0), ("depth_source", "flat_road")],
                  ["--visibility", "90", "--depth-source", "flat_road"], None, False),
    "model": ([("haze.visibility_m", 120.0), ("haze.airlight", "[0.9, 0.92, 0.95]")],
              ["--visibility", "120", "--airlight", "0.9,0.92,0.95"], None, False),
}


def _frames():
    paths = sorted((SAMPLES / "udacity_solidWhiteRight").glob("*.jpg"))[:6]
    assert len(paths) == 6, "data/samples/udacity_solidWhiteRight is missing from the checkout"
    return [cv2.resize(cv2.imread(str(p)), SIZE, interpolation=cv2.INTER_AREA) for p in paths]


def _depths(h, w):
    """Per frame (encoding, (H, W) array): NaN / inf / negative / zero pixels; frame 1 is 99 % NaN."""
    rng = np.random.default_rng(11)
    rows = np.linspace(200.0, 4.0, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    out = []
    for i in range(6):
        depth = rows * np.float32(1.0 + 0.1 * i)
        mask = rng.random((h, w))
        if i == INVALID_FRAME:
            depth = np.full((h, w), np.nan, np.float32)
            depth.flat[rng.choice(h * w, size=(h * w) // 100, replace=False)] = 20.0  # 1 % valid
        elif i == 3:  # 16UC1 millimetres, 0 = no return
            mm = np.round(depth * 1000.0).astype(np.uint16)
            mm[mask < 0.2] = 0
            out.append(("16UC1", mm))
            continue
        else:
            depth[mask < 0.15] = np.nan
            depth[(mask >= 0.15) & (mask < 0.2)] = np.inf
            depth[(mask >= 0.2) & (mask < 0.25)] = -1.0
        out.append(("32FC1", depth.astype(np.float32)))
    return out


def _write_bag(path, frames, depths):
    """The recording: per frame an Image (bgr8) and, 1 ms later, its depth Image; returns the CDR list."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from haze_ros.bags.io import ros2_typestore

    ts = ros2_typestore()
    types = ts.types
    kind = "sensor_msgs/msg/Image"

    def header(stamp):
        return types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9),
            frame_id="camera")

    messages = []  # (topic, bag time, cdr), in writing order
    for i, (bgr, (encoding, depth)) in enumerate(zip(frames, depths)):
        stamp = START_NS + i * PERIOD_NS
        h, w = bgr.shape[:2]
        image = types[kind](header=header(stamp), height=h, width=w, is_bigendian=0,
                            encoding="yuv422_yuy2" if i == BAD_IMAGE else "bgr8",
                            step=w * 3, data=np.ascontiguousarray(bgr).reshape(-1))
        data = np.ascontiguousarray(depth.astype(depth.dtype.newbyteorder("<"))).reshape(-1).view(np.uint8)
        depth_msg = types[kind](header=header(stamp + 1_000_000), height=h, width=w, encoding=encoding,
                                is_bigendian=0, step=w * depth.dtype.itemsize, data=data)
        messages.append((DEPTH, stamp + 1_000_000, bytes(ts.serialize_cdr(depth_msg, kind))))
        messages.append((IMAGE, stamp + 2_000_000, bytes(ts.serialize_cdr(image, kind))))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {t: writer.add_connection(t, kind, typestore=ts) for t in (IMAGE, DEPTH)}
        for topic, t, raw in messages:
            writer.write(conns[topic], t, raw)
    return messages


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """(bag path, [(topic, bag time, cdr)]) of the shared recording."""
    frames = _frames()
    root = tmp_path_factory.mktemp("equivalence")
    messages = _write_bag(root / "in", frames, _depths(*frames[0].shape[:2]))
    return root / "in", messages


def _through_bag(bag, out, options, with_depth):
    """Run ``haze_bag``; returns ({stamp: image bytes} of hazed frames, {stamp: reason}, {stamp: record})."""
    from haze_ros.bags.cli import main as haze_bag
    from haze_ros.bags.haze_params_msg import read_params
    from haze_ros.bags.io import open_input

    depth = ["--depth-topic", DEPTH] if with_depth else []
    assert haze_bag([str(bag), str(out), "--mode", "haze", "--topic", IMAGE, *depth, *options,
                     "--no-progress"]) == 0
    summary = json.loads((out / "haze_bag_summary.json").read_text())
    copied = {START_NS + f["frame_index"] * PERIOD_NS: f["reason"] for f in summary["failures"]}
    images, records = {}, {}
    with open_input(out) as reader:
        conns = {c.topic: c for c in reader.connections}
        for conn, _t, raw in reader.messages():
            msg = reader.typestore.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            if conn.topic == IMAGE and stamp not in copied:
                images[stamp] = bytes(msg.data)
            elif conn.topic == IMAGE + "/haze_params":
                records[stamp] = read_params(msg)
    assert IMAGE + "/haze_params" in conns
    return images, copied, records


def _drops(client):
    return client.fresh_drop_counts(timeout=10.0)


def _through_node(messages, overrides, with_depth, domain_offset):
    """Publish the recording to a haze_node, one image at a time; same three maps as ``_through_bag``."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, Image

    fast = [("diagnostics_period_s", 0.2), ("warmup_width", 64), ("warmup_height", 48),
            ("depth.max_age_s", 10.0),  # one image at a time: never stale
            ("qos_overrides./image_raw.subscription.reliability", "reliable"),
            ("qos_overrides./depth.subscription.reliability", "reliable")]
    depth_source = [("depth_source", "topic")] if with_depth else []
    node = NodeProcess(REPO / "config" / "hazify.yaml", fast + depth_source + overrides,
                       domain_offset=domain_offset)
    client = GraphClient(node.domain_id)
    try:
        pubs = {IMAGE: client.publisher(Image, "/image_raw"), DEPTH: client.publisher(Image, "/depth"),
                "info": client.publisher(CameraInfo, "/camera_info")}
        subs = [client.record(Image, "/image_hazed"),
                client.record(DiagnosticArray, "/image_hazed/haze_params"),
                client.record(DiagnosticArray, "/diagnostics"),
                client.record(CameraInfo, "/image_hazed/camera_info")]
        client.wait_matched([p for k, p in pubs.items() if with_depth or k != DEPTH], subs, timeout=60.0)
        # prove the node is matched with camera_info probes: images would take frame indices
        client.prime(lambda i: pubs["info"].publish(CameraInfo(width=SIZE[0], height=SIZE[1])),
                     "/image_hazed/camera_info")
        images, dropped = {}, {}
        for topic, _t, raw in messages:
            if topic == DEPTH and not with_depth:
                continue
            msg = deserialize_message(raw, Image)
            if topic == DEPTH:
                pubs[DEPTH].publish(msg)
                continue
            stamp = stamp_of(msg)
            before = _drops(client)
            pubs[IMAGE].publish(msg)

            def settled():
                if any(stamp_of(m) == stamp for m in client.received["/image_hazed"]):
                    return True
                diag = client.latest_diagnostics()
                return sum(int(v) for k, v in diag.items() if k.startswith("drops.")) > sum(before.values())
            client.spin_until(settled, 20.0, f"an output or a drop for the frame at {stamp} ns")
            out = [m for m in client.received["/image_hazed"] if stamp_of(m) == stamp]
            if out:
                images[stamp] = bytes(out[0].data)
            else:
                after = client.latest_diagnostics()
                dropped[stamp] = [k[len("drops."):] for k, v in after.items()
                                  if k.startswith("drops.") and int(v) > before.get(k[len("drops."):], 0)]
                assert len(dropped[stamp]) == 1, after
                dropped[stamp] = dropped[stamp][0]
        client.spin_until(lambda: len(client.received["/image_hazed/haze_params"]) >= len(images), 10.0,
                          "one haze_params record per hazed frame")
        records = {stamp_of(m): {kv.key: kv.value for kv in m.status[0].values}
                   for m in client.received["/image_hazed/haze_params"]}
        assert node.alive()
    finally:
        client.close()
        rc, output = node.stop()
    assert rc == 0, output
    return images, dropped, records


@pytest.fixture(scope="module")
def physics_checkpoint(tmp_path_factory):
    """A seeded random physics-generator checkpoint (preset edge) for ``depth_source: model``."""
    from model_fixtures import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "edge_random", seed=5)


def _with_backend(case, checkpoint):
    """The case's node overrides and bag options, with its backend (and model) named."""
    overrides, options, schedule, with_depth = CASES[case]
    node_extra, bag_extra = LEARNED if case == "model" else PHYSICS
    node_extra = [(k, str(checkpoint) if v == MODEL else v) for k, v in node_extra]
    bag_extra = [str(checkpoint) if v == MODEL else v for v in bag_extra]
    return overrides + node_extra, options + bag_extra, schedule, with_depth


@pytest.mark.parametrize("case", sorted(CASES))
def test_node_and_bag_give_the_same_frames_and_drops(recording, physics_checkpoint, tmp_path, case):
    import hashlib

    overrides, options, schedule, with_depth = _with_backend(case, physics_checkpoint)
    if schedule:
        path = tmp_path / "schedule.yaml"
        path.write_text(schedule)
        overrides = overrides + [("haze.schedule_file", str(path))]
        options = options + ["--schedule", str(path)]
    bag, messages = recording
    bag_images, bag_copied, bag_records = _through_bag(bag, tmp_path / "out", options, with_depth)
    node_images, node_dropped, node_records = _through_node(messages, overrides, with_depth,
                                                            10 + sorted(CASES).index(case))
    invalid_stamp = START_NS + INVALID_FRAME * PERIOD_NS
    bad_stamp = START_NS + BAD_IMAGE * PERIOD_NS
    if with_depth:
        assert node_dropped == {invalid_stamp: "depth_invalid", bad_stamp: "bad_encoding"}, node_dropped
    else:
        assert node_dropped == {bad_stamp: "bad_encoding"}, node_dropped
    assert bag_copied == node_dropped  # the same drop decisions, the same reasons
    assert sorted(bag_images) == sorted(node_images)
    inputs = {START_NS + i * PERIOD_NS: r for i, r in enumerate(r for t, _s, r in messages if t == IMAGE)}
    for stamp in node_images:
        assert bag_images[stamp] == node_images[stamp], f"frame at {stamp} ns differs ({case})"
        assert node_images[stamp] not in inputs[stamp]  # hazed, not copied
    # records: the node publishes one per published frame; the bag one per frame (applied=false if copied)
    learned = case == "model"
    sha = hashlib.sha256(physics_checkpoint.read_bytes()).hexdigest() if learned else ""
    for stamp, values in node_records.items():
        assert bag_records[stamp] == values, (stamp, case)
        assert values["applied"] == "true" and values["backend"] == ("torch" if learned else "physics")
        assert values["depth_source"] == ("model" if learned else "depth_topic" if with_depth
                                          else "flat_road_approximation")
        assert values["model_sha256"] == sha
    for stamp, reason in bag_copied.items():
        assert bag_records[stamp]["applied"] == "false"
    betas = {float(v["beta_per_m"]) for v in node_records.values()}
    assert len(betas) == (1 if case in ("constant", "flat_road", "model") else 2 if case == "schedule_seconds"
                          else len(node_records)), betas
