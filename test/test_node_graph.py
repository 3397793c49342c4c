"""haze_node over real DDS: the node in its own process, this process publishing real frames.

Node processes (dehaze raw, haze with depth, dehaze compressed, dehaze with ``backend: model``,
learned haze with ``depth_source: model``) on isolated ROS_DOMAIN_IDs; frames are the shipped
samples (data/samples) and, where present, ../shared/data. The learned haze runs on a seeded random
physics-generator checkpoint (``model_fixtures.write_random_checkpoint``).
"""

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO, SAMPLES, shared_data
from graph_utils import GraphClient, NodeProcess, image_msg, make_header, stamp_of

pytestmark = pytest.mark.timeout(240)

NODE = "/haze_node"
FAST = [("diagnostics_period_s", 0.2), ("warmup_width", 64), ("warmup_height", 48), ("max_pixels", 200000)]


def sample_frames(size=(192, 108)):
    """Shipped real dash-cam frames (udacity_solidWhiteRight), resized, RGB uint8."""
    frames = []
    for path in sorted((SAMPLES / "udacity_solidWhiteRight").glob("*.jpg"))[:6]:
        frames.append(cv2.resize(cv2.imread(str(path))[..., ::-1], size, interpolation=cv2.INTER_AREA))
    assert frames, "data/samples/udacity_solidWhiteRight is missing from the checkout"
    return frames


def _bad(msg, **fields):
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def _serve_graph(node, client, pubs, subs, publish_probe, output_topic):
    """Fixture body: wait for matching and a first output, yield, then stop the node (clean SIGINT exit)."""
    try:
        client.wait_matched(pubs.values(), subs, timeout=60.0)
        client.prime(publish_probe, output_topic)
    except AssertionError:
        rc, out = node.stop()
        raise AssertionError(f"node did not come up (rc={rc}):\n{out}")
    yield node, client, pubs
    client.close()
    rc, out = node.stop()
    assert rc == 0, f"node did not exit cleanly on SIGINT (rc={rc}):\n{out}"


def _image_probe(pub):
    """``publish_probe(i)`` of an image-only graph: the first sample frame, stamped 900 ms + i ns."""
    probe = sample_frames()[0]
    return lambda i: pub.publish(image_msg(probe, 900_000_000 + i))


@pytest.fixture(scope="module")
def dehaze_graph():
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image

    node = NodeProcess(REPO / "config" / "dehaze.yaml", FAST + [("backend", "dcp")])  # its tests tune dcp.*
    client = GraphClient(node.domain_id)
    pubs = {"image": client.publisher(Image, "/image_raw"), "info": client.publisher(CameraInfo,
                                                                                     "/camera_info")}
    subs = [client.record(Image, "/image_dehazed"), client.record(CameraInfo, "/image_dehazed/camera_info"),
            client.record(DiagnosticArray, "/diagnostics")]
    yield from _serve_graph(node, client, pubs, subs, _image_probe(pubs["image"]), "/image_dehazed")


def _send_and_collect(client, pub, msgs, topic, rate_hz=10.0):
    """Publish ``msgs`` at ``rate_hz`` (spinning in between); wait for one output per input."""
    import time

    start = len(client.received[topic])
    period = 1.0 / rate_hz
    next_time = time.monotonic()
    for msg in msgs:
        client.spin_until(lambda: time.monotonic() >= next_time, 5.0, "publish slot")
        pub.publish(msg)
        next_time += period
    client.spin_until(lambda: len(client.received[topic]) >= start + len(msgs), 30.0,
                      f"{len(msgs)} outputs on {topic}")
    return client.received[topic][start:]


def test_headers_preserved_one_output_per_input(dehaze_graph):
    node, client, pubs = dehaze_graph
    frames = sample_frames()
    sent = [image_msg(frames[i % len(frames)], 1_000_000_000 + i * 100_000_000,
                      encoding="bgr8" if i % 2 else "rgb8") for i in range(12)]
    outputs = _send_and_collect(client, pubs["image"], sent, "/image_dehazed")
    assert [stamp_of(m) for m in outputs] == [stamp_of(m) for m in sent]
    for out, inp in zip(outputs, sent):
        assert (out.header.frame_id, out.encoding, out.width, out.height) == \
               (inp.header.frame_id, inp.encoding, inp.width, inp.height)
    assert not np.array_equal(np.frombuffer(outputs[0].data, np.uint8), np.frombuffer(sent[0].data, np.uint8))
    assert node.alive()
    from rclpy.qos import ReliabilityPolicy

    assert client.endpoint_qos("/image_raw", "subscriptions").reliability == ReliabilityPolicy.BEST_EFFORT
    assert client.endpoint_qos("/image_dehazed", "publishers").reliability == ReliabilityPolicy.RELIABLE


