#!/usr/bin/env python3
"""Graph throughput with ONNX Runtime: one session on all cores vs several one-thread sessions at once.

    python scripts/bench_ort_workers.py [--model models/edge.safetensors] [--size 1280x720]
                                        [--frames 60] [--out docs/figures/ort_workers]

The question behind it: can a node that keeps two frames in flight (one ONNX Runtime session of
one intra-op thread per frame) put out more frames per second than today's one session with two
threads, on these 2 cores? Frames are random ``(1, 3, H, W)`` float32 batches fed to the shipped
model's dehaze graph (the node's ONNX export, ``backends.model_files.onnx_for_model``); each
configuration runs ``--frames`` frames after a warm-up, the concurrent one from Python threads
(``InferenceSession.run`` releases the GIL). Throughput only: no DDS, no frame stages, no
ordering. Prints a table and writes ``<out>.json`` and ``<out>.md`` with the machine.
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.backends.model_files import onnx_for_model, resolve_model  # noqa: E402
from haze_ros.bench.common import machine_info, parse_size  # noqa: E402
from haze_ros.core.types import Direction  # noqa: E402
from haze_ros.export.onnx_session import make_session, usable_cores  # noqa: E402


def throughput(sessions, batch: np.ndarray, frames: int) -> float:
    """Frames per second of ``len(sessions)`` sessions each running ``frames // n`` frames at once."""
    per_session = max(1, frames // len(sessions))

    def run(session) -> None:
        name = session.get_inputs()[0].name
        for _ in range(per_session):
            session.run(None, {name: batch})

    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_session * len(sessions) / (time.perf_counter() - start)


def main() -> int:
    """Measure, print, save; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "edge.safetensors"))
    parser.add_argument("--size", default="1280x720", help="WxH")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "ort_workers")
    args = parser.parse_args()
    width, height = parse_size(args.size)
    onnx = onnx_for_model(resolve_model(args.model), Direction.DEHAZE)
    batch = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    cores = usable_cores()
    info = machine_info()  # before the runs: its load average is the one at the start
    configs = [(1, cores), (1, 1)] + ([(cores, 1)] if cores > 1 else [])
    rows = []
    for count, threads in configs:
        sessions = [make_session(str(onnx), threads=threads) for _ in range(count)]
        for session in sessions:  # warm-up
            for _ in range(3):
                session.run(None, {session.get_inputs()[0].name: batch})
        fps = throughput(sessions, batch, args.frames)
        rows.append({"sessions": count, "intra_op_threads": threads, "frames_per_s": round(fps, 1)})
        print(f"{count} session(s) x {threads} thread(s): {fps:.1f} frames/s", flush=True)
    machine = (f"{info['cpu']}, {cores} usable cores, {info['platform']}, Python {info['python']}, "
               f"load average {info['load_average_1m']} at the start")
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"model": Path(args.model).name, "size": args.size, "frames": args.frames, "machine": machine,
         "utc": when, "rows": rows}, indent=2) + "\n")
    lines = [f"Dehaze graph throughput at {args.size}, ONNX Runtime CPU (`scripts/bench_ort_workers.py`, "
             f"{args.frames} frames per row, no DDS). Machine: {machine}; {when}.", "",
             "| sessions at once | intra-op threads each | frames/s |", "|---:|---:|---:|"]
    lines += [f"| {r['sessions']} | {r['intra_op_threads']} | {r['frames_per_s']} |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
