"""``haze_export``: checkpoint → ONNX (+ optional TensorRT engine), with a parity check.

Usage::

    haze_export --checkpoint models/edge.safetensors --direction dehaze --onnx out/edge_dehaze.onnx \
        [--verify] [--engine out/edge_dehaze.engine --precision fp16 \
         --min-shape 1x3x256x256 --opt-shape 1x3x720x1280 --max-shape 1x3x1088x1920]

The ONNX file is written to a temporary name beside ``--onnx`` and moved there only when the export
(and ``--verify``, when given) succeeded; an existing file at ``--onnx`` is replaced then, like a
compiler's output, and kept when anything failed.

Exit status: 0 on success, 1 if the export or a parity check failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

from haze_ros.core.files import partial_path
from haze_ros.core.types import Direction
from haze_ros.export import metadata as md
from haze_ros.export import tensorrt_build
from haze_ros.export.engine_cache import EngineCache, ShapeProfile, parse_shape, write_engine
from haze_ros.export.onnx_export import check_parity, default_parity_sizes, export_checkpoint, random_batches

LOG = logging.getLogger("haze_export")
MIN_OPSET = 11  # the graph's Range (dynamic padding) and DepthToSpace; opset 10 needs NonZero (not portable)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``haze_export``."""
    parser = argparse.ArgumentParser(prog="haze_export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="checkpoint NAME.safetensors (+ NAME.json beside it)")
    parser.add_argument("--direction", required=True, choices=[d.value for d in Direction])
    parser.add_argument("--onnx", required=True, type=Path,
                        help="output ONNX file (replaced if it exists, only once the export and --verify "
                             "succeeded)")
    parser.add_argument("--opset", type=int, default=md.DEFAULT_OPSET,
                        help=f"ONNX opset, at least {MIN_OPSET} (default %(default)s)")
    parser.add_argument("--verify", action="store_true",
                        help="compare ONNX Runtime with PyTorch (fp32 CPU) at several sizes, odd ones "
                        "included")
    parser.add_argument("--verify-image", type=Path, default=None,
                        help="image to crop parity inputs from (default: a shipped sample frame, else noise)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs error allowed (default 1e-4)")
    parser.add_argument("--engine", type=Path, default=None, help="also build a TensorRT engine here")
    parser.add_argument("--precision", choices=["fp32", "fp16"], default="fp16")
    parser.add_argument("--min-shape", default="1x3x256x256", type=parse_shape)
    parser.add_argument("--opt-shape", default="1x3x720x1280", type=parse_shape)
    parser.add_argument("--max-shape", default="1x3x1088x1920", type=parse_shape)
    parser.add_argument("--timing-cache", type=Path, default=None,
                        help="TensorRT timing cache file (default: in the engine cache directory)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _sample_frame(path: Optional[Path]):
    import numpy as np

    candidates = [path] if path else sorted((Path(__file__).resolve().parents[2] / "data" / "samples")
                                            .glob("*/*.jpg"))
    for candidate in candidates:
        try:
            import cv2

            image = cv2.imread(str(candidate), cv2.IMREAD_COLOR)
        except ImportError:
            return None
        if image is not None:
            return np.ascontiguousarray(image[:, :, ::-1])
    return None


def _verify(args, result, module) -> bool:
    batches = random_batches(default_parity_sizes(), frame=_sample_frame(args.verify_image))
    cases = check_parity(result.onnx_path, module, batches, args.tolerance)
    print(f"parity ONNX Runtime vs PyTorch (fp32, CPU, tolerance {args.tolerance:g}):")
    for case in cases:
        print(f"  {case.size[1]:>5}x{case.size[0]:<5} max abs {case.max_abs:.2e}  "
              f"mean abs {case.mean_abs:.2e}  "
              f"{'ok' if case.ok else 'FAIL'}")
    return all(case.ok for case in cases)


def _build_engine(args, onnx_path: Path) -> None:
    profile = ShapeProfile(args.min_shape, args.opt_shape, args.max_shape)
    key = tensorrt_build.make_engine_key(onnx_path, args.precision, profile)
    timing = args.timing_cache or EngineCache().timing_cache_path(key)
    data = tensorrt_build.build_serialized_engine(onnx_path, args.precision, profile, timing)
    write_engine(args.engine, data, key)
    print(f"engine: {args.engine} ({len(data) / 1e6:.1f} MB, {args.precision}, {profile.describe()}, "
          f"TensorRT {key.tensorrt_version}, {key.gpu_name} sm {key.compute_capability})")
    print(f"engine key: {key.digest()} (sidecar {args.engine}.json)")


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_export``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        ShapeProfile(args.min_shape, args.opt_shape, args.max_shape)
        if args.opset < MIN_OPSET:
            raise ValueError(f"--opset {args.opset}: the graph needs opset {MIN_OPSET} or newer")
    except ValueError as exc:
        print(f"haze_export: {exc}", file=sys.stderr)
        return 2
    staging = partial_path(args.onnx)
    try:
        try:
            result, module = export_checkpoint(args.checkpoint, args.direction, staging, args.opset)
            ok = _verify(args, result, module) if args.verify else True
        except Exception as exc:  # noqa: BLE001 - torch's exporter raises many types (e.g. a bad --opset)
            detail = (str(exc).strip().splitlines() or [""])[0]
            print(f"haze_export: export failed (opset {args.opset}): {type(exc).__name__}: {detail}",
                  file=sys.stderr)
            return 1
        if not ok:
            print(f"haze_export: parity check failed; {args.onnx} was not written", file=sys.stderr)
            return 1
        os.replace(staging, args.onnx)
    finally:
        staging.unlink(missing_ok=True)  # after a failure or Ctrl-C; gone already after the move
    result = dataclasses.replace(result, onnx_path=args.onnx)
    meta = result.metadata
    print(f"onnx: {result.onnx_path} ({result.onnx_path.stat().st_size / 1e6:.2f} MB, opset {meta.opset}, "
          f"sha256 {result.onnx_sha256[:16]}...)")
    print(f"  direction {meta.direction}, preset {meta.preset}, size multiple {meta.size_multiple}, "
          f"checkpoint sha256 {meta.checkpoint_sha256[:16]}..., config sha256 {meta.config_sha256[:16]}...")
    print(f"  ops: {', '.join(result.ops)}; onnx.checker: passed")
    if args.engine:
        try:
            _build_engine(args, result.onnx_path)
        except ImportError as exc:
            print(f"haze_export: cannot build a TensorRT engine here: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:  # no CUDA device, parser or builder errors
            print(f"haze_export: engine build failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