def test_steady_rate_on_shared_frames(dehaze_graph):
    folder = shared_data("udacity_clear_highway", "frames", "solidWhiteRight")
    node, client, pubs = dehaze_graph
    import time

    frames = [cv2.resize(cv2.imread(str(p)), (480, 270), interpolation=cv2.INTER_AREA)[..., ::-1]
              for p in sorted(folder.glob("*.jpg"))[:10]]  # half size: DCP keeps up on 2 shared cores
    sent = [image_msg(frames[i], 5_000_000_000 + i * 200_000_000) for i in range(len(frames))]
    arrivals = []
    sub_topic = "/image_dehazed"
    start = len(client.received[sub_topic])
    client.node.create_subscription(type(sent[0]), sub_topic, lambda m: arrivals.append(time.monotonic()), 50)
    outputs = _send_and_collect(client, pubs["image"], sent, sub_topic, rate_hz=5.0)
    client.spin_until(lambda: len(arrivals) >= len(sent), 10.0, "arrival times")
    assert [stamp_of(m) for m in outputs] == [stamp_of(m) for m in sent]
    assert len(client.received[sub_topic]) - start == len(sent)
    gaps = np.diff(arrivals)
    assert gaps.max() < 1.0, f"outputs not at a steady rate: gaps {np.round(gaps, 3)} s for 5 Hz input"
    assert (outputs[0].width, outputs[0].height) == (480, 270)


def test_camera_info_republished_next_to_output(dehaze_graph):
    from sensor_msgs.msg import CameraInfo

    _node, client, pubs = dehaze_graph
    info = CameraInfo(header=make_header(42_000_000_123), width=192, height=108, distortion_model="plumb_bob")
    info.k[0] = 250.0
    pubs["info"].publish(info)
    topic = "/image_dehazed/camera_info"
    client.spin_until(lambda: any(stamp_of(m) == 42_000_000_123 for m in client.received[topic]), 10.0,
                      "camera_info on image_dehazed/camera_info")
    out = [m for m in client.received[topic] if stamp_of(m) == 42_000_000_123][0]
    assert out.width == 192 and out.k[0] == 250.0 and out.header.frame_id == "camera_optical"


def test_hostile_frames_dropped_with_reasons_node_keeps_going(dehaze_graph):
    node, client, pubs = dehaze_graph
    good = sample_frames()[0]
    hostile = {
        "bad_encoding": _bad(image_msg(good, 30_000_000_000), encoding="yuv422_yuy2"),
        "short_data": _bad(image_msg(good, 30_000_000_001), height=good.shape[0] + 5),
        "empty": _bad(image_msg(good, 30_000_000_002), height=0, width=0, step=0, data=[]),
        "too_large": image_msg(np.zeros((500, 600, 3), np.uint8), 30_000_000_003),  # 300000 > max_pixels
    }
    before = client.fresh_drop_counts()
    for msg in hostile.values():
        pubs["image"].publish(msg)
    outputs = _send_and_collect(client, pubs["image"], [image_msg(good, 30_000_000_100)], "/image_dehazed")
    assert stamp_of(outputs[-1]) == 30_000_000_100
    published = {stamp_of(m) for m in client.received["/image_dehazed"]}
    leaked = published & {stamp_of(h) for h in hostile.values()}
    assert not leaked, f"hostile frames published: {leaked}"

    def counted():
        diag = client.latest_diagnostics()
        return all(int(diag.get(f"drops.{reason}", 0)) > before.get(reason, 0) for reason in hostile)
    client.spin_until(counted, 10.0, f"drop reasons {sorted(hostile)} on /diagnostics")
    diag = client.latest_diagnostics()
    assert diag["backend"] == "dcp" and "selected" in diag["backend_notes"]
    assert "max_pixels" in diag["last_drop.too_large"]
    assert node.alive()


