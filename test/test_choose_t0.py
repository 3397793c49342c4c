"""scripts/choose_t0.py: the release's t0 selection rule and its pooling over validation protocols."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_t0.py"


@pytest.fixture(scope="module")
def choose_t0():
    spec = importlib.util.spec_from_file_location("choose_t0", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rule_takes_the_smallest_t0_within_tolerance_above_the_floor(choose_t0):
    scores = {0.1: (16.25, 0.83), 0.2: (16.22, 0.84), 0.3: (16.00, 0.85), 0.4: (15.95, 0.84),
              0.5: (15.2, 0.8)}
    assert choose_t0.choose(scores) == 0.1            # no floor: the rendered frames' favourite
    assert choose_t0.choose(scores, 0.3) == 0.3       # 0.4 is within 0.1 dB of 0.3, 0.3 is smaller
    assert choose_t0.choose({0.3: (15.0, 0.8), 0.4: (15.5, 0.8)}, 0.3) == 0.4
    with pytest.raises(ValueError, match="floor"):
        choose_t0.choose(scores, 0.6)


def test_pooled_scores_weight_each_protocol_by_its_images(choose_t0):
    per_protocol = {"Table 1, seed 7": {0.3: (20.0, 0.9, 4)}, "U080 fog": {0.3: (10.0, 0.7, 12)}}
    psnr, ssim = choose_t0.pooled_scores(per_protocol, [0.3])[0.3]
    assert psnr == pytest.approx(12.5) and ssim == pytest.approx(0.75)


def test_validation_protocols_never_name_the_held_out_scenes(choose_t0, tmp_path):
    protocols = choose_t0.protocols(tmp_path, [7, 8], ["U080", "K080"])
    assert list(protocols) == ["Table 1, seed 7", "Table 1, seed 8", "U080 fog", "K080 fog"]
    assert all("--scenes" not in args for args in protocols.values())  # main() adds --scenes 41-44
    assert protocols["U080 fog"][:2] == ["--hazy", str(tmp_path / "fog_U080_homogeneous")]
