"""Classical backends: physics haze by eq. (1) and dark channel prior dehazing.

Both implement the ``Backend`` contract (``infer`` on ``(B, 3, H, W)`` float32 [0, 1]) and override
``process_frame`` to work on the ``(H, W, 3)`` frame directly (no NCHW round trip).

* ``PhysicsHazeBackend`` (``physics``, direction ``haze``): I = J·t + A·(1 − t), t = exp(−β·d).
  β and A come per frame from ``conditions.haze``; d from ``conditions.depth_m`` when given, else
  from the flat-road approximation (``physics.depth_free``), and ``conditions.extras["depth_source"]``
  says which was used. Start-up options (``spec.options``) and live tunables: ``camera_height_m``,
  ``focal_px``, ``horizon_row``, ``hfov_deg``, ``max_depth_m`` (see ``FlatRoadGeometry``);
  ``visibility_m`` / ``beta_per_m`` / ``airlight`` set the haze used when a frame carries none.
* ``DarkChannelBackend`` (``dcp``, direction ``dehaze``): He et al.'s DCP with guided-filter
  refinement; options and live tunables ``omega``, ``t0``, ``patch``, ``radius``, ``eps``,
  ``guided_subsample``, ``airlight_fraction`` (see ``DarkChannelParams``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional, Tuple

import numpy as np

from haze_ros.backends.haze_inputs import default_haze_from_options, frame_haze
from haze_ros.core.backend import Backend, BackendError
from haze_ros.core.types import Direction, FrameConditions, HazeParams
from haze_ros.physics import dark_channel as dcp
from haze_ros.physics.depth_free import DEPTH_SOURCE as FLAT_ROAD, FlatRoadGeometry, flat_road_depth
from haze_ros.physics.scattering import PreparedHaze, synthesize_haze, transmission_from_depth

LOG = logging.getLogger(__name__)
DEPTH_GIVEN = "depth_image"
_GEOMETRY_KEYS = ("camera_height_m", "focal_px", "horizon_row", "hfov_deg", "max_depth_m")
_DCP_KEYS = tuple(f.name for f in dataclasses.fields(dcp.DarkChannelParams))


def _require_direction(spec, expected: Direction, name: str) -> None:
    if Direction(spec.direction) != expected:
        raise BackendError(f"backend {name!r} only does direction {expected.value!r}, "
                           f"got direction={Direction(spec.direction).value!r}")


def _split_options(options: dict, known: Tuple[str, ...], name: str) -> dict:
    unknown = sorted(set(options) - set(known))
    if unknown:
        LOG.warning("backend %s ignores unknown options %s (known: %s)", name, unknown, list(known))
    return {k: v for k, v in options.items() if k in known}


def _native_order(rgb: np.ndarray) -> Tuple[np.ndarray, bool]:
    """Contiguous frame to compute on, and whether it is in BGR order.

    ``core.layout.to_rgb`` gives a channel-reversed view for bgr encodings; computing on the BGR
    memory directly (with A reversed) and returning a reversed view of the result saves two copies.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) frame, got shape {rgb.shape}")
    if rgb.strides[2] < 0:
        return np.ascontiguousarray(rgb[..., ::-1]), True
    return np.ascontiguousarray(rgb), False


def _batch_frames(batch) -> np.ndarray:
    array = np.asarray(batch, dtype=np.float32)
    if array.ndim != 4 or array.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) batch, got shape {array.shape}")
    return array


