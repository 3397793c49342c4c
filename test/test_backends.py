"""Learned backends and ``auto`` selection on the CPU: fallbacks with reasons, parity, load failures.

Missing runtimes are simulated by making their import fail (``sys.modules[name] = None``).
"""

import json
import sys

import numpy as np
import pytest

from haze_ros.backends import model_files
from haze_ros.backends.factory import create_backend
from haze_ros.core.backend import BackendError, BackendSpec
from haze_ros.core.processor import FrameProcessor
from haze_ros.core.types import Direction
from model_fixtures import sample_frame, write_random_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "edge", seed=3)


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv(model_files.ONNX_CACHE_ENV, str(tmp_path / "onnx_cache"))
    monkeypatch.setenv("HAZE_ROS_ENGINE_CACHE", str(tmp_path / "engines"))


@pytest.fixture(scope="module")
def frame():
    return np.ascontiguousarray(sample_frame(5)[100:261, 200:497])  # 297x161, odd sizes


def spec(name, checkpoint, direction="dehaze", **kw):
    return BackendSpec(name, Direction(direction), str(checkpoint), **kw)


def test_auto_without_gpu_picks_onnxruntime_and_says_why(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    backend, notes = create_backend(spec("auto", checkpoint))
    with backend:
        assert backend.name == "onnxruntime" and backend.device == "cpu"
    assert notes[0].startswith("skipped tensorrt: tensorrt not importable")
    assert notes[1].startswith("skipped torch_cuda:") and "CUDA" in notes[1]
    assert notes[2].startswith("selected onnxruntime on cpu")


def test_auto_falls_back_to_torch_cpu_when_onnxruntime_missing(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    backend, notes = create_backend(spec("model", checkpoint))
    assert backend.name == "torch" and backend.device == "cpu"
    assert any(n.startswith("skipped onnxruntime: onnxruntime not importable") for n in notes)
    assert notes[-1].startswith("selected torch on cpu")


def test_auto_with_device_cpu_skips_gpu_runtimes_by_parameter(checkpoint):
    backend, notes = create_backend(spec("auto", checkpoint, device="cpu"))
    assert backend.name == "onnxruntime"
    assert notes[0] == "skipped tensorrt: parameter device='cpu'"
    assert notes[1] == "skipped torch_cuda: parameter device='cpu'"


def test_auto_with_onnx_model_skips_torch(checkpoint, tmp_path, monkeypatch):
    from haze_ros.export.onnx_export import export_checkpoint

    onnx_path = tmp_path / "m.onnx"
    export_checkpoint(checkpoint, "haze", onnx_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendError) as info:
        create_backend(spec("auto", onnx_path, direction="haze"))
    message = str(info.value)
    assert "skipped torch: model_path is a onnx file" in message and "onnxruntime not importable" in message


def test_engine_model_without_tensorrt_is_refused_with_reasons(tmp_path, monkeypatch):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not really an engine")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendError) as info:
        create_backend(spec("auto", engine))
    assert "skipped tensorrt: tensorrt not importable" in str(info.value)
    assert "skipped onnxruntime: model_path is a engine file" in str(info.value)


def test_processor_gives_same_image_through_every_backend(checkpoint, frame):
    import torch

    from haze_ros.networks.loading import load_translator

    module = load_translator(checkpoint, "dehaze")
    with torch.no_grad():
        reference = module(torch.from_numpy(frame.astype(np.float32) / 255.0).permute(2, 0, 1)[None])
    reference = (reference[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    outputs = {}
    for name in ("torch", "onnxruntime"):
        backend, _ = create_backend(spec(name, checkpoint, device="cpu"))
        with backend:
            result = FrameProcessor(backend).process(np.ascontiguousarray(frame[:, :, ::-1]), "bgr8")
        outputs[name] = result.image[:, :, ::-1]
        assert result.image.shape == frame.shape and result.image.dtype == np.uint8
    for name, image in outputs.items():
        diff = np.abs(image.astype(int) - reference.astype(int))
        assert diff.max() <= 1, f"{name} differs from the PyTorch reference by {diff.max()} levels"
    assert np.abs(outputs["torch"].astype(int) - outputs["onnxruntime"].astype(int)).max() <= 1
    assert np.abs(reference.astype(int) - frame.astype(int)).mean() > 1  # the model did change the image


def test_uint16_frames_keep_their_dtype(checkpoint, frame):
    backend, _ = create_backend(spec("torch", checkpoint, device="cpu"))
    wide = frame.astype(np.uint16) * 257
    out = backend.process_frame(wide)
    assert out.dtype == np.uint16 and out.shape == wide.shape
    narrow = backend.process_frame(frame)
    assert np.abs((out // 257).astype(int) - narrow.astype(int)).max() <= 1


def test_missing_model_names_file_and_parameter(tmp_path):
    missing = tmp_path / "nope.safetensors"
    for name in ("auto", "torch", "onnxruntime"):
        with pytest.raises(BackendError) as info:
            create_backend(spec(name, missing))
        assert "model_path" in str(info.value) and "nope" in str(info.value)


def test_corrupt_checkpoint_names_file_and_parameter(tmp_path):
    broken = write_random_checkpoint(tmp_path / "broken")
    broken.write_bytes(broken.read_bytes()[:-100])  # truncated weights: hash no longer matches the JSON
    for name in ("torch", "auto"):
        with pytest.raises(BackendError) as info:
            create_backend(spec(name, broken, device="cpu"))
        assert "model_path" in str(info.value) and "broken.safetensors" in str(info.value)
        assert "sha256" in str(info.value)
    with pytest.raises(BackendError, match=r"parameter model_path: invalid model .*broken.*sha256"):
        create_backend(spec("auto", broken))


def test_empty_model_path_uses_shipped_model_or_says_where_it_looked(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(model_files, "_share_candidates", lambda: [tmp_path / "share" / "models"])
    with pytest.raises(BackendError, match=r"parameter model_path is empty.*edge\.safetensors"):
        create_backend(BackendSpec("auto", Direction.DEHAZE, ""))
    shipped = tmp_path / "share" / "models"
    shipped.mkdir(parents=True)
    for suffix in (".safetensors", ".json"):
        (shipped / f"edge{suffix}").write_bytes(checkpoint.with_suffix(suffix).read_bytes())
    backend, notes = create_backend(BackendSpec("torch", Direction.HAZE, "", device="cpu"))
    assert backend.direction is Direction.HAZE
    backend, notes = create_backend(BackendSpec("auto", Direction.HAZE, "", device="cpu"))
    assert "(shipped model)" in notes[-1]


def test_onnxruntime_checks_direction_and_caches_exports(checkpoint, tmp_path, caplog):
    import logging

    from haze_ros.export.onnx_export import export_checkpoint

    haze_onnx = tmp_path / "haze.onnx"
    export_checkpoint(checkpoint, "haze", haze_onnx)
    with pytest.raises(BackendError, match=r"model_path.*exported for direction 'haze'"):
        create_backend(spec("onnxruntime", haze_onnx, direction="dehaze"))
    with pytest.raises(BackendError, match=r"model_path.*haze\.onnx.*direction"):
        create_backend(spec("auto", haze_onnx, direction="dehaze"))
    with caplog.at_level(logging.INFO):
        first, _ = create_backend(spec("onnxruntime", checkpoint))
    assert "exporting" in caplog.text and first.onnx_path.parent == model_files.onnx_cache_dir()
    stamp = first.onnx_path.stat().st_mtime_ns
    second, _ = create_backend(spec("onnxruntime", checkpoint))
    assert second.onnx_path == first.onnx_path and second.onnx_path.stat().st_mtime_ns == stamp


def test_cached_export_of_older_graph_code_is_not_reused(checkpoint, monkeypatch):
    """An upgrade that changes the graphs' code must re-export, not run the cached old graph."""
    from haze_ros.export import onnx_export

    first, _ = create_backend(spec("onnxruntime", checkpoint))
    monkeypatch.setattr(model_files, "graph_code_sha256", lambda: "f" * 64)  # as after an upgrade
    second, _ = create_backend(spec("onnxruntime", checkpoint))
    assert second.onnx_path != first.onnx_path and second.onnx_path.is_file()
    assert onnx_export.graph_code_sha256()[:8] in first.onnx_path.name and "ffffffff" in second.onnx_path.name


def test_cached_export_of_the_same_weights_with_another_architecture_is_not_reused(checkpoint, tmp_path):
    """Same weights, another recomposition floor t0 in the JSON (``release --t0``): another graph."""
    first = model_files.onnx_for_model(model_files.resolve_model(str(checkpoint)), Direction.DEHAZE)
    local = tmp_path / checkpoint.name
    local.write_bytes(checkpoint.read_bytes())
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    meta["model"]["architecture"]["t0"] = 0.45
    local.with_suffix(".json").write_text(json.dumps(meta))
    second = model_files.onnx_for_model(model_files.resolve_model(str(local)), Direction.DEHAZE)
    assert second != first and second.is_file()


def test_onnx_shipped_beside_checkpoint_is_used_only_if_it_matches(checkpoint, tmp_path):
    from haze_ros.export.onnx_export import export_checkpoint

    local = tmp_path / "edge.safetensors"
    for suffix in (".safetensors", ".json"):
        local.with_suffix(suffix).write_bytes(checkpoint.with_suffix(suffix).read_bytes())
    beside = tmp_path / "edge_dehaze.onnx"
    export_checkpoint(local, "dehaze", beside)
    assert model_files.onnx_for_model(model_files.resolve_model(str(local)), Direction.DEHAZE) == beside
    other = write_random_checkpoint(tmp_path / "other" / "edge", seed=9)
    export_checkpoint(other, "dehaze", beside)  # now from another checkpoint: ignored, cache export used
    chosen = model_files.onnx_for_model(model_files.resolve_model(str(local)), Direction.DEHAZE)
    assert chosen != beside and chosen.parent == model_files.onnx_cache_dir()


def test_a_checkpoint_stem_names_the_checkpoint(checkpoint, tmp_path):
    """``model_path:=models/edge`` (as ``load_translator`` and ``haze_export`` accept it)."""
    stem = str(checkpoint.with_suffix(""))
    expected = model_files.ModelFile("checkpoint", checkpoint.with_suffix(".safetensors"))
    assert model_files.resolve_model(stem) == expected
    with pytest.raises(BackendError, match="no checkpoint .*nothing.safetensors"):
        model_files.resolve_model(str(tmp_path / "nothing"))


def test_unknown_model_suffix_and_cuda_requests_fail_clearly(checkpoint, tmp_path):
    odd = tmp_path / "model.pt"
    odd.write_bytes(b"x")
    with pytest.raises(BackendError, match="model_path.*unknown model type '.pt'"):
        create_backend(spec("torch", odd))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA"):
            create_backend(spec("torch_cuda", checkpoint))
        with pytest.raises(BackendError, match="CUDAExecutionProvider|CUDA"):
            create_backend(spec("onnxruntime", checkpoint, device="cuda"))


def test_describe_reports_runtime_details(checkpoint):
    backend, _ = create_backend(spec("onnxruntime", checkpoint))
    info = backend.describe()
    assert info["backend"] == "onnxruntime" and info["providers"][0] == "CPUExecutionProvider"
    assert info["preset"] == "edge" and info["direction"] == "dehaze"
    backend.close()
    backend.close()  # idempotent


def test_gpu_check_without_cuda_reports_and_exits_3(tmp_path):
    import json
    import subprocess
    from pathlib import Path

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: this test covers the CPU-only behaviour")
    script = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"
    proc = subprocess.run([str(script), str(tmp_path / "report")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no cuda device" in proc.stdout.lower()
    report = json.loads((tmp_path / "report" / "gpu_check.json").read_text())
    assert report["status"] == "no CUDA device" and report["environment"]["cuda_available"] is False
    assert "NOT run" in (tmp_path / "report" / "gpu_check.md").read_text()


def test_device_frame_path_stages_match_the_numpy_path():
    """The GPU path's normalise/quantise stages, run on the CPU, equal ``core.stages`` (no padding)."""
    import torch

    from haze_ros.backends.cuda_frame import batch_to_frame, frame_to_batch
    from haze_ros.core import stages
    from haze_ros.core.backend import Backend

    class Halve(Backend):
        def infer(self, batch, conditions=None):
            return batch * 0.5 + 0.25

    rng = np.random.default_rng(0)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        rgb = rng.integers(0, top + 1, (37, 53, 3), dtype=np.int64).astype(dtype)
        rgb[0, 0] = (0, top, 40000 % (top + 1))
        wide = dtype == np.uint16
        host = torch.from_numpy(rgb.view(np.int16) if wide else rgb)
        batch = frame_to_batch(host, wide)
        np.testing.assert_array_equal(batch.numpy(), stages.to_batch(rgb))  # x / full scale, same bits
        out = batch_to_frame(batch * 0.5 + 0.25, 37, 53, wide).numpy()
        out = out.view(np.uint16) if wide else out
        expected = Halve(Direction.DEHAZE).process_frame(rgb)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="returned"):  # a graph that did not crop back is an error
        batch_to_frame(torch.zeros(1, 3, 40, 56), 37, 53, False)
