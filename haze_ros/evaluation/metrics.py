"""Full-reference image quality metrics: PSNR and SSIM, vectorised with numpy / OpenCV.

Both take two images of the same shape, ``(H, W)`` or ``(H, W, C)``, of one dtype. The data range
(the ``L`` of the formulas) follows the dtype unless given: 255 for ``uint8``, 65535 for
``uint16``, 1.0 for floating point images (expected in ``[0, 1]``).

SSIM is the original definition of Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment:
from error visibility to structural similarity", IEEE TIP 13(4), 2004: an 11×11 circular-symmetric
Gaussian window with σ = 1.5 (normalised to unit sum), K1 = 0.01, K2 = 0.03, local statistics
weighted by the window (population, not sample, covariance), the SSIM map taken over the "valid"
region only (the 5-pixel border where the window leaves the image is excluded), its mean the
score. Colour images are scored per channel (RGB) and the channel scores averaged, the usual
convention in the dehazing literature. This equals ``skimage.metrics.structural_similarity(a, b,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1,
data_range=L)``.

``masked_psnr`` scores a subset of pixels (e.g. the pixels a LiDAR measured). SSIM has no masked
counterpart here: its 11×11 windows need the neighbours of every pixel, which scattered pixels
lack, so masked scores are PSNR only.
"""

from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def default_data_range(image: np.ndarray) -> float:
    """Return the data range L implied by a dtype: 255 (uint8), 65535 (uint16), 1.0 (float)."""
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return 1.0
    raise TypeError(f"no default data range for dtype {image.dtype}; pass data_range")


def _check_pair(reference: np.ndarray, test: np.ndarray) -> None:
    if reference.shape != test.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {test.shape}")
    if reference.dtype != test.dtype:
        raise ValueError(f"images differ in dtype: {reference.dtype} vs {test.dtype}")
    if reference.ndim not in (2, 3) or reference.size == 0:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, C) image, got shape {reference.shape}")


def mse(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error over all pixels and channels, in the images' own units squared."""
    _check_pair(reference, test)
    diff = reference.astype(np.float64) - test.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(reference: np.ndarray, test: np.ndarray, data_range: Optional[float] = None) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(L² / MSE), over all pixels and channels.

    Args:
        reference, test: same shape and dtype, ``(H, W)`` or ``(H, W, C)``.
        data_range: L; default from the dtype (255 / 65535 / 1.0).

    Returns:
        PSNR in dB; ``inf`` for identical images.
    """
    peak = default_data_range(reference) if data_range is None else float(data_range)
    error = mse(reference, test)
    if error == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / error)


def masked_psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray,
                data_range: Optional[float] = None) -> float:
    """PSNR in dB over the pixels where ``mask`` is True: 10·log10(L² / MSE over those pixels).

    The MSE is the mean over the selected pixels and all their channels; the other pixels do not
    count at all. There is no masked SSIM (see the module docstring).

    Args:
        reference, test: same shape and dtype, ``(H, W)`` or ``(H, W, C)``.
        mask: ``(H, W)`` bool (or 0 / non-zero), the pixels to score.
        data_range: L; default from the dtype (255 / 65535 / 1.0).

    Returns:
        PSNR in dB; ``inf`` when the images agree on every selected pixel.

    Raises:
        ValueError: shapes or dtypes differ, the mask is not ``(H, W)``, or it selects no pixel.
    """
    _check_pair(reference, test)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != reference.shape[:2]:
        raise ValueError(f"mask must be (H, W) = {reference.shape[:2]}, got {mask.shape}")
    if not mask.any():
        raise ValueError("the mask selects no pixel")
    peak = default_data_range(reference) if data_range is None else float(data_range)
    diff = reference[mask].astype(np.float64) - test[mask].astype(np.float64)
    error = float(np.mean(diff * diff))
    if error == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / error)


def _gaussian_filter(image: np.ndarray) -> np.ndarray:
    """Separable 11×11 Gaussian (σ = 1.5, unit sum) of a float64 (H, W[, C]) image, same shape."""
    kernel = cv2.getGaussianKernel(SSIM_WINDOW_SIZE, SSIM_SIGMA, cv2.CV_64F)
    return cv2.sepFilter2D(image, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)


def ssim_map(reference: np.ndarray, test: np.ndarray, data_range: Optional[float] = None) -> np.ndarray:
    """Local SSIM index (Wang et al. 2004, eq. (13)) over the valid region.

    Returns:
        float64 array ``(H - 10, W - 10)`` or ``(H - 10, W - 10, C)``; values in [-1, 1].
    """
    _check_pair(reference, test)
    height, width = reference.shape[:2]
    if height < SSIM_WINDOW_SIZE or width < SSIM_WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW_SIZE}×{SSIM_WINDOW_SIZE}, "
                         f"got {width}×{height}")
    peak = default_data_range(reference) if data_range is None else float(data_range)
    x = reference.astype(np.float64) / peak
    y = test.astype(np.float64) / peak
    c1 = SSIM_K1 ** 2  # (K1·L)² with L = 1 after normalisation
    c2 = SSIM_K2 ** 2
    mu_x, mu_y = _gaussian_filter(x), _gaussian_filter(y)
    var_x = _gaussian_filter(x * x) - mu_x * mu_x
    var_y = _gaussian_filter(y * y) - mu_y * mu_y
    cov_xy = _gaussian_filter(x * y) - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    pad = SSIM_WINDOW_SIZE // 2
    return (numerator / denominator)[pad:height - pad, pad:width - pad]


def ssim(reference: np.ndarray, test: np.ndarray, data_range: Optional[float] = None) -> float:
    """Mean SSIM (Wang et al. 2004; Gaussian 11×11 window, σ = 1.5, K1 = 0.01, K2 = 0.03).

    Colour images: the mean of the per-channel mean SSIMs (equal to the mean over the whole map,
    since every channel has the same valid region). Images must be at least 11×11.

    Args:
        reference, test: same shape and dtype, ``(H, W)`` or ``(H, W, C)``.
        data_range: L; default from the dtype (255 / 65535 / 1.0).

    Returns:
        SSIM in [-1, 1]; 1.0 for identical images.
    """
    return float(np.mean(ssim_map(reference, test, data_range)))
