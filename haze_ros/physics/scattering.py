"""The atmospheric scattering model, eq. (1) of the paper: I = J·t + A·(1 − t), t = exp(−β·d).

Symbols: J clear scene radiance, I hazy image, A atmospheric light (airlight, per channel, in
[0, 1] of the image's full scale), t transmission in [0, 1], β scattering coefficient [1/m],
d scene depth [m]. β and visibility V [m] convert by ``haze_ros.core.types.visibility_to_beta`` /
``beta_to_visibility`` (β = 3/V, 5 % contrast threshold).

All functions are vectorised (OpenCV / numpy, no per-pixel Python) and accept images as
``(H, W, 3)`` ``uint8`` / ``uint16`` (full scale 255 / 65535) or ``float32`` / ``float64`` in [0, 1];
they return the input's dtype. Integer outputs are rounded to nearest and saturated.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from haze_ros.core.stages import full_scale
from haze_ros.core.types import beta_to_visibility, visibility_to_beta  # noqa: F401 (re-export)

AirlightLike = Union[float, Sequence[float]]

_CV_DEPTH = {np.dtype(np.uint8): cv2.CV_8U, np.dtype(np.uint16): cv2.CV_16U,
             np.dtype(np.float32): cv2.CV_32F}


def as_airlight(airlight: AirlightLike) -> Tuple[float, float, float]:
    """Normalise A to an (R, G, B) tuple of floats in [0, 1]; a scalar means grey airlight."""
    values = (float(airlight),) * 3 if np.isscalar(airlight) else tuple(float(a) for a in airlight)
    if len(values) != 3 or not all(0.0 <= a <= 1.0 for a in values):
        raise ValueError(f"airlight must be one value or three values in [0, 1], got {airlight!r}")
    return values


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB image, got shape {image.shape}")
    full_scale(image.dtype)
    return np.ascontiguousarray(image)


def _check_plane(plane: np.ndarray, shape: Tuple[int, int], name: str) -> np.ndarray:
    if plane.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (image H, W), got {plane.shape}")
    return np.ascontiguousarray(plane, dtype=np.float32)


def transmission_from_depth(depth_m: np.ndarray, beta_per_m: float) -> np.ndarray:
    """Transmission t = exp(−β·d) of eq. (1).

    Args:
        depth_m: ``(H, W)`` depth in metres, ≥ 0; ``inf`` and ``NaN`` mean far (t = 0).
        beta_per_m: scattering coefficient β in 1/m, finite and ≥ 0.

    Returns:
        ``(H, W)`` float32 transmission in [0, 1].
    """
    beta_to_visibility(beta_per_m)  # validates β
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    if beta_per_m == 0.0:
        return np.ones(depth.shape, np.float32)
    t = cv2.exp(depth * np.float32(-beta_per_m))
    cv2.patchNaNs(t, 0.0)  # NaN depth: unknown → far
    cv2.threshold(t, 1.0, 1.0, cv2.THRESH_TRUNC, dst=t)  # negative depth would give t > 1
    return t


@functools.lru_cache(maxsize=4)
def _constant_image(height: int, width: int, value: Tuple[int, int, int]) -> np.ndarray:
    """Read-only (H, W, 3) uint8 image filled with ``value`` (cached: reused across frames)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = value
    image.setflags(write=False)
    return image


def _integral_airlight_u8(airlight: Tuple[float, float, float]) -> Optional[Tuple[int, int, int]]:
    """A·255 as integers when every channel lies on the 8-bit grid (exact fast path), else None."""
    scaled = [a * 255.0 for a in airlight]
    rounded = [int(round(s)) for s in scaled]
    return tuple(rounded) if all(abs(s - r) < 1e-6 for s, r in zip(scaled, rounded)) else None


