"""Image layout helpers: ROS encodings ↔ ``(H, W, 3)`` RGB views, without per-pixel Python loops.

Encodings are the ROS ``sensor_msgs/image_encodings`` strings; this module needs no ROS.
``to_rgb`` returns a *view* wherever one will do (bgr → reversed channel view, rgba → first three
channels, mono → broadcast view); ``from_rgb`` builds the output in the input's encoding, carrying
alpha over unchanged and reducing RGB to mono with ITU-R BT.601 luma weights.
"""

from __future__ import annotations

from typing import Dict, Tuple

import cv2
import numpy as np

# encoding -> (channels, numpy dtype, channel order of the colour channels or "mono")
ENCODINGS: Dict[str, Tuple[int, np.dtype, str]] = {
    "rgb8": (3, np.dtype(np.uint8), "rgb"),
    "bgr8": (3, np.dtype(np.uint8), "bgr"),
    "rgba8": (4, np.dtype(np.uint8), "rgb"),
    "bgra8": (4, np.dtype(np.uint8), "bgr"),
    "mono8": (1, np.dtype(np.uint8), "mono"),
    "8UC1": (1, np.dtype(np.uint8), "mono"),
    "8UC3": (3, np.dtype(np.uint8), "bgr"),
    "rgb16": (3, np.dtype(np.uint16), "rgb"),
    "bgr16": (3, np.dtype(np.uint16), "bgr"),
    "rgba16": (4, np.dtype(np.uint16), "rgb"),
    "bgra16": (4, np.dtype(np.uint16), "bgr"),
    "mono16": (1, np.dtype(np.uint16), "mono"),
    "16UC1": (1, np.dtype(np.uint16), "mono"),
    "16UC3": (3, np.dtype(np.uint16), "bgr"),
}

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class UnsupportedEncoding(ValueError):
    """The image encoding is not one of ``ENCODINGS``."""


def encoding_info(encoding: str) -> Tuple[int, np.dtype, str]:
    """(channels, dtype, order) for a colour encoding; raises ``UnsupportedEncoding`` otherwise."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise UnsupportedEncoding(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(sorted(ENCODINGS))}"
        ) from None


def to_rgb(image: np.ndarray, encoding: str) -> np.ndarray:
    """View an ``(H, W, C)`` (or ``(H, W)`` for mono) array of ``encoding`` as ``(H, W, 3)`` RGB.

    No copy is made: the result may be non-contiguous or read-only (mono is a broadcast view).
    """
    channels, dtype, order = encoding_info(encoding)
    if image.dtype != dtype:
        raise ValueError(f"encoding {encoding} needs dtype {dtype}, got {image.dtype}")
    if order == "mono":
        plane = image if image.ndim == 2 else image[..., 0]
        return np.broadcast_to(plane[..., None], plane.shape + (3,))
    if image.ndim != 3 or image.shape[2] != channels:
        raise ValueError(f"encoding {encoding} needs (H, W, {channels}), got {image.shape}")
    rgb = image[..., :3]
    return rgb[..., ::-1] if order == "bgr" else rgb


def from_rgb(rgb: np.ndarray, encoding: str, original: np.ndarray) -> np.ndarray:
    """Return ``rgb`` (``(H, W, 3)``, dtype of ``encoding``) laid out as ``encoding``.

    ``original`` is the input frame; its alpha channel (rgba/bgra) is carried over unchanged.
    Mono output is BT.601 luma of the RGB result, rounded. A C-contiguous ``rgb`` is reordered with
    OpenCV (exact, much faster than a reversed-stride numpy copy); the result is C-contiguous.
    """
    channels, dtype, order = encoding_info(encoding)
    if order == "mono":
        luma = rgb.astype(np.float32) @ _LUMA + np.float32(0.5)
        out = luma.astype(dtype)
        return out if original.ndim == 2 else out[..., None]
    if rgb.flags.c_contiguous and rgb.dtype == dtype:
        # OpenCV's SIMD channel shuffles: same bytes as the numpy path below, many times faster
        # (a reversed-stride numpy copy of a 1080p frame costs milliseconds).
        if channels == 3:
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if order == "bgr" else rgb
        out = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA if order == "bgr" else cv2.COLOR_RGB2RGBA)
        cv2.mixChannels([original], [out], [3, 3])  # alpha carried over unchanged
        return out
    colour = rgb[..., ::-1] if order == "bgr" else rgb
    if channels == 3:
        return np.ascontiguousarray(colour)
    out = np.empty(rgb.shape[:2] + (4,), dtype)
    out[..., :3] = colour
    out[..., 3] = original[..., 3]
    return out
