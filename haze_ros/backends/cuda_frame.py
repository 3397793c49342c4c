"""The on-device frame path shared by the GPU backends (PyTorch CUDA, TensorRT).

One host→device copy from pinned memory, then normalise, infer, clamp and quantise on the GPU, then
one device→host copy into pinned memory: no host round trips between stages. The stages are the
device twins of ``haze_ros.core.stages`` (same formulas; no padding either: the graphs pad
themselves). Torch owns the CUDA context, the stream and all device memory (so no pycuda);
``torch`` is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np


def frame_to_batch(frame, wide: bool):
    """``(H, W, 3)`` uint8 tensor → ``(1, 3, H, W)`` float32 in [0, 1], on the frame's device.

    x / full scale (``core.stages.to_unit_float`` on the device). With ``wide`` the tensor is int16
    holding uint16 bit patterns (0..65535).
    """
    import torch

    if wide:  # int16 bit pattern → 0..65535
        frame = frame.to(torch.int32) & 0xFFFF
    scale = 65535.0 if wide else 255.0
    return frame.permute(2, 0, 1).unsqueeze(0).float().div_(scale)


def batch_to_frame(out, height: int, width: int, wide: bool):
    """``(1, 3, height, width)`` float [0, 1] → ``(height, width, 3)`` uint8 (``wide``: uint16 bits in int16).

    Clamps, scales and rounds half up (``core.stages.quantise`` on the device); ``ValueError`` for
    an output of another size.
    """
    import torch

    if tuple(out.shape) != (1, 3, height, width):
        raise ValueError(f"the graph returned {tuple(out.shape)} for a {height}x{width} frame")
    scale = 65535.0 if wide else 255.0
    out = out.float().clamp(0.0, 1.0).mul_(scale).add_(0.5)
    out = out[0].permute(1, 2, 0)
    return out.to(torch.int32).to(torch.int16) if wide else out.to(torch.uint8)


class CudaFramePath:
    """``(H, W, 3)`` uint8/uint16 RGB numpy frame → same, with every stage on ``device``.

    Args:
        device: a ``torch.device`` (CUDA).
        stream: the ``torch.cuda.Stream`` all work is queued on.
        infer: ``(1, 3, H, W)`` float32 [0, 1] CUDA tensor (+ ``inputs``) → same shape, any H and W;
            called inside ``torch.cuda.stream(stream)``.
    """

    def __init__(self, device, stream, infer: Callable) -> None:
        self.device = device
        self.stream = stream
        self.infer = infer
        self._pinned: Dict[Tuple, object] = {}

    def _host_buffers(self, shape, dtype):
        import torch

        key = (tuple(shape), np.dtype(dtype).str)
        if key not in self._pinned:
            torch_dtype = torch.uint8 if np.dtype(dtype) == np.uint8 else torch.int16
            self._pinned = {key: (torch.empty(shape, dtype=torch_dtype, pin_memory=True),
                                  torch.empty(shape, dtype=torch_dtype, pin_memory=True))}
        return self._pinned[key]

    def __call__(self, rgb: np.ndarray, *inputs) -> np.ndarray:
        """Process one frame; returns a new array (the pinned buffers are reused across calls).

        ``inputs``: extra tensors passed to ``infer`` after the batch (the haze graph's visibility
        and airlight, already on the device).
        """
        import torch

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"expected an (H, W, 3) uint8/uint16 frame, got {rgb.shape} {rgb.dtype}")
        host_in, host_out = self._host_buffers(rgb.shape, rgb.dtype)
        wide = rgb.dtype == np.uint16
        # A BGR message arrives as a channel-reversed view: copy its contiguous base and reverse the
        # channels on the GPU (a reversed-stride host copy of a 1080p frame costs milliseconds).
        reversed_channels = rgb.strides[2] < 0
        source = rgb[..., ::-1] if reversed_channels else rgb
        np.copyto(host_in.numpy(), source.view(np.int16) if wide else source)
        h, w = rgb.shape[:2]
        with torch.cuda.stream(self.stream):
            frame = host_in.to(self.device, non_blocking=True)
            if reversed_channels:
                frame = frame.flip(2)
            batch = frame_to_batch(frame, wide)
            out = self.infer(batch, *inputs)
            host_out.copy_(batch_to_frame(out, h, w, wide), non_blocking=True)
        self.stream.synchronize()
        result = host_out.numpy().copy()
        return result.view(np.uint16) if wide else result
