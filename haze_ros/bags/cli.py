"""``haze_bag``: rewrite a rosbag with synthetic haze (or dehazing), keeping every other message.

Usage (see ``docs/bags.md``)::

    haze_bag drive.mcap drive_fog --mode haze --topic /cam/image_raw --visibility 150 --seed 7
    haze_bag drive/ drive_ramp --mode haze --topic /cam/image_raw/compressed --schedule ramp.yaml
    haze_bag foggy/ foggy_dcp --mode dehaze --topic /cam/image_raw --backend dcp --storage sqlite3

Exit status: 0 done, 2 bad input or arguments (nothing left at OUTPUT), 130 interrupted by SIGINT
(Ctrl-C) and 143 by SIGTERM (nothing left at OUTPUT either; see ``haze_ros.core.exit_status``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

import yaml

from haze_ros.backends.factory import available_names
from haze_ros.bags import io as bag_io
from haze_ros.bags.haze_sources import HazeSourceError, haze_values_from_args
from haze_ros.bags.processing import SUMMARY_FILE, BagJob, run_job
from haze_ros.core.backend import BackendError, BackendSpec
from haze_ros.core.exit_status import EXIT_SIGINT, StopSignals
from haze_ros.core.params_file import backend_knobs, package_params_file, read_params_file, runtime_options
from haze_ros.core.types import Direction
from haze_ros.hazing.depth_policy import DEPTH_SOURCES, TOPIC, DepthPolicy, paired_backend
from haze_ros.hazing.sources import make_haze_source

LOG = logging.getLogger("haze_bag")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``haze_bag`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="haze_bag", description="Rewrite a rosbag with synthetic haze or dehazing on its image topics; "
        "every other message is copied byte for byte.")
    parser.add_argument("input", type=Path,
                        help="rosbag2 folder (sqlite3 or mcap), .mcap/.db3 file or ROS 1 .bag")
    parser.add_argument("output", type=Path, help="output rosbag2 folder (written under a temporary name, "
                                                  "renamed when complete)")
    parser.add_argument("--mode", choices=["haze", "dehaze"], required=True)
    parser.add_argument("--topic", action="append", required=True, dest="topics",
                        help="image topic to process (sensor_msgs/Image or CompressedImage); repeatable")
    parser.add_argument("--params-file", type=Path, metavar="YAML",
                        help="the node's ROS params file holding every default (default: the package's "
                             "config/hazify.yaml or config/dehaze.yaml for --mode); options override it")
    depth = parser.add_argument_group("depth (haze mode)")
    depth.add_argument("--depth-source", choices=DEPTH_SOURCES,
                       help="topic: the aligned --depth-topic; flat_road: the depth-free approximation "
                            "(both with the physics backend); model: depth inferred by the learned haze "
                            "backend from the image (default: topic with --depth-topic, else depth_source "
                            "of the params file). Without --backend, a depth choice given here picks its "
                            "backend when the params file's does not fit: physics for topic/flat_road, "
                            "model for model")
    depth.add_argument("--depth-topic", help="aligned depth image topic (32FC1 m or 16UC1), with "
                                             "--depth-source topic")
    depth.add_argument("--depth-tolerance", type=float, metavar="S",
                       help="max |image - depth| header stamp difference in seconds "
                            "(default: depth.sync_tolerance_s)")
    depth.add_argument("--depth-scale", type=float, metavar="M",
                       help="metres per unit of 16-bit depth (default: depth.scale_m_per_unit, REP 118 mm)")
    depth.add_argument("--max-invalid-depth", type=float, metavar="F",
                       help="copy a frame unchanged (depth_invalid) when more than this fraction of its "
                            "depth is NaN/inf/negative (default: depth.max_invalid_fraction)")
    depth.add_argument("--complete-depth", action="store_true",
                       help="densify sparse (LiDAR) depth before use (default: depth.complete_sparse)")
    geometry = parser.add_argument_group("depth-free approximation (haze mode, --depth-source flat_road)")
    geometry.add_argument("--camera-height", type=float, metavar="M",
                          help="camera height above the road, metres (default: depth_free.camera_height_m)")
    geometry.add_argument("--horizon-row", type=float, metavar="ROW",
                          help="image row of the horizon in pixels (default: depth_free.horizon_row, "
                               "negative = image centre)")
    geometry.add_argument("--focal-px", type=float, metavar="F",
                          help="focal length in pixels (default: depth_free.focal_px, 0 = from "
                               "depth_free.hfov_deg)")
    haze = parser.add_argument_group("haze strength (haze mode; exactly one)")
    strength = haze.add_mutually_exclusive_group()
    strength.add_argument("--visibility", type=float, metavar="M",
                          help="meteorological visibility in metres (beta = 3/V)")
    strength.add_argument("--beta", type=float, metavar="B", help="scattering coefficient in 1/m")
    strength.add_argument("--schedule", type=Path, metavar="FILE", help="YAML schedule (ramp or segments)")
    strength.add_argument("--random", action="store_true",
                          help="the paper's randomisation per frame (beta, airlight; by --seed)")
    haze.add_argument("--reference-distance", type=float, metavar="M",
                      help="--random: depth unit of the random beta in metres (default: "
                           "haze.reference_distance_m, the paper's 100 m)")
    air = haze.add_mutually_exclusive_group()
    air.add_argument("--airlight", metavar="R,G,B", help="airlight per channel in [0, 1] (default 1,1,1)")
    air.add_argument("--random-airlight", action="store_true",
                     help="airlight drawn per frame in [0.8, 1.0] per channel (by --seed)")
    parser.add_argument("--seed", type=int, help="seed of every random choice (default: haze.seed, 0)")
    parser.add_argument("--backend", default=None, choices=available_names(),
                        help="processing backend (default: backend of the params file, see "
                             "--depth-source for haze mode)")
    parser.add_argument("--model", default=None, metavar="PATH", help="model file for learned backends "
                                                                      "(default: model_path, '' = the "
                                                                      "shipped model)")
    parser.add_argument("--device", default=None, help="backend device, e.g. cpu or cuda:0 (default: "
                                                       "device of the params file)")
    parser.add_argument("--storage", choices=sorted(bag_io.STORAGES), default=None,
                        help="output storage (default: the input's; mcap for ROS 1 input)")
    parser.add_argument("--workers", type=int, default=1, help="frame-processing threads (default 1)")
    parser.add_argument("--jpeg-quality", type=int, default=None, metavar="Q",
                        help="JPEG quality for CompressedImage output (default: estimated from each input)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first frame that cannot be processed (default: copy it unchanged, "
                             "report)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _params_defaults(args: argparse.Namespace, direction: Direction) -> dict:
    """Flat parameter values: the package's params file for the mode, then ``--params-file`` over it."""
    values = {}
    for path in [package_params_file(direction.value)] + ([args.params_file] if args.params_file else []):
        try:
            values.update(read_params_file(path))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"--params-file {path}: {exc}") from None
        if values.get("mode", direction.value) != direction.value:
            raise ValueError(f"--params-file {path} is for mode {values['mode']!r}, not --mode "
                             f"{direction.value}")
    return values


