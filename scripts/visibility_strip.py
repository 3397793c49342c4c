#!/usr/bin/env python3
"""Picture strip of one frame at several visibilities, made by ``haze_bag`` with a segment schedule.

    python scripts/visibility_strip.py [--out docs/figures/visibility_strip.png]

Row 1: a DDAD front-camera frame with its projected LiDAR depth (completed by
``physics.depth.complete_sparse_depth``) as an aligned 32FC1 depth topic. Row 2: a Udacity highway
frame with no depth (the depth-free flat-road approximation, horizon at 60 % of the height). Each
row's bag repeats the frame once per visibility; the schedule gives each repetition its own
visibility, so the strip is exactly what the bag tool writes. Uses only the frames shipped in
``data/samples/``.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.bags.build import BagContents, CameraStream, load_frames, write_bag  # noqa: E402
from haze_ros.bags.cli import main as haze_bag  # noqa: E402
from haze_ros.physics.depth import DDAD_LIDAR, complete_sparse_depth, load_depth_png  # noqa: E402
from haze_ros.ros_tools.demo_report import frames_by_stamp  # noqa: E402

VISIBILITIES = (1000, 300, 150, 80, 50)
PANEL_W = 240
TOPIC, DEPTH = "/cam/image_raw", "/cam/depth"


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(panel, (0, 0), (w + 10, h + 10), (32, 32, 32), cv2.FILLED)
    cv2.putText(panel, text, (5, h + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def _row(work: Path, name: str, frame: np.ndarray, depth, extra_args) -> np.ndarray:
    n = len(VISIBILITIES)
    schedule = work / f"{name}.yaml"
    schedule.write_text("unit: frames\nsegments:\n" + "".join(
        f"  - {{length: 1, visibility_m: {v}}}\n" for v in VISIBILITIES[:-1]) +
        f"  - {{visibility_m: {VISIBILITIES[-1]}}}\n")
    bag = write_bag(work / f"{name}_in", "mcap", BagContents(
        streams=[CameraStream(TOPIC)], frames=[frame] * n, depth_topic=DEPTH if depth is not None else "",
        depth_m=[depth] * n if depth is not None else []))
    args = [str(bag), str(work / f"{name}_out"), "--mode", "haze", "--topic", TOPIC,
            "--schedule", str(schedule), "--no-progress", *extra_args]
    if haze_bag(args) != 0:
        raise SystemExit(f"haze_bag failed for {name}")
    hazed = frames_by_stamp(work / f"{name}_out", TOPIC)
    size = (PANEL_W, int(round(frame.shape[0] * PANEL_W / frame.shape[1])))
    panels = [_label(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), "clear")]
    for v, stamp in zip(VISIBILITIES, sorted(hazed)):
        panels.append(_label(cv2.resize(hazed[stamp], size, interpolation=cv2.INTER_AREA), f"V = {v} m"))
    return np.hstack(panels)


def main() -> int:
    """Write the strip; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "visibility_strip.png")
    args = parser.parse_args()
    samples = REPO / "data" / "samples"
    ddad_rgb = sorted((samples / "ddad_scene01_cam01" / "rgb").glob("*.jpg"))[0]
    ddad_depth = samples / "ddad_scene01_cam01" / "depth" / (ddad_rgb.stem + ".png")
    width = 640
    (ddad,) = load_frames([ddad_rgb])
    height = int(round(ddad.shape[0] * width / ddad.shape[1]))
    dense = complete_sparse_depth(load_depth_png(str(ddad_depth), DDAD_LIDAR))
    dense = cv2.resize(dense, (width, height), interpolation=cv2.INTER_NEAREST)
    ddad = cv2.resize(ddad, (width, height), interpolation=cv2.INTER_AREA)
    (udacity,) = load_frames([sorted((samples / "udacity_solidWhiteRight").glob("*.jpg"))[0]], (640, 360))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = [_row(work, "ddad", ddad, dense, ["--depth-topic", DEPTH]),
                _row(work, "udacity", udacity, None, ["--horizon-row", str(0.6 * 360)])]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
