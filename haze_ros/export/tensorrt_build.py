"""Build TensorRT 10.x engines from the exported ONNX (``import tensorrt`` only inside functions).

* Network from the ONNX parser (explicit batch is the only mode in TensorRT 10).
* One optimisation profile (min/opt/max input shapes) for the dynamic B, H, W.
* fp16: weakly typed network with the FP16 builder flag, and every normalisation layer (and the
  reductions it lowers to) pinned to fp32 with ``OBEY_PRECISION_CONSTRAINTS``, because instance
  norm's variance loses accuracy in fp16. (The alternative, a STRONGLY_TYPED network, needs an ONNX
  with explicit fp16 casts; the exporter writes fp32 graphs, so it is not used.) I/O stays fp32.
* A persistent timing cache file, so rebuilds on the same GPU skip kernel autotuning.
* A ``trt.IProgressMonitor`` that logs each build phase, so a long build is never silent.

NOT RUN in the session that wrote it (no GPU there): written against the TensorRT 10 Python API
documentation; its tests are gated on ``import tensorrt`` plus a CUDA device.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, Tuple, Union

from haze_ros.export import metadata as md
from haze_ros.export.engine_cache import EngineCache, EngineKey, ShapeProfile

LOG = logging.getLogger(__name__)
DEFAULT_WORKSPACE_BYTES = 4 << 30


def cuda_device_fields(device: str = "cuda:0") -> Tuple[str, str]:
    """``(gpu_name, "major.minor")`` of a CUDA device, read through torch (which owns the context)."""
    import torch

    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def make_engine_key(onnx_path: Union[str, Path], precision: str, profile: ShapeProfile,
                    device: str = "cuda:0") -> EngineKey:
    """The cache key for building ``onnx_path`` here (needs ``tensorrt`` and a CUDA device)."""
    import tensorrt as trt

    gpu_name, capability = cuda_device_fields(device)
    return EngineKey(onnx_sha256=md.sha256_file(onnx_path), tensorrt_version=trt.__version__,
                     gpu_name=gpu_name, compute_capability=capability, precision=precision, profile=profile)


@functools.lru_cache(maxsize=1)
def _trt_logger():
    """The ``trt.ILogger`` forwarding TensorRT's messages to ``logging`` (one per process, kept alive)."""
    import tensorrt as trt

    class _Forward(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity, msg) -> None:  # noqa: D102 - TensorRT callback
            level = {trt.ILogger.INTERNAL_ERROR: logging.ERROR, trt.ILogger.ERROR: logging.ERROR,
                     trt.ILogger.WARNING: logging.WARNING, trt.ILogger.INFO: logging.DEBUG}.get(
                         severity, logging.DEBUG)
            LOG.log(level, "TensorRT: %s", msg)

    return _Forward()


def _progress_monitor(min_interval_s: float = 5.0):
    """A ``trt.IProgressMonitor`` that logs phase starts/ends and step progress (throttled)."""
    import tensorrt as trt

    class _Progress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._steps = {}
            self._last_log = 0.0
            self._start = time.monotonic()

        def phase_start(self, phase_name, parent_phase, num_steps) -> None:  # noqa: D102
            with self._lock:
                self._steps[phase_name] = num_steps
            LOG.info("TensorRT build [%5.0fs] %s%s started (%d steps)", time.monotonic() - self._start,
                     f"{parent_phase} / " if parent_phase else "", phase_name, num_steps)

        def step_complete(self, phase_name, step) -> bool:  # noqa: D102
            now = time.monotonic()
            with self._lock:
                if now - self._last_log >= min_interval_s:
                    self._last_log = now
                    LOG.info("TensorRT build [%5.0fs] %s: step %d/%d", now - self._start, phase_name,
                             step + 1, self._steps.get(phase_name, 0))
            return True  # never cancel

        def phase_finish(self, phase_name) -> None:  # noqa: D102
            LOG.info("TensorRT build [%5.0fs] %s finished", time.monotonic() - self._start, phase_name)

    return _Progress()


