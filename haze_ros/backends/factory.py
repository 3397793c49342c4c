"""Create a backend from a ``BackendSpec``: the one place that maps names to implementations.

Implementations are imported lazily, so that a missing runtime (TensorRT, ONNX Runtime, torch)
only matters when that backend is asked for. ``"auto"`` and ``"model"`` are resolved by
``haze_ros.backends.selection`` (fastest available learned runtime, with a reason for each one
skipped).
"""

from __future__ import annotations

import importlib
from typing import Dict, List, Tuple

from haze_ros.backends import selection
from haze_ros.core.backend import Backend, BackendError, BackendSpec

# name -> "module:Class"; each class takes (spec: BackendSpec) in its constructor.
REGISTRY: Dict[str, str] = {
    "physics": "haze_ros.backends.classical:PhysicsHazeBackend",
    "dcp": "haze_ros.backends.classical:DarkChannelBackend",
    "torch": "haze_ros.backends.torch_backend:TorchBackend",
    "torch_cuda": "haze_ros.backends.torch_backend:TorchBackend",
    "onnxruntime": "haze_ros.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "tensorrt": "haze_ros.backends.tensorrt_backend:TensorRTBackend",
}
SELECTORS = ("auto", "model")


def _load_class(name: str):
    target = REGISTRY[name]
    module_name, cls_name = target.split(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)


def create_backend(spec: BackendSpec) -> Tuple[Backend, List[str]]:
    """Build the backend ``spec`` names. Returns ``(backend, notes)``.

    ``notes`` are human-readable lines for the start-up log and diagnostics (for ``auto``: the
    choice and why each faster option was skipped). Raises ``BackendError`` naming the file or
    parameter at fault.
    """
    if spec.name in SELECTORS:
        return selection.select_backend(spec, _create_named)
    return _create_named(spec)


def _create_named(spec: BackendSpec) -> Tuple[Backend, List[str]]:
    """``create_backend`` for a name of ``REGISTRY`` (no selection)."""
    if spec.name not in REGISTRY:
        raise BackendError(f"parameter backend={spec.name!r} is not one of "
                           f"{sorted(REGISTRY) + list(SELECTORS)}")
    try:
        cls = _load_class(spec.name)
        backend = cls(spec)  # runtimes import their libraries here (tensorrt, onnxruntime, torch)
    except ImportError as exc:
        raise BackendError(f"backend {spec.name!r} is not available here ({exc})") from exc
    return backend, [f"backend {spec.name} selected explicitly"]


def available_names() -> List[str]:
    """All names ``create_backend`` accepts."""
    return sorted(REGISTRY) + list(SELECTORS)
