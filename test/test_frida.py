"""FRIDA2 check of the haze synthesis.

``fog_U080_homogeneous`` is eq. (1) with β = 0.0375 1/m (V = 80 m), A = 1, computed from ``clear`` +
``depth_cm_uint16``; our synthesis must reproduce every scene to ≥ 55 dB PSNR.
"""

import cv2
import numpy as np
import pytest
from conftest import shared_data

from haze_ros.backends.factory import create_backend
from haze_ros.core.backend import BackendSpec
from haze_ros.core.processor import FrameProcessor
from haze_ros.core.types import Direction, FrameConditions, HazeParams, visibility_to_beta
from haze_ros.physics.depth import FRIDA_CM, load_depth_png
from haze_ros.physics.scattering import synthesize_haze

BETA = 0.0375
MIN_PSNR_DB = 55.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _scenes():
    root = shared_data("frida2")
    clear = sorted((root / "clear").glob("LIma-*.png"))
    assert len(clear) == 66
    for path in clear:
        number = path.stem.split("-")[1]
        yield (number, path, root / "depth_cm_uint16" / f"LDep-{number}.png",
               root / "fog_U080_homogeneous" / f"U080-{number}.png")


def test_beta_is_80_m_visibility():
    assert visibility_to_beta(80.0) == pytest.approx(BETA)


def test_u080_reproduced_on_every_scene():
    backend, _ = create_backend(BackendSpec("physics", Direction.HAZE))
    processor = FrameProcessor(backend)
    haze = HazeParams(BETA, (1.0, 1.0, 1.0))
    worst_direct, worst_node = np.inf, np.inf
    for number, clear_path, depth_path, fog_path in _scenes():
        clear_bgr = cv2.imread(str(clear_path), cv2.IMREAD_COLOR)
        fog_bgr = cv2.imread(str(fog_path), cv2.IMREAD_COLOR)
        depth = load_depth_png(depth_path, FRIDA_CM)
        direct = synthesize_haze(np.ascontiguousarray(clear_bgr[..., ::-1]), depth, BETA, 1.0)
        psnr_direct = _psnr(direct[..., ::-1], fog_bgr)
        conditions = FrameConditions(depth_m=depth, haze=haze)
        node = processor.process(clear_bgr, "bgr8", conditions).image  # the node's path, bgr8 as cv2 reads
        psnr_node = _psnr(node, fog_bgr)
        assert psnr_direct >= MIN_PSNR_DB, f"scene {number}: synthesize_haze {psnr_direct:.2f} dB"
        assert psnr_node >= MIN_PSNR_DB, f"scene {number}: PhysicsHazeBackend {psnr_node:.2f} dB"
        assert conditions.extras["depth_source"] == "depth_image"
        worst_direct, worst_node = min(worst_direct, psnr_direct), min(worst_node, psnr_node)
    print(f"FRIDA2 U080: worst scene {worst_direct:.2f} dB (synthesize_haze), "
          f"{worst_node:.2f} dB (processor)")


def test_wrong_parameters_do_not_pass():
    """The check can fail: a 10 % error in β or A drops well below the threshold."""
    _, clear_path, depth_path, fog_path = next(iter(_scenes()))
    clear = cv2.imread(str(clear_path), cv2.IMREAD_COLOR)[..., ::-1]
    fog = cv2.imread(str(fog_path), cv2.IMREAD_COLOR)[..., ::-1]
    depth = load_depth_png(depth_path, FRIDA_CM)
    assert _psnr(synthesize_haze(clear, depth, BETA * 1.1, 1.0), fog) < 40.0
    assert _psnr(synthesize_haze(clear, depth, BETA, 0.9), fog) < 40.0
