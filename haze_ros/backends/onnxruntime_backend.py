"""ONNX Runtime backend: the exported translator run by ONNX Runtime.

CPU here (intra-op threads = the cores this process may use, graph optimisation level ALL,
sequential execution); the CUDA and TensorRT execution providers where this onnxruntime build has
them (``device=cuda``; option ``ort_tensorrt: true`` puts TensorRT first). The model's ONNX metadata
is checked on load: its direction must match the backend's. ``onnxruntime`` is imported when the
backend is built, not when this module is imported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import numpy as np

from haze_ros.backends.haze_inputs import default_haze_from_options, model_haze_inputs
from haze_ros.backends.model_files import PARAM, onnx_for_model, resolve_model
from haze_ros.core.backend import Backend, BackendError
from haze_ros.core.types import FrameConditions
from haze_ros.export.engine_cache import default_cache_dir
from haze_ros.export.metadata import MetadataError, read_onnx_metadata
from haze_ros.export.onnx_session import make_session

LOG = logging.getLogger(__name__)


def _providers_for(device: str, options: dict) -> List:
    """Execution providers for ``device`` ('' / cpu / cuda[:N]); ``BackendError`` if unavailable."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if not device or device == "cpu":
        return ["CPUExecutionProvider"]
    if not device.startswith("cuda"):
        raise BackendError(f"parameter device={device!r}: onnxruntime supports cpu or cuda[:N]")
    index = int(device.split(":")[1]) if ":" in device else 0
    chosen: List = []
    if options.get("ort_tensorrt") and "TensorrtExecutionProvider" in available:
        cache = str(Path(options.get("engine_cache_dir") or default_cache_dir()) / "ort_trt")
        chosen.append(("TensorrtExecutionProvider", {
            "device_id": index, "trt_fp16_enable": options.get("precision") == "fp16",
            "trt_engine_cache_enable": True, "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": True, "trt_timing_cache_path": cache}))
    if "CUDAExecutionProvider" not in available:
        raise BackendError(f"parameter device={device!r}: this onnxruntime has no CUDAExecutionProvider "
                           f"(available: {available})")
    chosen.append(("CUDAExecutionProvider", {"device_id": index}))
    return chosen + ["CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    """Run an exported translator with ONNX Runtime.

    Spec fields used: ``direction`` (must match the ONNX metadata), ``model_path`` (.onnx, or a
    checkpoint exported on first use into the ONNX cache; '' = shipped model), ``device``,
    ``options['intra_op_threads']``, ``options['ort_tensorrt']``, ``options['onnx_cache_dir']``.
    """

    name = "onnxruntime"

    def __init__(self, spec) -> None:
        super().__init__(spec.direction)
        model = resolve_model(spec.model_path)
        if model.kind == "engine":
            raise BackendError(f"parameter {PARAM}={spec.model_path!r}: onnxruntime needs an .onnx file or a "
                               f"checkpoint, not a TensorRT engine")
        cache_dir = spec.options.get("onnx_cache_dir")
        self.onnx_path = onnx_for_model(model, self.direction, Path(cache_dir) if cache_dir else None)
        try:
            self.metadata = read_onnx_metadata(self.onnx_path, self.direction)
        except (MetadataError, OSError) as exc:
            raise BackendError(f"parameter {PARAM}: {exc}") from None
        options = dict(spec.options, precision=spec.precision)
        providers = _providers_for(spec.device, options)
        try:
            self.session = make_session(self.onnx_path, providers, spec.options.get("intra_op_threads"))
        except Exception as exc:
            raise BackendError(f"parameter {PARAM}: onnxruntime could not load {self.onnx_path}: "
                               f"{exc}") from exc
        self.conditioned = bool(self.metadata.conditions)
        try:
            self._default_haze = default_haze_from_options(dict(spec.options or {}))
        except (TypeError, ValueError) as exc:
            raise BackendError(f"backend onnxruntime: bad haze option: {exc}") from None
        active = self.session.get_providers()
        self.device = spec.device if active[0] != "CPUExecutionProvider" else "cpu"
        self.providers = active
        LOG.info("onnxruntime session on %s for %s (%s)", active, self.onnx_path, self.metadata.preset)

    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """``(B, 3, H, W)`` float32 [0, 1] numpy → same shape float32 numpy (any H, W: the graph pads).

        A haze graph of the physics generator also gets the frame's visibility and airlight
        (``conditions.haze``, else the backend's ``visibility_m`` / ``airlight`` options).
        """
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        feed = {self.metadata.input_name: batch}
        if self.conditioned:
            feed.update(zip(self.metadata.conditions,
                            model_haze_inputs(conditions, self._default_haze, self.name, batch.shape[0])))
        return self.session.run([self.metadata.output_name], feed)[0]

    def describe(self) -> dict:
        """Backend, device, direction, providers, ONNX file and its preset."""
        info = super().describe()
        info.update(providers=self.providers, onnx=str(self.onnx_path), preset=self.metadata.preset,
                    network_size_multiple=self.metadata.size_multiple, conditioned=self.conditioned)
        return info

    def close(self) -> None:
        """Release the session (idempotent)."""
        self.session = None
