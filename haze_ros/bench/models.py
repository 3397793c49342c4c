"""Model benchmark suite: per runtime, preset and frame size, model latency and the node's pipeline time.

For each backend available here (PyTorch CPU, ONNX Runtime CPU; PyTorch CUDA and TensorRT where a
GPU and the runtime exist), each preset (``edge``: the shipped or given checkpoint, else random
weights; ``paper``: random weights unless a trained checkpoint is given, labelled "random weights,
latency only") and each size, two cases are timed after warm-up:

* ``<preset> model``: ``backend.infer`` on a ready ``(1, 3, H, W)`` float32 batch (on the device for
  GPU backends, synchronised per frame);
* ``<preset> node_e2e``: ``FrameProcessor.process`` on a ``bgr8`` message array → array, in this
  process (the node's per-frame path without DDS: layout conversion, normalise, infer, quantise).

Peak memory: RSS growth of this process over the case (CPU; the kernel's peak-RSS counter is reset
per case), or ``torch.cuda.max_memory_allocated`` (GPU). Nothing here imports rclpy, so the GPU
check can run it on a machine without ROS.

Run directly: ``python -m haze_ros.bench.models --json out.json --markdown out.md``; ``haze_bench``
calls ``suite_models``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from haze_ros.backends.model_files import _share_candidates
from haze_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
from haze_ros.backends.selection import _importable
from haze_ros.backends.tensorrt_backend import TensorRTBackend
from haze_ros.backends.torch_backend import TorchBackend
from haze_ros.core.backend import BackendSpec
from haze_ros.core.processor import FrameProcessor, ProcessorConfig
from haze_ros.core.stages import to_batch
from haze_ros.core.types import Direction, FrameConditions, HazeParams, visibility_to_beta
from haze_ros.export.metadata import ModelMetadata
from haze_ros.export.onnx_export import export_translator, module_io_metadata
from haze_ros.networks.config import preset_config

LOG = logging.getLogger(__name__)
DEFAULT_SIZES = ((640, 360), (1280, 720), (1920, 1080))
DEFAULT_PRESETS = ("edge", "paper")
DEFAULT_BACKENDS = ("tensorrt", "torch_cuda", "onnxruntime", "torch")
MIN_RUNS = 50  # the model suite always times at least this many frames per case
ROW_KEYS = ("suite", "case", "size", "backend", "p50_ms", "p95_ms", "fps", "peak_mem_mb", "n", "notes")


def parse_size(size) -> Tuple[int, int]:
    """``"640x360"`` or ``(640, 360)`` → ``(width, height)``."""
    if isinstance(size, str):
        width, height = size.lower().split("x")
        return int(width), int(height)
    return int(size[0]), int(size[1])


# ---------------------------------------------------------------- memory
def _proc_status_kb(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class MemoryProbe:
    """Peak memory of one case in MB: CUDA allocator peak, or RSS growth over a baseline."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.note = ""

    def __enter__(self) -> "MemoryProbe":
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            if not _reset_peak_rss():
                self.note = "peak RSS not resettable: process-lifetime peak"
            self.base = _proc_status_kb("VmRSS") or 0
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self.base) / 1e6
        else:
            self.peak_mb = max(0, (_proc_status_kb("VmHWM") or 0) - self.base) / 1e3


# ---------------------------------------------------------------- models and backends
def _load_module(preset: str, checkpoint: Optional[str], direction: str):
    """(translator, note): the checkpoint's weights, or seeded random weights for latency only."""
    import torch

    from haze_ros.networks.translator import build_translator

    if checkpoint and Path(checkpoint).with_suffix(".safetensors").is_file():
        from haze_ros.networks.loading import load_translator

        module = load_translator(checkpoint, direction)
        if module.preset == preset:
            return module, f"trained weights ({Path(checkpoint).name})"
    torch.manual_seed(0)
    return build_translator(preset_config(preset), direction).eval(), "random weights, latency only"


