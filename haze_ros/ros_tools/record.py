"""``haze_record``: record live topics to a rosbag2 bag (``ros2 bag record`` for pip ROS 2).

Subscriptions take the raw CDR bytes (``raw=True``: nothing is deserialised) and ``rosbags`` writes
them with the receive time as bag time. Each topic's type is found on the ROS graph (waiting up to
``--wait-topics`` seconds for a publisher); the subscription is reliable when every publisher offers
reliable QoS (else best effort), and the publishers' QoS is stored in the bag's metadata. Recording
stops on SIGINT/SIGTERM, after ``--duration`` seconds, once every topic has ``--count`` messages,
or ``--idle-timeout`` seconds after the last message; the bag is then finalised and renamed from
its temporary name (exit status 0, after a signal too). Prints ``haze_record: recording`` (flushed)
once all subscriptions are matched, so scripts can start the publisher side after it.

    haze_record out/run1 --topic /cam/image_hazed --topic /cam/image_hazed/haze_params --count 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy

from haze_ros.bags import io as bag_io
from haze_ros.core.exit_status import EXIT_SIGINT, StopSignals
from haze_ros.ros_tools.ros_bridge import message_class, qos_to_bag, split_ros_args


def build_parser() -> argparse.ArgumentParser:
    """Build the ``haze_record`` argument parser (ROS arguments after ``--ros-args`` go to rclpy)."""
    parser = argparse.ArgumentParser(prog="haze_record", description="Record topics to a rosbag2 bag "
                                     "(raw CDR, receive time as bag time).")
    parser.add_argument("output", type=Path, help="output rosbag2 folder")
    parser.add_argument("--topic", action="append", required=True, dest="topics", help="topic; repeatable")
    parser.add_argument("--storage", choices=sorted(bag_io.STORAGES), default="mcap")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="stop once every topic has N messages")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                        help="stop S seconds after the last message (once one arrived)")
    parser.add_argument("--wait-topics", type=float, default=30.0, metavar="S",
                        help="longest wait for each topic to appear on the graph (default 30)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    return parser


class Recorder:
    """Raw subscriptions writing into an ``OutputBag``; ``counts`` per topic."""

    def __init__(self, node, out: bag_io.OutputBag) -> None:
        self.node, self.out = node, out
        self.counts: Dict[str, int] = {}
        self.last_message = None
        self.subscriptions = []

    def discover(self, topics: List[str], timeout_s: float) -> Dict[str, str]:
        """Topic → type for ``topics``, spinning until all have a publisher; raises on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            known = {name: types[0] for name, types in self.node.get_topic_names_and_types()}
            found = {t: known[t] for t in topics if t in known and self.node.get_publishers_info_by_topic(t)}
            if len(found) == len(topics):
                return found
            if time.monotonic() > deadline:
                missing = sorted(set(topics) - set(found))
                raise bag_io.BagToolError(f"no publisher after {timeout_s} s on: {', '.join(missing)}")
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def subscribe(self, topic: str, msgtype: str) -> None:
        """Subscribe with QoS adapted to the publishers and add the bag connection."""
        infos = self.node.get_publishers_info_by_topic(topic)
        reliable = all(i.qos_profile.reliability == QoSReliabilityPolicy.RELIABLE for i in infos)
        reliability = QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT
        qos = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=100, reliability=reliability,
                         durability=QoSDurabilityPolicy.VOLATILE)
        conn = self.out.new_connection(topic, msgtype, [qos_to_bag(i.qos_profile) for i in infos[:1]])
        self.counts[topic] = 0

        def on_message(raw: bytes) -> None:
            self.out.write(conn, self.node.get_clock().now().nanoseconds, raw)
            self.counts[topic] += 1
            self.last_message = time.monotonic()

        self.subscriptions.append(self.node.create_subscription(message_class(msgtype), topic, on_message,
                                                                qos, raw=True))

    def wait_matched(self, timeout_s: float) -> bool:
        """Spin until every subscription has a matched publisher (or ``timeout_s`` passes)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(s.get_publisher_count() > 0 for s in self.subscriptions):
                return True
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return False


def _done(rec: Recorder, args, started: float) -> bool:
    now = time.monotonic()
    if args.duration is not None and now - started >= args.duration:
        return True
    if args.count is not None and rec.counts and all(c >= args.count for c in rec.counts.values()):
        return True
    return bool(args.idle_timeout is not None and rec.last_message is not None
                and now - rec.last_message >= args.idle_timeout)


def _record(args, ros_argv: List[str], stop: StopSignals) -> int:
    """Create the bag, record until a stop condition or signal, finalise (or remove it on an error)."""
    try:
        out = bag_io.OutputBag(args.output, args.storage, args.overwrite)
    except bag_io.BagToolError as exc:
        print(f"haze_record: error: {exc}", file=sys.stderr)
        return 2
    node, rec, status = None, None, 0
    try:
        try:
            rclpy.init(args=ros_argv)
            node = rclpy.create_node("haze_record")
            rec = Recorder(node, out)
            for topic, msgtype in rec.discover(list(dict.fromkeys(args.topics)), args.wait_topics).items():
                rec.subscribe(topic, msgtype)
            rec.wait_matched(args.wait_topics)
            print(f"haze_record: recording {len(rec.subscriptions)} topics to {args.output}", flush=True)
            started = time.monotonic()
            while not _done(rec, args, started):
                rclpy.spin_once(node, timeout_sec=0.05)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass  # SIGINT/SIGTERM: a normal way to stop, finalise below
        except (bag_io.BagToolError, ImportError) as exc:
            print(f"haze_record: error: {exc}", file=sys.stderr)
            status = 2
        finally:
            stop.hold()  # from here on a signal is only recorded: the bag is finalised or removed
            if node is not None:
                for sub in rec.subscriptions if rec is not None else ():
                    node.destroy_subscription(sub)
                node.destroy_node()
            rclpy.try_shutdown()
        if status:
            out.abort()
            return status
        out.commit()
    except BaseException:
        out.abort()  # nothing that looks like a bag is left behind
        raise
    counts = ", ".join(f"{t}: {n}" for t, n in rec.counts.items()) if rec is not None else "nothing"
    print(f"haze_record: wrote {args.output} ({counts})", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_record``; returns the exit status.

    0 bag finalised (also after SIGINT/SIGTERM, the normal way to stop a recording), 2 bad
    arguments or an error (nothing left at OUTPUT), 130/143 when SIGINT/SIGTERM came before the
    bag could be created (nothing left either).
    """
    argv = list(sys.argv if argv is None else ["haze_record", *argv])
    tool_argv, ros_argv = split_ros_args(argv)
    args = build_parser().parse_args(tool_argv[1:])
    for name in ("duration", "count", "idle_timeout", "wait_topics"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            print(f"haze_record: error: --{name.replace('_', '-')} must be > 0, got {value}", file=sys.stderr)
            return 2
    # before rclpy.init: rclpy's own handlers then chain to these (see haze_ros.core.exit_status)
    with StopSignals() as stop:
        try:
            return _record(args, ros_argv, stop)
        except KeyboardInterrupt:  # landed before the recording's try (while the bag was being created)
            bag_io.discard_partial(args.output)
            return stop.exit_status(EXIT_SIGINT)


if __name__ == "__main__":
    sys.exit(main())
