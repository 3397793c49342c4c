"""Image file I/O for the evaluation tools: RGB frames in and out, clear errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file."""


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` RGB, ``uint8`` or ``uint16`` (as stored).

    Grey images are repeated over three channels; an alpha channel is dropped.

    Raises:
        ImageReadError: missing, empty, truncated or undecodable file, or an unsupported dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.size == 0:
        raise ImageReadError(f"{path}: not a readable image (corrupt, truncated or unknown format)")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: unsupported pixel type {image.dtype} (8- or 16-bit expected)")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ImageReadError(f"{path}: unsupported channel count {image.shape[2]}")


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` RGB ``uint8``/``uint16`` image as PNG, atomically (temp file + rename).

    Raises:
        OSError: the file could not be written.
    """
    path = Path(path)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        encoded.tofile(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Write an ``(H, W, 3)`` RGB ``uint8`` image as JPEG (for report figures)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    encoded.tofile(str(path))
