"""Pair image files across folders by the last run of digits in their names.

``clear/LIma-000012.png`` pairs with ``depth_cm_uint16/LDep-000012.png`` and with
``fog_U080_homogeneous/U080-000012.png``: the key is the integer value of the last run of digits
in the file stem (so zero padding may differ), together with the file's sub-folder relative to the
searched root. The sub-folder part lets nested layouts pair camera by camera, e.g. DDAD's
``scene_01/rgb/CAMERA_01/<timestamp>.jpg`` with
``depth_projected_lidar/scene_01/CAMERA_01/<timestamp>.png`` when the roots given are
``scene_01/rgb`` and ``depth_projected_lidar/scene_01``.

Files without digits, duplicate keys and files with no partner are reported, never silently
dropped: the caller decides whether that is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npz", ".npy", ".exr", ".pfm")

_DIGITS = re.compile(r"\d+")

PairKey = Tuple[str, int]


def last_digit_run(name: str) -> Optional[int]:
    """Integer value of the last run of digits in a file name's stem, or ``None`` if it has none."""
    runs = _DIGITS.findall(Path(name).stem)
    return int(runs[-1]) if runs else None


def list_files(root: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> List[Path]:
    """Files under ``root`` (recursively) whose suffix (case-insensitive) is in ``suffixes``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {root}")
    wanted = {s.lower() for s in suffixes}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted)


@dataclass
class KeyedFiles:
    """Files of one folder indexed by pairing key, plus those that could not be keyed."""

    by_key: Dict[PairKey, Path] = field(default_factory=dict)
    no_digits: List[Path] = field(default_factory=list)
    duplicates: List[Path] = field(default_factory=list)


def key_files(root: Path, suffixes: Sequence[str]) -> KeyedFiles:
    """Index the files under ``root`` by (relative sub-folder, last digit run)."""
    keyed = KeyedFiles()
    for path in list_files(root, suffixes):
        number = last_digit_run(path.name)
        if number is None:
            keyed.no_digits.append(path)
            continue
        key = (path.parent.relative_to(root).as_posix(), number)
        if key in keyed.by_key:
            keyed.duplicates.append(path)
        else:
            keyed.by_key[key] = path
    return keyed


@dataclass
class PairingResult:
    """Outcome of pairing folders A and B.

    Attributes:
        pairs: ``(path_a, path_b)`` in key order.
        unpaired_a, unpaired_b: files present in only one folder.
        skipped: files without digits or with a key already taken, with the reason.
    """

    pairs: List[Tuple[Path, Path]]
    unpaired_a: List[Path]
    unpaired_b: List[Path]
    skipped: List[Tuple[Path, str]]

    def summary(self) -> str:
        """One line for logs: counts of pairs, unpaired and skipped files."""
        return (f"{len(self.pairs)} pairs, {len(self.unpaired_a)} unpaired in the first folder, "
                f"{len(self.unpaired_b)} unpaired in the second, {len(self.skipped)} skipped")


def _skipped(keyed: KeyedFiles) -> List[Tuple[Path, str]]:
    return ([(p, "no digits in the file name") for p in keyed.no_digits]
            + [(p, "another file has the same number") for p in keyed.duplicates])


def pair_folders(root_a: Path, root_b: Path, suffixes_a: Iterable[str] = IMAGE_SUFFIXES,
                 suffixes_b: Iterable[str] = IMAGE_SUFFIXES) -> PairingResult:
    """Pair the files of two folders by (relative sub-folder, last run of digits in the name).

    Raises:
        FileNotFoundError: a root is not a folder.
    """
    keyed_a = key_files(Path(root_a), tuple(suffixes_a))
    keyed_b = key_files(Path(root_b), tuple(suffixes_b))
    common = sorted(set(keyed_a.by_key) & set(keyed_b.by_key))
    pairs = [(keyed_a.by_key[k], keyed_b.by_key[k]) for k in common]
    unpaired_a = [keyed_a.by_key[k] for k in sorted(set(keyed_a.by_key) - set(common))]
    unpaired_b = [keyed_b.by_key[k] for k in sorted(set(keyed_b.by_key) - set(common))]
    return PairingResult(pairs, unpaired_a, unpaired_b, _skipped(keyed_a) + _skipped(keyed_b))


def parse_number_ranges(text: str) -> List[Tuple[int, int]]:
    """Parse ``"45-66,70"`` (or a YAML-style list joined by commas) into inclusive (lo, hi) ranges.

    Raises:
        ValueError: malformed text or a range with lo > hi.
    """
    ranges = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            bounds = (int(lo), int(hi) if sep else int(lo))
        except ValueError:
            raise ValueError(f"bad number range {part!r}: use N or N-M, comma separated") from None
        if bounds[0] > bounds[1]:
            raise ValueError(f"bad number range {part!r}: start after end")
        ranges.append(bounds)
    if not ranges:
        raise ValueError(f"no number ranges in {text!r}")
    return ranges


def number_in_ranges(path: Path, ranges: Sequence[Tuple[int, int]]) -> bool:
    """Whether the last run of digits of ``path``'s name lies in one of the inclusive ``ranges``."""
    number = last_digit_run(Path(path).name)
    return number is not None and any(lo <= number <= hi for lo, hi in ranges)


def pair_key(path: Path, root: Path) -> str:
    """Printable key of a file, ``"<sub-folder>/<number>"`` or ``"<number>"``: stable seed material."""
    number = last_digit_run(Path(path).name)
    sub = Path(path).parent.relative_to(root).as_posix()
    return f"{number}" if sub == "." else f"{sub}/{number}"
