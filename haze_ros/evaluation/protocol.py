"""The paper's Table 1 protocol, plus paired and no-reference modes.

Synthetic mode (Table 1 of the seed paper, section 4.1.1): for each clear image J with depth d,
synthesise a hazy image by eq. (1), I = J·t + A·(1 − t), t = exp(−β·d / 100 m), with A drawn per
channel from U[0.8, 1.0] and β from U[0.8, 1.6] (i.e. 0.008–0.016 m⁻¹: visibility 187–375 m).
The draw for an image depends only on the seed and the image's pairing key, so a subset
(``--limit``) or another order sees the same haze. I is quantised to the clear image's dtype, as
a camera would record it. Then

* removal = PSNR / SSIM of method.dehaze(I) against J;
* synthesis (conditioned) = PSNR / SSIM of method.haze(J, β, A) against I: the method is given the
  reference's β and A (``FrameConditions(haze=HazeParams(β, A))``). Only for methods whose haze
  backend is conditioned (the physics generator, the flat-road row), and the identity row;
* synthesis (unconditioned, paper) = PSNR / SSIM of method.haze(J) against I, the method given no
  β or A (the paper's protocol): a conditioned method then makes its default haze, the centre of
  the range (β = 0.012 1/m, A = 0.9; ``methods.UNCONDITIONED_HAZE_OPTIONS``).

With ``synthesis_mask="measured"`` (real frames with sparse LiDAR), both synthesis scores are a
PSNR over the pixels with a depth measurement only (before completion), against eq. (1) haze from
the measured depth at those pixels with the sample's β and A (``metrics.masked_psnr``; no SSIM on
scattered pixels). Removal still uses the hazy image of the completed depth.

Paired mode: (hazy, clear) image pairs given as two folders (e.g. FRIDA2's fog renderings against
``clear``): removal against the clear image, and unconditioned synthesis against the given hazy
image (its β and A are unknown). No-reference mode: hazy images only; the fog density of the input
and of each method's output (``fog_density``; NOT FADE).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from haze_ros.core.processor import FrameRejected
from haze_ros.core.types import Direction, FrameConditions, HazeParams
from haze_ros.evaluation import metrics
from haze_ros.evaluation.depth_io import load_depth
from haze_ros.evaluation.fog_density import fog_density
from haze_ros.core.image_files import ImageReadError, read_rgb
from haze_ros.evaluation.methods import IDENTITY, Method
from haze_ros.evaluation.pairing import (DEPTH_SUFFIXES, IMAGE_SUFFIXES, list_files, number_in_ranges,
                                         pair_folders, pair_key)
from haze_ros.physics.haze_params import PaperRandomHaze
from haze_ros.physics.scattering import synthesize_haze

LOG = logging.getLogger(__name__)

SYNTHETIC, PAIRED, NO_REFERENCE = "synthetic", "paired", "no_reference"
MASK_FULL, MASK_MEASURED = "full", "measured"
SYNTHESIS_MASKS = (MASK_FULL, MASK_MEASURED)
# Score blocks of a row: removal, synthesis (unconditioned, paper), synthesis (conditioned), fog density.
TASKS = ("removal", "synthesis", "synthesis_conditioned", "fog_density")


@dataclass(frozen=True)
class PaperHazeRange:
    """The paper's randomisation: A_c ~ U[a_lo, a_hi] per channel, β ~ U[b_lo, b_hi] per reference unit."""

    airlight: Tuple[float, float] = (0.8, 1.0)
    beta: Tuple[float, float] = (0.8, 1.6)
    reference_distance_m: float = 100.0

    def sample(self, seed: int, key: str) -> Tuple[float, Tuple[float, float, float]]:
        """(β [1/m], A (R, G, B)) for the image with pairing ``key``, reproducible from ``seed``.

        Drawn by ``physics.haze_params.PaperRandomHaze`` (``default_rng([seed, index])``, A rounded
        to k/255) with index = CRC-32 of the key, so the draw depends on the image, not its position.
        """
        source = PaperRandomHaze(seed=int(seed), airlight_range=self.airlight, beta_range=self.beta,
                                 reference_distance_m=self.reference_distance_m)
        params = source.params_for(image_index(key), 0)
        return params.beta_per_m, tuple(params.airlight)


def image_index(key: str) -> int:
    """Stable non-negative index of an image from its pairing key (CRC-32; same on every platform)."""
    return zlib.crc32(key.encode("utf-8"))


