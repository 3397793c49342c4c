"""``haze_apply``: run a model (or DCP) over a folder of images; same names out, as PNG, same size.

``haze_apply [--model PATH] --direction dehaze|haze --input DIR --output DIR [--backend NAME]
[--visibility V | --beta B] [--airlight R,G,B]``

* The model defaults to the shipped ``models/edge.safetensors`` (resolved by the backends'
  ``model_files``); ``--backend dcp`` dehazes with the dark channel prior instead.
* ``--direction haze`` with the physics model makes haze at a requested meteorological
  visibility V [m] (β = 3/V; or ``--beta`` in 1/m) and airlight A (three values in [0, 1]) from
  the model's own depth: no depth image is needed. Defaults: V = 150 m, A = 1, 1, 1.
* Every image goes through :class:`haze_ros.core.processor.FrameProcessor`, the pipeline of the
  node and the bag tool.
* Sub-folders are mirrored; ``x.jpg`` becomes ``x.png``; 8-bit stays 8-bit, 16-bit stays 16-bit.
* Each output is written to a temporary name and renamed, so a file that exists is complete.
* The output folder may not be the input folder or lie inside it; existing outputs are replaced
  only with ``--overwrite`` (other files in the folder are left alone).
* Unreadable images are reported and skipped; the exit status is then 1 (0 when every image was
  written, 2 for bad arguments, an input folder without images, outputs that exist, or a model
  that cannot be loaded).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from haze_ros.backends.factory import create_backend
from haze_ros.core.backend import BackendError, BackendSpec
from haze_ros.core.processor import FrameProcessor
from haze_ros.core.types import Direction, FrameConditions, HazeParams, visibility_to_beta
from haze_ros.core.image_files import ImageReadError, read_rgb, write_png
from haze_ros.evaluation.pairing import IMAGE_SUFFIXES, list_files

LOG = logging.getLogger("haze_apply")
DEFAULT_VISIBILITY_M = 150.0


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``haze_apply``."""
    parser = argparse.ArgumentParser(prog="haze_apply", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", metavar="PATH",
                        help="checkpoint (.safetensors + .json) or .onnx (default: shipped models/edge)")
    parser.add_argument("--direction", required=True, choices=[d.value for d in Direction])
    parser.add_argument("--input", required=True, type=Path, metavar="DIR")
    parser.add_argument("--output", required=True, type=Path, metavar="DIR")
    parser.add_argument("--backend", default="torch",
                        help="torch (default), onnxruntime, auto, or dcp (classical, dehaze only)")
    parser.add_argument("--device", default="",
                        help="cpu, cuda or cuda:N (default: the backend's choice, CUDA when available)")
    parser.add_argument("--visibility", type=float, default=None, metavar="V",
                        help="haze: meteorological visibility in metres, > 0 (beta = 3/V; default 150)")
    parser.add_argument("--beta", type=float, default=None, metavar="B",
                        help="haze: scattering coefficient in 1/m, >= 0 (instead of --visibility)")
    parser.add_argument("--airlight", default=None, metavar="R,G,B",
                        help="haze: airlight, three values in [0, 1] (default 1,1,1)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist already")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def check_folders(input_dir: Path, output_dir: Path) -> None:
    """Refuse an output folder equal to, or inside, the input folder (inputs are never overwritten).

    Raises:
        ValueError: with the reason.
    """
    if not input_dir.is_dir():
        raise ValueError(f"--input {input_dir} is not a folder")
    source, target = input_dir.resolve(), output_dir.resolve()
    if target == source:
        raise ValueError(f"--output {output_dir} is the input folder; refusing to overwrite the inputs")
    if source in target.parents:
        raise ValueError(f"--output {output_dir} lies inside --input {input_dir}; choose another folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output {output_dir} exists and is not a folder")


def output_path(input_dir: Path, output_dir: Path, image_path: Path) -> Path:
    """Where the result of ``image_path`` goes: same relative path, suffix ``.png``."""
    return (output_dir / image_path.relative_to(input_dir)).with_suffix(".png")


