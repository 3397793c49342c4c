"""Helpers for graph tests: haze_node in its own process, and a test-side rclpy client node.

Real middleware only: the node runs as ``python -m haze_ros.ros.node --ros-args --params-file ...``
in a child process on an isolated ``ROS_DOMAIN_ID`` (loopback discovery); the test process talks to
it over DDS. Every wait has a timeout and polls a condition; there are no fixed sleeps.
"""

import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np

from conftest import REPO, isolated_ros_domain_id


def ros_env(domain_id):
    """Environment for a child ROS process on ``domain_id`` (loopback-only discovery)."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_shm.xml"))
    env.setdefault("ROS_LOG_DIR", "/tmp/haze_ros_ros_log")
    return env


class NodeProcess:
    """``haze_node`` in a child process; ``stop()`` sends SIGINT and returns (rc, output)."""

    def __init__(self, params_file, overrides=(), domain_offset=0, extra_args=()):
        # one domain per node process: nodes of other fixtures must not match this one's topics
        self.domain_id = 1 + (isolated_ros_domain_id() - 1 + domain_offset) % 200
        args = [sys.executable, "-m", "haze_ros.ros.node", "--ros-args"]
        if params_file:
            args += ["--params-file", str(params_file)]
        for name, value in overrides:
            args += ["-p", f"{name}:={value}"]
        args += list(extra_args)
        self.proc = subprocess.Popen(args, cwd=REPO, env=ros_env(self.domain_id), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def alive(self):
        """True while the node process runs."""
        return self.proc.poll() is None

    def stop(self, timeout=15.0):
        """SIGINT, wait; returns (exit code, combined output)."""
        if self.alive():
            self.proc.send_signal(subprocess.signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return self.proc.returncode, out


class GraphClient:
    """A test node in its own rclpy context: publishers, recorded subscriptions, parameter client."""

    def __init__(self, domain_id, name="haze_test_client"):
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received = defaultdict(list)
        self._param_clients = {}

    def close(self):
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)

    def publisher(self, msg_type, topic, reliable=True, depth=10):
        """Publisher; reliable by default (matches the node's best-effort subscription too)."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        return self.node.create_publisher(msg_type, topic, qos)

    def record(self, msg_type, topic, depth=50):
        """Subscribe (reliable) and append every message to ``self.received[topic]``."""
        return self.node.create_subscription(msg_type, topic, self.received[topic].append, depth)

    def spin_until(self, condition, timeout, what="condition"):
        """Spin until ``condition()`` is true; AssertionError naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            self.executor.spin_once(timeout_sec=0.02)
        if not condition():
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def endpoint_qos(self, topic, kind, node_name="haze_node", timeout=10.0):
        """The QoS profile of ``node_name``'s ``kind`` (``publishers`` / ``subscriptions``) on ``topic``.

        Waits for it: an endpoint's node name reaches this participant's graph cache by DDS
        discovery (``ros_discovery_info``), after the endpoint itself, so a fresh query can miss it.
        """
        def profiles():
            found = getattr(self.node, f"get_{kind}_info_by_topic")(topic)
            return [i.qos_profile for i in found if i.node_name == node_name]
        self.spin_until(lambda: bool(profiles()), timeout, f"{node_name}'s {kind} info on {topic}")
        return profiles()[0]

    def wait_matched(self, publishers=(), subscriptions=(), timeout=30.0):
        """Wait until every publisher has a subscriber and every subscription a publisher."""
        self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in publishers)
                        and all(s.get_publisher_count() > 0 for s in subscriptions), timeout,
                        "publishers/subscriptions to match the node")

    def prime(self, publish_probe, topic, timeout=30.0):
        """Publish probes (``publish_probe(i)``) every 0.2 s until one output arrives on ``topic``.

        Matching is not symmetric: the test's publisher can see the node's subscription before the
        node's reader has matched the test's writer, and best-effort frames sent in between are lost.
        One answered probe proves the path works both ways; the recorded outputs are then cleared.
        """
        deadline = time.monotonic() + timeout
        i = 0
        while not self.received[topic]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no output on {topic} within {timeout} s of probing")
            publish_probe(i)
            i += 1
            next_probe = time.monotonic() + 0.2
            self.spin_until(lambda: self.received[topic] or time.monotonic() > next_probe, 1.0)
        self.received[topic].clear()

    def set_parameters(self, node_name, **values):
        """Set parameters on ``node_name`` through its parameter service; returns the results list."""
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        client = self._param_clients.get(node_name)
        if client is None:
            client = self._param_clients[node_name] = AsyncParameterClient(self.node, node_name)
            self.spin_until(lambda: client.services_are_ready(), 20.0, "parameter services")
        future = client.set_parameters([Parameter(k.replace("__", "."), value=v) for k, v in values.items()])
        self.spin_until(future.done, 20.0, "set_parameters response")
        return future.result().results

    def fresh_drop_counts(self, timeout=10.0):
        """``{reason: count}`` from the next /diagnostics message (one published after this call)."""
        seen = len(self.received["/diagnostics"])
        self.spin_until(lambda: len(self.received["/diagnostics"]) > seen, timeout,
                        "a fresh /diagnostics message")
        values = self.latest_diagnostics()
        return {k[len("drops."):]: int(v) for k, v in values.items() if k.startswith("drops.")}

    def latest_diagnostics(self, topic="/diagnostics", name_fragment="haze_ros"):
        """Key/values of the newest recorded diagnostics status whose name contains ``name_fragment``."""
        for array in reversed(self.received[topic]):
            for status in array.status:
                if name_fragment in status.name:
                    return {kv.key: kv.value for kv in status.values}
        return {}


def make_header(stamp_ns, frame_id="camera_optical"):
    """``std_msgs/Header`` with the given stamp in nanoseconds."""
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return header


def image_msg(rgb, stamp_ns, encoding="rgb8"):
    """``sensor_msgs/Image`` from an ``(H, W, 3)`` uint8 RGB array, in ``encoding`` (rgb8/bgr8)."""
    from haze_ros.ros.conversions import to_image_msg

    pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
    return to_image_msg(np.ascontiguousarray(pixels), encoding, make_header(stamp_ns))


def stamp_of(msg):
    """Header stamp in integer nanoseconds."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