def _depth_options(args: argparse.Namespace, values: dict):
    """(depth_source, DepthPolicy, tolerance s) from the depth options over the params file."""
    source = args.depth_source or (TOPIC if args.depth_topic else values["depth_source"])
    for option, name in (("depth_scale", "depth.scale_m_per_unit"),
                         ("max_invalid_depth", "depth.max_invalid_fraction")):
        if getattr(args, option) is not None:
            values[name] = getattr(args, option)
    values["depth.complete_sparse"] = bool(args.complete_depth or values["depth.complete_sparse"])
    tolerance = args.depth_tolerance if args.depth_tolerance is not None else values["depth.sync_tolerance_s"]
    if tolerance < 0:
        raise ValueError("--depth-tolerance must be >= 0 s")
    if not 0.0 <= values["depth.max_invalid_fraction"] <= 1.0:
        raise ValueError("--max-invalid-depth must be in [0, 1]")
    policy = DepthPolicy.from_values(values) if source == TOPIC else None
    return source, policy, tolerance


def _backend_options(args: argparse.Namespace, backend: str, values: dict) -> dict:
    """``BackendSpec.options``: the params file's knobs of the classical backends or ``runtime.*``."""
    given = {key: value for key, value in (("camera_height_m", args.camera_height),
                                           ("horizon_row", args.horizon_row), ("focal_px", args.focal_px))
             if value is not None}
    if given and backend != "physics":
        raise ValueError("--camera-height/--horizon-row/--focal-px apply to the physics backend only")
    if backend not in ("physics", "dcp"):
        return runtime_options(values)
    prefix = "depth_free." if backend == "physics" else "dcp."
    options = backend_knobs({k: v for k, v in values.items() if k.startswith(prefix)})
    options.update(backend_knobs({f"depth_free.{k}": v for k, v in given.items()}))
    return options