class PhysicsHazeBackend(Backend):
    """Physics haze by eq. (1); depth from the frame's conditions or the flat-road approximation."""

    name = "physics"

    def __init__(self, spec) -> None:
        _require_direction(spec, Direction.HAZE, self.name)
        super().__init__(Direction.HAZE)
        options = dict(spec.options or {})
        known = _GEOMETRY_KEYS + ("visibility_m", "beta_per_m", "airlight")
        options = _split_options(options, known, self.name)
        try:
            self._geometry = FlatRoadGeometry(**{k: options[k] for k in _GEOMETRY_KEYS if k in options})
            self._default_haze = default_haze_from_options(options)
        except (TypeError, ValueError) as exc:
            raise BackendError(f"backend physics: bad option: {exc}") from None
        self._flat_cache: Optional[tuple] = None  # (key, transmission) for depth-free frames
        self._prepared: Optional[tuple] = None    # (key, PreparedHaze) for depth-free frames

    def _transmission(self, shape: Tuple[int, int], haze: HazeParams,
                      conditions: Optional[FrameConditions]) -> Tuple[np.ndarray, str]:
        """Return t and the depth source label; depth-free t is cached per (size, geometry, β)."""
        if conditions is not None and conditions.depth_m is not None:
            return transmission_from_depth(conditions.depth_m, haze.beta_per_m), DEPTH_GIVEN
        key = (shape, self._geometry, haze.beta_per_m)
        cached = self._flat_cache
        if cached is None or cached[0] != key:
            depth = flat_road_depth(shape[0], shape[1], self._geometry)
            cached = (key, transmission_from_depth(depth, haze.beta_per_m))
            self._flat_cache = cached
        return cached[1], FLAT_ROAD

    def depth_source(self, conditions: Optional[FrameConditions]) -> str:
        """Label of the depth this backend uses for a frame with ``conditions``."""
        has_depth = conditions is not None and conditions.depth_m is not None
        return DEPTH_GIVEN if has_depth else FLAT_ROAD

    def process_frame(self, rgb: np.ndarray, conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """Hazy ``(H, W, 3)`` frame (same dtype) from a clear one by eq. (1).

        ``conditions.haze`` gives β [1/m] and A; ``conditions.depth_m`` the ``(H, W)`` depth in metres
        (else the flat-road approximation). Sets ``conditions.extras["depth_source"]``.
        """
        haze = frame_haze(conditions, self._default_haze, "physics")
        frame, bgr = _native_order(rgb)
        t, source = self._transmission(frame.shape[:2], haze, conditions)
        if conditions is not None:
            conditions.extras["depth_source"] = source
        airlight = haze.airlight[::-1] if bgr else haze.airlight
        prepared = self._prepared_haze(t, airlight, frame) if source == FLAT_ROAD else None
        if prepared is not None:
            hazy = prepared.apply(frame)
        else:
            hazy = synthesize_haze(frame, airlight=airlight, transmission=t)
        return hazy[..., ::-1] if bgr else hazy

    def _prepared_haze(self, t: np.ndarray, airlight, frame: np.ndarray) -> Optional[PreparedHaze]:
        """The :class:`PreparedHaze` of a depth-free frame's haze (kept while β, A and the frame match).

        Every depth-free frame takes this path, whatever came before it, so the output does not
        depend on the frame order or on how frames are spread over workers. Constant haze pays the
        set-up once; haze that changes every frame rebuilds it (about the cost of one blend).
        """
        if frame.dtype not in (np.uint8, np.uint16, np.float32):
            return None
        key = (self._flat_cache[0], tuple(airlight), frame.dtype.str)
        if self._prepared is None or self._prepared[1].dtype != frame.dtype:
            self._prepared = (key, PreparedHaze(t, airlight, frame.dtype))
        elif self._prepared[0] != key:
            self._prepared[1].update(t, airlight)
            self._prepared = (key, self._prepared[1])
        return self._prepared[1]

    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """``(B, 3, H, W)`` float32 [0, 1] clear → hazy, same shape (same haze and depth for each item)."""
        frames = _batch_frames(batch)
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            hazy = self.process_frame(np.ascontiguousarray(frame.transpose(1, 2, 0)), conditions)
            out[i] = hazy.transpose(2, 0, 1)
        return out

    def tunables(self) -> dict:
        """Depth-free geometry: camera_height_m, focal_px, horizon_row, hfov_deg, max_depth_m."""
        return {k: getattr(self._geometry, k) for k in _GEOMETRY_KEYS}

    def configure(self, **values) -> None:
        """Change the depth-free geometry atomically; ``ValueError`` names an unknown or bad value."""
        unknown = sorted(set(values) - set(_GEOMETRY_KEYS))
        if unknown:
            raise ValueError(f"backend physics has no tunable {unknown}; tunables: {list(_GEOMETRY_KEYS)}")
        for key in ("camera_height_m", "hfov_deg", "max_depth_m"):
            if key in values and values[key] is None:
                raise ValueError(f"{key} cannot be None")
        self._geometry = dataclasses.replace(self._geometry, **values)  # validates in __post_init__

    def describe(self) -> dict:
        """Describe the backend, its depth-free geometry and its default haze."""
        info = super().describe()
        info.update({"depth_free": FLAT_ROAD, **self.tunables()})
        if self._default_haze is not None:
            info["default_visibility_m"] = self._default_haze.visibility_m
        return info


class DarkChannelBackend(Backend):
    """He et al.'s dark channel prior dehazing with guided-filter refinement."""

    name = "dcp"

    def __init__(self, spec) -> None:
        _require_direction(spec, Direction.DEHAZE, self.name)
        super().__init__(Direction.DEHAZE)
        options = _split_options(dict(spec.options or {}), _DCP_KEYS, self.name)
        try:
            self._params = dcp.DarkChannelParams(**options)
        except (TypeError, ValueError) as exc:
            raise BackendError(f"backend dcp: bad option: {exc}") from None

    @property
    def params(self) -> dcp.DarkChannelParams:
        """Return the current DCP parameters (immutable; replaced as a whole by ``configure``)."""
        return self._params

    def process_frame(self, rgb: np.ndarray, conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """Dehazed ``(H, W, 3)`` frame, same dtype as ``rgb`` (uint8 / uint16)."""
        frame, bgr = _native_order(rgb)
        clear, _, _ = dcp.dehaze(frame, self._params, channel_order="bgr" if bgr else "rgb")
        return clear[..., ::-1] if bgr else clear

    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """``(B, 3, H, W)`` float32 [0, 1] hazy → dehazed, same shape, clipped to [0, 1]."""
        frames = _batch_frames(batch)
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            clear, _, _ = dcp.dehaze(np.ascontiguousarray(frame.transpose(1, 2, 0)), self._params)
            out[i] = np.clip(clear, 0.0, 1.0).transpose(2, 0, 1)
        return out

    def tunables(self) -> dict:
        """omega, t0, patch, radius, eps, guided_subsample, airlight_fraction."""
        return dataclasses.asdict(self._params)

    def configure(self, **values) -> None:
        """Change DCP knobs atomically; ``ValueError`` names an unknown name or an out-of-range value."""
        unknown = sorted(set(values) - set(_DCP_KEYS))
        if unknown:
            raise ValueError(f"backend dcp has no tunable {unknown}; tunables: {list(_DCP_KEYS)}")
        for key in ("patch", "radius", "guided_subsample"):
            value = values.get(key)
            if isinstance(value, float) and value.is_integer():
                values[key] = int(value)
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"DCP parameter {key}={value!r} must be a finite number")
        self._params = dataclasses.replace(self._params, **values)  # validates in __post_init__

    def describe(self) -> dict:
        """Describe the backend and its DCP parameters."""
        info = super().describe()
        info.update(self.tunables())
        return info


class IdentityBackend(Backend):
    """Returns every frame unchanged: measures the pipeline's own overhead (benchmarks, tests)."""

    name = "identity"

    def __init__(self, spec=None, direction: Direction = Direction.DEHAZE) -> None:
        super().__init__(Direction(spec.direction) if spec is not None else direction)

    def process_frame(self, rgb: np.ndarray, conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """Return the input view itself (no copy)."""
        return rgb

    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """Return the input batch itself."""
        return batch
