#!/usr/bin/env python3
"""Throughput of ``haze_bag`` next to a plain ``rosbags`` copy of the same bag.

    python scripts/bench_bag.py [--frames 60] [--repeats 2] [--out docs/figures/bag_throughput]

The bag: ``--frames`` Udacity highway frames (``../shared/data/udacity_clear_highway``, else the
shipped samples, cycled) at 960x540 as ``sensor_msgs/Image`` bgr8 with a CameraInfo per frame, in
MCAP storage. Rows: the plain copy (read every message with rosbags, write it to a new bag), then
``haze_bag`` (the same job as the CLI, in-process, no progress bar) with the physics backend (1 and 2
workers), DCP dehazing, and the learned model backend when one can be loaded. Each row is the best
of ``--repeats`` runs, the rows interleaved round by round (the machine is
shared). Writes ``<out>.json`` and ``<out>.md`` naming the machine.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.bags import io as bag_io  # noqa: E402
from haze_ros.bags.build import BagContents, CameraStream, load_frames, write_bag  # noqa: E402
from haze_ros.bags.processing import BagJob, run_job  # noqa: E402
from haze_ros.core.backend import BackendError, BackendSpec  # noqa: E402
from haze_ros.core.types import Direction  # noqa: E402
from haze_ros.physics.haze_params import ConstantHaze  # noqa: E402

TOPIC = "/cam/image_raw"


def machine() -> str:
    """Describe this machine in one line (CPU model, cores, OS, Python, GPU presence)."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "GPU" if shutil.which("nvidia-smi") else "no GPU"
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except (AttributeError, OSError):
        system = platform.system()
    return f"{os.cpu_count()}-core {cpu}, {system}, Python {platform.python_version()}, {gpu}"


def source_frames(count: int):
    """``count`` BGR 960x540 frames from the development data (or the shipped samples), cycled."""
    shared = REPO.parent / "shared" / "data" / "udacity_clear_highway" / "frames" / "solidWhiteRight"
    samples = REPO / "data" / "samples" / "udacity_solidWhiteRight"
    paths = sorted(shared.glob("*.jpg")) or sorted(samples.glob("*.jpg"))
    frames = load_frames(paths[:count], (960, 540))
    origin = "udacity_clear_highway" if shared.exists() else "samples"
    return [frames[i % len(frames)] for i in range(count)], origin


def plain_copy(src: Path, dst: Path) -> None:
    """Every message read with rosbags and written unchanged to a new bag (same storage)."""
    with bag_io.open_input(src) as bag:
        out = bag_io.OutputBag(dst, bag.storage)
        try:
            for conn, stamp, raw in bag.messages():
                out.write(out.connection_like(conn, bag.typestore), stamp, raw)
            out.commit()
        except BaseException:
            out.abort()
            raise


def timed(fn):
    """Wall time of one call in seconds, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(rows, repeats: int) -> dict:
    """Time every row ``repeats`` times: label → (best seconds, result) or the reason it was skipped.

    Rounds interleave the rows, so that a change in the shared machine's load affects every row alike.
    """
    best, skipped = {}, {}
    for _ in range(repeats):
        for label, fn in rows:
            if label in skipped:
                continue
            try:
                seconds, result = timed(fn)
            except (BackendError, bag_io.BagToolError) as exc:
                skipped[label] = str(exc).splitlines()[0]
                continue
            if label not in best or seconds < best[label][0]:
                best[label] = (seconds, result)
    return {label: best.get(label, skipped.get(label)) for label, _fn in rows}


def rows_to_run(src: Path, work: Path, model_path: str):
    """(label, callable) for each configuration; the callable writes a fresh output bag."""
    haze = ConstantHaze.of_visibility(150.0)

    def job(name, direction, workers, label):
        spec = BackendSpec(name=name, direction=direction, model_path=model_path if name == "model" else "")
        source = haze if direction == Direction.HAZE else None
        bag_job = BagJob(input_path=src, output_path=work / "out", backend=spec, topics=(TOPIC,),
                         haze_source=source, workers=workers, overwrite=True, progress=False)
        return label, lambda: run_job(bag_job)
    return [("plain rosbags copy", lambda: (shutil.rmtree(work / "copy", ignore_errors=True),
                                            plain_copy(src, work / "copy"))),
            job("physics", Direction.HAZE, 1, "haze_bag haze, physics, 1 worker"),
            job("physics", Direction.HAZE, 2, "haze_bag haze, physics, 2 workers"),
            job("dcp", Direction.DEHAZE, 1, "haze_bag dehaze, DCP, 1 worker"),
            job("model", Direction.DEHAZE, 1, "haze_bag dehaze, model backend, 1 worker")]


def main() -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default="", help="model for the model row (default: the shipped model)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "bag_throughput")
    args = parser.parse_args()
    frames, origin = source_frames(args.frames)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = write_bag(work / "src", "mcap", BagContents(
            streams=[CameraStream(TOPIC, camera_info_topic="/cam/camera_info")], frames=frames))
        size_mb = sum(p.stat().st_size for p in src.iterdir()) / 1e6
        copy_s = None
        for label, outcome in measure(rows_to_run(src, work, args.model), args.repeats).items():
            if isinstance(outcome, str):
                results.append({"row": label, "skipped": outcome})
                print(f"{label}: skipped ({outcome})", flush=True)
                continue
            seconds, summary = outcome
            copy_s = copy_s or seconds
            if isinstance(summary, dict):
                label = f"{label} [{summary['backend']['backend']}]"
                if summary.get("model_path"):
                    label += f" (model {Path(summary['model_path']).name})"
            row = {"row": label, "seconds": round(seconds, 3),
                   "frames_per_s": round(len(frames) / seconds, 1), "mb_per_s": round(size_mb / seconds, 1),
                   "relative_to_copy": round(copy_s / seconds, 3)}
            results.append(row)
            print(row, flush=True)
    report = {"machine": machine(), "model": args.model or "shipped (models/edge.safetensors)",
              "frames": len(frames), "frame_size": "960x540 bgr8 sensor_msgs/Image",
              "frames_from": origin, "bag_mb": round(size_mb, 1), "storage": "mcap", "repeats": args.repeats,
              "rows": results, "target": "physics haze >= 0.5 x the plain copy's speed"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"Machine: {report['machine']}. Bag: {len(frames)} frames {report['frame_size']} + CameraInfo, "
             f"{report['bag_mb']} MB, MCAP; best of {args.repeats} interleaved runs.", "",
             "| run | frames/s | MB/s | speed vs. plain copy |", "|---|---:|---:|---:|"]
    for row in results:
        if "skipped" in row:
            lines.append(f"| {row['row']} | skipped: {row['skipped']} | | |")
        else:
            lines.append(f"| {row['row']} | {row['frames_per_s']} | {row['mb_per_s']} | "
                         f"{row['relative_to_copy']:.2f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
