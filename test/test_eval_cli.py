"""``haze_eval`` end to end on real frames: synthetic (Table 1), paired and no-reference modes."""

import json
import shutil

import numpy as np
import pytest

from haze_ros.backends.factory import create_backend
from haze_ros.core.backend import BackendSpec
from haze_ros.core.types import Direction, FrameConditions, HazeParams
from haze_ros.evaluation import cli, protocol
from haze_ros.evaluation.depth_io import load_depth, load_depth_m
from haze_ros.core.image_files import read_rgb
from haze_ros.evaluation.methods import Method, identity_method
from haze_ros.evaluation.metrics import masked_psnr, psnr, ssim
from haze_ros.physics.scattering import synthesize_haze

from conftest import SAMPLES, shared_data
from eval_fixtures import write_depth_folders, write_tiny_checkpoint, write_tiny_physics_checkpoint

pytest.importorskip("torch")
ROW_KEYS = {"label", "kind", "model", "describe", "ms_per_frame", "removal", "synthesis",
            "synthesis_conditioned", "fog_density", "conditioned"}
IDENTITY, DCP, FLAT = "identity (input)", "DCP (He et al.)", "flat road (physics, no depth)"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def physics_checkpoint(tmp_path_factory):
    return write_tiny_physics_checkpoint(tmp_path_factory.mktemp("phys"))


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory):
    """Two 48×64 clear images with dense cm depth (synthetic, no shared data needed)."""
    return write_depth_folders(tmp_path_factory.mktemp("tiny_depth"))


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
    assert rows["tiny"]["synthesis_conditioned"] is None  # a pixel generator takes no beta / airlight
    assert rows["identity (input)"]["synthesis_conditioned"] == rows["identity (input)"]["synthesis"]
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
    assert "synthesis (conditioned) PSNR (dB)" in text and "synthesis (unconditioned, paper) SSIM" in text
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


def _haze_backend(path, **options):
    return create_backend(BackendSpec(name="torch", direction=Direction.HAZE, model_path=str(path),
                                      device="cpu", options=options))[0]


def test_conditioned_synthesis_is_the_backend_given_the_reference_haze(tiny_depth, physics_checkpoint,
                                                                       tiny_checkpoint, tmp_path, capsys):
    clear_dir, depth_dir = tiny_depth
    out_json = tmp_path / "cond.json"
    status, captured = _run(["--model", str(physics_checkpoint), "--label", "phys", "--model",
                             str(tiny_checkpoint), "--label", "pixel", "--clear", str(clear_dir), "--depth",
                             str(depth_dir), "--depth-scale", "0.01", "--flat-road", "--json", str(out_json)],
                            capsys)
    assert status == 0, captured.err
    assert f"| {FLAT} |" in captured.out and "synthesis (conditioned) PSNR (dB)" in captured.out
    result = json.loads(out_json.read_text())
    rows = {r["label"]: r for r in result["rows"]}
    assert rows["phys"]["conditioned"] and not rows["pixel"]["conditioned"]
    assert rows["phys"]["synthesis_conditioned"]["n"] == 2 and rows["pixel"]["synthesis_conditioned"] is None
    assert rows[FLAT]["synthesis_conditioned"]["n"] == 2 and rows[FLAT]["removal"] is None
    assert rows[DCP]["synthesis_conditioned"] is None
    assert result["protocol"]["unconditioned_haze"].startswith("beta 0.012 1/m (visibility 250 m)")

    model = _haze_backend(physics_checkpoint)  # no default haze: every call below must carry one
    physics = create_backend(BackendSpec(name="physics", direction=Direction.HAZE))[0]
    centre = HazeParams(0.012, (0.9, 0.9, 0.9))
    for item in result["per_image"]:
        info = item["info"]
        haze = HazeParams(info["beta_per_m"], tuple(info["airlight"]))
        clear = read_rgb(info["clear"])
        depth, _ = load_depth_m(info["depth"], 0.01, clear.shape[:2])
        reference = synthesize_haze(clear, depth, haze.beta_per_m, haze.airlight)
        scored = item["rows"]
        given = model.process_frame(clear, FrameConditions(haze=haze))
        assert scored["phys"]["synthesis_conditioned"]["psnr_db"] == pytest.approx(psnr(reference, given))
        assert scored["phys"]["synthesis_conditioned"]["ssim"] == pytest.approx(ssim(reference, given))
        default = model.process_frame(clear, FrameConditions(haze=centre))  # unconditioned = the centre
        assert scored["phys"]["synthesis"]["psnr_db"] == pytest.approx(psnr(reference, default))
        assert not np.array_equal(given, default)  # the two protocols really differ
        flat = physics.process_frame(clear, FrameConditions(haze=haze))  # no depth: the flat road
        assert scored[FLAT]["synthesis_conditioned"]["psnr_db"] == pytest.approx(psnr(reference, flat))
        assert scored[IDENTITY]["synthesis_conditioned"]["psnr_db"] == pytest.approx(psnr(reference, clear))
    model.close()


