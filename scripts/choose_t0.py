#!/usr/bin/env python3
"""Choose the physics dehazer's inference floor t0 on the VALIDATION scenes, then release with it.

    python scripts/choose_t0.py RUN_CHECKPOINT TARGET_STEM [--t0 0.1 0.2 0.3 0.4 0.5]
                                [--scenes 41-44] [--seed 7] [--out docs/evaluation/t0_choice_val]

t0 is the floor of J = (I − A)/max(t, t0) + A (eq. (1) inverted); the weights do not depend on it,
so it is an inference-time constant chosen after training. For each candidate the checkpoint is
released with that t0 (``haze_ros.training.release``) into a temporary folder and scored by
``haze_eval`` (Table 1 protocol, removal) on FRIDA2 scenes ``--scenes`` (default: the training
run's validation scenes 41-44, never the held-out 45-66) with haze draws of ``--seed`` (default 7:
other draws than the held-out tables' seed 0). Rule (the one the model card states): the smallest
t0 whose mean removal PSNR is within 0.1 dB of the best, i.e. the least flattening of the far field
that costs nothing measurable. Prints the table, writes ``<out>.md`` and ``<out>.json``, and
releases ``TARGET_STEM`` with the chosen t0.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.training.release import release_checkpoint  # noqa: E402

TOLERANCE_DB = 0.1


def choose(scores: dict) -> float:
    """The smallest t0 within ``TOLERANCE_DB`` of the best mean PSNR; ``scores`` {t0: (psnr, ssim)}."""
    best = max(psnr for psnr, _ in scores.values())
    return min(t0 for t0, (psnr, _) in scores.items() if psnr >= best - TOLERANCE_DB)


def main() -> int:
    """Score the candidates, print and save the table, release the chosen one; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint (e.g. runs/edge/checkpoints/best)")
    parser.add_argument("target", type=Path, help="release stem, e.g. models/edge")
    parser.add_argument("--t0", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "frida2")
    parser.add_argument("--scenes", default="41-44", help="FRIDA2 scenes (default: validation 41-44)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the protocol's haze draw")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation" / "t0_choice_val")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "haze_ros.evaluation.cli", "--no-progress", "--no-dcp"]  # haze_eval
        for t0 in args.t0:
            stem = Path(tmp) / f"t0_{round(t0 * 1000):04d}"  # no dot: the stem gets suffixes
            release_checkpoint(args.checkpoint, stem, t0)
            command += ["--model", str(stem.with_suffix(".safetensors")), "--label", f"t0 {t0:g}"]
        command += ["--clear", str(args.data / "clear"), "--depth", str(args.data / "depth_cm_uint16"),
                    "--depth-scale", "0.01", "--scenes", args.scenes, "--seed", str(args.seed),
                    "--report", str(Path(tmp) / "report")]
        done = subprocess.run(command, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            print(f"choose_t0: haze_eval failed with status {done.returncode}", file=sys.stderr)
            return 1
        results = json.loads((Path(tmp) / "report" / "results.json").read_text())
    rows = {row["label"]: row["removal"] for row in results["rows"]}
    scores = {t0: (rows[f"t0 {t0:g}"]["psnr_db"], rows[f"t0 {t0:g}"]["ssim"]) for t0 in args.t0}
    chosen = choose(scores)
    lines = [f"t0 choice for `{os.path.relpath(args.checkpoint, REPO)}` on FRIDA2 scenes {args.scenes} "
             f"(Table 1 protocol, seed {args.seed}, removal; `scripts/choose_t0.py`; rule: the smallest t0 "
             f"within {TOLERANCE_DB} dB of the best). Machine: {results['machine']}.", "",
             "| t0 | mean removal PSNR (dB) | mean removal SSIM |", "|---:|---:|---:|"]
    lines += [f"| {t0:g}{' (chosen)' if t0 == chosen else ''} | {p:.2f} | {s:.3f} |"
              for t0, (p, s) in scores.items()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"checkpoint": os.path.relpath(args.checkpoint, REPO), "scenes": args.scenes, "seed": args.seed,
         "scores": {f"{t0:g}": {"psnr_db": p, "ssim": s} for t0, (p, s) in scores.items()},
         "chosen_t0": chosen, "machine": results["machine"]}, indent=2) + "\n")
    print("\n".join(lines[2:]))
    print(release_checkpoint(args.checkpoint, args.target, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
