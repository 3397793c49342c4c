"""The rows of the evaluation tables: the hazy input itself, DCP, and learned models.

Every method is one object with ``dehaze(rgb)`` and ``haze(rgb)`` on ``(H, W, 3)`` uint8/uint16
RGB frames (same shape and dtype out), or ``None`` where the method has no such direction. Learned
models and DCP run through the backend factory (``haze_ros.backends.factory.create_backend``), the
same path the node and the bag tool use, so the figures measure what ships.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from haze_ros.backends.factory import BackendSpec, create_backend
from haze_ros.core.types import Direction, FrameConditions

IDENTITY = "identity"
DCP = "dcp"
MODEL = "model"


@dataclass
class Method:
    """One table row.

    Attributes:
        label: row name in tables and file names.
        kind: ``identity``, ``dcp`` or ``model``.
        model_path: checkpoint / ONNX path for ``model`` rows.
        describe: plain-value description (backend, device, checkpoint metadata).
        backends: direction → backend, for the directions this method serves.
        seconds: direction → accumulated processing time, first frame excluded (warm-up).
        frames: direction → frames timed (all but the first).
    """

    label: str
    kind: str
    model_path: Optional[str] = None
    describe: dict = field(default_factory=dict)
    backends: Dict[Direction, object] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    frames: Dict[str, int] = field(default_factory=dict)

    def has(self, direction: Direction) -> bool:
        """Whether this row has an output for ``direction`` (identity has both: it does nothing)."""
        return self.kind == IDENTITY or Direction(direction) in self.backends

    def run(self, direction: Direction, rgb: np.ndarray) -> np.ndarray:
        """Apply the method: ``(H, W, 3)`` uint8/uint16 RGB → same shape and dtype."""
        direction = Direction(direction)
        if self.kind == IDENTITY:
            return rgb
        start = time.perf_counter()
        out = self.backends[direction].process_frame(rgb, FrameConditions())
        elapsed = time.perf_counter() - start
        key = direction.value
        if key in self.seconds:  # the first frame (lazy initialisation, warm-up) is not timed
            self.seconds[key] += elapsed
            self.frames[key] += 1
        else:
            self.seconds[key], self.frames[key] = 0.0, 0
        return out

    def ms_per_frame(self) -> Dict[str, float]:
        """Mean wall time per frame in ms per direction, the first frame excluded (needs ≥ 2 frames)."""
        return {d: 1000.0 * s / self.frames[d] for d, s in self.seconds.items() if self.frames.get(d)}

    def close(self) -> None:
        """Release the backends."""
        for backend in self.backends.values():
            backend.close()
        self.backends.clear()


def identity_method() -> Method:
    """Make the "do nothing" row: removal scores the hazy input, synthesis scores the clear input."""
    return Method(label="identity (input)", kind=IDENTITY, describe={"backend": "none"})


def dcp_method(options: Optional[dict] = None) -> Method:
    """He et al.'s dark channel prior with guided filter, through the ``dcp`` backend (removal only)."""
    backend, _notes = create_backend(BackendSpec(name="dcp", direction=Direction.DEHAZE,
                                                 options=dict(options or {})))
    return Method(label="DCP (He et al.)", kind=DCP, describe=backend.describe(),
                  backends={Direction.DEHAZE: backend})


def _checkpoint_summary(model_path: str) -> dict:
    """Preset, step and training regulariser of a checkpoint, where the file has them; {} otherwise."""
    if not model_path.endswith((".safetensors", ".json")):
        return {}
    try:
        from haze_ros.networks.loading import read_checkpoint_meta
        meta = read_checkpoint_meta(model_path)
    except (ValueError, OSError, KeyError):  # decoration only: the backend validates the file for real
        return {}
    summary = {"preset": meta["model"].get("preset"), "step": meta.get("step")}
    loss = meta.get("training", {}).get("loss", {})
    if isinstance(loss, dict):
        summary.update({k: loss[k] for k in ("latent_divergence", "lambda_paired") if k in loss})
    return summary


def model_method(model_path: str, label: Optional[str] = None, backend_name: str = "torch",
                 device: str = "cpu", directions=(Direction.DEHAZE, Direction.HAZE)) -> Method:
    """Load a learned model in both directions (F_I→J dehaze, F_J→I haze) through the backend factory.

    Raises:
        haze_ros.backends.base.BackendError: the model cannot be loaded (the message names it).
    """
    path = str(Path(model_path))
    backends = {}
    for direction in directions:
        spec = BackendSpec(name=backend_name, direction=Direction(direction), model_path=path,
                           device=device)
        backends[Direction(direction)], _notes = create_backend(spec)
    first = next(iter(backends.values()))
    describe = dict(first.describe(), model=path, **_checkpoint_summary(path))
    return Method(label=label or Path(path).stem, kind=MODEL, model_path=path, describe=describe,
                  backends=backends)


def close_all(methods: List[Method]) -> None:
    """Close every method's backends."""
    for method in methods:
        method.close()
