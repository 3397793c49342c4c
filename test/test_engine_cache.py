"""TensorRT engine cache: key coverage, sidecar, refusal of corrupt/mismatched engines, rebuild policy.

None of this needs TensorRT: engines are opaque bytes to the cache.
"""

import dataclasses
import json
import logging

import pytest

from haze_ros.export import engine_cache as ec

KEY = ec.EngineKey(onnx_sha256="a" * 64, tensorrt_version="10.9.0", gpu_name="NVIDIA H100 80GB HBM3",
                   compute_capability="9.0", precision="fp16",
                   profile=ec.ShapeProfile((1, 3, 256, 256), (1, 3, 720, 1280), (1, 3, 1088, 1920)))


def test_key_changes_with_each_input():
    variants = {
        "onnx_sha256": "b" * 64, "tensorrt_version": "10.10.0", "gpu_name": "NVIDIA L4",
        "compute_capability": "8.9", "precision": "fp32",
        "profile": dataclasses.replace(KEY.profile, max=(1, 3, 1440, 2560)),
    }
    digests = {KEY.digest()}
    for field, value in variants.items():
        digests.add(dataclasses.replace(KEY, **{field: value}).digest())
    for shape_field in ("min", "opt"):
        other = dataclasses.replace(KEY.profile, **{shape_field: (1, 3, 256, 320)})
        digests.add(dataclasses.replace(KEY, profile=other).digest())
    assert len(digests) == len(variants) + 3
    assert KEY.digest() == dataclasses.replace(KEY).digest()  # stable for equal keys


def test_shapes_and_profile_validation():
    assert ec.parse_shape("1x3x720x1280") == (1, 3, 720, 1280)
    assert ec.format_shape((2, 3, 8, 16)) == "2x3x8x16"
    for bad in ("1x3x720", "1x4x8x8", "0x3x8x8", "axbxcxd"):
        with pytest.raises(ValueError):
            ec.parse_shape(bad)
    with pytest.raises(ValueError, match="min <= opt <= max"):
        ec.ShapeProfile((1, 3, 512, 512), (1, 3, 256, 256), (1, 3, 1024, 1024))
    assert KEY.profile.contains((1, 3, 360, 640)) and not KEY.profile.contains((1, 3, 2160, 3840))
    with pytest.raises(ValueError, match="precision"):
        dataclasses.replace(KEY, precision="int8")


def test_cache_dir_is_per_user_and_configurable(monkeypatch, tmp_path):
    monkeypatch.delenv(ec.ENGINE_CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ec.default_cache_dir() == tmp_path / "xdg" / "haze_ros" / "engines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ec.default_cache_dir() == tmp_path / "home" / ".cache" / "haze_ros" / "engines"
    monkeypatch.setenv(ec.ENGINE_CACHE_ENV, str(tmp_path / "explicit"))
    assert ec.EngineCache().cache_dir == tmp_path / "explicit"
    assert ec.EngineCache(tmp_path / "given").cache_dir == tmp_path / "given"


def test_store_lookup_and_sidecar_content(tmp_path):
    cache = ec.EngineCache(tmp_path)
    path = cache.engine_path(KEY, stem="edge_dehaze")
    assert KEY.digest()[:20] in path.name and path.parent == tmp_path
    ec.write_engine(path, b"ENGINE-BYTES", KEY)
    found, data = cache.lookup(KEY, stem="edge_dehaze")
    assert (found, data) == (path, b"ENGINE-BYTES")
    sidecar = json.loads(ec.sidecar_path(path).read_text())
    assert sidecar["key"] == KEY.fields() and sidecar["key_sha256"] == KEY.digest()
    for name in ("onnx_sha256", "tensorrt_version", "gpu_name", "compute_capability", "precision",
                 "min_shape", "opt_shape", "max_shape"):
        assert name in sidecar["key"]
    assert sidecar["key"]["max_shape"] == "1x3x1088x1920"
    assert sidecar["engine_bytes"] == len(b"ENGINE-BYTES") and len(sidecar["engine_sha256"]) == 64
    assert cache.timing_cache_path(KEY).parent == tmp_path


def test_corrupt_engines_are_refused(tmp_path):
    cache = ec.EngineCache(tmp_path)
    path = ec.write_engine(cache.engine_path(KEY), b"ENGINE-BYTES" * 100, KEY)
    path.write_bytes(path.read_bytes()[:50])  # truncated
    with pytest.raises(ec.EngineCorrupt, match="SHA-256"):
        cache.lookup(KEY)
    ec.sidecar_path(path).write_text("{not json")
    with pytest.raises(ec.EngineCorrupt, match="unreadable"):
        cache.lookup(KEY)
    ec.sidecar_path(path).unlink()
    with pytest.raises(ec.EngineCorrupt, match="no sidecar"):
        cache.lookup(KEY)
    with pytest.raises(ec.EngineMissing):
        cache.lookup(dataclasses.replace(KEY, precision="fp32"))


def test_mismatched_engine_is_refused_naming_the_fields(tmp_path):
    path = ec.write_engine(tmp_path / "given.engine", b"E", KEY)
    expected = dict(KEY.fields(), gpu_name="NVIDIA L4", compute_capability="8.9")
    with pytest.raises(ec.EngineMismatch) as info:
        ec.verify_engine(path, expected)
    assert "gpu_name" in str(info.value) and "compute_capability" in str(info.value)
    assert "precision" not in str(info.value)
    assert ec.verify_engine(path, {"tensorrt_version": "10.9.0"}) == b"E"  # subset check passes
    # a cache entry whose sidecar was edited to another key is refused too
    cache = ec.EngineCache(tmp_path / "c")
    entry = ec.write_engine(cache.engine_path(KEY), b"E", dataclasses.replace(KEY, tensorrt_version="8.6.1"))
    with pytest.raises(ec.EngineMismatch, match="tensorrt_version"):
        cache.lookup(KEY)
    assert entry.exists()


def test_rebuild_only_when_allowed(tmp_path, caplog):
    cache = ec.EngineCache(tmp_path)
    calls = []

    def build(timing_cache_path):
        calls.append(timing_cache_path)
        return b"BUILT-%d" % len(calls)

    with pytest.raises(ec.EngineMissing, match="allow_engine_rebuild"):
        cache.get_or_build(KEY, build, allow_rebuild=False)
    assert calls == [] and not any(tmp_path.iterdir())
    with caplog.at_level(logging.INFO, logger=ec.__name__):
        path, data, how = cache.get_or_build(KEY, build, allow_rebuild=True)
    assert (data, how) == (b"BUILT-1", "built") and calls == [cache.timing_cache_path(KEY)]
    assert "building a new TensorRT engine" in caplog.text
    assert cache.get_or_build(KEY, build, allow_rebuild=False) == (path, b"BUILT-1", "cached")
    path.write_bytes(b"garbage")  # corrupt: refused without permission, rebuilt with it
    with pytest.raises(ec.EngineCorrupt, match="allow_engine_rebuild"):
        cache.get_or_build(KEY, build, allow_rebuild=False)
    assert cache.get_or_build(KEY, build, allow_rebuild=True)[1:] == (b"BUILT-2", "built")
    assert len(calls) == 2


def test_failed_build_leaves_no_engine(tmp_path):
    cache = ec.EngineCache(tmp_path)

    def build(_timing):
        raise RuntimeError("builder failed")

    with pytest.raises(RuntimeError, match="builder failed"):
        cache.get_or_build(KEY, build, allow_rebuild=True)
    assert not cache.engine_path(KEY).exists() and not ec.sidecar_path(cache.engine_path(KEY)).exists()
