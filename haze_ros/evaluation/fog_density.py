"""No-reference fog density for real hazy images: a dark-channel haze-opacity index (NOT FADE).

Why not FADE. FADE (Choi, You and Bovik, "Referenceless prediction of perceptual fog density and
perceptual image defogging", IEEE TIP 2015) scores an image by the Mahalanobis distance of twelve
"fog-aware" natural-scene statistics to multivariate Gaussian models fitted on a corpus of 500
fog-free and 500 foggy images. Its value depends on those two fitted models (the ``natural_fogfree``
/ ``natural_foggy`` parameter files of the authors' MATLAB release). Neither the files nor the
image corpora are available here, and the ``pyfade`` package named in the issue is not on the
package index this project can reach. Re-fitting FADE's models on our own few images would produce
a number that looks like FADE but is not comparable with any published FADE value, so we do not
call anything here FADE.

What this module computes instead, with every step documented and reproducible:

``haze_opacity`` (the headline score, higher = denser fog, in [0, 1]): the mean over the image of
the dark channel of the airlight-normalised image, dark(I / A) = min over a 15×15 patch and over
R, G, B of I_c / A_c, with A estimated as in He, Sun and Tang, "Single image haze removal using dark
channel prior" (CVPR 2009 / TPAMI 2011). By the dark channel prior, clear outdoor patches have
dark(J) ≈ 0, so under eq. (1) of the seed paper, I = J·t + A·(1 − t), dark(I / A) ≈ 1 − t: the
score estimates the mean haze opacity 1 − t = 1 − exp(−β·d) over the picture, which grows with β.
Its known biases are those of the prior itself: white or bright grey objects (snow, white trucks,
overcast sky) read as haze, and a large sky area raises the score of a clear image (FRIDA2's
clear renderings, with a white sky over a third of the frame, score about 0.35–0.6). And DCP's
output is, by construction, an image whose dark channel is small: this score flatters DCP, so
compare dehazing methods on ``contrast`` and ``saturation`` as well, which DCP does not optimise.

Two auxiliary statistics are reported next to it (not mixed into it, so no arbitrary weights):
``contrast`` (mean local RMS contrast of luma over 15×15 windows, in [0, 0.5]; fog lowers it) and
``saturation`` (mean HSV saturation, in [0, 1]; fog lowers it). FADE uses related cues (local
contrast, colourfulness, dark channel) among its twelve features; the resemblance ends there.

Images are first resized to a fixed working width (default 640 px) so that the patch covers the
same fraction of the field of view for every camera resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from haze_ros.core.stages import to_unit_float
from haze_ros.physics import dark_channel as dcp

WORKING_WIDTH = 640
PATCH_SIZE = 15


@dataclass(frozen=True)
class FogDensity:
    """No-reference fog statistics of one image.

    Attributes:
        haze_opacity: mean of dark(I / A) ≈ mean(1 − t), in [0, 1]; higher = denser fog.
        contrast: mean local RMS contrast of luma (15×15 window), in [0, 0.5]; lower = foggier.
        saturation: mean HSV saturation, in [0, 1]; lower = foggier.
        airlight: the estimated atmospheric light A (R, G, B) in [0, 1].
    """

    haze_opacity: float
    contrast: float
    saturation: float
    airlight: tuple

    def as_dict(self) -> dict:
        """Plain-value form for JSON."""
        return asdict(self)


def _working_image(rgb: np.ndarray, working_width: int) -> np.ndarray:
    """(H, W, 3) uint8/uint16/float RGB → float32 [0, 1] resized to ``working_width`` columns."""
    image = to_unit_float(rgb) if rgb.dtype.kind in "ui" else np.clip(rgb.astype(np.float32), 0, 1)
    height, width = image.shape[:2]
    if width != working_width:
        new_height = max(PATCH_SIZE, int(round(height * working_width / width)))
        image = cv2.resize(image, (working_width, new_height), interpolation=cv2.INTER_AREA)
    return image


def _local_contrast(luma: np.ndarray) -> float:
    """Mean local standard deviation of luma over 15×15 box windows (float32 [0, 1] input)."""
    size = (PATCH_SIZE, PATCH_SIZE)
    mean = cv2.blur(luma, size, borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.blur(luma * luma, size, borderType=cv2.BORDER_REFLECT)
    return float(np.mean(np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))))


def fog_density(rgb: np.ndarray, working_width: int = WORKING_WIDTH) -> FogDensity:
    """No-reference fog statistics of one RGB image (see the module docstring; this is not FADE).

    Args:
        rgb: ``(H, W, 3)`` RGB, uint8 / uint16, or float in [0, 1].
        working_width: width in pixels the image is resized to before measuring.

    Returns:
        ``FogDensity`` with ``haze_opacity`` ≈ mean(1 − t) of eq. (1), in [0, 1].
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    image = _working_image(rgb, working_width)
    dark = dcp.dark_channel(image, PATCH_SIZE)
    airlight = np.asarray(dcp.estimate_airlight(image, dark), np.float32).reshape(3)
    opacity = 1.0 - dcp.raw_transmission(image, airlight, PATCH_SIZE, omega=1.0)  # dark(I / A)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)  # float input: S in [0, 1]
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return FogDensity(
        haze_opacity=float(np.clip(opacity, 0.0, 1.0).mean()),
        contrast=_local_contrast(luma),
        saturation=float(hsv[:, :, 1].mean()),
        airlight=tuple(float(a) for a in airlight),
    )
