#!/usr/bin/env python3
"""Where the physics dehazer's removal error comes from: its t, k, A and c swapped for the truth.

    python scripts/dehaze_error_budget.py [--model models/edge.safetensors] [--scenes 41-44]
                                          [--seed 0] [--out docs/evaluation/error_budget_val]

On FRIDA2 scenes with depth (default: the training run's VALIDATION scenes 41-44, never the
held-out 45-66), each clear image J is hazed by eq. (1) with the protocol's random draw of β and A
(``haze_ros.evaluation.protocol.PaperHazeRange``, as ``haze_eval --seed``) and quantised to 8 bits.
The dehaze head's own outputs are then recomposed (``recompose_clear``, the model's formula) with
some of them replaced by the truth:

* t↑: the model's guided-upsampled transmission, or the true t = exp(−β·d) floored at the
  model's t0, or the true t pooled to the model's map resolution and guided-upsampled like the
  model's (what a perfect t head could give at that resolution);
* k↑: the model's keep weight, or 0 (the plain inverse of eq. (1));
* A, c: the model's airlight and colour correction, or the true A and c = 0.

Prints the mean removal PSNR (dB) of each combination and writes ``<out>.json`` and ``<out>.md``.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.evaluation import metrics  # noqa: E402
from haze_ros.evaluation.depth_io import load_depth_m  # noqa: E402
from haze_ros.evaluation.pairing import parse_number_ranges  # noqa: E402
from haze_ros.evaluation.protocol import Sample, depth_pairs, synthetic_samples  # noqa: E402
from haze_ros.networks.loading import load_translator  # noqa: E402
from haze_ros.networks.physics_model import (fast_guided_upsample, guide_image, pool_frame,  # noqa: E402
                                             recompose_clear)
from haze_ros.training.data import FRIDA_DEPTH_SCALE_M  # noqa: E402

# (label, t source, keep weight source, A and c source)
COMBINATIONS = (
    ("model as shipped", "model", "model", "model"),
    ("true A, c = 0", "model", "model", "true"),
    ("k = 0", "model", "zero", "model"),
    ("true t", "true", "model", "model"),
    ("true t, true A", "true", "model", "true"),
    ("true t at map resolution, true A, k = 0", "true_lr", "zero", "true"),
    ("true t, true A, k = 0", "true", "zero", "true"),
)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(1, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def to_uint8(batch: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` in [0, 1] (clamped) → ``(H, W, 3)`` uint8, round half up."""
    return (batch.clamp(0.0, 1.0)[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def budget_rows(model, hazy: torch.Tensor, t_true: torch.Tensor, airlight_true: torch.Tensor):
    """``(images, stats)``: recomposed J (uint8) per ``COMBINATIONS`` label, and the frame's map errors.

    ``stats``: mean |t↑ − max(t_true, t0)| and the mean keep weight k↑ over the frame.
    """
    cfg, heads = model.config, model.heads
    with torch.no_grad():
        hazy_lr, raw, shared = model.network_outputs(hazy)
        t_model, k_model = heads.dehaze_maps(hazy, hazy_lr, raw)
        global_raw = model.airlight(shared)
        t_pooled = pool_frame(t_true, cfg.input_stride, cfg.scale_width_px)
        t_lr = fast_guided_upsample(t_pooled, guide_image(hazy_lr), guide_image(hazy), cfg.guided_radius,
                                    cfg.guided_eps)
        t_choice = {"model": t_model, "true": torch.clamp(t_true, cfg.t0, 1.0),
                    "true_lr": torch.clamp(t_lr, cfg.t0, 1.0)}
        k_choice = {"model": k_model, "zero": None}
        a_choice = {"model": (heads.airlight(global_raw), heads.correction(global_raw)),
                    "true": (airlight_true, None)}
        out = {}
        for label, t_key, k_key, a_key in COMBINATIONS:
            airlight, correction = a_choice[a_key]
            clear = recompose_clear(hazy, t_choice[t_key], airlight, None, keep=k_choice[k_key],
                                    correction=correction)
            out[label] = to_uint8(clear)
        stats = {"t_abs_error": float((t_model - t_choice["true"]).abs().mean()),
                 "keep_weight": float(k_model.mean())}
    return out, stats


def shown_path(path: Path) -> str:
    """``path`` relative to the repository root (``../shared/...`` for the data): no home dirs in reports."""
    return os.path.relpath(path.resolve(), REPO)


def main() -> int:
    """Compute, print and save the error budget; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "edge.safetensors")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "frida2")
    parser.add_argument("--scenes", default="41-44", help="FRIDA2 scenes (default: validation 41-44)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the protocol's haze draw")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation" / "error_budget_val")
    args = parser.parse_args()
    try:
        model = load_translator(args.model, "dehaze")
        if not hasattr(model, "network_outputs"):
            raise ValueError(f"{args.model}: not a physics-generator model (no t, k, A heads)")
        triples, _notes = depth_pairs([args.data / "clear"], [args.data / "depth_cm_uint16"],
                                      numbers=parse_number_ranges(args.scenes))
    except (ValueError, OSError) as exc:
        print(f"dehaze_error_budget: {exc}", file=sys.stderr)
        return 1
    scores = {label: [] for label, *_ in COMBINATIONS}
    map_stats = {"t_abs_error": [], "keep_weight": []}
    for sample in synthetic_samples(triples, FRIDA_DEPTH_SCALE_M, args.seed):  # haze_eval's protocol
        if not isinstance(sample, Sample):
            print(f"dehaze_error_budget: {sample.key}: {sample.reason}", file=sys.stderr)
            return 1
        depth, _ = load_depth_m(Path(sample.info["depth"]), FRIDA_DEPTH_SCALE_M, sample.clear.shape[:2],
                                "auto")
        t_true = torch.from_numpy(np.exp(-sample.haze.beta_per_m * depth).astype(np.float32))[None, None]
        airlight = torch.tensor([sample.haze.airlight], dtype=torch.float32)
        outputs, stats = budget_rows(model, to_tensor(sample.hazy), t_true, airlight)
        for name, value in stats.items():
            map_stats[name].append(value)
        for label, image in outputs.items():
            scores[label].append(metrics.psnr(sample.clear, image))
        print(f"{sample.key}: " + ", ".join(f"{label} {scores[label][-1]:.2f}" for label in outputs),
              flush=True)
    means = {label: float(np.mean(values)) for label, values in scores.items()}
    map_means = {name: float(np.mean(values)) for name, values in map_stats.items()}
    report = {"model": shown_path(args.model), "data": shown_path(args.data), "scenes": args.scenes,
              "seed": args.seed, "items": len(triples), "mean_psnr_db": means, "mean_maps": map_means}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"Removal error budget of `{args.model.name}` on FRIDA2 scenes {args.scenes} (seed {args.seed}, "
             f"{len(triples)} images; `scripts/dehaze_error_budget.py`): the model's t↑, k↑, A and c "
             f"replaced by the truth.", "", "| recomposition | mean removal PSNR (dB) |", "|---|---:|"]
    lines += [f"| {label} | {value:.2f} |" for label, value in means.items()]
    lines += ["", f"Mean |t↑ − max(t_true, t0)| = {map_means['t_abs_error']:.3f}; mean keep weight k↑ = "
              f"{map_means['keep_weight']:.3f}."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