def _blend_float(image: np.ndarray, weight: np.ndarray, airlight: Tuple[float, float, float],
                 out_dtype: np.dtype) -> np.ndarray:
    """(image − A·s)·weight + A·s in float32, cast to ``out_dtype`` (s = full scale). Weight (H, W)."""
    scale = full_scale(out_dtype)
    offset = tuple(a * scale for a in airlight) + (0.0,)
    if image.shape[0] * image.shape[1] == 1:  # cv2's bindings would read 1×1×3 arrays as scalars
        a = np.asarray(offset[:3], np.float64)
        value = (image.astype(np.float64) - a) * weight[..., None] + a
        if np.dtype(out_dtype).kind == "f":
            return value.astype(out_dtype)
        return np.clip(np.rint(value), 0, scale).astype(out_dtype)
    weight3 = cv2.merge((weight, weight, weight))
    diff = cv2.subtract(image, offset, dtype=cv2.CV_32F)
    cv2.multiply(diff, weight3, dst=diff)
    if out_dtype == np.float64:
        return (diff + np.asarray(offset[:3], np.float32)).astype(np.float64)
    return cv2.add(diff, offset, dtype=_CV_DEPTH[np.dtype(out_dtype)])


def synthesize_haze(clear: np.ndarray, depth_m: Optional[np.ndarray] = None,
                    beta_per_m: Optional[float] = None, airlight: AirlightLike = 1.0,
                    transmission: Optional[np.ndarray] = None) -> np.ndarray:
    """Hazy image by eq. (1): I = J·t + A·(1 − t), with t = exp(−β·d) or a given t.

    Args:
        clear: J, ``(H, W, 3)`` RGB, uint8 / uint16 / float in [0, 1].
        depth_m: ``(H, W)`` depth d in metres (``inf`` / ``NaN`` = far); used with ``beta_per_m``.
        beta_per_m: β in 1/m (see ``visibility_to_beta`` for a visibility in metres).
        airlight: A, one value or (R, G, B), each in [0, 1] of full scale.
        transmission: ``(H, W)`` t in [0, 1], instead of depth and β.

    Returns:
        I, same shape and dtype as ``clear`` (integers rounded to nearest).
    """
    clear = _check_image(clear, "clear image")
    a = as_airlight(airlight)
    if transmission is None:
        if depth_m is None or beta_per_m is None:
            raise ValueError("give either depth_m and beta_per_m, or transmission")
        t = transmission_from_depth(_check_plane(depth_m, clear.shape[:2], "depth_m"), beta_per_m)
    else:
        t = _check_plane(transmission, clear.shape[:2], "transmission")
    a_u8 = _integral_airlight_u8(a) if clear.dtype == np.uint8 else None
    if a_u8 is not None:
        # One fused multithreaded pass: (t·J + (1 − t)·A) / (t + (1 − t)), exact up to rounding.
        airlight_image = _constant_image(clear.shape[0], clear.shape[1], a_u8)
        return cv2.blendLinear(clear, airlight_image, t, cv2.subtract(1.0, t))
    return _blend_float(clear, t, a, clear.dtype)


