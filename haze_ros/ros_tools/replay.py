"""``haze_replay``: publish a bag's topics over DDS at recorded timing (``ros2 bag play`` for pip ROS 2).

Messages are published as their raw CDR bytes (no deserialisation), with each topic's QoS taken
from the bag's metadata (``offered_qos_profiles``) when recorded. ``--clock`` publishes the bag time
on ``/clock`` (``rosgraph_msgs/Clock``) for nodes running with ``use_sim_time``. Before the first
message the tool waits (``--wait-subscribers`` seconds at most) until the topics given by
``--wait-for`` (default: the bag's image topics) have a subscriber. At the end it prints the
achieved rate, per-topic counts, late messages and publish failures; ``--report FILE`` writes them
and the wall time of every publication as JSON. Exit status: 0 played, 2 bad arguments or bag, 3 no
subscriber with ``--require-subscribers``, 130 stopped by SIGINT (Ctrl-C), 143 by SIGTERM (the
report is printed, and written, after a stop too).

    haze_replay data/demo/demo.mcap --rate 0.5 --topics /demo/camera/image_raw/compressed
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException

from haze_ros.bags import io as bag_io
from haze_ros.bags.depth import header_stamp_ns
from haze_ros.core.exit_status import EXIT_SIGINT, StopSignals
from haze_ros.ros_tools.ros_bridge import message_class, qos_from_bag, split_ros_args

IMAGE_TYPES = (bag_io.IMAGE_TYPE, bag_io.COMPRESSED_TYPE)
CLOCK_PERIOD_S = 0.025  # /clock at 40 Hz between messages, like ros2 bag play's default


def build_parser() -> argparse.ArgumentParser:
    """Build the ``haze_replay`` argument parser (ROS arguments after ``--ros-args`` go to rclpy)."""
    parser = argparse.ArgumentParser(prog="haze_replay", description="Publish a bag's messages at recorded "
                                     "timing over DDS (raw CDR, recorded QoS).")
    parser.add_argument("bag", type=Path, help="rosbag2 folder, .mcap/.db3 file or ROS 1 .bag")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    parser.add_argument("--loop", action="store_true", help="play again from the start until interrupted")
    parser.add_argument("--clock", action="store_true", help="publish the bag time on /clock")
    parser.add_argument("--topics", nargs="+", default=None, help="topics to play (default: all)")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="publish topic FROM under the name TO; repeatable")
    parser.add_argument("--wait-for", nargs="*", default=None, metavar="TOPIC",
                        help="topics that need a subscriber before playing (default: the image topics; "
                             "may name topics the bag does not have, e.g. a node's output a recorder must "
                             "listen to; give no topic to start at once)")
    parser.add_argument("--wait-subscribers", type=float, default=10.0, metavar="S",
                        help="longest wait for those subscribers in seconds (default 10)")
    parser.add_argument("--require-subscribers", action="store_true",
                        help="exit with status 3 instead of playing when the wait times out")
    parser.add_argument("--delay", type=float, default=0.5, metavar="S",
                        help="pause after the subscribers matched, before the first message (default 0.5 s): "
                             "the subscriber's side of DDS discovery can finish a little later, and a "
                             "best-effort subscriber drops messages from a publisher it has not matched yet")
    parser.add_argument("--linger", type=float, default=1.0, metavar="S",
                        help="after the last message, wait up to S seconds for reliable subscribers to "
                             "acknowledge (best-effort: S/4) before exiting (default 1.0)")
    parser.add_argument("--report", type=Path, default=None, help="write the end-of-run report as JSON here")
    return parser


class Replayer:
    """Publishers for a bag's connections and the timed publishing loop."""

    def __init__(self, node, bag: bag_io.InputBag, topics: Optional[List[str]], remap: Dict[str, str],
                 clock: bool) -> None:
        self.node, self.bag, self.remap = node, bag, dict(remap)
        conns = [c for c in bag.connections if topics is None or c.topic in topics]
        if topics:
            missing = sorted(set(topics) - {c.topic for c in conns})
            if missing:
                raise bag_io.BagToolError(f"topics not in {bag.path}: {', '.join(missing)}")
        self.connections = conns
        self.publishers = {}
        for conn in conns:
            name = remap.get(conn.topic, conn.topic)
            if name not in {p.topic_name for p in self.publishers.values()}:
                qos = qos_from_bag(bag_io.offered_qos(conn), conn.msgtype)
                pub = node.create_publisher(message_class(conn.msgtype), name, qos)
                for c in conns:
                    if remap.get(c.topic, c.topic) == name:
                        self.publishers[c.id] = pub
        self.clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock  # ros-rosgraph-msgs wheel
            self.clock_pub = node.create_publisher(Clock, "/clock", 10)
            self._clock_msg = Clock()
        self.stats = {"attempted": collections.Counter(), "published": collections.Counter(), "late": 0,
                      "failures": 0, "events": []}

    def _unsubscribed(self, topics: List[str]) -> List[str]:
        own = {p.topic_name: p for p in self.publishers.values()}
        waiting = []
        for topic in topics:
            if topic in own:  # matched with our publisher (QoS compatible)
                count = own[topic].get_subscription_count()
            else:  # any other topic, e.g. a node's output that a recorder must be listening to
                count = self.node.count_subscribers(topic)
            if count == 0:
                waiting.append(topic)
        return waiting

    def wait_for_subscribers(self, topics: List[str], timeout_s: float) -> List[str]:
        """Wait until each of ``topics`` has a subscriber; returns those still without one.

        For the bag's topics the subscriber must be matched with this publisher; any other topic
        (e.g. the processed output a recorder listens to) is checked on the ROS graph.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._unsubscribed(topics):
                return []
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return self._unsubscribed(topics)

    def linger(self, seconds: float) -> None:
        """Give the last messages time to leave: reliable ones until acknowledged (≤ ``seconds``)."""
        from rclpy.duration import Duration
        from rclpy.qos import QoSReliabilityPolicy

        best_effort = False
        for pub in {id(p): p for p in self.publishers.values()}.values():
            if pub.qos_profile.reliability == QoSReliabilityPolicy.RELIABLE:
                pub.wait_for_all_acked(Duration(seconds=seconds))
            else:
                best_effort = True
        if best_effort:
            time.sleep(seconds / 4)

    def _publish_clock(self, bag_ns: int) -> None:
        if self.clock_pub is not None:
            self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = divmod(bag_ns, 10**9)
            self.clock_pub.publish(self._clock_msg)

    def _sleep_until(self, wall_target: float, bag_at) -> None:
        while True:
            now = time.monotonic()
            if now >= wall_target:
                return
            if self.clock_pub is not None:
                self._publish_clock(bag_at(now))
            time.sleep(min(CLOCK_PERIOD_S, wall_target - now))

    def play_once(self, rate: float) -> None:
        """Publish every selected message once, spaced by bag time / ``rate``."""
        start_wall, start_bag = time.monotonic(), None
        for conn, stamp, raw in self.bag.messages(self.connections):
            if start_bag is None:
                start_bag = stamp
            target = start_wall + (stamp - start_bag) / 1e9 / rate
            self._sleep_until(target, lambda now: start_bag + int((now - start_wall) * rate * 1e9))
            if time.monotonic() - target > 0.05:
                self.stats["late"] += 1
            self._publish_clock(stamp)
            self.stats["attempted"][conn.topic] += 1
            try:
                self.publishers[conn.id].publish(raw)
            except Exception as exc:  # noqa: BLE001 - counted and reported, playback goes on
                self.stats["failures"] += 1
                self.node.get_logger().warning(f"publish on {conn.topic} failed: {exc}")
                continue
            self.stats["published"][conn.topic] += 1
            header_ns = header_stamp_ns(raw) if conn.msgtype in IMAGE_TYPES else None
            self.stats["events"].append((conn.topic, header_ns, time.time_ns()))


def _report(replayer: Replayer, bag: bag_io.InputBag, wall_s: float, loops: int, interrupted: bool,
            unmatched: List[str]) -> dict:
    """Count messages per bag topic for the end-of-run report.

    Per topic: ``in_bag`` × loops, ``attempted``, ``published``, ``dropped`` (= failures), and
    ``published_as`` (the topic name after ``--remap``).
    """
    in_bag = collections.Counter()
    for conn in replayer.connections:
        in_bag[conn.topic] += conn.msgcount
    attempted, published = replayer.stats["attempted"], replayer.stats["published"]
    total = sum(published.values())
    return {
        "bag": str(bag.path), "loops_completed": loops, "interrupted": interrupted,
        "wall_time_s": round(wall_s, 3), "messages_published": total,
        "achieved_rate_msgs_per_s": round(total / wall_s, 2) if wall_s else None,
        "per_topic": {t: {"in_bag": in_bag[t], "attempted": attempted[t], "published": published[t],
                          "dropped": attempted[t] - published[t], "published_as": replayer.remap.get(t, t)}
                      for t in sorted(in_bag)},
        "late_messages": replayer.stats["late"], "publish_failures": replayer.stats["failures"],
        "topics_without_subscriber": unmatched,
        "publications": [{"topic": t, "header_stamp_ns": h, "wall_ns": w}
                         for t, h, w in replayer.stats["events"]],
    }


def _print_report(report: dict) -> None:
    print(f"haze_replay: {report['messages_published']} messages in {report['wall_time_s']} s "
          f"({report['achieved_rate_msgs_per_s']} msg/s), {report['late_messages']} late (> 50 ms), "
          f"{report['publish_failures']} publish failures", flush=True)
    if report["interrupted"]:
        print(f"  interrupted after {report['loops_completed']} complete loop(s)", flush=True)
    for topic, row in report["per_topic"].items():
        renamed = f" as {row['published_as']}" if row["published_as"] != topic else ""
        print(f"  {topic}: {row['published']} published{renamed} ({row['in_bag']} in the bag), "
              f"{row['dropped']} dropped", flush=True)


def _play(args, remap: Dict[str, str], ros_argv: List[str], stop: StopSignals) -> int:
    """Open the bag, start rclpy, wait for subscribers, play; the report is printed whatever happens."""
    try:
        bag = bag_io.open_input(args.bag)
    except bag_io.BagToolError as exc:
        print(f"haze_replay: error: {exc}", file=sys.stderr)
        return 2
    node, replayer = None, None
    loops, started, unmatched, status = 0, time.monotonic(), [], 0
    try:
        rclpy.init(args=ros_argv)
        node = rclpy.create_node("haze_replay")
        replayer = Replayer(node, bag, args.topics, remap, args.clock)
        wait_for = args.wait_for if args.wait_for is not None else sorted(
            {remap.get(c.topic, c.topic) for c in replayer.connections if c.msgtype in IMAGE_TYPES})
        if wait_for:
            print(f"haze_replay: waiting up to {args.wait_subscribers} s for subscribers on: "
                  f"{', '.join(wait_for)}", flush=True)
        unmatched = replayer.wait_for_subscribers(wait_for, args.wait_subscribers)
        if unmatched:
            print(f"haze_replay: no subscriber after {args.wait_subscribers} s on: {', '.join(unmatched)}",
                  file=sys.stderr, flush=True)
            if args.require_subscribers:
                return 3
        time.sleep(args.delay)
        started = time.monotonic()
        while True:
            replayer.play_once(args.rate)
            loops += 1
            if not args.loop:
                break
        replayer.linger(args.linger)
    except (KeyboardInterrupt, ExternalShutdownException):  # SIGINT/SIGTERM (or rclpy shut down)
        status = stop.exit_status(EXIT_SIGINT)
    except bag_io.BagToolError as exc:
        print(f"haze_replay: error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop.hold()  # a signal during the report and the shutdown is only recorded
        if replayer is not None:
            report = _report(replayer, bag, time.monotonic() - started, loops, status != 0, unmatched)
            _print_report(report)
            if args.report:
                args.report.write_text(json.dumps(report, indent=1))
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        bag.close()
    return status


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_replay``; returns the exit status.

    0 played, 2 bad arguments or bag, 3 no subscriber (``--require-subscribers``), 130 stopped by
    SIGINT (Ctrl-C), 143 by SIGTERM.
    """
    argv = list(sys.argv if argv is None else ["haze_replay", *argv])
    tool_argv, ros_argv = split_ros_args(argv)
    args = build_parser().parse_args(tool_argv[1:])
    if args.rate <= 0:
        print("haze_replay: error: --rate must be > 0", file=sys.stderr)
        return 2
    remap = {}
    for item in args.remap:
        source, _, target = item.partition(":=")
        if not (source and target):
            print(f"haze_replay: error: --remap {item!r}: expected FROM:=TO, "
                  "e.g. /cam/image_raw:=/camera/image_raw", file=sys.stderr)
            return 2
        remap[source] = target
    # before rclpy.init: rclpy's own handlers then chain to these (see haze_ros.core.exit_status)
    with StopSignals() as stop:
        try:
            return _play(args, remap, ros_argv, stop)
        except KeyboardInterrupt:  # a signal that landed outside _play's try (nothing was published)
            return stop.exit_status(EXIT_SIGINT)


if __name__ == "__main__":
    sys.exit(main())
