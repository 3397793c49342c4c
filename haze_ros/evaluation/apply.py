"""``haze_apply``: run a model (or DCP) over a folder of images; same names out, as PNG, same size.

``haze_apply [--model PATH] --direction dehaze|haze --input DIR --output DIR [--backend NAME]``

* The model defaults to the shipped ``models/edge.safetensors`` (resolved by the backends'
  ``model_files``); ``--backend dcp`` dehazes with the dark channel prior instead.
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
import sys
import time
from pathlib import Path
from typing import List, Optional

from haze_ros.backends.base import BackendError
from haze_ros.backends.factory import BackendSpec, create_backend
from haze_ros.core.types import Direction, FrameConditions
from haze_ros.evaluation.images import ImageReadError, read_rgb, write_png
from haze_ros.evaluation.pairing import IMAGE_SUFFIXES, list_files

LOG = logging.getLogger("haze_apply")


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


def apply_folder(backend, input_dir: Path, output_dir: Path, progress: bool = True,
                 files: Optional[List[Path]] = None) -> dict:
    """Process every image under ``input_dir`` (or the given ``files`` in it) into ``output_dir``.

    Returns:
        ``{"written": [...], "failed": [(path, reason), ...], "seconds": processing time}``.
    """
    from tqdm import tqdm

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
            start = time.perf_counter()
            result = backend.process_frame(rgb, FrameConditions())
            seconds += time.perf_counter() - start
            target.parent.mkdir(parents=True, exist_ok=True)
            write_png(target, result)
        except (ImageReadError, ValueError, OSError) as exc:
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
        files = list_files(args.input, IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under --input {args.input}")
        existing = [t for t in (output_path(args.input, args.output, f) for f in files) if t.exists()]
        if existing and not args.overwrite:
            raise ValueError(f"{len(existing)} output(s) exist already, e.g. {existing[0]} "
                             "(pass --overwrite to replace them)")
        spec = BackendSpec(name=args.backend, direction=direction, model_path=args.model, device=args.device)
        backend, notes = create_backend(spec)
    except (BackendError, ValueError) as exc:
        print(f"haze_apply: error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        LOG.info("%s", note)
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        summary = apply_folder(backend, args.input, args.output, progress=not args.no_progress, files=files)
    finally:
        backend.close()
    for path, reason in summary["failed"]:
        print(f"haze_apply: skipped {path}: {reason}", file=sys.stderr)
    done = len(summary["written"])
    rate = f", {1000.0 * summary['seconds'] / done:.1f} ms/image" if done else ""
    print(f"{done} of {summary['total']} images written to {args.output} ({backend.describe()}{rate}); "
          f"{len(summary['failed'])} failed")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