def haze_from_args(args: argparse.Namespace) -> Optional[HazeParams]:
    """The haze of ``--visibility`` / ``--beta`` / ``--airlight`` (``None`` when none is given).

    Raises:
        ValueError: V ≤ 0, a negative β, both given, or an airlight that is not three values in [0, 1].
    """
    if args.visibility is None and args.beta is None and args.airlight is None:
        return None
    if args.visibility is not None and args.beta is not None:
        raise ValueError("give --visibility or --beta, not both")
    airlight = (1.0, 1.0, 1.0)
    if args.airlight is not None:
        try:
            values = tuple(float(v) for v in args.airlight.split(","))
        except ValueError:
            values = ()
        if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"--airlight {args.airlight!r}: expected three values R,G,B in [0, 1]")
        airlight = values
    if args.beta is not None:
        if not (args.beta >= 0.0 and math.isfinite(args.beta)):
            raise ValueError(f"--beta {args.beta!r}: must be a finite number >= 0 (1/m)")
        return HazeParams(float(args.beta), airlight)
    visibility = DEFAULT_VISIBILITY_M if args.visibility is None else args.visibility
    if not (visibility > 0.0 and math.isfinite(visibility)):
        raise ValueError(f"--visibility {visibility!r}: must be a positive number of metres")
    return HazeParams(visibility_to_beta(visibility), airlight)


def apply_folder(backend, input_dir: Path, output_dir: Path, progress: bool = True,
                 files: Optional[List[Path]] = None, haze: Optional[HazeParams] = None) -> dict:
    """Process every image under ``input_dir`` (or the given ``files`` in it) into ``output_dir``.

    Each image goes through a :class:`FrameProcessor` (``rgb8`` / ``rgb16``) with ``haze`` as its
    conditions. Returns ``{"written": [...], "failed": [(path, reason), ...], "seconds": ..., "total": n}``.
    """
    from tqdm import tqdm

    processor = FrameProcessor(backend)
    files = list_files(input_dir, IMAGE_SUFFIXES) if files is None else files
    written, failed, claimed = [], [], set()
    seconds = 0.0
    for path in tqdm(files, desc="haze_apply", unit="img", disable=not progress, file=sys.stderr):
        target = output_path(input_dir, output_dir, path)
        if target in claimed:
            failed.append((str(path), f"another input already writes {target.name}"))
            continue
        try:
            rgb = read_rgb(path)
            encoding = "rgb16" if rgb.dtype == np.uint16 else "rgb8"
            start = time.perf_counter()
            result = processor.process(rgb, encoding, FrameConditions(haze=haze)).image
            seconds += time.perf_counter() - start
            target.parent.mkdir(parents=True, exist_ok=True)
            write_png(target, result)
        except (ImageReadError, ValueError, OSError) as exc:  # FrameRejected is a ValueError
            failed.append((str(path), str(exc)))
            continue
        claimed.add(target)
        written.append(str(target))
    return {"written": written, "failed": failed, "seconds": seconds, "total": len(files)}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_apply``; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    direction = Direction(args.direction)
    try:
        check_folders(args.input, args.output)
        if args.backend == "physics":
            raise ValueError("--backend physics needs each image's depth, which haze_apply does not have "
                             "(use haze_bag, haze_eval --depth or the node)")
        if args.backend == "dcp" and direction != Direction.DEHAZE:
            raise ValueError("--backend dcp is for --direction dehaze only")
        haze = haze_from_args(args)
        if haze is not None and direction != Direction.HAZE:
            raise ValueError("--visibility, --beta and --airlight are for --direction haze")
        files = list_files(args.input, IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under --input {args.input}")
        existing = [t for t in (output_path(args.input, args.output, f) for f in files) if t.exists()]
        if existing and not args.overwrite:
            raise ValueError(f"{len(existing)} output(s) exist already, e.g. {existing[0]} "
                             "(pass --overwrite to replace them)")
        spec = BackendSpec(name=args.backend, direction=direction, model_path=args.model, device=args.device)
        backend, notes = create_backend(spec)
        if direction == Direction.HAZE:
            if not getattr(backend, "conditioned", False):
                if haze is not None:
                    backend.close()
                    raise ValueError(f"model {args.model or 'models/edge'} has no haze head that takes a "
                                     "visibility and an airlight (a pixel-generator model); drop "
                                     "--visibility/--beta/--airlight or use a physics model")
            elif haze is None:
                haze = HazeParams(visibility_to_beta(DEFAULT_VISIBILITY_M))
    except (BackendError, ValueError) as exc:
        print(f"haze_apply: error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        LOG.info("%s", note)
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        summary = apply_folder(backend, args.input, args.output, progress=not args.no_progress, files=files,
                               haze=haze)
    finally:
        backend.close()
    for path, reason in summary["failed"]:
        print(f"haze_apply: skipped {path}: {reason}", file=sys.stderr)
    done = len(summary["written"])
    rate = f", {1000.0 * summary['seconds'] / done:.1f} ms/image" if done else ""
    conditions = f", visibility {haze.visibility_m:.4g} m, airlight {haze.airlight}" if haze else ""
    print(f"{done} of {summary['total']} images written to {args.output} ({backend.describe()}{rate}"
          f"{conditions}); {len(summary['failed'])} failed")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