@dataclass
class Sample:
    """One evaluation item: what the methods see and what they are scored against.

    Attributes:
        key: pairing key (``"<sub-folder>/<number>"``).
        hazy: ``(H, W, 3)`` RGB input for removal (synthetic, given, or the only image).
        clear: ``(H, W, 3)`` RGB ground truth, or ``None`` (no-reference mode).
        info: haze parameters and file names for the per-image JSON.
        haze: the β and A that made ``hazy`` (synthetic mode), given to conditioned methods;
            ``None`` where unknown (conditioned synthesis is then not scored).
        synthesis_reference: the image synthesis is scored against when it is not ``hazy``
            (``--synthesis-mask measured``: eq. (1) with the measured depth), else ``None``.
        synthesis_mask: ``(H, W)`` bool, the pixels synthesis is scored on (PSNR only), or
            ``None`` for the whole image (PSNR and SSIM).
    """

    key: str
    hazy: np.ndarray
    clear: Optional[np.ndarray]
    info: dict = field(default_factory=dict)
    haze: Optional[HazeParams] = None
    synthesis_reference: Optional[np.ndarray] = None
    synthesis_mask: Optional[np.ndarray] = None


@dataclass
class Failure:
    """An item that could not be evaluated: its files and the reason."""

    key: str
    files: List[str]
    reason: str


SampleSource = Iterator[object]  # yields Sample or Failure


def synthetic_samples(pairs: Sequence[Tuple[Path, Path, Path]], depth_scale: float, seed: int,
                      haze_range: PaperHazeRange = PaperHazeRange(),
                      complete_sparse: str = "auto", synthesis_mask: str = MASK_FULL) -> SampleSource:
    """Synthetic hazy images by eq. (1) from (root, clear path, depth path) triples.

    ``depth_scale`` is metres per stored unit (0.01 for FRIDA2 cm PNGs, 1/256 for DDAD).
    ``synthesis_mask="measured"``: synthesis is scored on the measured depth pixels only, against
    eq. (1) haze from the measured (not completed) depth; an image without any measured pixel is a
    failure.
    """
    if synthesis_mask not in SYNTHESIS_MASKS:
        raise ValueError(f"synthesis_mask must be one of {SYNTHESIS_MASKS}, got {synthesis_mask!r}")
    for root, clear_path, depth_path in pairs:
        key = pair_key(clear_path, root)
        try:
            clear = read_rgb(clear_path)
            depth = load_depth(depth_path, depth_scale, clear.shape[:2], complete_sparse)
            beta, airlight = haze_range.sample(seed, key)
            hazy = synthesize_haze(clear, depth.depth_m, beta, airlight)
            reference, mask = None, None
            if synthesis_mask == MASK_MEASURED:
                if not depth.measured.any():
                    raise ValueError(f"{depth_path}: no measured depth pixel (--synthesis-mask measured)")
                mask = depth.measured
                reference = synthesize_haze(clear, depth.measured_m, beta, airlight)
        except (ImageReadError, ValueError, OSError) as exc:
            yield Failure(key, [str(clear_path), str(depth_path)], str(exc))
            continue
        info = {"clear": str(clear_path), "depth": str(depth_path), "beta_per_m": beta,
                "airlight": list(airlight), "depth_note": depth.note}
        if mask is not None:
            info["measured_pixels"] = int(mask.sum())
        yield Sample(key, hazy, clear, info, haze=HazeParams(float(beta), tuple(float(a) for a in airlight)),
                     synthesis_reference=reference, synthesis_mask=mask)


def paired_samples(pairs: Sequence[Tuple[Path, Path, Path]]) -> SampleSource:
    """Given (root, hazy path, clear path) triples."""
    for root, hazy_path, clear_path in pairs:
        key = pair_key(hazy_path, root)
        try:
            hazy, clear = read_rgb(hazy_path), read_rgb(clear_path)
            if hazy.shape != clear.shape or hazy.dtype != clear.dtype:
                raise ValueError(f"hazy {hazy.shape} {hazy.dtype} and clear {clear.shape} "
                                 f"{clear.dtype} differ")
        except (ImageReadError, ValueError) as exc:
            yield Failure(key, [str(hazy_path), str(clear_path)], str(exc))
            continue
        yield Sample(key, hazy, clear, {"hazy": str(hazy_path), "clear": str(clear_path)})