def _keep_normalisation_in_fp32(network) -> int:
    """Pin normalisation layers (and reductions) to fp32 in an fp16 build; returns how many were pinned."""
    import tensorrt as trt

    fp32_types = {trt.LayerType.NORMALIZATION, trt.LayerType.REDUCE}
    float_types = {trt.float32, trt.float16}
    pinned = 0
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.type in fp32_types and layer.get_output(0).dtype in float_types:
            layer.precision = trt.float32
            for out in range(layer.num_outputs):
                layer.set_output_type(out, trt.float32)
            pinned += 1
    return pinned


def _parse_onnx(trt, builder, onnx_path: Path):
    network = builder.create_network(0)  # TensorRT 10: explicit batch always
    parser = trt.OnnxParser(network, _trt_logger())
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: " + " | ".join(errors))
    return network, parser  # the parser owns the weights: keep it alive until the build is done


def _load_timing_cache(config, timing_cache_path: Optional[Path]):
    data = b""
    if timing_cache_path and timing_cache_path.is_file():
        data = timing_cache_path.read_bytes()
        LOG.info("TensorRT timing cache: %s (%d bytes)", timing_cache_path, len(data))
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, ignore_mismatch=False)


def _save_timing_cache(config, timing_cache_path: Optional[Path]) -> None:
    if not timing_cache_path:
        return
    data = bytes(memoryview(config.get_timing_cache().serialize()))
    timing_cache_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=timing_cache_path.name + ".", dir=timing_cache_path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, timing_cache_path)


def build_serialized_engine(onnx_path: Union[str, Path], precision: str, profile: ShapeProfile,
                            timing_cache_path: Optional[Path] = None,
                            workspace_bytes: int = DEFAULT_WORKSPACE_BYTES) -> bytes:
    """Build an engine for ``onnx_path`` ((B, 3, H, W) fp32 [0, 1] I/O); returns the serialised engine.

    ``precision`` is ``fp32`` or ``fp16`` (normalisation kept in fp32, I/O fp32). Raises
    ``RuntimeError`` with the parser's or builder's errors.
    """
    import tensorrt as trt

    onnx_path = Path(onnx_path)
    logger = _trt_logger()
    builder = trt.Builder(logger)
    network, _parser = _parse_onnx(trt, builder, onnx_path)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    monitor = _progress_monitor()
    config.progress_monitor = monitor
    input_name = network.get_input(0).name
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(input_name, profile.min, profile.opt, profile.max)
    for index in range(1, network.num_inputs):  # the haze graph's visibility (B, 1) and airlight (B, 3)
        extra = network.get_input(index)
        width = int(extra.shape[1])
        opt_profile.set_shape(extra.name, (profile.min[0], width), (profile.opt[0], width),
                              (profile.max[0], width))
    config.add_optimization_profile(opt_profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        LOG.info("fp16 build: %d normalisation/reduction layers kept in fp32",
                 _keep_normalisation_in_fp32(network))
    _load_timing_cache(config, timing_cache_path)
    LOG.info("building TensorRT %s engine from %s (%s, %s)", trt.__version__, onnx_path, precision,
             profile.describe())
    started = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log)")
    _save_timing_cache(config, timing_cache_path)
    LOG.info("TensorRT engine built in %.0f s", time.monotonic() - started)
    return bytes(memoryview(serialized))


def ensure_engine(onnx_path: Union[str, Path], precision: str, profile: ShapeProfile,
                  cache: Optional[EngineCache] = None, allow_rebuild: bool = False,
                  device: str = "cuda:0") -> Tuple[Path, bytes, str, EngineKey]:
    """Engine for ``onnx_path`` from ``cache`` (built there only if ``allow_rebuild``).

    Returns ``(engine_path, engine_bytes, "cached"|"built", key)``; raises ``EngineCacheError``.
    """
    cache = cache or EngineCache()
    key = make_engine_key(onnx_path, precision, profile, device)
    path, data, how = cache.get_or_build(
        key, lambda timing: build_serialized_engine(onnx_path, precision, profile, timing),
        allow_rebuild=allow_rebuild, stem=Path(onnx_path).stem)
    return path, data, how, key
