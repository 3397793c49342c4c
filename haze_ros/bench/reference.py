"""A plain numpy / OpenCV dark channel prior: the yardstick ``haze_bench --suite dcp`` compares with.

The textbook implementation of He et al. (CVPR 2009) with the guided filter (ECCV 2010), written
the obvious way: float64 numpy arrays, ``min(axis=2)``, a full sort for the airlight, a
full-resolution guided filter with ``cv2.boxFilter``, numpy broadcasting for the recovery. It computes
the same method as ``haze_ros.physics.dark_channel.dehaze`` with ``guided_subsample=1`` (up to
float32 rounding and airlight ties), so the benchmark compares implementations, not methods.
"""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def _box_mean(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT_101)


def reference_guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter in float64 at full resolution: ``(H, W)`` → ``(H, W)``."""
    mean_i, mean_p = _box_mean(guide, radius), _box_mean(source, radius)
    cov_ip = _box_mean(guide * source, radius) - mean_i * mean_p
    var_i = _box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box_mean(a, radius) * guide + _box_mean(b, radius)


def reference_dcp(image_u8: np.ndarray, patch: int = 15, omega: float = 0.95, t0: float = 0.1,
                  radius: int = 40, eps: float = 1e-3, fraction: float = 0.001
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dehaze an ``(H, W, 3)`` uint8 RGB image; returns (clear uint8, transmission (H, W), airlight (3,))."""
    image = image_u8.astype(np.float64) / 255.0
    kernel = np.ones((patch, patch), np.uint8)
    dark = cv2.erode(image.min(axis=2), kernel, borderType=cv2.BORDER_REPLICATE)
    count = max(1, int(fraction * dark.size))
    brightest = np.argsort(dark.ravel())[-count:]
    flat = image.reshape(-1, 3)
    grey = image @ np.array([0.299, 0.587, 0.114])
    airlight = flat[brightest[np.argmax(grey.ravel()[brightest])]]
    normalised = image / np.maximum(airlight, 1e-3)
    coarse = 1.0 - omega * cv2.erode(normalised.min(axis=2), kernel, borderType=cv2.BORDER_REPLICATE)
    refined = np.clip(reference_guided_filter(grey, coarse, radius, eps), 0.0, 1.0)
    clear = (image - airlight) / np.maximum(refined, t0)[..., None] + airlight
    return (np.clip(clear, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), refined, airlight
