"""Evaluation outputs: JSON, a markdown table, and a markdown report with side-by-side pictures.

The report folder holds ``report.md``, ``results.json`` and ``images/*.jpg``: one strip per
pictured sample, "input | DCP | model(s) | ground truth" for removal (no ground truth in the
no-reference mode) and "clear | model(s) | model(s) given β, A | reference hazy" for synthesis,
each tile labelled. ``report.md`` lists the picture files and shows them.

Table columns (synthetic mode): removal PSNR / SSIM; synthesis (conditioned), the method given the
reference's β and A; synthesis (unconditioned, paper), the method given neither (see
``protocol``). With ``--synthesis-mask measured`` the synthesis columns are a PSNR over the
measured-depth pixels only, and there is no synthesis SSIM (not defined on scattered pixels).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from haze_ros.core.image_files import write_jpeg

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


def _masked(result: dict) -> bool:
    return (result.get("protocol") or {}).get("synthesis_mask") == "measured"


def table_columns(result: dict) -> List[Tuple[str, str, str, int]]:
    """The score columns of the result's table: ``(header, task, score name, digits)``."""
    columns = [("removal PSNR (dB)", "removal", "psnr_db", 2), ("removal SSIM", "removal", "ssim", 3)]
    tasks = [("synthesis_conditioned", "synthesis (conditioned)")] if result["mode"] == "synthetic" else []
    tasks.append(("synthesis", "synthesis (unconditioned, paper)"))
    for task, name in tasks:
        if _masked(result):
            columns.append((f"{name} PSNR on measured-depth pixels (dB)", task, "psnr_db", 2))
        else:
            columns += [(f"{name} PSNR (dB)", task, "psnr_db", 2), (f"{name} SSIM", task, "ssim", 3)]
    return columns


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
    columns = table_columns(result)
    head = ("| method | " + " | ".join(c[0] for c in columns) + " | ms/frame (dehaze, haze) |\n"
            "|---|" + "---:|" * (len(columns) + 1))
    body = []
    for r in rows:
        timing = ", ".join(f"{r['ms_per_frame'][d]:.0f}" for d in ("dehaze", "haze")
                           if d in r["ms_per_frame"]) or "–"
        cells = [_cell(r.get(task), name, digits) for _, task, name, digits in columns]
        body.append(f"| {r['label']} | " + " | ".join(cells) + f" | {timing} |")
    return "\n".join([head] + body)


def table_notes(result: dict) -> List[str]:
    """Plain-language notes on the table's columns, for the report."""
    if result["mode"] == "no_reference":
        return ["Fog density: dark-channel haze opacity, local contrast and saturation (NOT FADE)."]
    notes = []
    if result["mode"] == "synthetic":
        notes.append("synthesis (conditioned): the method is given the reference's beta and airlight "
                     "(FrameConditions.haze); scored for conditioned methods (physics generator, flat road) "
                     "and for the identity row (the unhazed frame, the same number in both columns).")
    notes.append("synthesis (unconditioned, paper): the method is given no beta or airlight; a conditioned "
                 "model then makes its default haze, the centre of the paper's range: beta 0.012 1/m "
                 "(visibility 250 m), airlight 0.9.")
    if _masked(result):
        notes.append("Synthesis is scored on the pixels with a depth measurement only (before completion), "
                     "against eq. (1) haze from the measured depth with the sample's beta and airlight: "
                     "PSNR over those pixels; no SSIM (its windows are not defined on scattered pixels). "
                     "Removal is scored on the whole image, hazed with the completed depth.")
    return notes


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
        synthesis = []
        for label, out in outputs.items():
            if label.startswith("identity"):
                continue
            if "haze" in out:
                synthesis.append((label, out["haze"]))
            if "haze_conditioned" in out:
                short = label if len(label) <= 26 else label[:25] + "~"  # tiles show 40 characters
                synthesis.append((f"{short} given beta,A", out["haze_conditioned"]))
        if synthesis and sample.clear is not None:
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
    lines += [f"- {note}" for note in table_notes(result)] + [""]
    lines += ["Rows:", ""] + [f"- {r['label']}: " + ", ".join(f"{k} = {v}" for k, v in r["describe"].items())
                              for r in result["rows"]] + [""]
    if result["failed"]:
        lines += ["## Failed items", ""] + [f"- {f['key']}: {f['reason']}" for f in result["failed"]] + [""]
    written = pictures.written if pictures else []
    if written:
        lines += ["## Pictures", ""]
        lines += [f"- {entry['key']}: " + ", ".join(f"`{entry[t]}` ({t})" for t in ("removal", "synthesis")
                                                    if t in entry) for entry in written] + [""]
    for entry in written:
        lines += [f"### {entry['key']}", ""]
        for task in ("removal", "synthesis"):
            if task in entry:
                lines += [f"{task}:", "", f"![{task} {entry['key']}]({entry[task]})", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
