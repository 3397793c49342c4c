"""PSNR / SSIM against hand-computed values and a direct (window-by-window) numpy reference."""

import math

import numpy as np
import pytest

from haze_ros.evaluation.metrics import psnr, ssim, ssim_map


def _reference_ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Wang et al. 2004 written out: every 11×11 valid window, 2-D Gaussian weights (σ = 1.5)."""
    offsets = np.arange(11) - 5
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5 ** 2))
    window /= window.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    scores = []
    for channel in range(x.shape[2]):
        xs = np.lib.stride_tricks.sliding_window_view(x[:, :, channel].astype(np.float64), (11, 11))
        ys = np.lib.stride_tricks.sliding_window_view(y[:, :, channel].astype(np.float64), (11, 11))
        mu_x = np.einsum("ijkl,kl->ij", xs, window)
        mu_y = np.einsum("ijkl,kl->ij", ys, window)
        var_x = np.einsum("ijkl,kl->ij", (xs - mu_x[..., None, None]) ** 2, window)
        var_y = np.einsum("ijkl,kl->ij", (ys - mu_y[..., None, None]) ** 2, window)
        cov = np.einsum("ijkl,kl->ij", (xs - mu_x[..., None, None]) * (ys - mu_y[..., None, None]), window)
        local = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
                 / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
        scores.append(local.mean())
    return float(np.mean(scores))


def test_psnr_hand_values():
    a = np.full((8, 9, 3), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-9)  # MSE = 1
    b16 = np.full((8, 9, 3), 1000, np.uint16)
    assert psnr(b16, b16 + 1) == pytest.approx(20 * math.log10(65535), abs=1e-9)
    f = np.zeros((4, 4), np.float32)
    assert psnr(f, f + np.float32(0.1)) == pytest.approx(20.0, abs=1e-4)  # MSE = 0.01, L = 1
    assert psnr(a, a) == math.inf
    # half the pixels off by 2 → MSE = 2
    c = a.copy()
    c[:4] += 2
    assert psnr(a, c) == pytest.approx(10 * math.log10(255 ** 2 / 2.0), abs=1e-9)


def test_psnr_rejects_mismatch():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint16))


def test_ssim_identity_and_hand_value():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    # flat images: σ = 0, SSIM = (2ab + C1) / (a² + b² + C1) with L = 1
    a, b = np.full((20, 20, 3), 0.5), np.full((20, 20, 3), 0.25)
    expected = (2 * 0.5 * 0.25 + 1e-4) / (0.25 + 0.0625 + 1e-4)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)
    assert ssim_map(a, b).shape == (10, 10, 3)  # valid region only


@pytest.mark.parametrize("dtype,peak", [(np.uint8, 255), (np.uint16, 65535), (np.float64, 1.0)])
def test_ssim_matches_direct_reference(dtype, peak):
    rng = np.random.default_rng(1)
    smooth = np.cumsum(rng.normal(size=(27, 31, 3)), axis=1)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    noisy = np.clip(smooth * 0.7 + 0.2 + rng.normal(scale=0.05, size=smooth.shape), 0, 1)
    if dtype is np.float64:
        x, y = smooth, noisy
    else:
        x = np.round(smooth * peak).astype(dtype)
        y = np.round(noisy * peak).astype(dtype)
    expected = _reference_ssim(x.astype(np.float64), y.astype(np.float64), float(peak))
    assert 0.2 < expected < 0.99  # a non-trivial case
    assert ssim(x, y) == pytest.approx(expected, abs=1e-9)


def test_ssim_orders_degradation():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (48, 48, 3)).astype(np.uint8)
    noise = rng.normal(size=x.shape)
    light = np.clip(x + 5 * noise, 0, 255).astype(np.uint8)
    heavy = np.clip(x + 40 * noise, 0, 255).astype(np.uint8)
    assert 1.0 > ssim(x, light) > ssim(x, heavy)
    assert psnr(x, light) > psnr(x, heavy)


def test_ssim_too_small():
    with pytest.raises(ValueError, match="at least 11"):
        ssim(np.zeros((10, 30, 3)), np.zeros((10, 30, 3)))


def test_ssim_matches_scikit_image_when_installed():
    """Cross-check with scikit-image's documented Wang et al. settings (only where it is installed)."""
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    y = np.clip(x * 0.8 + rng.normal(scale=10, size=x.shape) + 20, 0, 255).astype(np.uint8)
    expected = metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, channel_axis=-1,
                                             data_range=255)
    assert ssim(x, y) == pytest.approx(expected, abs=1e-9)
    assert psnr(x, y) == pytest.approx(metrics.peak_signal_noise_ratio(x, y, data_range=255), abs=1e-9)
