"""``haze_eval``: the paper's Table 1 protocol, paired and no-reference evaluation, on the command line.

Modes (chosen by the folders given):

* ``--clear DIR --depth DIR --depth-scale S``: synthetic haze by eq. (1) with the paper's
  randomisation (seeded); removal and synthesis scores, synthesis by two protocols: conditioned
  (the model is given the reference's β and A) and unconditioned (the paper's: it is given
  neither; a conditioned model then makes β = 0.012 1/m, A = 0.9). ``--clear``/``--depth`` may be
  repeated (folder pairs, e.g. one per DDAD scene). ``--synthesis-mask measured`` scores synthesis
  on the measured (LiDAR) pixels only; ``--flat-road`` adds the depth-free flat-road row.
* ``--hazy DIR --clear DIR``: given (hazy, clear) pairs; removal scores (and the model's synthesis
  against the given hazy image).
* ``--hazy DIR``: no reference; a fog density (NOT FADE, see ``fog_density``) of input and outputs.

Rows: the hazy input itself ("identity"), DCP (unless ``--no-dcp``), the flat-road approximation
(``--flat-road``), and every ``--model``. Every frame goes through ``core.processor.FrameProcessor``.
Exit status: 0 on success, 1 when some items could not be evaluated (the outputs then say
``"complete": false`` and list them), 2 for bad arguments or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import List, Optional

from haze_ros.core.backend import BackendError
from haze_ros.evaluation import protocol
from haze_ros.evaluation.methods import (FLAT_ROAD_OPTION_KEYS, UNCONDITIONED_HAZE_TEXT, close_all,
                                         dcp_method, flat_road_method, identity_method, model_method)
from haze_ros.evaluation.pairing import parse_number_ranges
from haze_ros.evaluation.report import PictureWriter, markdown_table, write_json, write_report

LOG = logging.getLogger("haze_eval")


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``haze_eval``."""
    parser = argparse.ArgumentParser(
        prog="haze_eval", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples: haze_eval --model models/edge.safetensors --clear ../shared/data/frida2/clear "
               "--depth ../shared/data/frida2/depth_cm_uint16 --depth-scale 0.01 --scenes 45-66 "
               "--report out/\n"
               "  haze_eval --model models/edge.safetensors --clear ../shared/data/ddad_dgp/scene_02/rgb "
               "--depth ../shared/data/ddad_dgp/depth_projected_lidar/scene_02 --depth-scale 0.00390625 "
               "--synthesis-mask measured --flat-road\n"
               "  haze_eval --model models/edge.safetensors --hazy ../shared/data/dawn_fog --every 5 "
               "--pictures 41 --report out/dawn")
    parser.add_argument("--model", action="append", default=[], metavar="PATH",
                        help="checkpoint (.safetensors + .json) or .onnx; repeat for several rows")
    parser.add_argument("--label", action="append", default=[], metavar="NAME",
                        help="row label for the --model of the same position (default: file stem)")
    parser.add_argument("--backend", default="torch",
                        help="backend running the models (torch, onnxruntime, auto ...; default torch)")
    parser.add_argument("--device", default="cpu", help="device for the model backend (default cpu)")
    parser.add_argument("--clear", action="append", default=[], type=Path, metavar="DIR")
    parser.add_argument("--depth", action="append", default=[], type=Path, metavar="DIR")
    parser.add_argument("--hazy", action="append", default=[], type=Path, metavar="DIR")
    parser.add_argument("--depth-scale", type=float, metavar="S",
                        help="metres per depth unit (FRIDA2 cm PNG: 0.01, DDAD: 0.00390625 = 1/256)")
    parser.add_argument("--complete-sparse", choices=("auto", "always", "never"), default="auto",
                        help="complete sparse LiDAR depth (auto: when < 50%% of pixels are measured)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the haze draw (default 0)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N items only")
    parser.add_argument("--scenes", metavar="RANGES",
                        help="only files whose last number is in RANGES, e.g. 45-66 (a held-out split; "
                             "FRIDA2 splits are data.test_scenes of config/train/*.yaml)")
    parser.add_argument("--every", type=int, default=1, metavar="K",
                        help="keep the items at positions 0, K, 2K ... of the sorted files (pairs: of "
                             "each folder pair, in pairing order), before --scenes and --limit; "
                             "--every 5 on dawn_fog is the held-out DAWN split (default 1: all)")
    parser.add_argument("--synthesis-mask", choices=protocol.SYNTHESIS_MASKS, default=protocol.MASK_FULL,
                        help="synthetic mode: score synthesis on the whole image (full, default) or only "
                             "on the pixels with a depth measurement, against eq. (1) haze from the "
                             "measured depth (measured; PSNR only, for sparse LiDAR)")
    parser.add_argument("--flat-road", action="store_true",
                        help="synthetic mode: add the row of the physics backend without depth (the "
                             "flat-road approximation), given each sample's beta and airlight")
    parser.add_argument("--flat-road-option", action="append", default=[], metavar="KEY=VALUE",
                        help="flat-road geometry: " + ", ".join(FLAT_ROAD_OPTION_KEYS)
                             + " (repeatable; defaults 1.5 m, 60 deg, horizon at mid-height)")
    parser.add_argument("--no-dcp", action="store_true", help="leave out the DCP row")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the full result as JSON")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="write report.md, results.json and side-by-side pictures to DIR")
    parser.add_argument("--pictures", type=int, default=4, metavar="N",
                        help="samples pictured in the report (default 4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def machine_description() -> str:
    """One line naming the machine the figures come from (cores, OS, Python, GPU or none)."""
    gpu = "no GPU"
    try:
        import torch
        if torch.cuda.is_available():
            gpu = "GPU " + torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return (f"{os.cpu_count()}-core {platform.system()} {platform.release()} ({platform.machine()}), "
            f"Python {platform.python_version()}, {gpu}")


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """Validate the folder combination; returns the mode."""
    if args.label and len(args.label) > len(args.model):
        parser.error("more --label than --model")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if args.every < 1:
        parser.error("--every must be >= 1")
    if args.pictures < 0:
        parser.error("--pictures must be >= 0")
    try:
        args.flat_road_options = _flat_road_options(args.flat_road_option)
    except ValueError as exc:
        parser.error(str(exc))
    if args.flat_road_option and not args.flat_road:
        parser.error("--flat-road-option needs --flat-road")
    if (args.flat_road or args.synthesis_mask != protocol.MASK_FULL) and not args.depth:
        parser.error("--flat-road and --synthesis-mask measured need the synthetic mode "
                     "(--clear DIR --depth DIR --depth-scale S): they use each sample's beta and airlight")
    if args.depth:
        if not args.clear or args.hazy:
            parser.error("--depth needs --clear (and no --hazy)")
        if args.depth_scale is None or not args.depth_scale > 0:
            parser.error("--depth needs --depth-scale S > 0 (metres per depth unit)")
        if len(args.depth) != len(args.clear):
            parser.error("give --clear and --depth the same number of times (folder pairs)")
        return protocol.SYNTHETIC
    if args.hazy and args.clear:
        if len(args.hazy) != len(args.clear):
            parser.error("give --hazy and --clear the same number of times (folder pairs)")
        return protocol.PAIRED
    if args.hazy:
        if len(args.hazy) != 1:
            parser.error("no-reference mode takes one --hazy folder")
        return protocol.NO_REFERENCE
    parser.error("give --clear DIR --depth DIR --depth-scale S, or --hazy DIR [--clear DIR]")
    raise AssertionError("unreachable")


def _flat_road_options(items: List[str]) -> dict:
    """``["hfov_deg=48", ...]`` → ``{"hfov_deg": 48.0}``; ``ValueError`` naming a bad item."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in FLAT_ROAD_OPTION_KEYS:
            raise ValueError(f"--flat-road-option {item!r}: use KEY=VALUE with KEY one of "
                             f"{', '.join(FLAT_ROAD_OPTION_KEYS)}")
        try:
            options[key] = float(value)
        except ValueError:
            raise ValueError(f"--flat-road-option {item!r}: {value!r} is not a number") from None
    return options


def _samples(args: argparse.Namespace, mode: str):
    """(sample iterator, item count, notes on unpaired files, protocol parameters)."""
    numbers = parse_number_ranges(args.scenes) if args.scenes else None
    selection = {"scenes": args.scenes or "all", "every": args.every}
    if mode == protocol.SYNTHETIC:
        triples, notes = protocol.depth_pairs(args.clear, args.depth, args.limit, numbers, args.every)
        haze = protocol.PaperHazeRange()
        params = {"seed": args.seed, "airlight_range": list(haze.airlight), "beta_range": list(haze.beta),
                  "beta_unit": f"1/{haze.reference_distance_m:g} m", "depth_scale_m": args.depth_scale,
                  "complete_sparse": args.complete_sparse, "synthesis_mask": args.synthesis_mask,
                  "unconditioned_haze": UNCONDITIONED_HAZE_TEXT, **selection}
        source = protocol.synthetic_samples(triples, args.depth_scale, args.seed, haze, args.complete_sparse,
                                            args.synthesis_mask)
        return source, len(triples), notes, params
    if mode == protocol.PAIRED:
        triples, notes = protocol.collect_pairs(args.hazy, args.clear, limit=args.limit, numbers=numbers,
                                                every=args.every)
        params = dict(selection, unconditioned_haze=UNCONDITIONED_HAZE_TEXT)
        return protocol.paired_samples(triples), len(triples), notes, params
    files = protocol.hazy_files(args.hazy[0], args.limit, numbers, args.every)
    return protocol.hazy_only_samples(args.hazy[0], files), len(files), [], selection


def _methods(args: argparse.Namespace):
    methods = [identity_method()]
    if not args.no_dcp:
        methods.append(dcp_method())
    if getattr(args, "flat_road", False):
        methods.append(flat_road_method(getattr(args, "flat_road_options", {})))
    for index, path in enumerate(args.model):
        label = args.label[index] if index < len(args.label) else None
        methods.append(model_method(path, label, args.backend, args.device))
    labels = [m.label for m in methods]
    if len(set(labels)) != len(labels):
        raise ValueError(f"row labels must be unique, got {labels}; use --label")
    return methods


def evaluate(args: argparse.Namespace, mode: str, argv: List[str]) -> dict:
    """Run the evaluation the arguments describe; returns the result dict (see ``report``)."""
    from tqdm import tqdm

    source, count, notes, params = _samples(args, mode)
    for note in notes:
        LOG.warning("%s", note)
    methods = _methods(args)
    if mode == protocol.SYNTHETIC:
        unconditioned = [m.label for m in methods if m.kind == "model" and not m.conditioned]
        if unconditioned:
            LOG.info("no conditioned synthesis for %s (its haze direction takes no beta / airlight)",
                     ", ".join(unconditioned))
    pictures = PictureWriter(args.report, args.pictures) if args.report else None
    try:
        with tqdm(total=count, desc="haze_eval", unit="img", disable=args.no_progress,
                  file=sys.stderr) as bar:
            result = protocol.run_protocol(source, methods, mode, on_sample=pictures, progress=bar.update)
    finally:
        close_all(methods)
    result.update(mode=mode, protocol=params, machine=machine_description(),
                  command="haze_eval " + shlex.join(argv), pairing_notes=notes,
                  complete=not result["failed"], pictures=pictures.written if pictures else [])
    if pictures is not None:
        write_report(args.report, result, pictures)
    if args.json:
        write_json(args.json, result)
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_eval``; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    mode = _check_args(parser, args)
    try:
        result = evaluate(args, mode, argv)
    except (BackendError, ValueError, FileNotFoundError) as exc:
        print(f"haze_eval: error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(result))
    print(f"\n{result['n_samples']} items scored, {len(result['failed'])} failed ({mode}; "
          f"{result['machine']})")
    for failure in result["failed"]:
        print(f"FAILED {failure['key']}: {failure['reason']}", file=sys.stderr)
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