def hazy_only_samples(root: Path, files: Sequence[Path]) -> SampleSource:
    """Hazy images without reference."""
    for path in files:
        key = Path(path).relative_to(root).as_posix()
        try:
            yield Sample(key, read_rgb(path), None, {"hazy": str(path)})
        except ImageReadError as exc:
            yield Failure(key, [str(path)], str(exc))


def collect_pairs(roots_a: Sequence[Path], roots_b: Sequence[Path], suffixes_b=IMAGE_SUFFIXES,
                  limit: Optional[int] = None, numbers: Optional[Sequence[Tuple[int, int]]] = None,
                  every: int = 1) -> Tuple[List[Tuple[Path, Path, Path]], List[str]]:
    """Pair folder lists element-wise; returns ((root_a, a, b) triples, notes on unpaired files).

    ``every``: keep the pairs of each folder pair whose position in pairing order (sorted by
    sub-folder and number) is a multiple of ``every`` (0, K, 2K, ...), before ``numbers``.
    ``numbers``: keep only files whose last digit run lies in these inclusive ranges (a split).
    ``limit``: the first ``limit`` pairs of what is left.
    """
    every = _check_every(every)
    if len(roots_a) != len(roots_b):
        raise ValueError(f"give the folders in pairs: {len(roots_a)} vs {len(roots_b)}")
    triples, notes, paired = [], [], 0
    for root_a, root_b in zip(roots_a, roots_b):
        result = pair_folders(root_a, root_b, IMAGE_SUFFIXES, suffixes_b)
        paired += len(result.pairs)
        triples += [(Path(root_a), a, b) for a, b in result.pairs[::every]
                    if numbers is None or number_in_ranges(a, numbers)]
        notes += [f"unpaired: {p}" for p in result.unpaired_a + result.unpaired_b
                  if numbers is None or number_in_ranges(p, numbers)]
        notes += [f"skipped {p}: {why}" for p, why in result.skipped]
    if not triples and paired:
        raise ValueError(f"none of the {paired} file pairs between {list(map(str, roots_a))} and "
                         f"{list(map(str, roots_b))} has a number in --scenes (the last digits of each name)"
                         + (f" among every {every}th pair (--every)" if every > 1 else ""))
    if not triples:
        raise ValueError(f"no file pairs found between {list(map(str, roots_a))} and "
                         f"{list(map(str, roots_b))} (pairing uses the last digits of each name)")
    return (triples[:limit] if limit else triples), notes


def _check_every(every: int) -> int:
    every = int(every)
    if every < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
    return every


def depth_pairs(clear_dirs, depth_dirs, limit=None, numbers=None, every: int = 1):
    """(root, clear, depth) triples for synthetic mode."""
    return collect_pairs(clear_dirs, depth_dirs, DEPTH_SUFFIXES, limit, numbers, every)


def hazy_files(hazy_dir: Path, limit: Optional[int] = None, numbers=None, every: int = 1) -> List[Path]:
    """Image files under a folder for the no-reference mode.

    The files are sorted by path (``pairing.list_files``); ``every`` keeps those at positions 0,
    K, 2K, ... of that list (``every=5`` on ``dawn_fog`` is the held-out split of
    ``training.data.dawn_split``), then ``numbers`` those whose last number lies in the
    ranges, then ``limit`` the first N.
    """
    every = _check_every(every)
    files = [p for p in list_files(hazy_dir, IMAGE_SUFFIXES)[::every]
             if numbers is None or number_in_ranges(p, numbers)]
    if not files:
        raise ValueError(f"no images found under {hazy_dir}"
                         + (" with the --scenes / --every selection" if numbers or every > 1 else ""))
    return files[:limit] if limit else files


def _scores(reference: np.ndarray, test: np.ndarray) -> Dict[str, float]:
    return {"psnr_db": metrics.psnr(reference, test), "ssim": metrics.ssim(reference, test)}


def _synthesis_scores(sample: Sample, hazed: np.ndarray) -> Dict[str, float]:
    """Synthesis scores of one output: whole image (PSNR, SSIM) or the masked pixels (PSNR only)."""
    if sample.synthesis_mask is None:
        return _scores(sample.hazy, hazed)
    reference = sample.synthesis_reference if sample.synthesis_reference is not None else sample.hazy
    return {"psnr_db": metrics.masked_psnr(reference, hazed, sample.synthesis_mask),
            "pixels": int(sample.synthesis_mask.sum())}


