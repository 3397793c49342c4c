"""``haze_bench`` suites for the classical path: ``physics``, ``dcp`` and ``processor``.

* physics: eq. (1) haze with depth (A on / off the 8-bit grid), depth-free haze, the same through
  ``FrameProcessor`` with a ``bgr8`` input, and LiDAR depth completion at DDAD's native 1936×1216.
* dcp: ``physics.dark_channel.dehaze`` (fast guided filter and exact) against the plain numpy /
  OpenCV reference of ``bench.reference``.
* processor: ``FrameProcessor`` overhead (layout in and out, checks) around an identity backend.

All on real frames: the shipped Udacity highway frame and the shipped DDAD frame with its LiDAR
depth, resized to each size.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

from haze_ros.backends.classical import IdentityBackend
from haze_ros.backends.factory import create_backend
from haze_ros.core.backend import BackendSpec
from haze_ros.core.processor import FrameProcessor
from haze_ros.core.types import Direction, FrameConditions, HazeParams, visibility_to_beta
from haze_ros.physics import dark_channel as dcp
from haze_ros.physics.depth import CompletionConfig, complete_sparse_depth
from haze_ros.bench.common import (OPTIONAL_KEYS, ROW_KEYS, make_row, sample_clear_frame, sample_ddad,
                                   size_label, stats_from_samples)
from haze_ros.bench.reference import reference_dcp
from haze_ros.physics.scattering import synthesize_haze

Size = Tuple[int, int]
HAZE_GRID = HazeParams(visibility_to_beta(150.0), (1.0, 1.0, 1.0))
HAZE_OFF_GRID = HazeParams(visibility_to_beta(150.0), (0.9, 0.85, 0.8))


def suite_physics(sizes: Sequence[Size], runs: int) -> List[dict]:
    """Physics haze at each size, and depth completion at DDAD's native size."""
    rows = []
    backend, _ = create_backend(BackendSpec("physics", Direction.HAZE))
    processor = FrameProcessor(backend)
    native_rgb, native_sparse = sample_ddad()
    dense_native = complete_sparse_depth(native_sparse)
    for size in sizes:
        rgb = np.ascontiguousarray(cv2.resize(native_rgb, size, interpolation=cv2.INTER_AREA))
        depth = cv2.resize(dense_native, size, interpolation=cv2.INTER_NEAREST)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        grid = FrameConditions(depth_m=depth, haze=HAZE_GRID)
        off_grid = FrameConditions(depth_m=depth, haze=HAZE_OFF_GRID)
        free = FrameConditions(haze=HAZE_GRID)
        rows += [
            make_row("physics", "haze+depth, A=1 (uint8 blend)", size, "physics",
                     lambda: backend.process_frame(rgb, grid), runs, "process_frame, rgb8"),
            make_row("physics", "haze+depth, A=(.9,.85,.8) (float path)", size, "physics",
                     lambda: backend.process_frame(rgb, off_grid), runs, "process_frame, rgb8"),
            make_row("physics", "haze depth-free (flat road)", size, "physics",
                     lambda: backend.process_frame(rgb, free), runs, "t cached per size/geometry/beta"),
            make_row("physics", "haze+depth via FrameProcessor bgr8", size, "physics",
                     lambda: processor.process(bgr, "bgr8", grid), runs, "total_ms path of the node"),
        ]
    for scale in (1, 2, 4):
        config = CompletionConfig(work_scale=scale)
        rows.append(make_row("physics", f"LiDAR completion work_scale={scale}", native_sparse.shape[::-1],
                             "numpy+cv2", lambda: complete_sparse_depth(native_sparse, config=config), runs,
                             f"DDAD sparse ({np.isfinite(native_sparse).mean():.2%} measured)"))
    return rows


def suite_dcp(sizes: Sequence[Size], runs: int) -> List[dict]:
    """Ours (fast guided filter, exact guided filter) vs the plain numpy/OpenCV reference."""
    rows = []
    fast = dcp.DarkChannelParams()
    exact = dcp.DarkChannelParams(guided_subsample=1)
    native_rgb, native_sparse = sample_ddad()
    dense_native = complete_sparse_depth(native_sparse)
    for size in sizes:
        clear = np.ascontiguousarray(cv2.resize(native_rgb, size, interpolation=cv2.INTER_AREA))
        depth = cv2.resize(dense_native, size, interpolation=cv2.INTER_NEAREST)
        hazy = synthesize_haze(clear, depth, HAZE_OFF_GRID.beta_per_m, HAZE_OFF_GRID.airlight)
        reference = make_row("dcp", "plain numpy/OpenCV reference", size, "reference",
                             lambda: reference_dcp(hazy, fast.patch, fast.omega, fast.t0, fast.radius,
                                                   fast.eps),
                             runs, "float64, argsort airlight, full-res guided filter")
        ours_exact = make_row("dcp", "haze_ros dehaze, exact guided filter", size, "dcp",
                              lambda: dcp.dehaze(hazy, exact), runs, "")
        ours_fast = make_row("dcp", f"haze_ros dehaze, guided_subsample={fast.guided_subsample}", size, "dcp",
                             lambda: dcp.dehaze(hazy, fast), runs, "default parameters")
        for row in (ours_exact, ours_fast):
            row["notes"] = (row["notes"] + "; " if row["notes"] else "") + \
                f"{reference['p50_ms'] / row['p50_ms']:.1f}x faster than reference"
        rows += [reference, ours_exact, ours_fast]
    return rows


class _FreshOutputBackend(IdentityBackend):
    """Identity that returns a new contiguous RGB array, as a real backend does."""

    def process_frame(self, rgb, conditions=None):
        return np.array(rgb, order="C", copy=True)


def suite_processor(sizes: Sequence[Size], runs: int) -> List[dict]:
    """Measure the processor's overhead per input encoding.

    Overhead = total time minus the backend's own time, with a backend that returns a fresh RGB
    array (so the output layout conversion is counted).
    """
    rows = []
    processor = FrameProcessor(_FreshOutputBackend())
    for size in sizes:
        rgb = sample_clear_frame(size)
        frames = {
            "rgb8": rgb,
            "bgr8": np.ascontiguousarray(rgb[..., ::-1]),
            "bgra8": np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)),
            "mono8": np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)),
            "rgb16": rgb.astype(np.uint16) * 257,
        }
        for encoding, frame in frames.items():
            for _ in range(3):
                processor.process(frame, encoding)
            overhead = []
            for _ in range(runs):
                result = processor.process(frame, encoding)
                overhead.append(result.total_ms - result.backend_ms)
            row = {"suite": "processor", "case": f"overhead, {encoding}", "size": size_label(size),
                   "backend": "identity (fresh output)", **stats_from_samples(overhead),
                   "peak_mem_mb": None, "notes": "total_ms - backend_ms: checks + layout in/out",
                   "cpu_ms": None}
            row["fps"] = None  # an overhead, not a frame rate
            rows.append({key: row[key] for key in ROW_KEYS + OPTIONAL_KEYS})
    return rows
