"""Engine-builder logic against a fake ``tensorrt`` module (see ``fake_tensorrt``).

These tests check haze_ros's own code around the TensorRT API (profile from the real exported ONNX's
input, fp16 with normalisation pinned to fp32, timing cache persisted and reused, progress logged,
engine cache integration). They do not show that TensorRT builds or runs the engine: that needs a
GPU (``test/gpu``).
"""

import hashlib
import json
import logging
import sys

import pytest

import fake_tensorrt
from haze_ros.export import engine_cache as ec
from haze_ros.export import tensorrt_build
from model_fixtures import write_random_checkpoint

PROFILE = ec.ShapeProfile((1, 3, 64, 64), (1, 3, 360, 640), (1, 3, 1088, 1920))


@pytest.fixture()
def fake_trt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    monkeypatch.setattr(tensorrt_build, "cuda_device_fields", lambda device="cuda:0": ("Fake GPU", "9.0"))
    tensorrt_build._trt_logger.cache_clear()
    yield fake_tensorrt
    tensorrt_build._trt_logger.cache_clear()


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    from haze_ros.export.onnx_export import export_checkpoint

    folder = tmp_path_factory.mktemp("trt")
    checkpoint = write_random_checkpoint(folder / "edge", preset="edge_pixel")  # has instance norms
    result, _ = export_checkpoint(checkpoint, "dehaze", folder / "edge.onnx")
    return result.onnx_path


def _instance_norms(onnx_path):
    import onnx

    return [n.name for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "InstanceNormalization"]


def test_fp16_build_pins_normalisation_and_uses_profile(fake_trt, onnx_file, tmp_path, caplog):
    timing = tmp_path / "t.timing-cache"
    with caplog.at_level(logging.INFO, logger=tensorrt_build.__name__):
        engine = json.loads(tensorrt_build.build_serialized_engine(onnx_file, "fp16", PROFILE, timing))
    assert engine["flags"] == ["FP16", "OBEY_PRECISION_CONSTRAINTS"]
    assert engine["profiles"] == [{"input": [[1, 3, 64, 64], [1, 3, 360, 640], [1, 3, 1088, 1920]]}]
    norms = _instance_norms(onnx_file)
    assert norms and engine["fp32_layers"] == norms
    assert "Building engine started" in caplog.text and "finished" in caplog.text
    assert f"{len(norms)} normalisation/reduction layers kept in fp32" in caplog.text


def test_haze_graph_profile_covers_visibility_and_airlight(fake_trt, tmp_path):
    from haze_ros.export.onnx_export import export_checkpoint

    result, _ = export_checkpoint(write_random_checkpoint(tmp_path / "edge"), "haze", tmp_path / "haze.onnx")
    engine = json.loads(tensorrt_build.build_serialized_engine(result.onnx_path, "fp32", PROFILE))
    (profile,) = engine["profiles"]
    assert profile["visibility_m"] == [[1, 1], [1, 1], [1, 1]]
    assert profile["airlight"] == [[1, 3], [1, 3], [1, 3]]


def test_fp32_build_sets_no_precision_flags(fake_trt, onnx_file):
    engine = json.loads(tensorrt_build.build_serialized_engine(onnx_file, "fp32", PROFILE, None))
    assert engine["flags"] == [] and engine["fp32_layers"] == []


def test_timing_cache_is_persisted_and_reused(fake_trt, onnx_file, tmp_path):
    timing = tmp_path / "cache" / "t.timing-cache"
    first = json.loads(tensorrt_build.build_serialized_engine(onnx_file, "fp32", PROFILE, timing))
    assert timing.is_file() and first["timing_entries_before"] == 0
    second = json.loads(tensorrt_build.build_serialized_engine(onnx_file, "fp32", PROFILE, timing))
    assert second["timing_entries_before"] == 1


def test_parse_errors_are_reported(fake_trt, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="could not parse .*bad.onnx"):
        tensorrt_build.build_serialized_engine(bad, "fp32", PROFILE)


def test_ensure_engine_builds_once_then_hits_the_cache(fake_trt, onnx_file, tmp_path):
    cache = ec.EngineCache(tmp_path)
    with pytest.raises(ec.EngineMissing, match="allow_engine_rebuild"):
        tensorrt_build.ensure_engine(onnx_file, "fp16", PROFILE, cache, allow_rebuild=False)
    path, data, how, key = tensorrt_build.ensure_engine(onnx_file, "fp16", PROFILE, cache, allow_rebuild=True)
    assert how == "built" and key.gpu_name == "Fake GPU" and key.tensorrt_version == fake_trt.__version__
    assert key.onnx_sha256 == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert json.loads(ec.sidecar_path(path).read_text())["key"]["precision"] == "fp16"
    assert cache.timing_cache_path(key).is_file()
    again = tensorrt_build.ensure_engine(onnx_file, "fp16", PROFILE, cache, allow_rebuild=False)
    assert again[:3] == (path, data, "cached")