def test_live_parameters_take_effect_and_bad_values_are_refused(dehaze_graph):
    node, client, pubs = dehaze_graph
    frame = sample_frames()[1]
    before = _send_and_collect(client, pubs["image"], [image_msg(frame, 3_000_000_000)], "/image_dehazed")[-1]
    results = client.set_parameters(NODE, dcp__omega=0.3)
    assert results[0].successful, results[0].reason
    after = _send_and_collect(client, pubs["image"], [image_msg(frame, 3_000_000_001)], "/image_dehazed")[-1]
    diff = np.abs(np.frombuffer(after.data, np.uint8).astype(int) - np.frombuffer(before.data,
                                                                                  np.uint8)).mean()
    assert diff > 1.0, "dcp.omega change did not change the output"
    for bad, fragment in [(dict(dcp__omega=1.5), "out of range"), (dict(dcp__patch=14), "odd"),
                          (dict(backend="torch"), "read-only"), (dict(dcp__omega="high"), "type")]:
        result = client.set_parameters(NODE, **bad)[0]
        assert not result.successful and fragment in result.reason.lower(), (bad, result.reason)
    client.set_parameters(NODE, dcp__omega=0.95)


def test_passthrough_bad_frames_when_enabled(dehaze_graph):
    node, client, pubs = dehaze_graph
    assert client.set_parameters(NODE, passthrough_bad_frames=True)[0].successful
    try:
        msg = _bad(image_msg(np.zeros((500, 600, 3), np.uint8), 4_000_000_000))  # too_large
        out = _send_and_collect(client, pubs["image"], [msg], "/image_dehazed")[-1]
        assert stamp_of(out) == 4_000_000_000 and bytes(out.data) == bytes(msg.data)
    finally:
        assert client.set_parameters(NODE, passthrough_bad_frames=False)[0].successful


@pytest.fixture(scope="module")
def haze_graph():
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    # the deprecated use_depth:=true still selects depth_source topic (the file says flat_road)
    node = NodeProcess(REPO / "config" / "hazify.yaml",
                       FAST + [("backend", "physics"), ("use_depth", "true"), ("depth.max_age_s", 0.5),
                               ("depth.sync_tolerance_s", 0.01)],
                       domain_offset=1)
    client = GraphClient(node.domain_id)
    pubs = {"image": client.publisher(Image, "/image_raw"), "depth": client.publisher(Image, "/depth")}
    subs = [client.record(Image, "/image_hazed"), client.record(DiagnosticArray, "/image_hazed/haze_params"),
            client.record(DiagnosticArray, "/diagnostics")]
    probe = sample_frames()[0]

    def publish_probe(i):
        stamp = 900_000_000 + i * 1_000_000
        pubs["depth"].publish(_depth_msg(np.full(probe.shape[:2], 30.0, np.float32), stamp))
        pubs["image"].publish(image_msg(probe, stamp))
    yield from _serve_graph(node, client, pubs, subs, publish_probe, "/image_hazed")


def _depth_msg(depth_m, stamp_ns):
    """32FC1 depth Image (metres, host byte order)."""
    import array
    import sys

    from sensor_msgs.msg import Image

    payload = array.array("B")
    payload.frombytes(np.ascontiguousarray(depth_m, np.float32).tobytes())
    return Image(header=make_header(stamp_ns), height=depth_m.shape[0], width=depth_m.shape[1],
                 encoding="32FC1",
                 is_bigendian=sys.byteorder == "big", step=depth_m.shape[1] * 4, data=payload)


def _hazed_with_depth(client, pubs, frame, depth, first_stamp, step=50_000_000, tries=5):
    """Publish depth + image pairs until one hazed output comes back; returns it.

    Depth and image travel on two topics, so the node may see an image before its depth; after a
    gap in the depth stream such a first image is dropped as stale, by design. Later pairs match.
    """
    for k in range(tries):
        stamp = first_stamp + k * step
        pubs["depth"].publish(_depth_msg(depth, stamp))
        pubs["image"].publish(image_msg(frame, stamp))
        try:
            client.spin_until(lambda: any(stamp_of(m) == stamp for m in client.received["/image_hazed"]), 3.0)
        except AssertionError:
            continue
        return [m for m in client.received["/image_hazed"] if stamp_of(m) == stamp][0]
    raise AssertionError(f"no hazed output for any of {tries} depth + image pairs")


