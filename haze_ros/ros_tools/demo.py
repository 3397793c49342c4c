"""``haze_demo``: the package's main job on the shipped bag, end to end over DDS, in about 30 s.

    haze_demo [--mode both|haze|dehaze] [--depth-source model|flat_road] [--out DIR]
                                                          (./scripts/demo.sh runs this)

* ``both`` (default): replay of ``data/demo/demo_bag`` (10 clear Udacity highway frames, JPEG) →
  ``haze_node`` in haze mode → a second ``haze_node`` in dehaze mode (``--dehaze-backend``, default
  ``model``: the shipped learned model on the fastest runtime; ``dcp`` is the dark channel prior) →
  ``haze_record``. The haze (eq. (1), ``--visibility`` default 150 m) takes its depth from
  ``--depth-source``: ``model`` (default) = inferred from the image by the learned haze backend
  (``backend: model``, ``depth_source: model``), so contrast falls with distance and what stands
  above the horizon stays visible; ``flat_road`` = the physics backend's depth-free flat-road
  approximation, where everything above the horizon is infinitely far and becomes the airlight.
  Picture with ``model``: input | flat road | learned depth | dehazed, the flat-road column made
  from the same frames by ``haze_bag`` (the node's pipeline); with ``flat_road``: input | hazed |
  dehazed (``--depth-source flat_road --visibility 80 --dehaze-backend dcp`` is the former default).
* ``haze``: replay → haze node → recorder. Picture: input | (flat road |) hazed.
* ``dehaze``: the bag is first hazed offline with the bag tool (``haze_bag`` pipeline, the same
  ``--depth-source``), then that hazy bag is replayed into the dehaze node. Picture: clear | hazy |
  dehazed.

``--model PATH`` gives both learned nodes a model file (default: the shipped ``models/edge``).
Learned depth needs a physics-generator model (one whose haze takes visibility and airlight); with
a model that is not one, the demo says so and falls back to ``flat_road``. ``summary.json``
records, per haze column, how uniform the rows above the horizon are (``above_horizon``: grey-level
standard deviation and the fraction of pixels at the airlight).

Every node, the replay and the recorder run as separate processes on a private ROS domain
(``ROS_DOMAIN_ID``, overridable with ``HAZE_DEMO_DOMAIN_ID``) with the Fast DDS shared-memory
profile of ``config/fastdds_shm.xml``. Writes to ``--out``: ``recorded/`` (the processed bag),
``side_by_side.png``, ``summary.json``, ``logs/``; prints frames in/out, drops and latency.
Exit status: 0 every frame came out, 1 otherwise; on SIGINT (Ctrl-C) / SIGTERM the child processes
are stopped and the status is 130 / 143.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from haze_ros.backends.model_files import resolve_model
from haze_ros.bags import io as bag_io
from haze_ros.bags.cli import main as haze_bag
from haze_ros.core.backend import BackendError
from haze_ros.core.exit_status import StopSignals, deferred_signals, exit_status_for
from haze_ros.core.types import Direction
from haze_ros.export.metadata import MetadataError, read_onnx_metadata
from haze_ros.ros_tools import demo_report

NS = "/demo/camera"
TOPIC_IN = f"{NS}/image_raw/compressed"
HAZED, DEHAZED = f"{NS}/image_hazed", f"{NS}/image_dehazed"
DEPTH_SOURCES = ("model", "flat_road")
CLASSICAL = ("dcp", "physics")
LABELS = {"model": "learned depth (model)", "flat_road": "flat road (physics)"}


def package_path(*parts: str) -> Path:
    """Locate a file of the package: the source checkout first, then the installed share/haze_ros."""
    local = Path(__file__).resolve().parents[2].joinpath(*parts)
    if local.exists():
        return local
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("haze_ros")).joinpath(*parts)


def demo_env() -> Dict[str, str]:
    """Environment for the demo's processes: private domain, loopback discovery, SHM profile."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = os.environ.get("HAZE_DEMO_DOMAIN_ID", str(101 + os.getpid() % 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(package_path("config", "fastdds_shm.xml"))
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A child process whose output goes to a log file; lines are also kept for ``wait_line``."""

    def __init__(self, name: str, cmd: List[str], env: Dict[str, str], log_dir: Path) -> None:
        self.name, self.lines = name, []
        self.log = (log_dir / f"{name}.log").open("w")
        self.popen = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)
            self.log.write(line)
            self.log.flush()

    def wait_line(self, text: str, timeout_s: float) -> bool:
        """Wait until a line containing ``text`` was printed (True) or timeout / exit (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            if self.popen.poll() is not None:
                self._reader.join(1.0)
                return any(text in line for line in self.lines)
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 10.0) -> Optional[int]:
        """SIGINT, then SIGKILL after ``timeout_s``; returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(2.0)
        self.log.close()
        return self.popen.returncode


def node_cmd(mode: str, args, input_transport: str, remaps: List[str]) -> List[str]:
    """Command line of a ``haze_node`` in the demo namespace."""
    config = package_path("config", "hazify.yaml" if mode == "haze" else "dehaze.yaml")
    cmd = [sys.executable, "-m", "haze_ros.ros.node", "--ros-args", "--params-file", str(config),
           "-p", f"input_transport:={input_transport}", "-r", f"__ns:={NS}",
           "-r", f"__node:={'haze_node' if mode == 'haze' else 'dehaze_node'}"]
    if mode == "haze":
        cmd += ["-p", f"haze.visibility_m:={float(args.visibility)}",
                "-p", f"depth_source:={args.depth_source}"]
        if args.depth_source == "model":
            cmd += ["-p", "backend:=model"] + _model_parameter(args)
        else:
            cmd += ["-p", "backend:=physics", "-p", f"depth_free.horizon_row:={float(args.horizon_row)}"]
    else:
        cmd += ["-p", f"backend:={args.dehaze_backend}"]
        if args.dehaze_backend not in CLASSICAL:
            cmd += _model_parameter(args)
    for remap in remaps:
        cmd += ["-r", remap]
    return cmd


def _model_parameter(args) -> List[str]:
    """``-p model_path:=...`` for ``--model`` (nothing: the params file's, i.e. the shipped model)."""
    return ["-p", f"model_path:={args.model}"] if args.model else []


def learned_depth_problem(model_path: str) -> Optional[str]:
    """Why ``model_path`` ('' = shipped) cannot make learned-depth haze; ``None`` if it can (or cannot tell).

    A checkpoint must have the physics generator (``model.architecture.generator``), an ONNX file
    haze inputs (visibility, airlight); a TensorRT engine is left to the node to check. A missing
    or invalid file is left to the node too (it stops naming ``model_path``).
    """
    try:
        model = resolve_model(model_path)
        if model.kind == "checkpoint":
            meta = json.loads(model.path.with_suffix(".json").read_text())
            generator = meta.get("model", {}).get("architecture", {}).get("generator", "pixel")
            if generator != "physics":
                return f"{model.path} has a {generator!r} generator, not the physics generator"
        elif model.kind == "onnx" and not read_onnx_metadata(model.path, Direction.HAZE).conditions:
            return f"{model.path} is an unconditioned haze graph"
    except (BackendError, MetadataError, OSError, ValueError, AttributeError):
        return None
    return None


def haze_bag_args(args, source: Path, target: Path, depth_source: str) -> List[str]:
    """``haze_bag`` command line that hazes ``source`` into ``target`` as the demo's haze node would."""
    cmd = [str(source), str(target), "--mode", "haze", "--topic", TOPIC_IN, "--visibility",
           str(float(args.visibility)), "--depth-source", depth_source, "--overwrite", "--no-progress"]
    if depth_source == "model":
        return cmd + ["--backend", "model"] + (["--model", args.model] if args.model else [])
    return cmd + ["--backend", "physics", "--horizon-row", str(float(args.horizon_row))]


def _haze_offline(args, source: Path, target: Path, depth_source: str, stop: Optional[StopSignals]) -> Path:
    code = haze_bag(haze_bag_args(args, source, target, depth_source))
    if stop is not None:
        stop.raise_for_status(code)
    if code != 0:
        raise RuntimeError(f"haze_bag could not haze the demo bag ({depth_source})")
    return target


def wait_subscribers(topic_counts: Dict[str, int], env: Dict[str, str], timeout_s: float) -> bool:
    """Wait (graph query from a helper process) until each topic has at least N subscribers."""
    code = ("import rclpy,sys,time,json\nrclpy.init()\nn=rclpy.create_node('haze_demo_probe')\n"
            f"want=json.loads({json.dumps(json.dumps(topic_counts))})\nend=time.monotonic()+{timeout_s}\n"
            "while time.monotonic()<end:\n"
            "    if all(n.count_subscribers(t)>=c for t,c in want.items()): sys.exit(0)\n"
            "    rclpy.spin_once(n,timeout_sec=0.1)\nsys.exit(1)\n")
    with deferred_signals():  # a stop signal is raised once the probe exists, so that it is killed
        probe = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        return probe.wait(timeout_s + 30) == 0
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()


def start(procs: List[Proc], name: str, cmd: List[str], env: Dict[str, str], log_dir: Path) -> Proc:
    """Start a :class:`Proc` and add it to ``procs`` in one step (for the clean-up that stops them).

    A stop signal in between is raised only once the child is in ``procs`` (else an interrupted
    ``Popen`` or a signal just before the append would leave a child running after the demo).
    """
    with deferred_signals():
        proc = Proc(name, cmd, env, log_dir)
        procs.append(proc)
    return proc


def prepare_input(args, out: Path, stop: Optional[StopSignals] = None) -> Path:
    """Return the bag to replay: the shipped clear bag, or (dehaze mode) a copy hazed by the bag tool.

    ``haze_bag`` handles a SIGINT/SIGTERM itself (status 130/143, nothing written); ``stop`` (the
    demo's guard) then raises the interruption here.
    """
    if args.mode != "dehaze":
        return args.bag
    return _haze_offline(args, args.bag, out / "hazy_input", args.depth_source, stop)


def prepare_reference(args, out: Path, stop: Optional[StopSignals] = None) -> Optional[Path]:
    """The flat-road haze of the input, for comparison next to learned depth (``None`` when not shown)."""
    if args.mode == "dehaze" or args.depth_source != "model":
        return None
    return _haze_offline(args, args.bag, out / "flat_road", "flat_road", stop)


def run_graph(args, out: Path, bag: Path, env: Dict[str, str]) -> dict:
    """Start nodes and recorder, replay ``bag``, wait for the recording; returns the replay report."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: List[Proc] = []
    n_frames = _count(bag, TOPIC_IN)
    try:
        record_topics, probe = [], {}
        if args.mode in ("both", "haze"):
            start(procs, "haze_node", node_cmd("haze", args, "compressed", []), env, logs)
            record_topics += [HAZED, f"{HAZED}/haze_params"]
        if args.mode in ("both", "dehaze"):
            transport, remaps = ("raw", ["image_raw:=image_hazed", "camera_info:=image_hazed/camera_info"]) \
                if args.mode == "both" else ("compressed", [])
            start(procs, "dehaze_node", node_cmd("dehaze", args, transport, remaps), env, logs)
            record_topics += [DEHAZED]
            if args.mode == "both":
                probe[HAZED] = 2  # the dehaze node and the recorder
        record_cmd = [sys.executable, "-m", "haze_ros.ros_tools.record", str(out / "recorded"), "--count",
                      str(n_frames), "--idle-timeout", "5", "--wait-topics", str(args.timeout), "--overwrite"]
        for topic in record_topics:
            record_cmd += ["--topic", topic]
        recorder = start(procs, "recorder", record_cmd, env, logs)
        if not recorder.wait_line("haze_record: recording", args.timeout):
            raise RuntimeError("the recorder did not start recording "
                               "(see logs/recorder.log, logs/*_node.log)")
        if probe and not wait_subscribers(probe, env, args.timeout):
            raise RuntimeError(f"no dehaze node subscribed to {HAZED} (see logs/dehaze_node.log)")
        report_path = out / "replay_report.json"
        replay = start(procs, "replay", [sys.executable, "-m", "haze_ros.ros_tools.replay", str(bag),
                                         "--rate", str(args.rate), "--wait-for", TOPIC_IN,
                                         "--wait-subscribers", str(args.timeout), "--require-subscribers",
                                         "--report", str(report_path)], env, logs)
        if replay.popen.wait(args.timeout) != 0:
            raise RuntimeError("replay failed (see logs/replay.log)")
        recorder.popen.wait(args.timeout)
        if recorder.stop() != 0:
            raise RuntimeError("the recorder failed (see logs/recorder.log)")
        return json.loads(report_path.read_text())
    finally:
        for proc in reversed(procs):
            proc.stop()


def _count(bag: Path, topic: str) -> int:
    with bag_io.open_input(bag) as reader:
        return sum(c.msgcount for c in reader.connections if c.topic == topic)


def summarise(args, out: Path, bag: Path, report: dict, reference: Optional[Path] = None) -> dict:
    """Picture + counts + latency + above-horizon haze from the bags and the replay report."""
    recorded = out / "recorded"
    columns = [("input (clear)", demo_report.frames_by_stamp(args.bag, TOPIC_IN))]
    hazy = {}  # label -> frames of each haze column
    if args.mode == "dehaze":
        hazy[f"hazy: {LABELS[args.depth_source]}"] = demo_report.frames_by_stamp(bag, TOPIC_IN)
    if reference is not None:
        hazy[LABELS["flat_road"]] = demo_report.frames_by_stamp(reference, TOPIC_IN)
    outputs = [t for t in (HAZED, DEHAZED) if args.mode == "both" or (t == HAZED) == (args.mode == "haze")]
    if HAZED in outputs:
        hazy[LABELS[args.depth_source]] = demo_report.frames_by_stamp(recorded, HAZED)
    columns += list(hazy.items())
    if DEHAZED in outputs:
        columns.append((f"dehazed ({args.dehaze_backend})", demo_report.frames_by_stamp(recorded, DEHAZED)))
    stamps = sorted(columns[0][1])
    picture = demo_report.side_by_side(columns, stamps, out / "side_by_side.png")
    above = {label: demo_report.above_horizon(frames, args.horizon_row) for label, frames in hazy.items()}
    published = {p["header_stamp_ns"]: p["wall_ns"] for p in report["publications"] if p["topic"] == TOPIC_IN}
    per_topic = {}
    for topic in outputs:
        received = demo_report.receive_times(recorded, topic)
        latency = demo_report.latency_ms(published, received)
        per_topic[topic] = {"frames_out": len(received), "dropped": len(published) - len(received),
                            "latency_ms": demo_report.percentiles(latency)}
    return {"mode": args.mode, "input_bag": str(bag), "frames_in": len(published),
            "depth_source": args.depth_source, "visibility_m": float(args.visibility),
            "dehaze_backend": args.dehaze_backend, "model": args.model or "(shipped)",
            "columns": [label for label, _frames in columns], "above_horizon": above,
            "replay_rate_msgs_per_s": report["achieved_rate_msgs_per_s"], "outputs": per_topic,
            "recorded_bag": str(recorded), "picture": str(picture), "domain_id": None}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_demo``; returns 0 when every frame came out, else 1.

    After SIGINT / SIGTERM the demo's processes are stopped first; the status is then 130 / 143.
    """
    parser = argparse.ArgumentParser(prog="haze_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["both", "haze", "dehaze"], default="both")
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--bag", type=Path, default=None,
                        help="bag to replay (default: the shipped demo bag)")
    parser.add_argument("--rate", type=float, default=0.5, help="replay speed (default 0.5: 5 frames/s)")
    parser.add_argument("--depth-source", choices=DEPTH_SOURCES, default="model",
                        help="depth of the haze: model = inferred from the image by the learned model "
                             "(default), flat_road = the depth-free flat-road approximation")
    parser.add_argument("--visibility", type=float, default=150.0,
                        help="haze visibility in metres (default 150)")
    parser.add_argument("--horizon-row", type=float, default=320.0,
                        help="horizon row in pixels for the depth-free haze and the above-horizon figures "
                             "(default 320: the shipped 960x540 Udacity frames' vanishing point)")
    parser.add_argument("--dehaze-backend", default="model",
                        help="dehaze node backend (default model: the learned model on the fastest runtime; "
                             "dcp, auto, torch, onnxruntime ...)")
    parser.add_argument("--model", default="", metavar="PATH",
                        help="model file of the learned nodes (default: the shipped models/edge)")
    parser.add_argument("--timeout", type=float, default=60.0, help="longest wait for each step, seconds")
    args = parser.parse_args(argv)
    args.bag = args.bag or package_path("data", "demo", "demo_bag")
    # SIGINT/SIGTERM raise exit_status.Interrupted once; run_graph then stops every child process
    with StopSignals() as stop:
        try:
            return _run_demo(args, stop)
        except KeyboardInterrupt as exc:
            print("haze_demo: interrupted (its processes were stopped)", file=sys.stderr)
            return stop.exit_status(exit_status_for(exc))


def _run_demo(args, stop: StopSignals) -> int:
    """The demo itself (see :func:`main`); 0 when every frame came out, else 1."""
    out = args.out
    if (out / "recorded").exists():
        shutil.rmtree(out / "recorded")
    out.mkdir(parents=True, exist_ok=True)
    env = demo_env()
    started = time.monotonic()
    problem = learned_depth_problem(args.model) if args.depth_source == "model" else None
    if problem:
        print(f"haze_demo: note: no learned depth: {problem} (its haze ignores visibility and airlight); "
              "showing --depth-source flat_road (pass --model with a physics checkpoint)", file=sys.stderr)
        args.depth_source = "flat_road"
    try:
        bag = prepare_input(args, out, stop)
        reference = prepare_reference(args, out, stop)
        report = run_graph(args, out, bag, env)
        summary = summarise(args, out, bag, report, reference)
    except (RuntimeError, subprocess.TimeoutExpired, bag_io.BagToolError) as exc:
        print(f"haze_demo: failed: {exc}", file=sys.stderr)
        return 1
    stop.hold()  # the demo is done: a signal from here on does not change the result
    summary["domain_id"] = int(env["ROS_DOMAIN_ID"])
    summary["wall_time_s"] = round(time.monotonic() - started, 1)
    summary["note"] = problem or ""
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"haze_demo ({args.mode}, depth {args.depth_source}, {args.visibility:g} m): "
          f"{summary['frames_in']} frames replayed over DDS (domain {summary['domain_id']}) in "
          f"{summary['wall_time_s']} s")
    for label, row in summary["above_horizon"].items():
        print(f"  above the horizon, {label}: grey std {row['grey_std']}, saturated fraction "
              f"{row['saturated_fraction']} (pixels at the airlight)")
    for topic, row in summary["outputs"].items():
        lat = row["latency_ms"]
        print(f"  {topic}: {row['frames_out']}/{summary['frames_in']} frames out, {row['dropped']} dropped, "
              f"latency p50 {lat['p50']} ms / p95 {lat['p95']} ms (replay publish -> recorder receive)")
    print(f"  processed bag: {summary['recorded_bag']}\n  picture: {summary['picture']}\n"
          f"  summary: {out / 'summary.json'}")
    complete = all(row["dropped"] == 0 for row in summary["outputs"].values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
