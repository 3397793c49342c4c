"""``haze_apply``: same names out as PNG, same sizes, bad images reported, inputs never overwritten."""

import shutil
import subprocess

import cv2
import numpy as np
import pytest

from haze_ros.evaluation import apply

from conftest import REPO, SAMPLES
from eval_fixtures import write_tiny_checkpoint

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny randomly initialised checkpoint, written by the training package's checkpoint writer."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture
def input_dir(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    frame = cv2.imread(str(SAMPLES / "udacity_solidWhiteRight" / "solidWhiteRight_000.jpg"))
    cv2.imwrite(str(folder / "a.jpg"), cv2.resize(frame, (97, 61)))  # odd size: not a multiple of 4
    cv2.imwrite(str(folder / "sub" / "b.png"), cv2.resize(frame, (64, 40)))
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(cv2.resize(frame, (50, 30)), cv2.COLOR_BGR2GRAY))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_same_names_sizes_png_and_bad_image_reported(tiny_checkpoint, input_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = apply.main(["--model", str(tiny_checkpoint), "--direction", "dehaze", "--input", str(input_dir),
                         "--output", str(out), "--no-progress"])
    assert status == 1  # the broken image makes the run non-zero, after the others were written
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "grey.png", "sub/b.png"]
    for name, size in (("a.png", (61, 97)), ("sub/b.png", (40, 64)), ("grey.png", (30, 50))):
        image = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert image.shape == size + (3,) and image.dtype == np.uint8
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "not a readable image" in err
    assert (input_dir / "broken.jpg").exists() and (input_dir / "a.jpg").exists()  # inputs untouched


def test_model_output_matches_backend(tiny_checkpoint, input_dir, tmp_path):
    """The files hold what the backend computes (the translator, not a copy of the input)."""
    from haze_ros.backends.factory import create_backend
    from haze_ros.core.backend import BackendSpec
    from haze_ros.core.image_files import read_rgb

    out = tmp_path / "out"
    assert apply.main(["--model", str(tiny_checkpoint), "--direction", "haze", "--input",
                       str(input_dir / "sub"), "--output", str(out), "--no-progress"]) == 0
    backend, _ = create_backend(BackendSpec("torch", "haze", str(tiny_checkpoint), device="cpu"))
    expected = backend.process_frame(read_rgb(input_dir / "sub" / "b.png"))
    got = read_rgb(out / "b.png")
    assert np.array_equal(got, expected)
    assert not np.array_equal(got, read_rgb(input_dir / "sub" / "b.png"))


def test_refuses_input_folder_and_missing_model(tiny_checkpoint, input_dir, tmp_path, capsys):
    before = sorted(p.name for p in input_dir.rglob("*"))
    for output in (input_dir, input_dir / "sub" / "results"):
        assert apply.main(["--model", str(tiny_checkpoint), "--direction", "dehaze", "--input",
                           str(input_dir), "--output", str(output), "--no-progress"]) == 2
    assert sorted(p.name for p in input_dir.rglob("*")) == before
    assert apply.main(["--model", str(tmp_path / "absent.safetensors"), "--direction", "dehaze",
                       "--input", str(input_dir), "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "absent.safetensors" in capsys.readouterr().err


def test_existing_outputs_empty_input_and_wrong_backend_are_refused(tiny_checkpoint, input_dir, tmp_path,
                                                                    capsys):
    out = tmp_path / "out"
    args = ["--model", str(tiny_checkpoint), "--direction", "haze", "--input", str(input_dir / "sub"),
            "--output", str(out), "--no-progress"]
    assert apply.main(args) == 0
    (out / "b.png").write_bytes(b"previous result")
    assert apply.main(args) == 2
    assert "1 output(s) exist already" in capsys.readouterr().err
    assert (out / "b.png").read_bytes() == b"previous result"  # nothing replaced
    assert apply.main(args + ["--overwrite"]) == 0
    assert cv2.imread(str(out / "b.png")).shape == (40, 64, 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert apply.main(args[:4] + ["--input", str(empty), "--output", str(tmp_path / "o2")]) == 2
    assert "no images" in capsys.readouterr().err and not (tmp_path / "o2").exists()
    assert apply.main(["--backend", "physics"] + args[2:]) == 2
    assert "--backend physics needs each image's depth" in capsys.readouterr().err
    assert apply.main(["--backend", "dcp"] + args[2:] + ["--overwrite"]) == 2
    assert "dehaze only" in capsys.readouterr().err


def test_console_script_dcp_backend(tmp_path):
    """The installed console script, with the classical DCP backend (no model needed)."""
    exe = shutil.which("haze_apply") or pytest.skip("haze_apply console script not installed")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES / "udacity_solidWhiteRight" / "solidWhiteRight_002.jpg", folder)
    run = subprocess.run([exe, "--backend", "dcp", "--direction", "dehaze", "--input", str(folder),
                          "--output", str(tmp_path / "out"), "--no-progress"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr
    out = cv2.imread(str(tmp_path / "out" / "solidWhiteRight_002.png"))
    assert out.shape == (540, 960, 3)
    assert "1 of 1 images written" in run.stdout


def test_shipped_model_is_the_default(input_dir, tmp_path):
    """Without --model, haze_apply loads the shipped models/edge checkpoint (where it is present)."""
    if not (REPO / "models" / "edge.safetensors").is_file():
        pytest.skip("models/edge.safetensors not shipped in this checkout")
    out = tmp_path / "out"
    assert apply.main(["--direction", "dehaze", "--input", str(input_dir / "sub"), "--output", str(out),
                       "--no-progress"]) == 0
    assert cv2.imread(str(out / "b.png")).shape == (40, 64, 3)
