"""FrameProcessor: the one pipeline shared by the node, the bag tool and the benchmarks.

pre-process (encoding → RGB view, validation) → backend (``Backend.process_frame``) →
post-process (RGB → input encoding, alpha carried over). What runs is fixed at construction:
there is no per-frame branching on mode or backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from haze_ros.core import layout
from haze_ros.core.backend import Backend
from haze_ros.core.types import FrameConditions


class FrameRejected(ValueError):
    """A frame that cannot be processed. ``reason`` is a short, stable key for drop counters."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ProcessorConfig:
    """Limits applied before a frame reaches the backend.

    Attributes:
        max_pixels: frames with more than H·W pixels are rejected (reason ``too_large``).
    """

    max_pixels: int = 4096 * 3072


@dataclass
class ProcessedFrame:
    """Output of ``FrameProcessor.process``.

    Attributes:
        image: array in the input's encoding and shape (``(H, W)`` / ``(H, W, C)``), C-contiguous.
        backend_ms: wall time spent in the backend, milliseconds.
        total_ms: wall time of the whole call, milliseconds.
    """

    image: np.ndarray
    backend_ms: float
    total_ms: float


class FrameProcessor:
    """Run one backend over frames of any supported encoding."""

    def __init__(self, backend: Backend, config: Optional[ProcessorConfig] = None) -> None:
        self.backend = backend
        self.config = config or ProcessorConfig()

    def check(self, image: np.ndarray, encoding: str, conditions: Optional[FrameConditions]) -> None:
        """Raise ``FrameRejected`` (with a reason key) for frames the backend must not see."""
        try:
            layout.encoding_info(encoding)
        except layout.UnsupportedEncoding as exc:
            raise FrameRejected("bad_encoding", str(exc)) from None
        h, w = image.shape[:2]
        if h == 0 or w == 0:
            raise FrameRejected("empty", f"frame has zero size ({w}x{h})")
        if h * w > self.config.max_pixels:
            raise FrameRejected("too_large", f"frame {w}x{h} exceeds max_pixels={self.config.max_pixels}")
        if conditions is not None and conditions.depth_m is not None:
            if conditions.depth_m.shape[:2] != (h, w):
                raise FrameRejected(
                    "depth_size", f"depth {conditions.depth_m.shape[1]}x{conditions.depth_m.shape[0]} "
                    f"does not match image {w}x{h}")

    def process(self, image: np.ndarray, encoding: str,
                conditions: Optional[FrameConditions] = None) -> ProcessedFrame:
        """Process one frame given as an array in ``encoding`` (see ``core.layout``).

        Raises ``FrameRejected`` for bad input; any other exception is a backend failure.
        """
        t0 = time.perf_counter()
        self.check(image, encoding, conditions)
        try:
            rgb = layout.to_rgb(image, encoding)
        except ValueError as exc:
            raise FrameRejected("bad_layout", str(exc)) from None
        t1 = time.perf_counter()
        out_rgb = self.backend.process_frame(rgb, conditions)
        t2 = time.perf_counter()
        out = layout.from_rgb(out_rgb, encoding, image)
        t3 = time.perf_counter()
        return ProcessedFrame(image=out, backend_ms=(t2 - t1) * 1e3, total_ms=(t3 - t0) * 1e3)