def job_from_args(args: argparse.Namespace, argv: List[str]) -> BagJob:
    """Validate ``args`` and build the ``BagJob``; raises ``ValueError`` with a message for the user.

    Every default comes from the params file (``--params-file``, else the package's YAML for the
    mode), read with the node's parameter names; the options override it.
    """
    direction = Direction(args.mode)
    if args.workers < 1:
        raise ValueError("--workers must be >= 1")
    if args.jpeg_quality is not None and not 1 <= args.jpeg_quality <= 100:
        raise ValueError("--jpeg-quality must be in 1..100")
    if direction == Direction.DEHAZE and (args.depth_topic or args.schedule or args.random or args.visibility
                                          or args.beta is not None or args.depth_source):
        raise ValueError("haze options (--visibility/--beta/--schedule/--random/--depth-topic/"
                         "--depth-source) need --mode haze")
    values = _params_defaults(args, direction)
    source, haze_values = None, {}
    if direction == Direction.HAZE:
        haze_values = haze_values_from_args(args, values)
        source = make_haze_source(haze_values)
    depth_source, policy, tolerance = _depth_options(args, values) if direction == Direction.HAZE \
        else (None, None, 0.0)
    backend = args.backend or values["backend"]
    if direction == Direction.HAZE and args.backend is None and (args.depth_source or args.depth_topic):
        backend = paired_backend(depth_source, backend)  # the command line's depth choice picks it
    model = args.model if args.model is not None else values["model_path"]
    device = args.device if args.device is not None else values["device"]
    return BagJob(
        input_path=args.input, output_path=args.output,
        backend=BackendSpec(name=backend, direction=direction, model_path=model, device=device,
                            options=_backend_options(args, backend, values)),
        topics=tuple(dict.fromkeys(args.topics)), haze_source=source, depth_source=depth_source,
        depth_topic=args.depth_topic, depth_policy=policy, depth_tolerance_ns=int(round(tolerance * 1e9)),
        storage=args.storage, workers=args.workers, strict=args.strict,
        overwrite=args.overwrite, jpeg_quality=args.jpeg_quality,
        seed=args.seed if args.seed is not None else haze_values.get("haze.seed"),
        progress=not args.no_progress, arguments={"argv": list(argv)})


def _progress_factory(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return lambda total: tqdm(total=total, unit="frame", desc="haze_bag", dynamic_ncols=True,
                              smoothing=0.1, file=sys.stderr)


def _print_summary(summary: dict) -> None:
    print(f"haze_bag: wrote {summary['output']} ({summary['storage']}, backend "
          f"{summary['backend'].get('backend')}): {summary['frames_processed']} frames processed, "
          f"{summary['frames_copied_unchanged']} copied unchanged, {summary['frames_per_s']} frames/s")
    for topic in sorted(summary["messages_out"]):
        print(f"  {topic}: {summary['messages_in'].get(topic, 0)} in, {summary['messages_out'][topic]} out")
    for failure in summary["failures"]:
        print(f"  copied unchanged: {failure['topic']} frame {failure['frame_index']}: "
              f"{failure['reason']}: {failure['detail']}")
    print(f"  summary: {Path(summary['output']) / SUMMARY_FILE}")


def _identity(path: Path) -> Optional[tuple]:
    """(device, inode) of ``path``, or None when absent: tells whether a run's commit replaced it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _run(args: argparse.Namespace, argv: List[str], stop: StopSignals) -> int:
    """The run itself: 0 done (summary printed), 2 bad input; an interruption propagates to main()."""
    try:
        job = job_from_args(args, argv)
        summary = run_job(job, _progress_factory(job.progress))
    except (ValueError, HazeSourceError, bag_io.BagToolError, BackendError) as exc:
        print(f"haze_bag: error: {exc}", file=sys.stderr)
        return 2
    stop.hold()  # the bag is complete: a signal from here on does not change the result
    _print_summary(summary)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_bag``; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    before = _identity(args.output)
    # SIGINT / SIGTERM raise exit_status.Interrupted, once; run_job then removes the partial output
    with StopSignals() as stop:
        try:
            return _run(args, argv, stop)
        except KeyboardInterrupt:
            if _identity(args.output) in (None, before):
                print("haze_bag: interrupted; no output written", file=sys.stderr)
                return stop.exit_status(EXIT_SIGINT)
            print(f"haze_bag: wrote {args.output} (the signal came after it was complete)", file=sys.stderr)
            return 0


if __name__ == "__main__":
    sys.exit(main())
