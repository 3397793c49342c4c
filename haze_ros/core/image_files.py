"""Image files in and out (training data, evaluation, reports): RGB arrays, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from haze_ros.core.files import atomic_write_bytes


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


def read_rgb8(path: Path) -> np.ndarray:
    """Read an 8-bit image file as ``(H, W, 3)`` ``uint8`` RGB (:func:`read_rgb`, then the bit depth).

    For code that scales by 1/255 (training data, report strips).

    Raises:
        ImageReadError: as :func:`read_rgb`, or the file holds 16-bit samples.
    """
    image = read_rgb(path)
    if image.dtype != np.uint8:
        raise ImageReadError(f"{path}: {image.dtype} samples, an 8-bit image was expected")
    return image


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` RGB ``uint8``/``uint16`` image as PNG, atomically (temp file + rename).

    Raises:
        OSError: the image could not be encoded or the file not written.
    """
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, encoded.tobytes())


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Write an ``(H, W, 3)`` RGB ``uint8`` image as JPEG (report figures), atomically."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    atomic_write_bytes(path, encoded.tobytes())
