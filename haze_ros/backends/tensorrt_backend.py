"""TensorRT backend: a serialised engine run with TensorRT 10's tensor-address API.

Torch owns the CUDA context, the stream and every device buffer (I/O are torch CUDA tensors; their
``data_ptr()`` goes to ``set_tensor_address``), so pycuda is not needed. The engine comes from:

* ``model_path`` = ``.engine``: used as given, after checking its sidecar against this machine
  (TensorRT version, GPU, compute capability; refused on mismatch unless rebuilt from an ONNX);
* ``model_path`` = ``.onnx`` or a checkpoint ('' = shipped model): the engine cache
  (``export.engine_cache``) keyed by ONNX hash, TensorRT version, GPU, precision and shape profile;
  built only when ``options['allow_engine_rebuild']`` is true.

``process_frame`` keeps the whole frame path on the GPU (``cuda_frame.CudaFramePath``).

NOT RUN in the session that wrote it (no GPU there); its tests are gated on ``import tensorrt``
plus a CUDA device and run in ``scripts/gpu_check.sh``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from haze_ros.backends.cuda_frame import CudaFramePath
from haze_ros.backends.haze_inputs import default_haze_from_options, model_haze_inputs
from haze_ros.backends.model_files import PARAM, onnx_for_model, resolve_model
from haze_ros.core.backend import Backend, BackendError
from haze_ros.core.types import FrameConditions
from haze_ros.export import tensorrt_build
from haze_ros.export.engine_cache import EngineCache, EngineCacheError, ShapeProfile, verify_engine
from haze_ros.export.metadata import CONDITION_NAMES

LOG = logging.getLogger(__name__)


def profile_from_options(options: dict) -> ShapeProfile:
    """Shape profile from options ``min_shape``/``opt_shape``/``max_shape`` ("BxCxHxW"), else defaults."""
    default = ShapeProfile()
    return ShapeProfile.parse(options.get("min_shape") or "x".join(map(str, default.min)),
                              options.get("opt_shape") or "x".join(map(str, default.opt)),
                              options.get("max_shape") or "x".join(map(str, default.max)))


class TensorRTBackend(Backend):
    """Run a TensorRT engine; see the module docstring for where the engine comes from.

    Options: ``engine_cache_dir``, ``allow_engine_rebuild`` (bool, default false), ``min_shape``,
    ``opt_shape``, ``max_shape``, ``onnx_cache_dir``. ``precision`` (fp16/fp32) is part of the key.
    """

    name = "tensorrt"

    def __init__(self, spec) -> None:
        super().__init__(spec.direction)
        import tensorrt as trt
        import torch

        if not torch.cuda.is_available():
            raise BackendError("backend tensorrt needs a CUDA device; torch sees none")
        self._torch, self._trt = torch, trt
        self._device = torch.device(spec.device if spec.device.startswith("cuda") else "cuda")
        if self._device.index is None:
            self._device = torch.device("cuda", torch.cuda.current_device())
        self.device = str(self._device)
        self.precision = spec.precision
        torch.cuda.set_device(self._device)
        engine_bytes, self.engine_path, self.engine_source = self._engine_bytes(spec)
        self._runtime = trt.Runtime(_logger())
        self._engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self._engine is None:
            raise BackendError(f"parameter {PARAM}: TensorRT could not deserialise engine {self.engine_path} "
                               f"(corrupt, or built by another TensorRT version)")
        self._context = self._engine.create_execution_context()
        self._input_name, self._condition_names, self._output_name = self._io_names()
        self.conditioned = bool(self._condition_names)
        try:
            self._default_haze = default_haze_from_options(dict(spec.options or {}))
        except (TypeError, ValueError) as exc:
            raise BackendError(f"backend tensorrt: bad haze option: {exc}") from None
        min_shape = self._engine.get_tensor_profile_shape(self._input_name, 0)[0]
        self.min_hw = (int(min_shape[2]), int(min_shape[3]))  # smallest frame the profile accepts
        self._stream = torch.cuda.Stream(self._device)
        self._frame_path = CudaFramePath(self._device, self._stream, self._infer_tensor)
        LOG.info("TensorRT %s engine %s (%s) on %s", trt.__version__, self.engine_path, self.engine_source,
                 self.device)

    def _engine_bytes(self, spec):
        model = resolve_model(spec.model_path)
        options = spec.options
        if model.kind == "engine":
            gpu_name, capability = tensorrt_build.cuda_device_fields(str(self._device))
            expected = {"tensorrt_version": self._trt.__version__, "gpu_name": gpu_name,
                        "compute_capability": capability}
            try:
                return verify_engine(model.path, expected), model.path, "given"
            except EngineCacheError as exc:
                raise BackendError(f"parameter {PARAM}: {exc}") from None
        onnx_cache = options.get("onnx_cache_dir")
        onnx_path = onnx_for_model(model, self.direction, Path(onnx_cache) if onnx_cache else None)
        cache = EngineCache(options.get("engine_cache_dir") or None)
        try:
            path, data, how, _key = tensorrt_build.ensure_engine(
                onnx_path, spec.precision, profile_from_options(options), cache,
                allow_rebuild=bool(options.get("allow_engine_rebuild", False)), device=str(self._device))
        except EngineCacheError as exc:
            raise BackendError(f"engine for {onnx_path}: {exc}") from None
        return data, path, how

    def _io_names(self):
        trt = self._trt
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        conditions = [n for n in inputs if n in CONDITION_NAMES]
        images = [n for n in inputs if n not in CONDITION_NAMES]
        if len(images) != 1 or len(outputs) != 1 or conditions not in ([], list(CONDITION_NAMES)):
            raise BackendError(f"engine {self.engine_path}: expected an image input (+ {CONDITION_NAMES} "
                               f"for haze) and 1 output, got {names}")
        for name in names:
            if self._engine.get_tensor_dtype(name) != trt.float32:
                raise BackendError(f"engine {self.engine_path}: tensor {name} is not float32 I/O")
        return images[0], tuple(conditions), outputs[0]

    def _infer_tensor(self, batch, *inputs):
        """``(B, 3, H, W)`` float32 CUDA tensor in [0, 1] → new float32 CUDA tensor (queued on the stream).

        ``inputs``: the haze graph's visibility ``(B, 1)`` and airlight ``(B, 3)`` (CUDA tensors).
        """
        torch = self._torch
        batch = batch.to(self._device, torch.float32).contiguous()
        if not self._context.set_input_shape(self._input_name, tuple(batch.shape)):
            raise ValueError(f"input shape {tuple(batch.shape)} is outside the engine's profile")
        inputs = [x.to(self._device, torch.float32).contiguous() for x in inputs]
        for name, tensor in zip(self._condition_names, inputs):
            self._context.set_input_shape(name, tuple(tensor.shape))
            self._context.set_tensor_address(name, tensor.data_ptr())
        out_shape = tuple(self._context.get_tensor_shape(self._output_name))
        out = torch.empty(out_shape, dtype=torch.float32, device=self._device)
        self._context.set_tensor_address(self._input_name, batch.data_ptr())
        self._context.set_tensor_address(self._output_name, out.data_ptr())
        stream = torch.cuda.current_stream(self._device)
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        return out

    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """``(B, 3, H, W)`` float32 [0, 1] (numpy or CUDA tensor) → same type; numpy is synchronised."""
        torch = self._torch
        inputs = self._haze_inputs(conditions, int(batch.shape[0]))
        if isinstance(batch, torch.Tensor):
            with torch.cuda.stream(self._stream):
                out = self._infer_tensor(batch, *inputs)
            torch.cuda.current_stream(self._device).wait_stream(self._stream)
            return out
        with torch.cuda.stream(self._stream):
            out = self._infer_tensor(torch.from_numpy(np.ascontiguousarray(batch, np.float32)), *inputs)
            host = out.cpu()
        return host.numpy()

    def _haze_inputs(self, conditions: Optional[FrameConditions], batch_size: int):
        """Visibility and airlight tensors on the device for a haze engine; () otherwise."""
        if not self.conditioned:
            return ()
        arrays = model_haze_inputs(conditions, self._default_haze, self.name, batch_size)
        return tuple(self._torch.from_numpy(a).to(self._device) for a in arrays)

    def process_frame(self, rgb: np.ndarray, conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """``(H, W, 3)`` uint8/uint16 RGB → same; one upload, everything on the GPU, one download."""
        return self._frame_path(rgb, *self._haze_inputs(conditions, 1))

    def describe(self) -> dict:
        """Backend, device, direction, precision, engine file and whether it was cached or built."""
        info = super().describe()
        info.update(precision=self.precision, engine=str(self.engine_path), engine_source=self.engine_source,
                    tensorrt_version=self._trt.__version__)
        return info

    def close(self) -> None:
        """Release context, engine and runtime (idempotent)."""
        self._frame_path = None
        self._context = None
        self._engine = None
        self._runtime = None


def _logger():
    return tensorrt_build._trt_logger()
