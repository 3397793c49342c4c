"""Dehazing by He et al.'s dark channel prior (DCP) with guided-filter refinement.

K. He, J. Sun, X. Tang, "Single Image Haze Removal Using Dark Channel Prior", CVPR 2009 / TPAMI
2011; guided filter: K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013;
fast guided filter (sub-sampled): K. He, J. Sun, arXiv 1505.00996 (2015).

Steps, for an RGB image I in [0, 1]:

1. dark channel  dark(I)(x) = min over a ``patch`` × ``patch`` window of min over c of I_c;
2. airlight A: among the brightest ``airlight_fraction`` (0.1 %) pixels of the dark channel, the
   pixel with the highest intensity in I;
3. transmission  t̃ = 1 − ω · dark(I / A);
4. refinement: t = guided filter of t̃ with the grey image as guide (radius r, regulariser ε),
   optionally on an image sub-sampled by ``guided_subsample`` (fast guided filter);
5. recovery by the inverse of eq. (1): J = (I − A) / max(t, t0) + A.

Everything is float32 and OpenCV box / erode filters (multithreaded); no per-pixel Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from haze_ros.core.stages import full_scale, to_unit_float
from haze_ros.physics.scattering import as_airlight, recover_radiance


@dataclass(frozen=True)
class DarkChannelParams:
    """DCP parameters (sizes in pixels of the full-resolution image).

    Attributes:
        patch: dark-channel window size, odd, ≥ 1 (He et al.: 15).
        omega: fraction of haze removed, (0, 1] (He et al.: 0.95; < 1 keeps some aerial perspective).
        t0: lower bound on the transmission in the recovery, (0, 1] (He et al.: 0.1).
        radius: guided-filter radius r (window 2r + 1), ≥ 1.
        eps: guided-filter regulariser ε on [0, 1] intensities, > 0 (edge-preserving strength).
        guided_subsample: run the guided filter s times coarser (fast guided filter), 1 = exact.
        airlight_fraction: fraction of brightest dark-channel pixels searched for A, (0, 0.1].
    """

    patch: int = 15
    omega: float = 0.95
    t0: float = 0.1
    radius: int = 40
    eps: float = 1e-3
    guided_subsample: int = 4
    airlight_fraction: float = 0.001

    def __post_init__(self) -> None:
        validate_params(self)


def validate_params(params: DarkChannelParams) -> None:
    """Raise ``ValueError`` naming the first out-of-range DCP parameter and its valid range."""
    checks = (
        ("patch", isinstance(params.patch, (int, np.integer)) and params.patch >= 1 and params.patch % 2 == 1
         and params.patch <= 255, "an odd integer in [1, 255]"),
        ("omega", 0.0 < params.omega <= 1.0, "in (0, 1]"),
        ("t0", 0.0 < params.t0 <= 1.0, "in (0, 1]"),
        ("radius", isinstance(params.radius, (int, np.integer)) and 1 <= params.radius <= 1024,
         "an integer in [1, 1024]"),
        ("eps", 0.0 < params.eps <= 1.0, "in (0, 1]"),
        ("guided_subsample", isinstance(params.guided_subsample, (int, np.integer))
         and 1 <= params.guided_subsample <= 16, "an integer in [1, 16]"),
        ("airlight_fraction", 0.0 < params.airlight_fraction <= 0.1, "in (0, 0.1]"),
    )
    for name, ok, valid in checks:
        if not ok:
            raise ValueError(f"DCP parameter {name}={getattr(params, name)!r} is out of range: "
                             f"must be {valid}")


def dark_channel(image: np.ndarray, patch: int) -> np.ndarray:
    """Dark channel: min over channels, then over a ``patch`` × ``patch`` window (rectangular erosion).

    Args:
        image: ``(H, W, 3)`` uint8 / uint16 / float32.
        patch: odd window size in pixels.

    Returns:
        ``(H, W)`` array of the input's dtype and scale (min and erosion commute with scaling, so
        the 8-bit dark channel is exact).
    """
    channel_min = np.minimum(np.minimum(image[..., 0], image[..., 1]), image[..., 2])
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(channel_min, kernel, borderType=cv2.BORDER_REPLICATE)


def estimate_airlight(image: np.ndarray, dark: np.ndarray, fraction: float = 0.001,
                      intensity: Optional[np.ndarray] = None) -> np.ndarray:
    """Estimate the airlight A (He et al.).

    A is the pixel of highest intensity in I among the ``fraction`` of pixels with the highest dark
    channel.

    Args:
        image: ``(H, W, 3)`` uint8 / uint16 / float in [0, 1].
        dark: its dark channel (``dark_channel``), same dtype.
        fraction: fraction of pixels searched, e.g. 0.001 (0.1 %).
        intensity: ``(H, W)`` intensity of I; default: its BT.601 grey image (RGB order).

    Returns:
        ``(3,)`` float32 in [0, 1]. The threshold comes from a histogram of the dark channel (256
        bins for uint8, exact; 4096 bins otherwise), so ties at the threshold are all candidates.
    """
    if dark.dtype == np.uint8:
        levels, values = 256, dark
        hist = cv2.calcHist([dark], [0], None, [levels], [0, levels]).ravel()
    else:
        levels, values = 4096, to_unit_float(dark)
        hist = cv2.calcHist([values], [0], None, [levels], [0.0, 1.0 + 1e-6]).ravel()
    above = np.cumsum(hist[::-1])  # pixel count in the top k bins
    top_bins = int(np.searchsorted(above, max(1.0, fraction * dark.size))) + 1
    threshold = (levels - top_bins) * (1.0 if dark.dtype == np.uint8 else (1.0 + 1e-6) / levels)
    candidates = (values >= threshold).view(np.uint8)
    if intensity is None:
        intensity = cv2.cvtColor(to_unit_float(image), cv2.COLOR_RGB2GRAY)
    _, _, _, (col, row) = cv2.minMaxLoc(intensity, mask=candidates)
    return np.array(to_unit_float(image[row, col]))  # a copy, never a view of the image


def raw_transmission(image: np.ndarray, airlight: np.ndarray, patch: int, omega: float,
                     dark: Optional[np.ndarray] = None) -> np.ndarray:
    """Coarse transmission t̃ = 1 − ω·dark(I / A) (He et al.), ``(H, W)`` float32.

    Args:
        image: ``(H, W, 3)`` uint8 / uint16 / float in [0, 1].
        airlight: A, ``(3,)`` in [0, 1].
        patch: dark-channel window, pixels (odd).
        omega: ω in (0, 1], the fraction of haze removed.
        dark: ``dark_channel(image, patch)`` if already computed; reused when A is grey
            (then dark(I / A) = dark(I) / A).
    """
    scale = full_scale(image.dtype)
    safe_a = [max(float(a), 1e-3) for a in airlight]
    if dark is not None and max(safe_a) - min(safe_a) < 1e-7:
        normalised_dark = cv2.multiply(dark, 1.0 / (scale * safe_a[0]), dtype=cv2.CV_32F)
    else:
        inverse_a = tuple(1.0 / (scale * a) for a in safe_a) + (0.0,)
        normalised = cv2.multiply(np.ascontiguousarray(image), inverse_a, dtype=cv2.CV_32F)
        normalised_dark = dark_channel(normalised, patch)
    return cv2.subtract(1.0, cv2.multiply(normalised_dark, float(omega)))


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT_101)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float,
                  subsample: int = 1) -> np.ndarray:
    """Grey-guide guided filter (He et al. 2010).

    q = mean(a)·I + mean(b), a = cov(I, p)/(var(I) + ε), b = mean(p) − a·mean(I), means over
    (2r + 1)² windows (reflect-101 borders).

    Args:
        guide: I, ``(H, W)`` float32 (intensities in [0, 1]).
        source: p, ``(H, W)`` float32, the image to filter.
        radius: r in full-resolution pixels, ≥ 1.
        eps: ε > 0.
        subsample: s ≥ 1; s > 1 computes a and b on images s times smaller (radius r/s) and
            upsamples them bilinearly (fast guided filter, He & Sun 2015).

    Returns:
        ``(H, W)`` float32 filtered image.
    """
    height, width = guide.shape
    small_guide, small_source, small_radius = guide, source, radius
    if subsample > 1:
        size = (max(1, width // subsample), max(1, height // subsample))
        small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        small_source = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        small_radius = max(1, int(round(radius / subsample)))
    mean_i = _box(small_guide, small_radius)
    mean_p = _box(small_source, small_radius)
    cov_ip = _box(small_guide * small_source, small_radius) - mean_i * mean_p
    var_i = _box(small_guide * small_guide, small_radius) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    mean_a, mean_b = _box(a, small_radius), _box(b, small_radius)
    if subsample > 1:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.add(cv2.multiply(mean_a, guide), mean_b)


def dehaze(image: np.ndarray, params: DarkChannelParams = DarkChannelParams(), channel_order: str = "rgb",
           airlight: Optional[Sequence[float]] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dehaze one frame with the dark channel prior.

    Args:
        image: hazy I, ``(H, W, 3)`` RGB, uint8 / uint16 / float in [0, 1].
        params: see ``DarkChannelParams``.
        channel_order: ``"rgb"`` or ``"bgr"``: only the grey guide's weights depend on it (the
            airlight comes back in the image's own channel order).
        airlight: a known A (3 values in [0, 1], image channel order) instead of estimating it,
            e.g. one smoothed over the frames of a video.

    Returns:
        ``(clear, transmission, airlight)``: J with the input's dtype and shape (integers
        saturated), refined t ``(H, W)`` float32 in [0, 1], A ``(3,)`` float32 in [0, 1].
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    image = np.ascontiguousarray(image)
    dark = dark_channel(image, params.patch)
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    to_grey = cv2.COLOR_RGB2GRAY if channel_order == "rgb" else cv2.COLOR_BGR2GRAY
    colour = image if image.dtype != np.float64 else image.astype(np.float32)
    grey = to_unit_float(cv2.cvtColor(colour, to_grey))
    if airlight is None:
        airlight = estimate_airlight(image, dark, params.airlight_fraction, grey)
    else:
        airlight = np.asarray(as_airlight(airlight), np.float32)
    coarse = raw_transmission(image, airlight, params.patch, params.omega, dark)
    refined = guided_filter(grey, coarse, params.radius, params.eps, params.guided_subsample)
    np.clip(refined, 0.0, 1.0, out=refined)
    clear = recover_radiance(image, refined, tuple(float(a) for a in airlight), params.t0)
    return clear, refined, airlight