class PreparedHaze:
    """Eq. (1) for many frames under the same t and A: I = J·t + A·(1 − t), set-up done once.

    For a fixed transmission (e.g. the depth-free flat-road t at a constant visibility) the per-frame
    set-up of :func:`synthesize_haze` is done once and kept:

    * ``uint8`` frames with A on the 8-bit grid: t, 1 − t and the airlight image are kept and each
      frame is the same fused ``cv2.blendLinear`` pass as :func:`synthesize_haze` (identical output);
    * other A, ``uint16`` and ``float32`` frames: the per-channel t and the airlight term
      A·s·(1 − t) (s = full scale) are kept in float32, and a frame costs one multiply and one add
      (OpenCV, multithreaded) instead of the float path's subtract, multiply and add with per-frame
      set-up. Integer results are eq. (1) rounded to nearest.

    :meth:`update` refills the kept buffers in place for another t or A. Memory: about 11 bytes per
    pixel (blend) or 24 bytes per pixel (float32 planes: 50 MB at 1920×1080).

    Args:
        transmission: ``(H, W)`` t in [0, 1].
        airlight: A, one value or (R, G, B) in [0, 1].
        dtype: dtype of the frames to be hazed (uint8, uint16 or float32).
    """

    def __init__(self, transmission: np.ndarray, airlight: AirlightLike, dtype) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in _CV_DEPTH:
            raise ValueError(f"PreparedHaze supports uint8, uint16 and float32 frames, not {self.dtype}")
        self.shape: Tuple[int, ...] = ()
        self._planes: Tuple[np.ndarray, ...] = ()
        self._blend: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        self.update(transmission, airlight)

    def update(self, transmission: np.ndarray, airlight: AirlightLike) -> None:
        """Prepare for another t / A (same frame dtype), reusing the buffers when the size is unchanged."""
        t = np.ascontiguousarray(transmission, dtype=np.float32)
        if t.ndim != 2:
            raise ValueError(f"transmission must be (H, W), got shape {t.shape}")
        self.airlight = as_airlight(airlight)
        self.shape = t.shape + (3,)
        a_u8 = _integral_airlight_u8(self.airlight) if self.dtype == np.uint8 else None
        if a_u8 is not None and t.size > 1:
            self._blend = (t.copy(), cv2.subtract(1.0, t), _constant_image(t.shape[0], t.shape[1], a_u8))
            return
        self._blend = None
        if not self._planes or self._planes[0].shape != self.shape:
            self._planes = (np.empty(self.shape, np.float32), np.empty(self.shape, np.float32))
        t3, offset = self._planes
        one_minus_t = np.float32(1.0) - t
        scale = full_scale(self.dtype)
        if t.size > 1:  # OpenCV, multithreaded, into the kept buffers (no fresh pages per update)
            cv2.merge((t, t, t), dst=t3)
            cv2.merge((one_minus_t, one_minus_t, one_minus_t), dst=offset)
            cv2.multiply(offset, tuple(a * scale for a in self.airlight) + (0.0,), dst=offset)
        else:  # cv2's bindings would read a 1×1 array as a scalar
            t3[...] = t[..., None]
            offset[...] = one_minus_t[..., None] * np.asarray(self.airlight, np.float32) * np.float32(scale)

    def apply(self, clear: np.ndarray) -> np.ndarray:
        """Hazy frame I from J: ``(H, W, 3)`` of the prepared shape and dtype → same shape and dtype."""
        clear = _check_image(clear, "clear image")
        if clear.shape != self.shape or clear.dtype != self.dtype:
            raise ValueError(f"frame {clear.shape} {clear.dtype} does not match the prepared "
                             f"{self.shape} {self.dtype}")
        if self._blend is not None:
            t, one_minus_t, airlight_image = self._blend
            return cv2.blendLinear(clear, airlight_image, t, one_minus_t)
        t3, offset = self._planes
        if clear.shape[0] * clear.shape[1] == 1:
            return _blend_float(clear, t3[..., 0], self.airlight, self.dtype)
        product = cv2.multiply(clear, t3, dtype=cv2.CV_32F)
        return cv2.add(product, offset, dtype=_CV_DEPTH[self.dtype])


def recover_radiance(hazy: np.ndarray, transmission: np.ndarray, airlight: AirlightLike,
                     t0: float = 0.1) -> np.ndarray:
    """Invert eq. (1) when t and A are known: J = (I − A) / max(t, t0) + A.

    Args:
        hazy: I, ``(H, W, 3)`` RGB, uint8 / uint16 / float in [0, 1].
        transmission: ``(H, W)`` t in [0, 1].
        airlight: A, one value or (R, G, B) in [0, 1].
        t0: lower bound on t (He et al. use 0.1), in (0, 1]; limits noise amplification where
            the haze is dense.

    Returns:
        J, same shape and dtype as ``hazy``; integer outputs are saturated to the full range,
        float outputs are not clipped.
    """
    if not 0.0 < t0 <= 1.0:
        raise ValueError(f"t0 must be in (0, 1], got {t0!r}")
    hazy = _check_image(hazy, "hazy image")
    t = _check_plane(transmission, hazy.shape[:2], "transmission")
    if t.size == 1:  # cv2's bindings would read a 1×1 array as a scalar
        inverse = (1.0 / np.maximum(t, np.float32(t0))).astype(np.float32)
    else:
        inverse = cv2.divide(1.0, cv2.max(t, float(t0)))
    a = as_airlight(airlight)
    a_u8 = _integral_airlight_u8(a) if hazy.dtype == np.uint8 else None
    if a_u8 is not None:
        # J = I·w + A·(1 − w) with w = 1/max(t, t0) ≥ 1: the same fused blend as the synthesis.
        airlight_image = _constant_image(hazy.shape[0], hazy.shape[1], a_u8)
        return cv2.blendLinear(hazy, airlight_image, inverse, cv2.subtract(1.0, inverse))
    return _blend_float(hazy, inverse, a, hazy.dtype)