def score_sample(sample: Sample, methods: Sequence[Method], mode: str,
                 keep_outputs: bool = False) -> Tuple[dict, Dict[str, Dict[str, np.ndarray]]]:
    """Run every method on one sample and score it.

    Synthesis (conditioned) is scored where the sample knows its haze (``sample.haze``) for
    conditioned methods, and for the identity row (the unhazed frame: the same number as its
    unconditioned score).

    Returns:
        (per-image record ``{"key", "info", "rows": {label: {"removal": {...}, "synthesis": {...},
        "synthesis_conditioned": {...}, "fog_density": {...}}}}`` (blocks only where scored),
        outputs ``{label: {"dehaze"|"haze"|"haze_conditioned": image}}`` if asked for).
    """
    rows: Dict[str, dict] = {}
    outputs: Dict[str, Dict[str, np.ndarray]] = {}
    for method in methods:
        row, kept = {}, {}
        if method.has(Direction.DEHAZE):
            dehazed = method.run(Direction.DEHAZE, sample.hazy)
            kept["dehaze"] = dehazed
            if sample.clear is not None:
                row["removal"] = _scores(sample.clear, dehazed)
            else:
                row["fog_density"] = fog_density(dehazed).as_dict()
        if mode != NO_REFERENCE and method.has(Direction.HAZE):
            hazed = method.run(Direction.HAZE, sample.clear)
            kept["haze"] = hazed
            row["synthesis"] = _synthesis_scores(sample, hazed)
            if sample.haze is not None and (method.conditioned or method.kind == IDENTITY):
                hazed = method.run(Direction.HAZE, sample.clear, FrameConditions(haze=sample.haze))
                kept["haze_conditioned"] = hazed
                row["synthesis_conditioned"] = _synthesis_scores(sample, hazed)
        rows[method.label] = row
        if keep_outputs:
            outputs[method.label] = kept
    return {"key": sample.key, "info": sample.info, "rows": rows}, outputs


def _mean_block(records: List[dict], label: str, task: str) -> Optional[dict]:
    values = [r["rows"][label][task] for r in records if task in r["rows"].get(label, {})]
    if not values:
        return None
    block = {"n": len(values)}
    for name in values[0]:
        column = np.array([v[name] for v in values], dtype=np.float64)
        if column.ndim > 1:
            continue  # e.g. airlight triples: per image only
        finite = column[np.isfinite(column)]
        block[name] = float(finite.mean()) if finite.size else float("inf")
        block[name + "_std"] = float(finite.std()) if finite.size else 0.0
    return block


def summarise(records: List[dict], methods: Sequence[Method]) -> List[dict]:
    """Table rows: per method, the mean (and std) of each score over the images that have it."""
    table = []
    for method in methods:
        row = {"label": method.label, "kind": method.kind, "model": method.model_path,
               "describe": method.describe, "ms_per_frame": method.ms_per_frame()}
        row["conditioned"] = bool(method.conditioned)
        for task in TASKS:
            row[task] = _mean_block(records, method.label, task)
        table.append(row)
    return table


def run_protocol(samples: SampleSource, methods: Sequence[Method], mode: str,
                 on_sample: Optional[Callable[[Sample, Dict[str, dict], int], None]] = None,
                 progress: Optional[Callable[[], None]] = None) -> dict:
    """Evaluate ``methods`` on every sample; returns ``{"rows", "per_image", "failed", "n_samples"}``.

    ``on_sample(sample, outputs, index)`` receives each sample with the methods' output images
    (used by the report for its pictures); ``progress()`` is called once per item. A frame the
    ``FrameProcessor`` rejects (e.g. larger than its ``max_pixels``) makes the item a failure.
    """
    records, failures = [], []
    for item in samples:
        if not isinstance(item, Failure):
            try:
                record, outputs = score_sample(item, methods, mode, keep_outputs=on_sample is not None)
            except FrameRejected as exc:
                files = [str(v) for k, v in item.info.items() if k in ("clear", "hazy", "depth")]
                item = Failure(item.key, files, f"frame rejected ({exc.reason}): {exc}")
        if isinstance(item, Failure):
            LOG.warning("skipped %s: %s", item.key, item.reason)
            failures.append(vars(item))
        else:
            if on_sample is not None:
                on_sample(item, outputs, len(records))
            records.append(record)
        if progress is not None:
            progress()
    return {"rows": summarise(records, methods), "per_image": records, "failed": failures,
            "n_samples": len(records)}