def test_model_method_sets_the_centre_of_the_range_as_default_haze(physics_checkpoint, tiny_depth):
    from haze_ros.evaluation.methods import model_method

    method = model_method(str(physics_checkpoint), "phys")
    try:
        assert method.conditioned and method.describe["haze_conditioned"]
        clear = read_rgb(sorted(tiny_depth[0].iterdir())[0])
        backend = _haze_backend(physics_checkpoint, beta_per_m=0.012, airlight=0.9)
        assert np.array_equal(method.run(Direction.HAZE, clear), backend.process_frame(clear))
    finally:
        method.close()


def test_masked_psnr_counts_only_the_masked_pixels():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    test = reference.copy()
    mask = np.zeros((20, 30), bool)
    mask[::4, ::5] = True
    test[~mask] = 255 - test[~mask]  # wrong everywhere outside the mask
    assert masked_psnr(reference, test, mask) == float("inf")
    test[mask] = np.clip(test[mask].astype(int) + 8, 0, 255).astype(np.uint8)
    diff = reference[mask].astype(float) - test[mask].astype(float)
    assert masked_psnr(reference, test, mask) == pytest.approx(10 * np.log10(255 ** 2 / np.mean(diff ** 2)))
    assert masked_psnr(reference, test, mask) > psnr(reference, test) + 10.0
    with pytest.raises(ValueError, match="no pixel"):
        masked_psnr(reference, test, np.zeros_like(mask))
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(reference, test, mask[:10])


def test_masked_synthesis_ignores_unmeasured_pixels():
    """A reference that is wrong outside the mask must not change the score: only the mask counts."""
    rng = np.random.default_rng(1)
    clear = rng.integers(0, 200, (16, 24, 3), dtype=np.uint8)
    reference = clear.copy()
    mask = np.zeros((16, 24), bool)
    mask[2::5, 3::6] = True
    reference[~mask] = 0
    reference[mask] += 5
    sample = protocol.Sample("k", reference, clear, haze=HazeParams(0.01, (0.9, 0.9, 0.9)),
                             synthesis_reference=reference, synthesis_mask=mask)
    record, _ = protocol.score_sample(sample, [identity_method()], protocol.SYNTHETIC)
    block = record["rows"][IDENTITY]["synthesis_conditioned"]
    assert set(block) == {"psnr_db", "pixels"}  # no SSIM on scattered pixels
    assert block["pixels"] == int(mask.sum())
    assert block["psnr_db"] == pytest.approx(10 * np.log10(255 ** 2 / 25.0))  # 5 grey levels off, inside
    assert block["psnr_db"] > psnr(reference, clear) + 10.0  # what ignoring the mask would give


class _Recorder(Method):
    """A conditioned haze row that records the conditions it is given and returns the clear frame."""

    def __init__(self):
        super().__init__(label="recorder", kind="model", conditioned=True)
        self.seen = []

    def has(self, direction):
        return Direction(direction) == Direction.HAZE

    def run(self, direction, rgb, conditions=None):
        self.seen.append(None if conditions is None else conditions.haze)
        return rgb


def test_conditioned_methods_get_the_sample_haze():
    clear = np.full((12, 12, 3), 100, np.uint8)
    haze = HazeParams(0.0123, (0.81, 0.92, 0.99))
    recorder = _Recorder()
    record, _ = protocol.score_sample(protocol.Sample("k", clear, clear, haze=haze), [recorder],
                                      protocol.SYNTHETIC)
    assert recorder.seen == [None, haze]  # unconditioned first, then the reference's beta and A
    assert set(record["rows"]["recorder"]) == {"synthesis", "synthesis_conditioned"}
    recorder.seen.clear()
    protocol.score_sample(protocol.Sample("k", clear, clear), [recorder], protocol.PAIRED)
    assert recorder.seen == [None]  # unknown haze (paired mode): no conditioned synthesis


