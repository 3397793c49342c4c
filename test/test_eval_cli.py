"""``haze_eval`` end to end on real frames: synthetic (Table 1), paired and no-reference modes."""

import json
import shutil

import numpy as np
import pytest

from haze_ros.evaluation import cli
from haze_ros.evaluation.depth_io import load_depth_m
from haze_ros.evaluation.images import read_rgb
from haze_ros.evaluation.metrics import psnr, ssim
from haze_ros.physics.scattering import synthesize_haze

from conftest import SAMPLES, shared_data
from eval_fixtures import write_tiny_checkpoint

pytest.importorskip("torch")
ROW_KEYS = {"label", "kind", "model", "describe", "ms_per_frame", "removal", "synthesis", "fog_density"}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def frida_two(tmp_path_factory):
    """Two FRIDA2 scenes (clear, depth, U080 fog) copied into a temporary tree."""
    frida = shared_data("frida2")
    root = tmp_path_factory.mktemp("frida_two")
    for folder, prefix in (("clear", "LIma"), ("depth_cm_uint16", "LDep"), ("fog_U080_homogeneous", "U080")):
        (root / folder).mkdir()
        for number in (7, 42):
            name = f"{prefix}-{number:06d}.png"
            shutil.copy(frida / folder / name, root / folder / name)
    return root


def _run(args, capsys):
    status = cli.main(args + ["--no-progress"])
    return status, capsys.readouterr()


def test_synthetic_mode_structure_and_values(frida_two, tiny_checkpoint, tmp_path, capsys):
    out_json, report = tmp_path / "r.json", tmp_path / "report"
    status, captured = _run(["--model", str(tiny_checkpoint), "--label", "tiny", "--clear",
                             str(frida_two / "clear"), "--depth", str(frida_two / "depth_cm_uint16"),
                             "--depth-scale", "0.01", "--seed", "3", "--json", str(out_json),
                             "--report", str(report)], capsys)
    assert status == 0, captured.err
    for label in ("identity (input)", "DCP (He et al.)", "tiny"):
        assert f"| {label} |" in captured.out
    result = json.loads(out_json.read_text())
    assert {"mode", "protocol", "machine", "command", "rows", "per_image", "failed", "complete",
            "n_samples"} <= set(result)
    assert result["mode"] == "synthetic" and result["complete"] and result["n_samples"] == 2
    assert result["protocol"]["seed"] == 3 and result["protocol"]["beta_range"] == [0.8, 1.6]
    rows = {r["label"]: r for r in result["rows"]}
    assert set(rows) == {"identity (input)", "DCP (He et al.)", "tiny"}
    assert all(ROW_KEYS <= set(r) for r in rows.values())
    assert rows["DCP (He et al.)"]["synthesis"] is None  # DCP has no haze direction
    assert rows["tiny"]["synthesis"]["n"] == 2 and rows["tiny"]["removal"]["n"] == 2
    assert rows["tiny"]["describe"]["backend"] == "torch"

    # the identity row is exactly PSNR / SSIM of eq. (1)'s hazy image against the clear one
    scores = []
    for item in result["per_image"]:
        beta, airlight = item["info"]["beta_per_m"], item["info"]["airlight"]
        assert 0.008 <= beta <= 0.016 and all(0.8 <= a <= 1.0 for a in airlight)
        clear = read_rgb(item["info"]["clear"])
        depth, _ = load_depth_m(item["info"]["depth"], 0.01, clear.shape[:2])
        hazy = synthesize_haze(clear, depth, beta, airlight)
        scores.append((psnr(clear, hazy), ssim(clear, hazy)))
        assert item["rows"]["identity (input)"]["removal"]["psnr_db"] == pytest.approx(scores[-1][0])
    identity = rows["identity (input)"]["removal"]
    assert identity["psnr_db"] == pytest.approx(np.mean([s[0] for s in scores]))
    assert identity["ssim"] == pytest.approx(np.mean([s[1] for s in scores]))

    text = (report / "report.md").read_text()
    assert "| tiny |" in text and "images/000_7_removal.jpg" in text
    for name in ("000_7_removal.jpg", "000_7_synthesis.jpg", "001_42_removal.jpg"):
        assert (report / "images" / name).stat().st_size > 1000
    assert json.loads((report / "results.json").read_text())["n_samples"] == 2


