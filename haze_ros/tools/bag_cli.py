"""``haze_bag``: rewrite a rosbag with synthetic haze (or dehazing), keeping every other message.

Usage (see ``docs/bags.md``)::

    haze_bag drive.mcap drive_fog --mode haze --topic /cam/image_raw --visibility 150 --seed 7
    haze_bag drive/ drive_ramp --mode haze --topic /cam/image_raw/compressed --schedule ramp.yaml
    haze_bag foggy/ foggy_dcp --mode dehaze --topic /cam/image_raw --backend dcp --storage sqlite3

Exit status: 0 done, 2 bad input or arguments (nothing left at OUTPUT), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import List, Optional

from haze_ros.backends.base import BackendError
from haze_ros.backends.factory import BackendSpec, available_names
from haze_ros.core.types import Direction
from haze_ros.tools import bag_io
from haze_ros.tools.bag_processing import SUMMARY_FILE, BagJob, run_job
from haze_ros.tools.haze_sources import HazeSourceError, haze_source_from_args

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
    depth = parser.add_argument_group("depth (haze mode)")
    depth.add_argument("--depth-topic", help="aligned depth image topic (32FC1 m or 16UC1); default: the "
                                             "depth-free flat-road approximation")
    depth.add_argument("--depth-tolerance", type=float, default=0.05, metavar="S",
                       help="max |image - depth| header stamp difference in seconds (default 0.05)")
    depth.add_argument("--depth-scale", type=float, default=0.001, metavar="M",
                       help="metres per unit of 16-bit depth (default 0.001, REP 118)")
    depth.add_argument("--complete-depth", action="store_true",
                       help="densify sparse (LiDAR) depth before use (morphological completion)")
    geometry = parser.add_argument_group("depth-free approximation (haze mode without --depth-topic)")
    geometry.add_argument("--camera-height", type=float, metavar="M",
                          help="camera height above the road, metres (default 1.5)")
    geometry.add_argument("--horizon-row", type=float, metavar="ROW",
                          help="image row of the horizon in pixels (default: image centre)")
    geometry.add_argument("--focal-px", type=float, metavar="F",
                          help="focal length in pixels (default: from a 60 degree horizontal field of view)")
    haze = parser.add_argument_group("haze strength (haze mode; exactly one)")
    strength = haze.add_mutually_exclusive_group()
    strength.add_argument("--visibility", type=float, metavar="M",
                          help="meteorological visibility in metres (beta = 3/V)")
    strength.add_argument("--beta", type=float, metavar="B", help="scattering coefficient in 1/m")
    strength.add_argument("--schedule", type=Path, metavar="FILE", help="YAML schedule (ramp or segments)")
    strength.add_argument("--random", action="store_true",
                          help="the paper's randomisation per frame (beta, airlight; by --seed)")
    air = haze.add_mutually_exclusive_group()
    air.add_argument("--airlight", metavar="R,G,B", help="airlight per channel in [0, 1] (default 1,1,1)")
    air.add_argument("--random-airlight", action="store_true",
                     help="airlight drawn per frame in [0.8, 1.0] per channel (by --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--backend", default=None, choices=available_names(),
                        help="processing backend (default: physics for haze, dcp for dehaze)")
    parser.add_argument("--model", default="", metavar="PATH", help="model file for learned backends "
                                                                    "(default: the shipped model)")
    parser.add_argument("--device", default="", help="backend device, e.g. cpu or cuda:0")
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


def job_from_args(args: argparse.Namespace, argv: List[str]) -> BagJob:
    """Validate ``args`` and build the ``BagJob``; raises ``ValueError`` with a message for the user."""
    direction = Direction(args.mode)
    if args.workers < 1:
        raise ValueError("--workers must be >= 1")
    if args.jpeg_quality is not None and not 1 <= args.jpeg_quality <= 100:
        raise ValueError("--jpeg-quality must be in 1..100")
    if args.depth_tolerance < 0:
        raise ValueError("--depth-tolerance must be >= 0 s")
    source = haze_source_from_args(args) if direction == Direction.HAZE else None
    if direction == Direction.DEHAZE and (args.depth_topic or args.schedule or args.random or args.visibility
                                          or args.beta is not None):
        raise ValueError("haze options (--visibility/--beta/--schedule/--random/--depth-topic) "
                         "need --mode haze")
    backend = args.backend or ("physics" if direction == Direction.HAZE else "dcp")
    options = {key: value for key, value in (("camera_height_m", args.camera_height),
                                             ("horizon_row", args.horizon_row), ("focal_px", args.focal_px))
               if value is not None}
    if options and backend != "physics":
        raise ValueError("--camera-height/--horizon-row/--focal-px apply to the physics backend only")
    completion = None
    if args.complete_depth:
        from haze_ros.tools.haze_sources import depth_completion
        completion = depth_completion()
    return BagJob(
        input_path=args.input, output_path=args.output,
        backend=BackendSpec(name=backend, direction=direction, model_path=args.model, device=args.device,
                            options=options),
        topics=tuple(dict.fromkeys(args.topics)), haze_source=source, depth_topic=args.depth_topic,
        depth_tolerance_ns=int(round(args.depth_tolerance * 1e9)), depth_scale=args.depth_scale,
        depth_completion=completion, storage=args.storage, workers=args.workers, strict=args.strict,
        overwrite=args.overwrite, jpeg_quality=args.jpeg_quality, seed=args.seed,
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


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_bag``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # clean up the partial output like Ctrl-C
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        job = job_from_args(args, argv)
        summary = run_job(job, _progress_factory(job.progress))
    except (ValueError, HazeSourceError, bag_io.BagToolError, BackendError) as exc:
        print(f"haze_bag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("haze_bag: interrupted; no output written", file=sys.stderr)
        return 130
    _print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
