"""Evaluation outputs: JSON, a markdown table, and a markdown report with side-by-side pictures.

The report folder holds ``report.md``, ``results.json`` and ``images/*.jpg``: one strip per
pictured sample, "input | DCP | model(s) | ground truth" for removal and "clear | model(s) |
reference hazy" for synthesis, each tile labelled.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

from haze_ros.evaluation.images import write_jpeg

TILE_WIDTH = 320
LABEL_HEIGHT = 22


def _fmt(value: Optional[float], digits: int) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def _cell(block: Optional[dict], name: str, digits: int) -> str:
    return "–" if not block else _fmt(block.get(name), digits)


def markdown_table(result: dict) -> str:
    """Format the result's summary rows as a GitHub markdown table (means over the samples)."""
    rows = result["rows"]
    if result["mode"] == "no_reference":
        head = ("| method | haze opacity ↓ | local contrast ↑ | saturation ↑ | n |\n"
                "|---|---:|---:|---:|---:|")
        body = [f"| {r['label']} | {_cell(r['fog_density'], 'haze_opacity', 3)} | "
                f"{_cell(r['fog_density'], 'contrast', 4)} | {_cell(r['fog_density'], 'saturation', 3)} | "
                f"{(r['fog_density'] or {}).get('n', 0)} |" for r in rows]
        return "\n".join([head] + body)
    head = ("| method | removal PSNR (dB) | removal SSIM | synthesis PSNR (dB) | synthesis SSIM | "
            "ms/frame (dehaze, haze) |\n|---|---:|---:|---:|---:|---:|")
    body = []
    for r in rows:
        timing = ", ".join(f"{r['ms_per_frame'][d]:.0f}" for d in ("dehaze", "haze")
                           if d in r["ms_per_frame"]) or "–"
        body.append(f"| {r['label']} | {_cell(r['removal'], 'psnr_db', 2)} | "
                    f"{_cell(r['removal'], 'ssim', 3)} | {_cell(r['synthesis'], 'psnr_db', 2)} | "
                    f"{_cell(r['synthesis'], 'ssim', 3)} | {timing} |")
    return "\n".join([head] + body)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _json_safe(value):
    """Replace non-finite floats (PSNR of identical images) by strings, so the JSON is strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, result: dict) -> None:
    """Write the full result (summary rows, per-image scores, failures) as strict JSON, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(result), indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _labelled_tile(rgb: np.ndarray, label: str) -> np.ndarray:
    """(H, W, 3) uint8/uint16 RGB → uint8 tile TILE_WIDTH wide with the label on a black band above."""
    image = rgb if rgb.dtype == np.uint8 else (rgb // 257).astype(np.uint8)
    height = max(1, int(round(image.shape[0] * TILE_WIDTH / image.shape[1])))
    tile = cv2.resize(image, (TILE_WIDTH, height), interpolation=cv2.INTER_AREA)
    band = np.zeros((LABEL_HEIGHT, TILE_WIDTH, 3), np.uint8)
    cv2.putText(band, label[:40], (4, LABEL_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([band, tile])


def side_by_side(panels: List[tuple]) -> np.ndarray:
    """Labelled tiles of ``[(label, rgb), ...]`` joined left to right into one uint8 RGB strip."""
    tiles = [_labelled_tile(image, label) for label, image in panels]
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    return np.hstack(tiles)


def _safe_name(text: str) -> str:
    """File-name-safe form of a sample key, without an image suffix (``foggy-002.jpg`` → ``foggy-002``)."""
    text = re.sub(r"\.(png|jpe?g|bmp|tiff?|ppm|pgm|webp)$", "", text, flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sample"


class PictureWriter:
    """Collects side-by-side strips for the first ``limit`` samples into ``folder/images``."""

    def __init__(self, folder: Path, limit: int = 4) -> None:
        self.images_dir = Path(folder) / "images"
        self.limit = limit
        self.written: List[Dict[str, str]] = []

    def __call__(self, sample, outputs: Dict[str, Dict[str, np.ndarray]], index: int) -> None:
        """``on_sample`` hook of ``protocol.run_protocol``: write the strips of one sample."""
        if index >= self.limit:
            return
        self.images_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{index:03d}_{_safe_name(sample.key)}"
        entry = {"key": sample.key}
        removal = [("input (hazy)", sample.hazy)]
        removal += [(label, out["dehaze"]) for label, out in outputs.items()
                    if "dehaze" in out and not label.startswith("identity")]
        if sample.clear is not None:
            removal.append(("ground truth (clear)", sample.clear))
        entry["removal"] = self._write(f"{stem}_removal.jpg", removal)
        synthesis = [(label, out["haze"]) for label, out in outputs.items()
                     if "haze" in out and not label.startswith("identity")]
        if synthesis:
            panels = [("input (clear)", sample.clear)] + synthesis + [("reference hazy", sample.hazy)]
            entry["synthesis"] = self._write(f"{stem}_synthesis.jpg", panels)
        self.written.append(entry)

    def _write(self, name: str, panels: List[tuple]) -> str:
        write_jpeg(self.images_dir / name, side_by_side(panels))
        return f"images/{name}"


def write_report(folder: Path, result: dict, pictures: Optional[PictureWriter]) -> Path:
    """Write ``report.md`` (+ ``results.json``) into ``folder``; returns the report's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "results.json", result)
    lines = [f"# haze_eval report ({result['mode']})", "",
             f"Command: `{result['command']}`", "",
             f"Machine: {result['machine']}", "",
             f"Samples: {result['n_samples']} scored, {len(result['failed'])} failed.", ""]
    if result.get("protocol"):
        lines += ["Protocol: " + ", ".join(f"{k} = {v}" for k, v in result["protocol"].items()), ""]
    lines += [markdown_table(result), ""]
    lines += ["Rows:", ""] + [f"- {r['label']}: " + ", ".join(f"{k} = {v}" for k, v in r["describe"].items())
                              for r in result["rows"]] + [""]
    if result["failed"]:
        lines += ["## Failed items", ""] + [f"- {f['key']}: {f['reason']}" for f in result["failed"]] + [""]
    for entry in (pictures.written if pictures else []):
        lines += [f"## {entry['key']}", ""]
        for task in ("removal", "synthesis"):
            if task in entry:
                lines += [f"{task}:", "", f"![{task} {entry['key']}]({entry[task]})", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
