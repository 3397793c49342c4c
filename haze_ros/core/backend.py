"""The backend contract (``Backend``, ``BackendSpec``, ``BackendError``): every runtime implements it.

Learned (TensorRT, PyTorch, ONNX Runtime) and classical (physics haze, DCP) backends live in
``haze_ros.backends``; this module is ROS-free and imports no runtime, so ``core`` (the
``FrameProcessor``) and every caller can name the contract without importing an implementation.
Two levels:

* ``infer(batch, conditions)``: the abstract contract — ``(B, 3, H, W)`` float32 in ``[0, 1]`` in,
  same shape and range out (numpy for CPU backends; a ``torch.Tensor`` on the backend's device is
  accepted and returned by torch-based backends). Any H and W: the learned graphs pad to their
  size multiple and crop back themselves (one policy, replicate; see ``haze_ros.core.stages``).
* ``process_frame(rgb, conditions)``: one ``(H, W, 3)`` RGB frame, ``uint8`` or ``uint16``, any size,
  in and out (same dtype and size). The default implementation is ``core.stages``' normalise →
  ``infer`` → quantise, on the CPU. Backends override it to keep the whole path on their device
  (GPU, ``backends.cuda_frame``) or to skip the NCHW round trip (classical methods).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from haze_ros.core.stages import from_batch, to_batch
from haze_ros.core.types import Direction, FrameConditions, HazeParams, visibility_to_beta


class BackendError(RuntimeError):
    """A backend could not be created or run; the message names the file or parameter at fault."""


@dataclass(frozen=True)
class BackendSpec:
    """What to build (``haze_ros.backends.factory.create_backend``).

    Attributes:
        name: a key of ``haze_ros.backends.factory.REGISTRY``, or ``"auto"`` / ``"model"`` (fastest
            learned runtime available).
        direction: ``dehaze`` or ``haze``.
        model_path: checkpoint (``.safetensors`` + ``.json``), ``.onnx`` or ``.engine``; ``""`` = the
            shipped default model (learned backends only).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``""`` (backend's choice).
        precision: ``"fp32"`` or ``"fp16"`` (GPU runtimes).
        options: backend-specific start-up options (e.g. DCP patch size, engine cache dir).
    """

    name: str
    direction: Direction
    model_path: str = ""
    device: str = ""
    precision: str = "fp32"
    options: dict = field(default_factory=dict)


class Backend(abc.ABC):
    """Abstract backend.

    Attributes:
        name: short runtime name, e.g. ``"physics"``, ``"dcp"``, ``"torch"``, ``"onnxruntime"``,
            ``"tensorrt"``.
        device: where it runs, e.g. ``"cpu"``, ``"cuda:0"``.
        direction: the translation it performs.
    """

    name: str = "abstract"
    device: str = "cpu"

    def __init__(self, direction: Direction) -> None:
        self.direction = Direction(direction)

    @abc.abstractmethod
    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """Translate a batch: ``(B, 3, H, W)`` float32 in [0, 1] → same shape, float32 in [0, 1]."""

    def process_frame(self, rgb: np.ndarray, conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """Translate one ``(H, W, 3)`` RGB ``uint8``/``uint16`` frame; returns the same dtype and shape."""
        batch = to_batch(rgb)
        out = np.asarray(self.infer(batch, conditions))
        if out.shape != batch.shape:
            raise ValueError(f"backend {self.name!r} returned {out.shape} for a {batch.shape} batch")
        return from_batch(out, rgb.dtype)

    def warm_up(self, height: int, width: int) -> None:
        """Run one frame so that lazy initialisation (allocations, autotuning) happens at start-up.

        Haze backends get a 1 km visibility for it (they need a β and an airlight per frame).
        """
        haze = HazeParams(visibility_to_beta(1000.0)) if self.direction == Direction.HAZE else None
        self.process_frame(np.zeros((height, width, 3), np.uint8), FrameConditions(haze=haze))

    def tunables(self) -> dict:
        """Current values of the parameters that may change while running (e.g. DCP ω); {} if none."""
        return {}

    def configure(self, **values) -> None:
        """Change live-tunable parameters atomically; raises ``ValueError`` naming the bad value.

        Unknown names are errors. The default backend has no tunables.
        """
        if values:
            raise ValueError(f"backend {self.name!r} has no tunable parameters: {sorted(values)}")

    def describe(self) -> dict:
        """Plain-value description for logs and diagnostics."""
        return {"backend": self.name, "device": self.device, "direction": self.direction.value}

    def close(self) -> None:
        """Release runtime resources (sessions, engines, device memory). Idempotent."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