def test_seed_reproducible_and_limit_keeps_draws(frida_two, tmp_path, capsys):
    def draws(seed, limit=None):
        path = tmp_path / f"{seed}_{limit}.json"
        args = ["--clear", str(frida_two / "clear"), "--depth", str(frida_two / "depth_cm_uint16"),
                "--depth-scale", "0.01", "--no-dcp", "--seed", str(seed), "--json", str(path)]
        assert _run(args + (["--limit", str(limit)] if limit else []), capsys)[0] == 0
        return [(i["key"], i["info"]["beta_per_m"], i["info"]["airlight"])
                for i in json.loads(path.read_text())["per_image"]]

    first = draws(5)
    assert draws(5) == first
    assert draws(5, limit=1) == first[:1]  # a subset sees the same haze
    assert [d[1] for d in draws(6)] != [d[1] for d in first]


def test_paired_mode(frida_two, tiny_checkpoint, tmp_path, capsys):
    out_json = tmp_path / "paired.json"
    status, captured = _run(["--model", str(tiny_checkpoint),
                             "--hazy", str(frida_two / "fog_U080_homogeneous"),
                             "--clear", str(frida_two / "clear"), "--json", str(out_json)], capsys)
    assert status == 0, captured.err
    result = json.loads(out_json.read_text())
    assert result["mode"] == "paired" and result["n_samples"] == 2
    identity = {r["label"]: r for r in result["rows"]}["identity (input)"]["removal"]
    fog = read_rgb(frida_two / "fog_U080_homogeneous" / "U080-000007.png")
    clear = read_rgb(frida_two / "clear" / "LIma-000007.png")
    assert result["per_image"][0]["rows"]["identity (input)"]["removal"]["psnr_db"] == pytest.approx(
        psnr(clear, fog))
    assert 5.0 < identity["psnr_db"] < 20.0


def test_no_reference_mode_on_dawn(tmp_path, capsys):
    dawn = shared_data("dawn_fog")
    folder = tmp_path / "dawn"
    folder.mkdir()
    for name in ("foggy-006.jpg", "foggy-007.jpg"):
        shutil.copy(dawn / name, folder / name)
    out_json = tmp_path / "nr.json"
    status, captured = _run(["--hazy", str(folder), "--json", str(out_json)], capsys)
    assert status == 0, captured.err
    assert "haze opacity" in captured.out
    rows = {r["label"]: r for r in json.loads(out_json.read_text())["rows"]}
    assert rows["identity (input)"]["fog_density"]["n"] == 2
    # DCP lowers the dark-channel opacity of real fog (the score DCP optimises; see fog_density)
    assert rows["DCP (He et al.)"]["fog_density"]["haze_opacity"] < rows["identity (input)"]["fog_density"][
        "haze_opacity"]


def test_sparse_depth_completed_and_bad_items_reported(tmp_path, capsys):
    """Shipped DDAD frame with sparse LiDAR depth, plus a corrupt image: reported, exit 1."""
    clear, depth = tmp_path / "rgb", tmp_path / "depth"
    clear.mkdir()
    depth.mkdir()
    import cv2
    rgb = cv2.imread(str(SAMPLES / "ddad_scene01_cam01" / "rgb" / "15569195938415230.jpg"))
    lidar = cv2.imread(str(SAMPLES / "ddad_scene01_cam01" / "depth" / "15569195938415230.png"),
                       cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(clear / "1.png"), rgb[::4, ::4])  # decimate: a sparse map stays sparse
    cv2.imwrite(str(depth / "1.png"), lidar[::4, ::4])
    (clear / "2.png").write_bytes(b"\x89PNG broken")
    cv2.imwrite(str(depth / "2.png"), lidar[::4, ::4])
    out_json = tmp_path / "ddad.json"
    status, captured = _run(["--clear", str(clear), "--depth", str(depth), "--depth-scale", str(1 / 256),
                             "--json", str(out_json)], capsys)
    assert status == 1
    assert "FAILED 2" in captured.err
    result = json.loads(out_json.read_text())
    assert not result["complete"] and result["n_samples"] == 1
    assert result["failed"][0]["key"] == "2" and "readable" in result["failed"][0]["reason"]
    assert result["per_image"][0]["info"]["depth_note"].startswith("completed")


def test_scenes_that_match_no_pair_are_named_as_the_cause(frida_two, capsys):
    status, captured = _run(["--hazy", str(frida_two / "fog_U080_homogeneous"), "--clear",
                             str(frida_two / "clear"), "--scenes", "900-901"], capsys)
    assert status == 2 and "none of the 2 file pairs" in captured.err and "--scenes" in captured.err


def test_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--clear", str(tmp_path), "--depth", str(tmp_path)])
    assert exc.value.code == 2 and "--depth-scale" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--model", "x.safetensors"])
    assert cli.main(["--hazy", str(tmp_path / "absent"), "--no-progress"]) == 2