def test_haze_with_depth_params_matched_by_stamp_and_hostile_depth(haze_graph):
    node, client, pubs = haze_graph
    frame = sample_frames()[2]
    h, w = frame.shape[:2]
    near = np.full((h, w), 30.0, np.float32)
    out = _hazed_with_depth(client, pubs, frame, near, 10_000_000_000)
    t0 = stamp_of(out)
    client.spin_until(lambda: any(stamp_of(m) == t0 for m in client.received["/image_hazed/haze_params"]),
                      10.0,
                      "haze_params for the frame")
    params = [m for m in client.received["/image_hazed/haze_params"] if stamp_of(m) == t0][0]
    values = {kv.key: kv.value for kv in params.status[0].values}
    assert values["depth_source"] == "depth_topic" and math.isclose(float(values["visibility_m"]), 150.0)
    hazed = np.frombuffer(out.data, np.uint8).reshape(h, w, 3).astype(float)
    expected_t = math.exp(-3.0 / 150.0 * 30.0)  # eq. (1) with A = 1 at 30 m
    assert abs(hazed.mean() - (frame.mean() * expected_t + 255 * (1 - expected_t))) < 2.0

    before = client.fresh_drop_counts()
    step = 100_000_000
    bad_cases = {"depth_invalid": np.full((h, w), np.nan, np.float32),
                 "depth_size": np.full((h // 2, w // 2), 30.0, np.float32)}
    for i, (reason, depth) in enumerate(bad_cases.items(), start=1):
        pubs["depth"].publish(_depth_msg(depth, t0 + i * step))
        pubs["image"].publish(image_msg(frame, t0 + i * step))
    pubs["image"].publish(image_msg(frame, t0 + 50 * step))  # newest depth is 4.7 s older: stale

    def counted():
        diag = client.latest_diagnostics()
        reasons = list(bad_cases) + ["depth_stale"]
        return all(int(diag.get(f"drops.{r}", 0)) > before.get(r, 0) for r in reasons)
    client.spin_until(counted, 15.0, "depth drop reasons on /diagnostics")
    out = _hazed_with_depth(client, pubs, frame, near, t0 + 60 * step)
    assert node.alive()
    bad_stamps = {t0 + i * step for i in (1, 2, 50)}
    assert not bad_stamps & {stamp_of(m) for m in client.received["/image_hazed"]}


def test_haze_visibility_change_takes_effect(haze_graph):
    node, client, pubs = haze_graph
    frame = sample_frames()[3]
    h, w = frame.shape[:2]
    t = 20_000_000_000
    results = []
    for i, visibility in enumerate((300.0, 40.0)):
        assert client.set_parameters(NODE, haze__visibility_m=visibility)[0].successful
        results.append(_hazed_with_depth(client, pubs, frame, np.full((h, w), 50.0, np.float32),
                                         t + i * 1_000_000_000))
    light, dense = (np.frombuffer(m.data, np.uint8).astype(float).mean() for m in results)
    assert dense > light + 20, (light, dense)
    refused = client.set_parameters(NODE, haze__visibility_m=0.1)[0]
    assert not refused.successful and "range" in refused.reason
    refused = client.set_parameters(NODE, haze__airlight=[1.0, 2.0, 1.0])[0]
    assert not refused.successful and "airlight" in refused.reason
    assert client.set_parameters(NODE, haze__visibility_m=150.0)[0].successful

    assert all(r.successful for r in client.set_parameters(NODE, haze__randomize=True, haze__seed=7))
    try:
        out = _hazed_with_depth(client, pubs, frame, np.full((h, w), 50.0, np.float32), t + 5_000_000_000)
        records = client.received["/image_hazed/haze_params"]
        client.spin_until(lambda: any(stamp_of(m) == stamp_of(out) for m in records), 10.0,
                          "haze_params of the randomised frame")
        record = [m for m in records if stamp_of(m) == stamp_of(out)][0]
        values = {kv.key: kv.value for kv in record.status[0].values}
        # the paper's ranges: beta in [0.8, 1.6] per 100 m, A in [0.8, 1.0]
        assert values["seed"] == "7" and 0.008 <= float(values["beta_per_m"]) <= 0.016, values
        assert all(0.8 <= float(values[f"airlight_{c}"]) <= 1.0 for c in "rgb"), values
    finally:
        assert client.set_parameters(NODE, haze__randomize=False)[0].successful


def test_compressed_input_and_clean_startup_failure():
    from haze_ros.core.image_msgs import encode_compressed
    from sensor_msgs.msg import CompressedImage, Image

    overrides = FAST + [("input_transport", "compressed"),  # REP 2003 overrides of two topics' QoS:
                        ("qos_overrides./image_raw/compressed.subscription.reliability", "reliable"),
                        ("qos_overrides./image_dehazed/camera_info.publisher.durability", "transient_local")]
    node = NodeProcess(REPO / "config" / "dehaze.yaml", overrides, domain_offset=2)
    client = GraphClient(node.domain_id)
    try:
        pub = client.publisher(CompressedImage, "/image_raw/compressed")
        sub = client.record(Image, "/image_dehazed")
        client.wait_matched([pub], [sub], timeout=60.0)
        frame = sample_frames()[4]
        fmt, data = encode_compressed(frame, "rgb8", "jpeg", 90)
        client.prime(lambda i: pub.publish(CompressedImage(header=make_header(900_000_000 + i), format=fmt,
                                                           data=data)), "/image_dehazed")
        msgs = [CompressedImage(header=make_header(7_000_000_000 + i), format=fmt,
                                data=data) for i in range(3)]
        msgs.append(CompressedImage(header=make_header(7_000_000_010), format="jpeg", data=b"garbage"))
        msgs.append(CompressedImage(header=make_header(7_000_000_011), format=fmt, data=data))
        for msg in msgs:
            pub.publish(msg)
        client.spin_until(lambda: len(client.received["/image_dehazed"]) >= 4, 20.0, "4 outputs")
        outs = client.received["/image_dehazed"]
        assert [stamp_of(m) for m in outs] == [7_000_000_000, 7_000_000_001, 7_000_000_002, 7_000_000_011]
        assert all(m.encoding == "rgb8" and (m.width, m.height) == (192, 108) for m in outs)
        assert node.alive()
        from rclpy.qos import ReliabilityPolicy

        from rclpy.qos import DurabilityPolicy

        qos_of = client.endpoint_qos

        assert qos_of("/image_raw/compressed", "subscriptions").reliability == ReliabilityPolicy.RELIABLE
        info_pub = qos_of("/image_dehazed/camera_info", "publishers")
        assert info_pub.durability == DurabilityPolicy.TRANSIENT_LOCAL
        # each override changes its own topic only (rclpy writes it into the profile it is given)
        assert qos_of("/camera_info", "subscriptions").reliability == ReliabilityPolicy.BEST_EFFORT
        assert qos_of("/image_dehazed", "publishers").durability == DurabilityPolicy.VOLATILE
    finally:
        client.close()
        rc, out = node.stop()
    assert rc == 0, out


def _model_dehaze_client(node):
    """Client of a ``backend: model``-like dehaze node: matched, primed; ``(client, pub)``."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    client = GraphClient(node.domain_id)
    pub = client.publisher(Image, "/image_raw")
    sub = client.record(Image, "/image_dehazed")
    client.record(DiagnosticArray, "/diagnostics")
    client.wait_matched([pub], [sub], timeout=60.0)
    probe = sample_frames()[0]
    client.prime(lambda i: pub.publish(image_msg(probe, 900_000_000 + i)), "/image_dehazed", timeout=90.0)
    return client, pub


def _assert_model_pixels(out, frame, translate):
    """The output message (rgb8 / bgr8) is ``translate(x)`` of its RGB uint8 input, within 2 levels.

    ``translate``: ``(1, 3, H, W)`` float tensor in [0, 1] → the same (a PyTorch translator).
    """
    import torch

    got = np.frombuffer(out.data, np.uint8).reshape(out.height, out.width, 3)
    got = got[..., ::-1] if out.encoding == "bgr8" else got
    with torch.no_grad():
        x = torch.from_numpy(frame.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        want = (translate(x)[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2


def _assert_shipped_model_pixels(outs, inputs):
    """Each output is the shipped model's dehazing of its RGB input, within 2 levels."""
    from haze_ros.networks.loading import load_translator

    dehaze = load_translator(REPO / "models" / "edge", "dehaze")
    for out, frame in zip(outs, inputs):
        _assert_model_pixels(out, frame, dehaze)


def test_model_backend_dehazes_with_the_shipped_model():
    """backend:=model with no model_path: the shipped edge model, on the fastest CPU runtime."""
    node = NodeProcess(REPO / "config" / "dehaze.yaml", FAST + [("backend", "model")], domain_offset=4)
    client = None
    try:
        client, pub = _model_dehaze_client(node)
        frames = sample_frames()
        sent = [image_msg(frames[i], 8_000_000_000 + i, encoding="bgr8" if i % 2 else "rgb8")
                for i in range(4)]
        outs = _send_and_collect(client, pub, sent, "/image_dehazed", rate_hz=5.0)
        assert [stamp_of(m) for m in outs] == [stamp_of(m) for m in sent]
        _assert_shipped_model_pixels(outs, frames[:4])
        client.spin_until(lambda: "backend" in client.latest_diagnostics(), 10.0, "diagnostics")
        diag = client.latest_diagnostics()
        assert diag["backend"] in ("onnxruntime", "torch"), diag
        assert "models/edge.safetensors (shipped model)" in diag["backend_notes"], diag
        import hashlib

        assert diag["model_path"].endswith("models/edge.safetensors"), diag
        assert diag["model_sha256"] == hashlib.sha256(Path(diag["model_path"]).read_bytes()).hexdigest()
        assert int(diag["processed"]) >= 4 and diag["dropped_total"] == "0"
        assert node.alive()
    finally:
        if client is not None:
            client.close()
        rc, out = node.stop()
    assert rc == 0, out
    # inference_workers: 0 (the params file's automatic choice): 2 sessions on ONNX Runtime's CPU
    # backend with 2+ cores, one frame at a time on any other runtime
    import os

    automatic = "inference_workers=0 (automatic) -> 2: 2 ONNX Runtime sessions of"
    expected = diag["backend"] == "onnxruntime" and len(os.sched_getaffinity(0)) >= 2
    assert (automatic in out) == expected, out


def test_inference_workers_keep_the_input_order_and_the_output():
    """inference_workers: 2 keeps the order and the pixels of one worker.

    Two ONNX Runtime sessions, frames in flight at once: a burst comes out complete, in the input's
    order, with the shipped model's pixels (within float rounding).
    """
    node = NodeProcess(REPO / "config" / "dehaze.yaml",
                       FAST + [("backend", "onnxruntime"), ("inference_workers", 2), ("queue_depth", 20)],
                       domain_offset=7)
    client = None
    try:
        client, pub = _model_dehaze_client(node)
        frames = sample_frames()
        inputs = [frames[i % len(frames)] for i in range(12)]
        sent = [image_msg(frame, 9_000_000_000 + i, encoding="bgr8" if i % 2 else "rgb8")
                for i, frame in enumerate(inputs)]
        outs = _send_and_collect(client, pub, sent, "/image_dehazed", rate_hz=60.0)
        assert [stamp_of(m) for m in outs] == [stamp_of(m) for m in sent]
        _assert_shipped_model_pixels(outs, inputs)
        client.spin_until(lambda: int(client.latest_diagnostics().get("processed", 0)) >= 12, 10.0,
                          "diagnostics")
        assert client.latest_diagnostics()["dropped_total"] == "0"
        assert node.alive()
    finally:
        if client is not None:
            client.close()
        rc, out = node.stop()
    assert rc == 0, out
    assert "inference_workers=2: 2 ONNX Runtime sessions of" in out, out


@pytest.fixture(scope="module")
def physics_checkpoint(tmp_path_factory):
    """A seeded random physics-generator checkpoint (preset edge): conditioned learned haze."""
    from model_fixtures import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("physics_model") / "edge_random", seed=3)


LEARNED_HAZE = [("backend", "model"), ("depth_source", "model"), ("haze.visibility_m", 150.0)]


@pytest.fixture(scope="module")
def learned_haze_graph(physics_checkpoint, tmp_path_factory):
    """haze_node, ``backend: model`` + ``depth_source: model`` (no depth topic), on a physics checkpoint."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image

    cache = tmp_path_factory.mktemp("onnx_cache")
    node = NodeProcess(REPO / "config" / "hazify.yaml",
                       FAST + LEARNED_HAZE + [("model_path", str(physics_checkpoint)),
                                              ("runtime.onnx_cache_dir", str(cache))], domain_offset=5)
    client = GraphClient(node.domain_id)
    pubs = {"image": client.publisher(Image, "/image_raw"), "info": client.publisher(CameraInfo,
                                                                                     "/camera_info")}
    subs = [client.record(Image, "/image_hazed"), client.record(DiagnosticArray, "/image_hazed/haze_params"),
            client.record(DiagnosticArray, "/diagnostics")]
    yield from _serve_graph(node, client, pubs, subs, _image_probe(pubs["image"]), "/image_hazed")


def _records_for(client, msgs):
    """``{stamp: {key: value}}`` of the haze_params records of ``msgs`` (waits for every one)."""
    stamps = {stamp_of(m) for m in msgs}
    topic = "/image_hazed/haze_params"
    client.spin_until(lambda: stamps <= {stamp_of(m) for m in client.received[topic]}, 10.0,
                      "one haze_params record per hazed frame")
    return {stamp_of(m): {kv.key: kv.value for kv in m.status[0].values}
            for m in client.received[topic] if stamp_of(m) in stamps}


def test_learned_haze_without_depth_topic(learned_haze_graph, physics_checkpoint):
    """depth_source: model: frames flow with their headers, haze_params says model and names the model."""
    import hashlib

    node, client, pubs = learned_haze_graph
    frames = sample_frames()
    sent = [image_msg(frames[i % len(frames)], 11_000_000_000 + i * 100_000_000,
                      encoding="bgr8" if i % 2 else "rgb8") for i in range(6)]
    outputs = _send_and_collect(client, pubs["image"], sent, "/image_hazed", rate_hz=5.0)
    assert [stamp_of(m) for m in outputs] == [stamp_of(m) for m in sent]
    for out, inp in zip(outputs, sent):
        assert (out.header.frame_id, out.encoding, out.width, out.height) == \
               (inp.header.frame_id, inp.encoding, inp.width, inp.height)
        assert bytes(out.data) != bytes(inp.data)
    sha = hashlib.sha256(physics_checkpoint.read_bytes()).hexdigest()
    for values in _records_for(client, sent).values():
        assert values["depth_source"] == "model" and values["applied"] == "true", values
        assert values["backend"] in ("onnxruntime", "torch") and values["model_sha256"] == sha, values
        assert math.isclose(float(values["visibility_m"]), 150.0)
    client.spin_until(lambda: "model_sha256" in client.latest_diagnostics(), 10.0, "diagnostics")
    diag = client.latest_diagnostics()
    assert diag["model_sha256"] == sha and diag["depth_source"] == "model", diag
    assert diag["model_path"] == str(physics_checkpoint) and "selected" in diag["backend_notes"], diag
    assert node.alive()


def test_learned_haze_follows_live_visibility_and_airlight(learned_haze_graph):
    """haze.visibility_m / haze.airlight drive the learned haze live, as they drive the physics backend."""
    node, client, pubs = learned_haze_graph
    frame = sample_frames()[3]
    outs = {}
    for i, (visibility, airlight) in enumerate(((2000.0, [1.0, 1.0, 1.0]), (30.0, [1.0, 1.0, 1.0]),
                                                (30.0, [0.5, 0.5, 0.5]))):
        results = client.set_parameters(NODE, haze__visibility_m=visibility, haze__airlight=airlight)
        assert all(r.successful for r in results), [r.reason for r in results]
        msg = image_msg(frame, 12_000_000_000 + i * 100_000_000)
        out = _send_and_collect(client, pubs["image"], [msg], "/image_hazed")[-1]
        values = _records_for(client, [msg])[stamp_of(msg)]
        assert math.isclose(float(values["visibility_m"]), visibility) and \
            math.isclose(float(values["airlight_r"]), airlight[0]), values
        outs[i] = np.frombuffer(out.data, np.uint8).astype(float)
    light, dense, dark_air = (outs[i].mean() for i in range(3))
    assert dense > light + 5 and dark_air < dense - 5, (light, dense, dark_air)
    assert all(r.successful for r in client.set_parameters(NODE, haze__visibility_m=150.0,
                                                           haze__airlight=[1.0, 1.0, 1.0]))
    assert node.alive()


def test_learned_haze_with_inference_workers_keeps_order_records_and_pixels(physics_checkpoint, tmp_path):
    """inference_workers: 2 in haze mode: a burst with a bad frame in the middle comes out in order.

    Randomised haze (a different V and A per frame), so a record or an output that landed on the
    wrong frame would show: every output is the model's haze of its own input at its own record's
    V and A (within 2 levels), the bad frame is passed through in its place with ``applied: false``.
    """
    import torch
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from haze_ros.networks.loading import load_translator

    node = NodeProcess(REPO / "config" / "hazify.yaml",
                       FAST + LEARNED_HAZE + [("model_path", str(physics_checkpoint)),
                                              ("runtime.onnx_cache_dir", str(tmp_path / "cache")),
                                              ("backend", "onnxruntime"), ("inference_workers", 2),
                                              ("queue_depth", 20), ("haze.randomize", True),
                                              ("haze.seed", 5), ("passthrough_bad_frames", True)],
                       domain_offset=8)
    client = None
    try:
        client = GraphClient(node.domain_id)
        pub = client.publisher(Image, "/image_raw")
        subs = [client.record(Image, "/image_hazed"),
                client.record(DiagnosticArray, "/image_hazed/haze_params")]
        client.wait_matched([pub], subs, timeout=60.0)
        client.prime(_image_probe(pub), "/image_hazed", timeout=90.0)
        frames = sample_frames()
        inputs = [frames[i % len(frames)] for i in range(12)]
        sent = [image_msg(frame, 13_000_000_000 + i * 1_000_000, encoding="bgr8" if i % 2 else "rgb8")
                for i, frame in enumerate(inputs)]
        sent[5] = _bad(sent[5], encoding="no_such_encoding")
        outs = _send_and_collect(client, pub, sent, "/image_hazed", rate_hz=60.0)
        assert [stamp_of(m) for m in outs] == [stamp_of(m) for m in sent]
        records = _records_for(client, sent)
        haze = load_translator(physics_checkpoint, "haze")
        for i, (out, frame) in enumerate(zip(outs, inputs)):
            values = records[stamp_of(out)]
            if i == 5:
                assert values["applied"] == "false" and bytes(out.data) == bytes(sent[5].data), values
                continue
            assert values["applied"] == "true" and values["depth_source"] == "model", values
            visibility = torch.tensor([[float(values["visibility_m"])]])
            airlight = torch.tensor([[float(values[f"airlight_{c}"]) for c in "rgb"]])
            _assert_model_pixels(out, frame, lambda x: haze(x, visibility, airlight))
        assert len({records[stamp_of(m)]["visibility_m"] for m in outs}) > 5  # the haze differs per frame
        assert node.alive()
    finally:
        if client is not None:
            client.close()
        rc, out = node.stop()
    assert rc == 0, out
    assert "inference_workers=2: 2 ONNX Runtime sessions of" in out, out


@pytest.mark.parametrize("case, overrides, expected", [
    ("missing", [("model_path", "/nonexistent/edge_model")], ["model_path", "/nonexistent/edge_model"]),
    ("corrupt", [], ["model_path", "corrupt"]),
    ("pixel", [], ["model_path", "unconditioned"]),
    ("flat_road", [("depth_source", "flat_road")], ["needs backend 'physics'", "model_path"]),
])
def test_learned_haze_startup_failure_names_model_path(tmp_path, case, overrides, expected):
    """A missing, corrupt or unconditioned model (or a depth_source that ignores it) stops the node."""
    from model_fixtures import write_random_checkpoint

    model = tmp_path / "model"
    weights = write_random_checkpoint(model, preset="edge_pixel" if case == "pixel" else "edge")
    if case == "corrupt":  # truncated weights: they no longer match their JSON's hash
        weights.write_bytes(weights.read_bytes()[:1000])
    failing = NodeProcess(REPO / "config" / "hazify.yaml",
                          FAST + LEARNED_HAZE + [("model_path", str(model)),
                                                 ("runtime.onnx_cache_dir", str(tmp_path / "cache"))]
                          + overrides, domain_offset=6)
    failing.proc.wait(timeout=90.0)
    rc, out = failing.stop()
    assert rc == 1 and all(text in out for text in expected), out


@pytest.mark.parametrize("params_file, overrides, expected", [
    (None, [("mode", "dehaze")], ["not set", "backend", "dcp.omega"]),  # no params file
    ("dehaze.yaml", [("backend", "no_such_backend")], ["backend='no_such_backend'", "is not one of"]),
    ("dehaze.yaml", [("dcp.patch", 16)], ["dcp.patch must be odd"]),
    ("dehaze.yaml", [("inference_workers", 2)], ["inference_workers=2", "ONNX Runtime CPU backend"]),
    ("hazify.yaml", [("haze.visibility_m", -5.0)], ["haze.visibility_m"]),
    ("no_such_params.yaml", [], ["cannot start", "no_such_params.yaml"]),
    pytest.param("dehaze.yaml", [("backend", "tensorrt")], ["backend='tensorrt'", "not available here"],
                 marks=pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                                          reason="TensorRT is installed: the backend may start")),
])
def test_startup_failure_names_the_parameter(params_file, overrides, expected):
    failing = NodeProcess(params_file and REPO / "config" / params_file, overrides, domain_offset=3)
    failing.proc.wait(timeout=60.0)
    rc, out = failing.stop()
    assert rc == 1 and all(text in out for text in expected), out
