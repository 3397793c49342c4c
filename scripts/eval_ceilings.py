#!/usr/bin/env python3
"""Reference points for the Table 1 scores of a deterministic model, on the held-out FRIDA2 scenes.

    python scripts/eval_ceilings.py [--scenes 45-66] [--seed 0] [--draws 64] [--out docs/evaluation/ceilings]

The protocol (``haze_ros.evaluation.protocol``) hazes each clear image J with a random draw of
A ~ U[0.8, 1.0]³ and β ~ U[0.8, 1.6] per 100 m. Two reference points, both given the TRUE depth:

* synthesis ceiling: the best fixed output for a clear image, when A and β are unknown, is the
  expectation E_{A,β}[J·t + A·(1 − t)] (the MSE-optimal predictor, estimated from ``--draws``
  Monte-Carlo draws). Its PSNR against the protocol's hazy image is about the best a model F_J→I
  can reach on average even with the true depth (the mean of per-image PSNRs could be slightly
  higher for another fixed output); a model that must infer the depth from J does worse.
* oracle inversion: J recovered by inverting eq. (1) with the true t and A, from the 8-bit hazy
  image: J = (I − A)/t + A (t ≥ 1e-3). Where t ≈ 0 (sky, d = 500 m) the 8-bit input holds no
  information about J, which is what limits it; it is a reference, not a strict bound.

Prints a table and writes ``<out>.json`` and ``<out>.md``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.evaluation import metrics  # noqa: E402
from haze_ros.evaluation.pairing import pair_key, parse_number_ranges  # noqa: E402
from haze_ros.evaluation.depth_io import load_depth_m  # noqa: E402
from haze_ros.core.image_files import read_rgb  # noqa: E402
from haze_ros.evaluation.protocol import PaperHazeRange, depth_pairs  # noqa: E402
from haze_ros.physics.scattering import synthesize_haze  # noqa: E402


def expected_haze(clear: np.ndarray, depth_m: np.ndarray, haze: PaperHazeRange, draws: int,
                  rng: np.random.Generator) -> np.ndarray:
    """E over (A, β) of eq. (1) for ``clear`` (uint8 RGB) and ``depth_m`` (metres), as uint8."""
    total = np.zeros(clear.shape, np.float64)
    for _ in range(draws):
        beta = rng.uniform(*haze.beta) / haze.reference_distance_m
        airlight = tuple(rng.uniform(*haze.airlight, size=3))
        total += synthesize_haze(clear, depth_m, beta, airlight).astype(np.float64)
    return np.clip(np.rint(total / draws), 0, 255).astype(np.uint8)


def oracle_inversion(hazy: np.ndarray, depth_m: np.ndarray, beta: float, airlight) -> np.ndarray:
    """J from the 8-bit hazy image with the true t = exp(−β·d) (floored at 1e-3) and A."""
    t = np.maximum(np.exp(-beta * depth_m), 1e-3)[..., None]
    a = np.asarray(airlight) * 255.0
    return np.clip(np.rint((hazy.astype(np.float64) - a) / t + a), 0, 255).astype(np.uint8)


def main() -> int:
    """Compute, print and save the reference points; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "frida2")
    parser.add_argument("--scenes", default="45-66")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the protocol's haze draw (haze_eval --seed)")
    parser.add_argument("--draws", type=int, default=64, help="Monte-Carlo draws for the expectation")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation" / "ceilings")
    args = parser.parse_args()
    try:
        triples, _notes = depth_pairs([args.data / "clear"], [args.data / "depth_cm_uint16"],
                                      numbers=parse_number_ranges(args.scenes))
    except (ValueError, OSError) as exc:
        print(f"eval_ceilings: {exc}", file=sys.stderr)
        return 1
    haze, rng = PaperHazeRange(), np.random.default_rng(1234)
    rows = []
    for root, clear_path, depth_path in triples:
        key = pair_key(clear_path, root)
        clear = read_rgb(clear_path)
        depth, _ = load_depth_m(depth_path, 0.01, clear.shape[:2], "auto")
        beta, airlight = haze.sample(args.seed, key)
        hazy = synthesize_haze(clear, depth, beta, airlight)
        expected = expected_haze(clear, depth, haze, args.draws, rng)
        row = {"key": key, "beta_per_m": beta, "airlight": list(airlight),
               "input_psnr_db": metrics.psnr(clear, hazy),
               "synthesis_ceiling_psnr_db": metrics.psnr(hazy, expected),
               "oracle_inversion_psnr_db": metrics.psnr(clear, oracle_inversion(hazy, depth, beta, airlight))}
        rows.append(row)
        print(f"{key}: synthesis ceiling {row['synthesis_ceiling_psnr_db']:.2f} dB, oracle inversion "
              f"{row['oracle_inversion_psnr_db']:.2f} dB, input {row['input_psnr_db']:.2f} dB", flush=True)
    means = {k: float(np.mean([r[k] for r in rows])) for k in
             ("input_psnr_db", "synthesis_ceiling_psnr_db", "oracle_inversion_psnr_db")}
    report = {"data": str(args.data), "scenes": args.scenes, "seed": args.seed, "draws": args.draws,
              "items": len(rows), "mean": means, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"Reference points on FRIDA2 scenes {args.scenes} (seed {args.seed}, {len(rows)} images, "
             f"{args.draws} Monte-Carlo draws; `scripts/eval_ceilings.py`).", "",
             "| quantity | mean PSNR (dB) |", "|---|---:|",
             f"| hazy input vs clear | {means['input_psnr_db']:.2f} |",
             f"| synthesis ceiling: E[eq. (1)] over (A, β) with the true depth vs the protocol's hazy image "
             f"| {means['synthesis_ceiling_psnr_db']:.2f} |",
             f"| oracle inversion of eq. (1) with the true t and A vs clear | "
             f"{means['oracle_inversion_psnr_db']:.2f} |"]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
