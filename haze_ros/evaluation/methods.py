"""The rows of the evaluation tables: the hazy input itself, DCP, the flat-road approximation, learned models.

Every method is one object whose ``run(direction, rgb, conditions=None)`` maps an ``(H, W, 3)``
uint8/uint16 RGB frame to one of the same shape and dtype, for the directions it has. Learned
models, DCP and the physics flat-road row are built by the backend factory
(``haze_ros.backends.factory.create_backend``) and every frame goes through
``haze_ros.core.processor.FrameProcessor`` (encoding ``rgb8`` / ``rgb16``): the same path the node,
the bag tool and ``haze_apply`` use, so the figures measure what ships.

Conditioned haze: a haze backend with ``conditioned == True`` (the physics generator, the
``physics`` backend) takes each frame's β and A from ``FrameConditions(haze=HazeParams(...))``.
Given none, it uses its default haze, which ``model_method`` and ``flat_road_method`` set to the
centre of the paper's randomisation range: β = 0.012 1/m (visibility 250 m) and A = 0.9 in every
channel (``UNCONDITIONED_HAZE_OPTIONS``). That is the "synthesis (unconditioned, paper)" protocol
for such a model. Pixel-generator models (the ``paper`` preset) are unconditioned and ignore both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from haze_ros.backends.factory import create_backend
from haze_ros.core.backend import BackendSpec
from haze_ros.core.processor import FrameProcessor
from haze_ros.core.types import Direction, FrameConditions, visibility_to_beta

IDENTITY = "identity"
DCP = "dcp"
MODEL = "model"
FLAT_ROAD = "flat_road"

# The haze a conditioned model makes when it is given none: the centre of the paper's randomisation
# (β ∈ [0.008, 0.016] 1/m, A ∈ [0.8, 1.0] per channel): β = 3 / 250 m = 0.012 1/m and A = 0.9.
UNCONDITIONED_VISIBILITY_M = 250.0
UNCONDITIONED_AIRLIGHT = 0.9
UNCONDITIONED_HAZE_OPTIONS = {"visibility_m": UNCONDITIONED_VISIBILITY_M, "airlight": UNCONDITIONED_AIRLIGHT}
UNCONDITIONED_HAZE_TEXT = (f"beta {visibility_to_beta(UNCONDITIONED_VISIBILITY_M):g} 1/m (visibility "
                           f"{UNCONDITIONED_VISIBILITY_M:g} m), airlight {UNCONDITIONED_AIRLIGHT:g}")
# Options of the physics backend's flat-road geometry (``physics.depth_free.FlatRoadGeometry``).
FLAT_ROAD_OPTION_KEYS = ("camera_height_m", "focal_px", "horizon_row", "hfov_deg", "max_depth_m")


def frame_encoding(rgb: np.ndarray) -> str:
    """``FrameProcessor`` encoding of an ``(H, W, 3)`` RGB frame: ``rgb8`` (uint8) or ``rgb16`` (uint16)."""
    if rgb.dtype == np.uint8:
        return "rgb8"
    if rgb.dtype == np.uint16:
        return "rgb16"
    raise ValueError(f"frames must be uint8 or uint16 RGB, got {rgb.dtype}")


@dataclass
class Method:
    """One table row.

    Attributes:
        label: row name in tables and file names.
        kind: ``identity``, ``dcp``, ``flat_road`` or ``model``.
        model_path: checkpoint / ONNX path for ``model`` rows.
        describe: plain-value description (backend, device, checkpoint metadata).
        backends: direction → backend, for the directions this method serves.
        seconds: direction → accumulated processing time, first frame excluded (warm-up).
        frames: direction → frames timed (all but the first).
        conditioned: the haze direction takes β and A per frame (``FrameConditions.haze``).
        processors: direction → the ``FrameProcessor`` every frame of that direction goes through.
    """

    label: str
    kind: str
    model_path: Optional[str] = None
    describe: dict = field(default_factory=dict)
    backends: Dict[Direction, object] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    frames: Dict[str, int] = field(default_factory=dict)
    conditioned: bool = False
    processors: Dict[Direction, FrameProcessor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.processors = {Direction(d): FrameProcessor(b) for d, b in self.backends.items()}

    def has(self, direction: Direction) -> bool:
        """Whether this row has an output for ``direction`` (identity has both: it does nothing)."""
        return self.kind == IDENTITY or Direction(direction) in self.backends

    def run(self, direction: Direction, rgb: np.ndarray,
            conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """Apply the method through its ``FrameProcessor``: ``(H, W, 3)`` uint8/uint16 RGB → same.

        Args:
            direction: ``dehaze`` or ``haze`` (one the method has).
            rgb: the frame.
            conditions: per-frame side inputs; ``FrameConditions(haze=HazeParams(β, A))`` gives a
                conditioned haze backend its haze (``None``: a fresh empty one, i.e. the
                backend's default haze). A fresh object per call is best: backends record
                ``extras`` in it.

        Raises:
            haze_ros.core.processor.FrameRejected: a frame the processor refuses (e.g. too large).
        """
        direction = Direction(direction)
        if self.kind == IDENTITY:
            return rgb
        start = time.perf_counter()
        conditions = conditions if conditions is not None else FrameConditions()
        frame = self.processors[direction].process(rgb, frame_encoding(rgb), conditions)
        out = frame.image
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
        self.processors.clear()


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

    The haze backend gets ``UNCONDITIONED_HAZE_OPTIONS`` (β = 0.012 1/m, i.e. V = 250 m, A = 0.9):
    a conditioned model (``backend.conditioned``) makes that haze when a frame carries none; an
    unconditioned one ignores it.

    Raises:
        haze_ros.core.backend.BackendError: the model cannot be loaded (the message names it).
    """
    path = str(Path(model_path))
    backends = {}
    for direction in directions:
        direction = Direction(direction)
        options = dict(UNCONDITIONED_HAZE_OPTIONS) if direction == Direction.HAZE else {}
        spec = BackendSpec(name=backend_name, direction=direction, model_path=path, device=device,
                           options=options)
        backends[direction], _notes = create_backend(spec)
    first = next(iter(backends.values()))
    haze_backend = backends.get(Direction.HAZE)
    conditioned = bool(getattr(haze_backend, "conditioned", False))
    describe = dict(first.describe(), model=path, **_checkpoint_summary(path))
    describe.pop("conditioned", None)  # the first backend's (dehaze): say which direction it is about
    if haze_backend is not None:
        describe["haze_conditioned"] = conditioned
        if conditioned:
            describe["unconditioned_haze"] = UNCONDITIONED_HAZE_TEXT
    return Method(label=label or Path(path).stem, kind=MODEL, model_path=path, describe=describe,
                  backends=backends, conditioned=conditioned)


def flat_road_method(options: Optional[dict] = None) -> Method:
    """The depth-free flat-road approximation (``physics.depth_free``) as a haze row.

    The ``physics`` backend given no depth (``FrameConditions.depth_m = None``) hazes by eq. (1)
    with the flat-road depth of a camera at ``camera_height_m`` above a flat road (defaults of
    ``FlatRoadGeometry``: 1.5 m, 60° horizontal field of view, horizon at mid-height). Conditioned:
    it takes each frame's β and A; without them, ``UNCONDITIONED_HAZE_OPTIONS``.

    Args:
        options: geometry options (``FLAT_ROAD_OPTION_KEYS``), e.g. ``{"hfov_deg": 48}``.

    Raises:
        ValueError: an option that is not a geometry option.
        haze_ros.core.backend.BackendError: a bad option value.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(FLAT_ROAD_OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown flat-road option(s) {unknown}; known: {list(FLAT_ROAD_OPTION_KEYS)}")
    spec = BackendSpec(name="physics", direction=Direction.HAZE,
                       options=dict(UNCONDITIONED_HAZE_OPTIONS, **options))
    backend, _notes = create_backend(spec)
    describe = dict(backend.describe(), depth="flat_road_approximation (no depth given)",
                    unconditioned_haze=UNCONDITIONED_HAZE_TEXT, **options)
    return Method(label="flat road (physics, no depth)", kind=FLAT_ROAD, describe=describe,
                  backends={Direction.HAZE: backend}, conditioned=True)


def close_all(methods: List[Method]) -> None:
    """Close every method's backends."""
    for method in methods:
        method.close()
