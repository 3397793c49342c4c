"""The pixel stages of the frame path (DESIGN.md, data flow step 3), one CPU implementation each.

* **normalise** (uint → float): :func:`to_unit_float`, x / full scale (255 for ``uint8``, 65535
  for ``uint16``), correctly rounded to float32; :func:`to_batch` adds the ``(1, 3, H, W)`` layout.
* **quantise** (float → uint): :func:`quantise`, clip to [0, 1] → × full scale → + 0.5 → truncate
  (round half up); :func:`from_batch` undoes the layout first.
* **pad / unpad**: not here. The learned graphs pad to their size multiple themselves (replicate,
  ``haze_ros.networks.translator.pad_to_multiple``) and crop back, and the physics generator works
  at any size, so every backend's ``infer`` takes any H and W and nothing outside the graphs pads.

GPU backends run the same formulas on the device (``haze_ros.backends.cuda_frame``); the classical
backends work in the frame's own dtype and skip both stages (``haze_ros.physics``).
"""

from __future__ import annotations

import cv2
import numpy as np

_CV_MIN_PIXELS = 64  # below this the numpy path (cv2's bindings read tiny arrays as scalars)


def full_scale(dtype) -> float:
    """Value that stands for 1.0: 255 for uint8, 65535 for uint16, 1.0 for floats."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8 or dtype == np.uint16:
        return float(np.iinfo(dtype).max)
    if dtype.kind == "f":
        return 1.0
    raise ValueError(f"unsupported image dtype {dtype}; use uint8, uint16, float32 or float64")


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float image of any shape → float32 in [0, 1]: x / full scale.

    Integer inputs are divided by their full scale, correctly rounded (the same bits as
    ``image.astype(np.float32) / np.float32(scale)``, what training uses); float inputs are cast to
    float32, not clipped (a float32 input is returned as it is). The result is C-contiguous where
    the input is; ``(H, W)`` and ``(H, W, C ≤ 4)`` C-contiguous frames take OpenCV's multithreaded
    path, which gives the same bits.
    """
    scale = full_scale(image.dtype)
    if image.dtype == np.float32:
        return image
    if image.dtype.kind == "f":
        return image.astype(np.float32)
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    opencv = image.ndim == 2 or 2 <= channels <= 4  # (H, W, 1) would come back as (H, W)
    if opencv and image.flags.c_contiguous and image.shape[0] * image.shape[1] >= _CV_MIN_PIXELS:
        return cv2.multiply(image, (1.0 / scale,) * channels + (0.0,) * (4 - channels), dtype=cv2.CV_32F)
    return np.divide(image, np.float32(scale), dtype=np.float32)


def quantise(image: np.ndarray, dtype) -> np.ndarray:
    """Float image in [0, 1] (clipped) → ``dtype`` (uint8 / uint16): clip → × scale → + 0.5 → truncate."""
    scale = full_scale(dtype)
    return (np.clip(image, 0.0, 1.0) * np.float32(scale) + np.float32(0.5)).astype(dtype)


def to_batch(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 / uint16 RGB (any strides) → ``(1, 3, H, W)`` float32 in [0, 1], C-contiguous.

    Normalised plane by plane into the batch (the bits of :func:`to_unit_float`): a ``bgr8`` view with
    reversed channel strides costs 2 ms at 720p this way, against 9 ms for normalise-then-transpose.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) frame, got shape {rgb.shape}")
    if rgb.dtype.kind == "f":
        return np.ascontiguousarray(to_unit_float(rgb).transpose(2, 0, 1)[None])
    scale = np.float32(full_scale(rgb.dtype))
    batch = np.empty((1, 3) + rgb.shape[:2], np.float32)
    for channel in range(3):
        np.divide(rgb[..., channel], scale, out=batch[0, channel], dtype=np.float32)
    return batch


def from_batch(batch: np.ndarray, dtype) -> np.ndarray:
    """``(1, 3, H, W)`` float in [0, 1] → ``(H, W, 3)`` ``dtype``, C-contiguous (see :func:`quantise`).

    Quantised plane by plane and interleaved by OpenCV (the bits of :func:`quantise`): the frame is
    C-contiguous, so the encoding's channel reorder then takes OpenCV's fast path too (at 720p the
    two cost 3 ms, against 6 ms for a quantised transposed view).
    """
    batch = np.asarray(batch)
    if batch.ndim != 4 or batch.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1, 3, H, W) batch, got shape {batch.shape}")
    scale = np.float32(full_scale(dtype))
    planes = []
    for channel in range(3):
        plane = np.clip(batch[0, channel], 0.0, 1.0)
        plane *= scale
        plane += np.float32(0.5)
        planes.append(plane.astype(dtype))   # truncation
    return cv2.merge(planes)