def _default_checkpoint(preset: str) -> Optional[str]:
    for folder in _share_candidates():
        if (folder / f"{preset}.safetensors").is_file():
            return str(folder / f"{preset}.safetensors")
    return None


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def available_backends(wanted: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(usable backend names, skip notes) among ``wanted``; runtimes probed by importing them."""
    usable, skipped = [], []
    for name in wanted:
        module = {"tensorrt": "tensorrt", "onnxruntime": "onnxruntime"}.get(name, "torch")
        reason = _importable(module)
        if reason is None and name in ("tensorrt", "torch_cuda") and not _cuda_available():
            reason = "no CUDA device"
        (skipped.append(f"{name}: {reason}") if reason else usable.append(name))
    return usable, skipped


def _make_backend(name: str, module, direction: str, workdir: Path, sizes, engine_cache: Optional[str]):
    """(backend, note) for runtime ``name`` serving ``module``."""
    if name == "torch":
        return TorchBackend.from_module(module, direction, "cpu"), "fp32"
    if name == "torch_cuda":
        return TorchBackend.from_module(module, direction, "cuda", "fp16", cuda_graphs=True), \
            "fp16, channels_last, CUDA graphs"

    onnx_path = workdir / f"{module.preset}_{direction}.onnx"
    if not onnx_path.exists():
        metadata = ModelMetadata(direction=direction, size_multiple=module.size_multiple,
                                 preset=module.preset, **module_io_metadata(module))
        export_translator(module, onnx_path, metadata)
    if name == "onnxruntime":
        spec = BackendSpec("onnxruntime", direction, str(onnx_path), "cpu")
        return OnnxRuntimeBackend(spec), "CPU EP, fp32"

    widest = max(sizes, key=lambda s: s[0] * s[1])
    max_h, max_w = -(-widest[1] // 32) * 32, -(-widest[0] // 32) * 32
    options = {"engine_cache_dir": engine_cache or str(workdir / "engines"), "allow_engine_rebuild": True,
               "min_shape": "1x3x64x64", "opt_shape": "1x3x720x1280", "max_shape": f"1x3x{max_h}x{max_w}"}
    return TensorRTBackend(BackendSpec("tensorrt", direction, str(onnx_path), "cuda", "fp16", options)), \
        "fp16 engine, normalisation fp32"


# ---------------------------------------------------------------- timing
def _time_calls(call: Callable[[], object], runs: int, warmup: int, sync: Callable[[], None],
                budget_s: float) -> Tuple[np.ndarray, bool]:
    """Per-call wall times in ms after ``warmup`` calls; stops early (capped=True) past ``budget_s``.

    Warm-up stops after a quarter of the budget too (at least one call), so slow cases stay bounded.
    """
    warm_start = time.perf_counter()
    for _ in range(max(1, warmup)):
        call()
        sync()
        if time.perf_counter() - warm_start > budget_s / 4:
            break
    times, start = [], time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s and len(times) < runs:
            return np.asarray(times), True
    return np.asarray(times), False


def _row(case: str, size, backend: str, times: np.ndarray, peak_mb: float, notes: List[str]) -> Dict:
    p50 = float(np.percentile(times, 50))
    return {"suite": "models", "case": case, "size": f"{size[0]}x{size[1]}", "backend": backend,
            "p50_ms": round(p50, 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
            "fps": round(1e3 / p50, 2) if p50 > 0 else None, "peak_mem_mb": round(peak_mb, 1),
            "n": int(times.size), "notes": "; ".join(n for n in notes if n)}


def _frame(size, seed: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 test frame: a shipped sample resized when cv2 and samples exist, else noise."""
    width, height = size
    samples = sorted((Path(__file__).resolve().parents[2] / "data" / "samples").glob("*/*.jpg"))
    try:
        import cv2

        image = cv2.imread(str(samples[0])) if samples else None
        if image is not None:
            return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    except ImportError:
        pass
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def bench_backend(backend, name: str, size, runs: int, warmup: int, budget_s: float, preset: str,
                  notes: List[str]) -> List[Dict]:
    """Two rows (model, node_e2e) for one backend at one (width, height).

    Haze backends get a 150 m visibility per frame (the learned haze graph takes V and A as inputs).
    """
    cuda = str(backend.device).startswith("cuda")
    frame = _frame(size)
    batch = to_batch(frame[:, :, ::-1])  # the bgr8 frame as RGB (1, 3, H, W) float32 [0, 1]
    sync = (lambda: __import__("torch").cuda.synchronize()) if cuda else (lambda: None)
    if cuda:
        import torch

        batch = torch.from_numpy(batch).to(backend.device)
    rows = []
    haze = HazeParams(visibility_to_beta(150.0)) if backend.direction == Direction.HAZE else None
    processor = FrameProcessor(backend, ProcessorConfig(max_pixels=8192 * 8192))

    def conditions() -> FrameConditions:
        return FrameConditions(haze=haze)

    for case, call in ((f"{preset} model", lambda: backend.infer(batch, conditions())),
                       (f"{preset} node_e2e", lambda: processor.process(frame, "bgr8", conditions()))):
        with MemoryProbe(cuda) as probe:
            times, capped = _time_calls(call, runs, warmup, sync, budget_s)
        capped_note = f"time-capped at {times.size} frames ({budget_s:.0f} s budget)" if capped else ""
        extra = [capped_note, probe.note]
        rows.append(_row(case, size, f"{name}:{backend.device}", times, probe.peak_mb, notes + extra))
    return rows


def _wanted_backends(names: Sequence[str], device: str) -> List[str]:
    """The model runtimes among ``names`` (other suites' names ignored), filtered by ``device``."""
    wanted = [n for n in names if n in DEFAULT_BACKENDS] or list(DEFAULT_BACKENDS)
    if device == "cpu":
        wanted = [n for n in wanted if n in ("onnxruntime", "torch")]
    elif device.startswith("cuda"):
        wanted = [n for n in wanted if n in ("tensorrt", "torch_cuda")]
    return wanted


def suite_models(sizes: Iterable = DEFAULT_SIZES, runs: int = 50, args=None) -> List[Dict]:
    """Benchmark rows (keys ``ROW_KEYS``) for every available backend × preset × size.

    ``runs`` is raised to ``MIN_RUNS`` (50). ``args`` (optional namespace, e.g. ``haze_bench``'s) may
    carry ``presets``, ``backends`` (names other than model runtimes are ignored), ``device``
    (``cpu``: CPU runtimes only; ``cuda``: GPU runtimes only), ``model`` (checkpoint for the ``edge``
    preset), ``paper_model``, ``direction``, ``warmup`` (default 5), ``case_budget_s``
    (per-case time cap, default 60 s: a capped case reports its real ``n`` and says so) and
    ``engine_cache_dir``. Backends that are not available yield one ``skipped`` row each.
    """
    sizes = [parse_size(s) for s in sizes]
    get = (lambda key, default: getattr(args, key, None) or default)
    direction = get("direction", "dehaze")
    runs = max(int(runs), MIN_RUNS)
    wanted = _wanted_backends(get("backends", DEFAULT_BACKENDS), get("device", ""))
    usable, skipped = available_backends(wanted)
    rows = [{**dict.fromkeys(ROW_KEYS), "suite": "models", "case": "skipped", "backend": s.split(":")[0],
             "n": 0, "notes": s} for s in skipped]
    with tempfile.TemporaryDirectory(prefix="haze_bench_models_") as tmp:
        for preset in get("presets", DEFAULT_PRESETS):
            checkpoint = get("model", None) if preset == "edge" else get("paper_model", None)
            module, weights_note = _load_module(preset, checkpoint or _default_checkpoint(preset), direction)
            for name in usable:
                try:
                    backend, backend_note = _make_backend(name, module, direction, Path(tmp), sizes,
                                                          get("engine_cache_dir", None))
                except Exception as exc:  # report and go on with the other runtimes
                    LOG.warning("backend %s unavailable for %s: %s", name, preset, exc)
                    rows.append({**dict.fromkeys(ROW_KEYS), "suite": "models", "case": f"{preset} error",
                                 "backend": name, "n": 0, "notes": f"{type(exc).__name__}: {exc}"})
                    continue
                with contextlib.closing(backend):
                    for size in sizes:
                        LOG.info("benchmarking %s %s at %dx%d", preset, name, *size)
                        rows += bench_backend(backend, name, size, runs, int(get("warmup", 5)),
                                              float(get("case_budget_s", 60.0)), preset,
                                              [weights_note, backend_note])
    return rows


def machine_description() -> str:
    """One line: CPU count, OS, Python, and the GPU when torch sees one."""
    import os

    text = f"{os.cpu_count()} CPU cores, {platform.platform()}, Python {platform.python_version()}"
    if _cuda_available():
        import torch

        text += f", GPU {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    else:
        text += ", no GPU"
    return text


def markdown_table(rows: Sequence[Dict]) -> str:
    """Rows as a Markdown table (columns ``ROW_KEYS`` minus ``suite``)."""
    keys = [k for k in ROW_KEYS if k != "suite"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(k) is None else str(row.get(k)) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    """Standalone entry point (used by ``scripts/gpu_check.sh``); prints the table, writes JSON/Markdown."""
    parser = argparse.ArgumentParser(description="haze_ros model benchmark (no ROS needed)")
    parser.add_argument("--sizes", nargs="+", default=[f"{w}x{h}" for w, h in DEFAULT_SIZES])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--backends", nargs="+", default=list(DEFAULT_BACKENDS))
    parser.add_argument("--model", default=None, help="edge checkpoint (default: the shipped model)")
    parser.add_argument("--paper-model", default=None, help="trained paper checkpoint, if any")
    parser.add_argument("--direction", choices=("dehaze", "haze"), default="dehaze",
                        help="direction to time (haze: the conditioned graph at 150 m visibility)")
    parser.add_argument("--case-budget-s", type=float, default=60.0)
    parser.add_argument("--engine-cache-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = suite_models(args.sizes, args.runs, args)
    table = markdown_table(rows)
    print(f"machine: {machine_description()}\n\n{table}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_description(), "rows": rows}, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(f"machine: {machine_description()}\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
