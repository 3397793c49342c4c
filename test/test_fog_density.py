"""The no-reference fog density (dark-channel haze opacity, not FADE) on real frames."""

import numpy as np
import pytest

from haze_ros.evaluation.depth_io import load_depth_m
from haze_ros.evaluation.fog_density import fog_density
from haze_ros.core.image_files import read_rgb
from haze_ros.physics.depth import DDAD_LIDAR, FRIDA_CM
from haze_ros.physics.scattering import synthesize_haze

from conftest import SAMPLES, shared_data

BETAS_PER_M = (0.0, 0.004, 0.008, 0.016, 0.03, 0.06)


def _assert_monotone(clear, depth_m, airlight):
    scores = [fog_density(synthesize_haze(clear, depth_m, beta, airlight)) for beta in BETAS_PER_M]
    opacity = [s.haze_opacity for s in scores]
    contrast = [s.contrast for s in scores]
    saturation = [s.saturation for s in scores]
    assert all(b > a for a, b in zip(opacity, opacity[1:])), opacity
    assert all(b < a for a, b in zip(contrast, contrast[1:])), contrast
    assert all(b < a for a, b in zip(saturation, saturation[1:])), saturation
    assert 0.0 <= opacity[0] and opacity[-1] <= 1.0
    assert opacity[-1] - opacity[0] > 0.15  # dense fog clearly above the clear frame
    return scores


def test_monotone_in_beta_on_shipped_ddad_frame():
    """Real DDAD frame (shipped sample) with its sparse LiDAR depth completed."""
    clear = read_rgb(SAMPLES / "ddad_scene01_cam01" / "rgb" / "15569195938415230.jpg")
    depth, note = load_depth_m(SAMPLES / "ddad_scene01_cam01" / "depth" / "15569195938415230.png",
                               DDAD_LIDAR, clear.shape[:2])
    assert note.startswith("completed")
    scores = _assert_monotone(clear, depth, (0.9, 0.92, 0.95))
    assert scores[-1].airlight == pytest.approx((0.9, 0.92, 0.95), abs=0.02)  # sky pixels = airlight


def test_monotone_in_beta_on_frida2_frame():
    frida = shared_data("frida2")
    clear = read_rgb(frida / "clear" / "LIma-000010.png")
    depth, _ = load_depth_m(frida / "depth_cm_uint16" / "LDep-000010.png", FRIDA_CM, clear.shape[:2])
    _assert_monotone(clear, depth, 1.0)


def test_real_fog_scores_higher_than_clear():
    """FRIDA2's 80 m fog renderings score denser than their clear images, on every scene tried."""
    frida = shared_data("frida2")
    for number in (1, 20, 40, 60):
        clear = fog_density(read_rgb(frida / "clear" / f"LIma-{number:06d}.png"))
        fog = fog_density(read_rgb(frida / "fog_U080_homogeneous" / f"U080-{number:06d}.png"))
        assert fog.haze_opacity > clear.haze_opacity + 0.1


def test_resolution_independent_and_validated():
    rng = np.random.default_rng(0)
    image = (rng.random((90, 160, 3)) * 255).astype(np.uint8)
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # same content, 4× the pixels
    assert fog_density(big).haze_opacity == pytest.approx(fog_density(image).haze_opacity, abs=0.02)
    assert fog_density(image.astype(np.float32) / 255).haze_opacity == pytest.approx(
        fog_density(image).haze_opacity, abs=1e-3)
    with pytest.raises(ValueError):
        fog_density(np.zeros((10, 10), np.uint8))
