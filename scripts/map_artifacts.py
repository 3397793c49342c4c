#!/usr/bin/env python3
"""Row-by-row patterns in the physics model's low-resolution maps, on held-out frames.

    python scripts/map_artifacts.py [--model models/edge.safetensors] [--data ../shared/data]
                                    [--max-images 12] [--out docs/evaluation/map_artifacts]

For each held-out set (Udacity ``frames/test_video``, DAWN images 0, 5, 10, ..., DDAD scene_02,
FRIDA2 scenes 45-66: their clear images for the haze head, their U080 fog for the dehaze head) the
model runs at the frames' own size (the exported graph's resolution rule) and the maps it predicts
at its map resolution are measured before any upsampling:

* haze head: log-depth log d [log m]; dehaze head: the keep weight k ∈ [0, 1];
* ``rows`` / ``cols``: mean |second difference| down the rows / along the columns. A smooth map
  has both small (FRIDA2's true log-depth: ``reference``); a pattern that alternates from one map
  row to the next has ``rows`` many times ``cols`` (the guided upsampling averages it into bands).

Prints the table and writes ``<out>.json`` and ``<out>.md``. Diagnostic only: nothing is selected
on it (the sets are held out).
"""

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from haze_ros.bench.common import machine_info  # noqa: E402
from haze_ros.core.image_files import ImageReadError  # noqa: E402
from haze_ros.core.image_files import read_rgb8 as read_image  # noqa: E402
from haze_ros.networks.loading import load_translator  # noqa: E402
from haze_ros.training.data import dawn_split, udacity_files  # noqa: E402


def second_differences(maps: np.ndarray):
    """``(h, w)`` map → (mean |∂²| down the rows, mean |∂²| along the columns)."""
    return float(np.abs(np.diff(maps, 2, axis=0)).mean()), float(np.abs(np.diff(maps, 2, axis=1)).mean())


def image_tensor(path: Path) -> torch.Tensor:
    """An 8-bit image file → ``(1, 3, H, W)`` float32 RGB in [0, 1] (``core.image_files.read_rgb8``)."""
    try:
        image = read_image(path)
    except ImageReadError as exc:
        raise SystemExit(f"map_artifacts: {exc}") from None
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def head_maps(translator, x: torch.Tensor) -> np.ndarray:
    """The map a translator predicts for ``x`` at its map resolution: log-depth (haze) or k (dehaze)."""
    with torch.no_grad():
        _x_lr, raw, _shared = translator.network_outputs(x)
        if translator.conditioned:
            return translator.heads.log_depth(raw)[0, 0].numpy()
        return translator.heads.keep_weight(raw)[0, 0].numpy()


def frida(root: Path, folder: str, prefix: str, scenes) -> list:
    return [root / "frida2" / folder / f"{prefix}-{n:06d}.png" for n in scenes]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "edge.safetensors"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--max-images", type=int, default=12, help="per set, evenly spaced (default 12)")
    parser.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    args = parser.parse_args(argv)
    root = Path(args.data)
    if not root.is_dir():
        print(f"map_artifacts: no data folder {root}", file=sys.stderr)
        return 2
    haze, dehaze = load_translator(args.model, "haze"), load_translator(args.model, "dehaze")
    ddad = sorted((root / "ddad_dgp" / "scene_02" / "rgb").glob("*/*.jpg"))
    sets = [("Udacity frames/test_video", udacity_files(root, ["frames/test_video"])),
            ("DAWN held out (every 5th)", dawn_split(root, 5)[1]),
            ("DDAD scene_02", ddad)]
    rows = []
    for label, files, head, translator in (
            [(name, files, "log-depth", haze) for name, files in sets]
            + [("FRIDA2 45-66 clear", frida(root, "clear", "LIma", range(45, 67)), "log-depth", haze)]
            + [(name, files, "k", dehaze) for name, files in sets]
            + [("FRIDA2 45-66 U080", frida(root, "fog_U080_homogeneous", "U080", range(45, 67)), "k",
                dehaze)]):
        if not files:
            print(f"map_artifacts: no images for {label}", file=sys.stderr)
            return 2
        spaced = np.linspace(0, len(files) - 1, min(args.max_images, len(files))).astype(int)
        pick = [files[i] for i in spaced]
        maps = [head_maps(translator, image_tensor(p)) for p in pick]
        pairs = [second_differences(m) for m in maps]
        row = {"set": label, "map": head, "n": len(pick), "rows": float(np.mean([r for r, _ in pairs])),
               "cols": float(np.mean([c for _, c in pairs]))}
        if label.startswith("FRIDA2") and head == "log-depth":  # the true depth at the map's size
            ref = []
            for p, m in zip(pick, maps):
                depth = cv2.imread(str(p).replace("clear/LIma", "depth_cm_uint16/LDep"), cv2.IMREAD_UNCHANGED)
                h, w = m.shape
                ref.append(second_differences(np.log(cv2.resize(depth.astype(np.float32) / 100.0, (w, h),
                                                                interpolation=cv2.INTER_AREA))))
            row["reference_rows"] = float(np.mean([r for r, _ in ref]))
            row["reference_cols"] = float(np.mean([c for _, c in ref]))
        rows.append(row)
        print(f"{label:28s} {head:9s} n={row['n']:2d} rows {row['rows']:.3f} cols {row['cols']:.3f}"
              + (f"  (true depth: rows {row['reference_rows']:.3f} cols {row['reference_cols']:.3f})"
                 if "reference_rows" in row else ""), flush=True)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        info = machine_info()
        out.with_suffix(".json").write_text(json.dumps({"model": args.model, "machine": info, "rows": rows},
                                                       indent=2) + "\n")
        lines = [f"Second differences of the maps of `{Path(args.model).name}` at map resolution "
                 f"(`scripts/map_artifacts.py`; {info['cpu']}, {info['cores']} cores, torch "
                 f"{info.get('torch')}).", "",
                 "| held-out set | map | images | mean abs 2nd diff down rows | along columns "
                 "| rows / cols |",
                 "|---|---|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['set']} | {r['map']} | {r['n']} | {r['rows']:.3f} | {r['cols']:.3f} | "
                         f"{r['rows'] / max(r['cols'], 1e-9):.1f} |")
        ref = [r for r in rows if "reference_rows" in r]
        for r in ref:
            ratio = r["reference_rows"] / max(r["reference_cols"], 1e-9)
            lines.append(f"| {r['set']}, true depth | log-depth | {r['n']} | {r['reference_rows']:.3f} | "
                         f"{r['reference_cols']:.3f} | {ratio:.1f} |")
        out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
