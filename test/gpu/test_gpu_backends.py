"""GPU backends (PyTorch CUDA, TensorRT) against the CPU reference.

Marked ``gpu``: skipped without a CUDA device ("no CUDA device") or, for TensorRT, without the
runtime ("tensorrt not importable").

Run by ``scripts/gpu_check.sh``; these skips are not coverage. No rclpy here.
"""

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

from haze_ros.backends.factory import create_backend  # noqa: E402
from haze_ros.core.backend import BackendError, BackendSpec  # noqa: E402
from haze_ros.core.processor import FrameProcessor  # noqa: E402
from haze_ros.core.types import Direction  # noqa: E402
from model_fixtures import write_random_checkpoint  # noqa: E402


def _tensorrt_or_skip():
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:
        pytest.skip(f"tensorrt not importable ({type(exc).__name__}: {exc})")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("gpu_ckpt") / "edge", seed=5)


@pytest.fixture(scope="module")
def frame():
    """A smooth synthetic (181, 323, 3) uint8 scene with texture (odd size; no cv2 needed)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:181, 0:323].astype(np.float32)
    base = np.stack([xx / 323, yy / 181, 0.5 + 0.5 * np.sin(xx / 17) * np.cos(yy / 11)], axis=2)
    noisy = np.clip(base * 220 + rng.normal(0, 8, base.shape), 0, 255)
    return noisy.astype(np.uint8)


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("HAZE_ROS_ONNX_CACHE", str(tmp_path / "onnx"))
    monkeypatch.setenv("HAZE_ROS_ENGINE_CACHE", str(tmp_path / "engines"))


def _cpu_reference(checkpoint, frame, direction="dehaze"):
    backend, _ = create_backend(BackendSpec("torch", Direction(direction), str(checkpoint), device="cpu"))
    return backend.process_frame(frame)


def _levels(a, b):
    diff = np.abs(a.astype(np.int32) - b.astype(np.int32))
    return int(diff.max()), float(diff.mean())


def test_torch_cuda_fp32_matches_cpu(checkpoint, frame):
    backend, _ = create_backend(BackendSpec("torch_cuda", Direction.DEHAZE, str(checkpoint), "cuda", "fp32"))
    assert backend.device.startswith("cuda") and backend.name == "torch_cuda"
    max_diff, _ = _levels(backend.process_frame(frame), _cpu_reference(checkpoint, frame))
    assert max_diff <= 2


def test_torch_cuda_fp16_channels_last_close_to_cpu(checkpoint, frame):
    backend, _ = create_backend(BackendSpec("torch_cuda", Direction.DEHAZE, str(checkpoint), "cuda", "fp16"))
    max_diff, mean_diff = _levels(backend.process_frame(frame), _cpu_reference(checkpoint, frame))
    assert mean_diff <= 1.5 and max_diff <= 24, (max_diff, mean_diff)


def test_cuda_graphs_give_the_same_frames(checkpoint, frame):
    spec = BackendSpec("torch_cuda", Direction.HAZE, str(checkpoint), "cuda", "fp32", {"cuda_graphs": True})
    graphs, _ = create_backend(spec)
    eager, _ = create_backend(dataclasses.replace(spec, options={}))
    for crop in (frame, frame[:97, :131]):
        crop = np.ascontiguousarray(crop)
        assert _levels(graphs.process_frame(crop), eager.process_frame(crop))[0] <= 1
    assert graphs.describe()["cuda_graphs"] is True, "CUDA graph capture fell back to eager (see log)"


def test_device_frame_path_uint16_and_processor(checkpoint, frame):
    backend, _ = create_backend(BackendSpec("torch_cuda", Direction.DEHAZE, str(checkpoint), "cuda", "fp32"))
    wide = frame.astype(np.uint16) * 257
    out = backend.process_frame(wide)
    assert out.dtype == np.uint16 and out.shape == wide.shape
    assert _levels(out // 257, backend.process_frame(frame))[0] <= 1
    result = FrameProcessor(backend).process(np.ascontiguousarray(frame[:, :, ::-1]), "bgr8")
    assert _levels(result.image[:, :, ::-1], _cpu_reference(checkpoint, frame))[0] <= 2


def test_auto_prefers_gpu(checkpoint, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    backend, notes = create_backend(BackendSpec("auto", Direction.DEHAZE, str(checkpoint)))
    assert backend.name == "torch_cuda", notes
    assert notes[0].startswith("skipped tensorrt: tensorrt not importable")


TRT_OPTIONS = {"min_shape": "1x3x64x64", "opt_shape": "1x3x192x320", "max_shape": "1x3x544x960"}


def test_tensorrt_engine_cache_build_reuse_and_refusal(checkpoint, frame, tmp_path):
    _tensorrt_or_skip()
    options = dict(TRT_OPTIONS, engine_cache_dir=str(tmp_path / "cache"))
    spec = BackendSpec("tensorrt", Direction.DEHAZE, str(checkpoint), "cuda", "fp32", options)
    with pytest.raises(BackendError, match="allow_engine_rebuild"):
        create_backend(spec)
    built, _ = create_backend(dataclasses.replace(spec, options=dict(options, allow_engine_rebuild=True)))
    assert built.engine_source == "built"
    assert _levels(built.process_frame(frame), _cpu_reference(checkpoint, frame))[0] <= 2
    cached, _ = create_backend(spec)
    assert cached.engine_source == "cached" and cached.engine_path == built.engine_path
    sidecar_file = built.engine_path.with_name(built.engine_path.name + ".json")
    sidecar = json.loads(sidecar_file.read_text())
    sidecar["key"]["gpu_name"] = "Some Other GPU"
    sidecar_file.write_text(json.dumps(sidecar))
    with pytest.raises(BackendError, match="gpu_name"):
        create_backend(spec)
    with pytest.raises(BackendError, match="gpu_name"):  # the same engine given explicitly
        create_backend(dataclasses.replace(spec, model_path=str(built.engine_path)))


def test_tensorrt_fp16_close_to_cpu_and_auto_picks_it(checkpoint, frame, tmp_path):
    _tensorrt_or_skip()
    options = dict(TRT_OPTIONS, engine_cache_dir=str(tmp_path / "cache"), allow_engine_rebuild=True)
    spec = BackendSpec("auto", Direction.DEHAZE, str(checkpoint), "", "fp16", options)
    backend, notes = create_backend(spec)
    assert backend.name == "tensorrt", notes
    max_diff, mean_diff = _levels(backend.process_frame(frame), _cpu_reference(checkpoint, frame))
    assert mean_diff <= 1.5 and max_diff <= 24, (max_diff, mean_diff)
    batch = torch.rand(1, 3, 128, 256, device="cuda")
    assert backend.infer(batch).shape == batch.shape
