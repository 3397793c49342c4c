"""``auto`` / ``model``: pick the fastest learned runtime that works on this machine.

Order: TensorRT → PyTorch CUDA → ONNX Runtime (CPU) → PyTorch CPU. Each option that is skipped gets
one note saying why (runtime not importable, no CUDA device, ``device=cpu`` asked for, model file
of a kind the runtime cannot read, no engine and ``allow_engine_rebuild`` false, ...); the notes
go to the start-up log and the diagnostics. A missing or unreadable model is not a reason to try
the next runtime: it raises ``BackendError`` naming the file and the parameter ``model_path``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, List, Optional, Tuple

from haze_ros.backends.model_files import resolve_model, validate_model
from haze_ros.core.backend import Backend, BackendError, BackendSpec

LOG = logging.getLogger(__name__)
SMOKE_SIZE = 64  # pixels, square: small enough to cost milliseconds on a CPU
ORDER = ("tensorrt", "torch_cuda", "onnxruntime", "torch")
_RUNTIME_MODULE = {"tensorrt": "tensorrt", "torch_cuda": "torch", "onnxruntime": "onnxruntime",
                   "torch": "torch"}
_READS = {"tensorrt": {"engine", "onnx", "checkpoint"}, "torch_cuda": {"checkpoint"},
          "onnxruntime": {"onnx", "checkpoint"}, "torch": {"checkpoint"}}


def _importable(module_name: str) -> Optional[str]:
    """None if ``module_name`` imports, else the reason (honours ``sys.modules[name] = None``)."""
    try:
        __import__(module_name)
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return f"{module_name} not importable ({type(exc).__name__}: {exc})"
    return None


def _cuda_reason() -> Optional[str]:
    try:
        import torch
    except Exception:
        return "torch not importable, cannot use CUDA"
    return None if torch.cuda.is_available() else "no CUDA device"


def skip_reason(candidate: str, spec, model_kind: str) -> Optional[str]:
    """Why ``candidate`` cannot serve ``spec`` here, checked cheaply before building; None = try it."""
    if model_kind not in _READS[candidate]:
        return f"model_path is a {model_kind} file, which {candidate} cannot run"
    needs_gpu = candidate in ("tensorrt", "torch_cuda")
    if needs_gpu and spec.device and not spec.device.startswith("cuda"):
        return f"parameter device={spec.device!r}"
    if not needs_gpu and spec.device.startswith("cuda") and candidate == "torch":
        return f"parameter device={spec.device!r} (torch on CPU is the last resort only for device='' or cpu)"
    reason = _importable(_RUNTIME_MODULE[candidate])
    if reason is None and needs_gpu:
        reason = _cuda_reason()
    return reason


def _candidate_spec(spec, candidate: str):
    device = spec.device
    if candidate == "onnxruntime" and not device.startswith("cuda"):
        device = "cpu"
    if candidate == "torch":
        device = "cpu"
    if candidate in ("tensorrt", "torch_cuda") and not device:
        device = "cuda"
    return dataclasses.replace(spec, name=candidate, device=device)


def _smoke_test(backend: Backend) -> None:
    """Run one small frame so that a runtime that builds but cannot infer is skipped, not selected."""
    height, width = getattr(backend, "min_hw", (SMOKE_SIZE, SMOKE_SIZE))
    try:
        backend.warm_up(height, width)
    except Exception:
        backend.close()
        raise


def select_backend(spec: BackendSpec,
                   build: Callable[[BackendSpec], Tuple[Backend, List[str]]]) -> Tuple[Backend, List[str]]:
    """Build the fastest available learned backend for ``spec`` (``name`` = ``auto`` or ``model``).

    ``build`` makes one named backend (``factory.create_backend`` for a key of its registry).

    Returns ``(backend, notes)``: one ``skipped X: reason`` note per faster option passed over, then
    ``selected X on DEVICE``. Raises ``BackendError`` if the model file is missing/invalid (naming it
    and ``model_path``) or if no runtime could be built (with every reason).
    """
    model = resolve_model(spec.model_path)  # raises BackendError naming the file and the parameter
    validate_model(model, spec.direction)
    notes: List[str] = []
    for candidate in ORDER:
        reason = skip_reason(candidate, spec, model.kind)
        if reason is None:
            try:
                backend, _ = build(_candidate_spec(spec, candidate))
                _smoke_test(backend)
            except BackendError as exc:
                reason = str(exc)
            except Exception as exc:  # a runtime that imports but fails (driver, library mismatch)
                reason = f"failed: {type(exc).__name__}: {exc}"
        if reason is not None:
            notes.append(f"skipped {candidate}: {reason}")
            continue
        notes.append(f"selected {candidate} on {backend.device} for {model.path}"
                     f"{' (shipped model)' if model.shipped else ''}")
        for line in notes:
            LOG.info("backend %s: %s", spec.name, line)
        return backend, notes
    raise BackendError(f"backend={spec.name}: no learned runtime could run {model.path}: " + "; ".join(notes))
