#!/usr/bin/env python3
"""Build the demo bag shipped in ``data/demo/`` from the frames shipped in ``data/samples/``.

    python scripts/make_demo_bag.py [--out data/demo/demo_bag] [--quality 85]

Writes a rosbag2 folder (MCAP storage) with the 10 Udacity ``solidWhiteRight`` clear highway frames
(960x540) as JPEG ``sensor_msgs/msg/CompressedImage`` on ``/demo/camera/image_raw/compressed`` at
10 Hz, a ``sensor_msgs/msg/CameraInfo`` per frame on ``/demo/camera/camera_info`` and a
``std_msgs/msg/String`` per frame on ``/demo/drive_notes`` (a non-image topic the bag tool copies
byte for byte). Deterministic: same frames and options give the same messages.
"""

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.bags.build import BagContents, CameraStream, load_frames, write_bag  # noqa: E402

SAMPLES = REPO / "data" / "samples" / "udacity_solidWhiteRight"
CAMERA_TOPIC = "/demo/camera/image_raw/compressed"
INFO_TOPIC = "/demo/camera/camera_info"


def main() -> int:
    """Write the demo bag; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "demo" / "demo_bag")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    args = parser.parse_args()
    paths = sorted(SAMPLES.glob("*.jpg"))
    if not paths:
        print(f"no frames in {SAMPLES}", file=sys.stderr)
        return 1
    frames = load_frames(paths)
    stream = CameraStream(topic=CAMERA_TOPIC, compressed=True, jpeg_quality=args.quality,
                          frame_id="demo_camera", camera_info_topic=INFO_TOPIC)
    notes = [f"frame {i}: {p.name}, clear weather" for i, p in enumerate(paths)]
    if args.out.exists():
        shutil.rmtree(args.out)
    contents = BagContents(streams=[stream], frames=frames, rate_hz=10.0,
                           extra_strings={"/demo/drive_notes": notes})
    write_bag(args.out, "mcap", contents)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {args.out}: {len(frames)} frames, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