def test_lidar_mask_mode_with_flat_road(tmp_path, physics_checkpoint, capsys):
    """Sparse depth (a real DDAD frame's LiDAR, decimated): synthesis scored on the measured pixels only."""
    import cv2

    clear_dir, depth_dir = tmp_path / "rgb", tmp_path / "depth"
    clear_dir.mkdir()
    depth_dir.mkdir()
    rgb = cv2.imread(str(SAMPLES / "ddad_scene01_cam01" / "rgb" / "15569195938415230.jpg"))
    lidar = cv2.imread(str(SAMPLES / "ddad_scene01_cam01" / "depth" / "15569195938415230.png"),
                       cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(clear_dir / "1.png"), rgb[::8, ::8])
    cv2.imwrite(str(depth_dir / "1.png"), lidar[::8, ::8])
    out_json = tmp_path / "lidar.json"
    status, captured = _run(["--model", str(physics_checkpoint), "--label", "phys", "--clear", str(clear_dir),
                             "--depth", str(depth_dir), "--depth-scale", "0.00390625", "--synthesis-mask",
                             "measured", "--flat-road", "--flat-road-option", "hfov_deg=48", "--no-dcp",
                             "--json", str(out_json)], capsys)
    assert status == 0, captured.err
    assert "PSNR on measured-depth pixels" in captured.out
    assert "synthesis (conditioned) SSIM" not in captured.out
    result = json.loads(out_json.read_text())
    assert result["protocol"]["synthesis_mask"] == "measured"
    item = result["per_image"][0]
    measured = int(np.count_nonzero(lidar[::8, ::8]))
    assert item["info"]["measured_pixels"] == measured and item["info"]["depth_note"].startswith("completed")
    assert {r["label"] for r in result["rows"]} == {IDENTITY, FLAT, "phys"}
    for label in (IDENTITY, FLAT, "phys"):
        block = item["rows"][label]["synthesis_conditioned"]
        assert block["pixels"] == measured and "ssim" not in block
    assert "ssim" in item["rows"]["phys"]["removal"]  # removal stays a whole-image score

    # the reference: eq. (1) from the measured depth, at the measured pixels only
    clear = read_rgb(clear_dir / "1.png")
    maps = load_depth(depth_dir / "1.png", 0.00390625, clear.shape[:2])
    haze = HazeParams(item["info"]["beta_per_m"], tuple(item["info"]["airlight"]))
    reference = synthesize_haze(clear, maps.measured_m, haze.beta_per_m, haze.airlight)
    physics = create_backend(BackendSpec(name="physics", direction=Direction.HAZE,
                                         options={"hfov_deg": 48}))[0]
    flat = physics.process_frame(clear, FrameConditions(haze=haze))
    assert item["rows"][FLAT]["synthesis_conditioned"]["psnr_db"] == pytest.approx(
        masked_psnr(reference, flat, maps.measured))
    assert item["rows"][IDENTITY]["synthesis"]["psnr_db"] == pytest.approx(
        masked_psnr(reference, clear, maps.measured))


def test_no_reference_pictures_and_every(tmp_path, physics_checkpoint, capsys):
    import cv2

    folder = tmp_path / "fog"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for index in range(6):
        image = np.clip(150 + rng.normal(0, 30, (40, 56, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"foggy-{index:03d}.jpg"), image)
    report, out_json = tmp_path / "report", tmp_path / "nr.json"
    status, captured = _run(["--model", str(physics_checkpoint), "--label", "phys", "--hazy", str(folder),
                             "--every", "2", "--pictures", "2", "--report", str(report), "--json",
                             str(out_json)], capsys)
    assert status == 0, captured.err
    result = json.loads(out_json.read_text())
    assert [i["key"] for i in result["per_image"]] == ["foggy-000.jpg", "foggy-002.jpg", "foggy-004.jpg"]
    assert result["protocol"]["every"] == 2
    assert [p["removal"] for p in result["pictures"]] == ["images/000_foggy-000_removal.jpg",
                                                          "images/001_foggy-002_removal.jpg"]
    assert sorted(p.name for p in (report / "images").iterdir()) == ["000_foggy-000_removal.jpg",
                                                                     "001_foggy-002_removal.jpg"]
    strip = cv2.imread(str(report / "images" / "000_foggy-000_removal.jpg"))
    assert strip.shape[1] == 3 * 320  # input | DCP | phys
    text = (report / "report.md").read_text()
    assert "## Pictures" in text and "`images/001_foggy-002_removal.jpg` (removal)" in text
    assert {r["label"]: r for r in result["rows"]}["phys"]["fog_density"]["n"] == 3


def test_argument_errors_of_the_new_options(tmp_path, capsys):
    for args, message in ((["--hazy", str(tmp_path), "--flat-road"], "synthetic mode"),
                          (["--hazy", str(tmp_path), "--synthesis-mask", "measured"], "synthetic mode"),
                          (["--hazy", str(tmp_path), "--every", "0"], "--every"),
                          (["--hazy", str(tmp_path), "--pictures", "-1"], "--pictures"),
                          (["--clear", str(tmp_path), "--depth", str(tmp_path), "--depth-scale", "1",
                            "--flat-road", "--flat-road-option", "colour=3"], "KEY=VALUE"),
                          (["--clear", str(tmp_path), "--depth", str(tmp_path), "--depth-scale", "1",
                            "--flat-road-option", "hfov_deg=40"], "needs --flat-road")):
        with pytest.raises(SystemExit) as exc:
            cli.main(args)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
