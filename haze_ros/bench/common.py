"""Shared pieces of ``haze_bench`` suites: timing, result rows, machine description, real frames.

Every suite returns a list of row dicts with the keys of ``ROW_KEYS``:
suite, case, size ("WxH"), backend, p50_ms, p95_ms, fps (= 1000 / p50_ms), peak_mem_mb (peak
traced allocation of one call, ``None`` where not measured), n (timed runs), notes; optionally
cpu_ms: p50 of the CPU time of the process (all threads) per call, which, unlike wall time, hardly
moves when other jobs share the cores.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from haze_ros.physics.depth import DDAD_LIDAR, load_depth_png

ROW_KEYS = ("suite", "case", "size", "backend", "p50_ms", "p95_ms", "fps", "peak_mem_mb", "n", "notes")
OPTIONAL_KEYS = ("cpu_ms",)
DEFAULT_SIZES: Tuple[Tuple[int, int], ...] = ((640, 360), (1280, 720), (1920, 1080))
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"


def parse_size(text: str) -> Tuple[int, int]:
    """``"640x360"`` → (640, 360); raises ``ValueError`` with the expected form."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return width, height


def size_label(size: Tuple[int, int]) -> str:
    """(W, H) → ``"WxH"``."""
    return f"{size[0]}x{size[1]}"


def time_call(fn: Callable[[], object], runs: int, warmup: int = 3) -> Dict[str, float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed (``time.perf_counter``).

    Returns ``{"p50_ms", "p95_ms", "fps", "n", "cpu_ms"}``; fps is 1000 / p50; cpu_ms is the median
    process CPU time (``time.process_time``, all threads) per call.
    """
    for _ in range(warmup):
        fn()
    times, cpu = np.empty(runs), np.empty(runs)
    for i in range(runs):
        cpu_start, start = time.process_time(), time.perf_counter()
        fn()
        times[i], cpu[i] = time.perf_counter() - start, time.process_time() - cpu_start
    p50 = float(np.percentile(times, 50) * 1e3)
    return {"p50_ms": p50, "p95_ms": float(np.percentile(times, 95) * 1e3),
            "fps": 1000.0 / p50 if p50 > 0 else None, "n": runs, "cpu_ms": float(np.median(cpu) * 1e3)}


def stats_from_samples(samples_ms: Sequence[float]) -> Dict[str, float]:
    """``{"p50_ms", "p95_ms", "fps", "n"}`` from per-run durations already measured, in ms."""
    samples = np.asarray(samples_ms, np.float64)
    p50 = float(np.percentile(samples, 50))
    return {"p50_ms": p50, "p95_ms": float(np.percentile(samples, 95)),
            "fps": 1000.0 / p50 if p50 > 0 else None, "n": int(samples.size)}


def peak_traced_mb(fn: Callable[[], object]) -> float:
    """Peak memory traced by ``tracemalloc`` during one call, in MB.

    Covers numpy arrays and OpenCV outputs, not OpenCV's internal scratch buffers.
    """
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def make_row(suite: str, case: str, size: Tuple[int, int], backend: str, fn: Callable[[], object],
             runs: int, notes: str = "", measure_memory: bool = True) -> dict:
    """Time ``fn`` and build one result row (see ``ROW_KEYS``)."""
    row = {"suite": suite, "case": case, "size": size_label(size), "backend": backend}
    row.update(time_call(fn, runs))
    row["peak_mem_mb"] = peak_traced_mb(fn) if measure_memory else None
    row["notes"] = notes
    return {key: row[key] for key in ROW_KEYS + OPTIONAL_KEYS}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """CPU model, cores, load average, OS, Python and library versions (torch only if installed)."""
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "opencv_threads": cv2.getNumThreads(),
            "platform": platform.platform(), "python": sys.version.split()[0],
            "numpy": np.__version__, "opencv": cv2.__version__}
    try:
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        info["load_average_1m"] = None
    try:
        import torch  # noqa: F401  (only its version is reported)
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def sample_clear_frame(size: Tuple[int, int]) -> np.ndarray:
    """Load a real clear highway frame (shipped Udacity sample) as ``(H, W, 3)`` uint8 RGB of ``size``."""
    path = sorted((SAMPLES / "udacity_solidWhiteRight").glob("*.jpg"))[0]
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"sample frame missing: {path}")
    return np.ascontiguousarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[..., ::-1])


def sample_ddad(size: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Load a shipped DDAD frame (uint8 RGB) and its sparse LiDAR depth (float32 m, inf = no return).

    Native 1936×1216, or resized to ``size`` (nearest for depth, which keeps it sparse).
    """
    folder = SAMPLES / "ddad_scene01_cam01"
    depth_path = sorted((folder / "depth").glob("*.png"))[0]
    bgr = cv2.imread(str(folder / "rgb" / (depth_path.stem + ".jpg")), cv2.IMREAD_COLOR)
    depth = load_depth_png(depth_path, DDAD_LIDAR)
    if size is not None:
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(bgr[..., ::-1]), depth


def fmt(value, digits: int = 2) -> str:
    """Format a number for a table cell (``-`` for None)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[dict]) -> List[str]:
    """Markdown table lines for result rows."""
    lines = ["| suite | case | size | backend | p50 ms | p95 ms | fps | CPU ms | peak MB | n | notes |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        cells = [row["suite"], row["case"], row["size"], row["backend"], fmt(row["p50_ms"]),
                 fmt(row["p95_ms"]), fmt(row["fps"], 1), fmt(row.get("cpu_ms")), fmt(row["peak_mem_mb"], 1),
                 fmt(row["n"]), row["notes"] or ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
