"""The on-device frame path shared by the GPU backends (PyTorch CUDA, TensorRT).

One host→device copy from pinned memory, then normalise, pad, infer, unpad, clamp and quantise on
the GPU, then one device→host copy into pinned memory: no host round trips between stages. Torch
owns the CUDA context, the stream and all device memory (so no pycuda). ``torch`` is imported by
the caller's backend; this module is only imported by GPU backends.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np


def pad_to_multiple(batch, multiple: int):
    """Pad a ``(B, C, H, W)`` tensor at the bottom/right to multiples of ``multiple``.

    Reflect padding; replicate where the frame is too small to reflect. Returns the padded tensor.
    """
    import torch.nn.functional as functional

    h, w = batch.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not (pad_h or pad_w):
        return batch
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return functional.pad(batch, (0, pad_w, 0, pad_h), mode=mode)


def frame_to_batch(frame, wide: bool):
    """``(H, W, 3)`` uint8 tensor → ``(1, 3, H, W)`` float32 in [0, 1], on the frame's device.

    With ``wide`` the tensor is int16 holding uint16 bit patterns (0..65535).
    """
    import torch

    if wide:  # int16 bit pattern → 0..65535
        frame = frame.to(torch.int32) & 0xFFFF
    scale = 65535.0 if wide else 255.0
    return frame.permute(2, 0, 1).unsqueeze(0).float().mul_(1.0 / scale)


def batch_to_frame(out, height: int, width: int, wide: bool):
    """``(1, 3, H', W')`` float [0, 1] → ``(height, width, 3)`` uint8 (int16 bits of uint16 if ``wide``).

    Crops to ``height`` × ``width``, clamps, scales and rounds half up, on the tensor's device.
    """
    import torch

    scale = 65535.0 if wide else 255.0
    out = out[..., :height, :width].float().clamp(0.0, 1.0).mul_(scale).add_(0.5)
    out = out[0].permute(1, 2, 0)
    return out.to(torch.int32).to(torch.int16) if wide else out.to(torch.uint8)


class CudaFramePath:
    """``(H, W, 3)`` uint8/uint16 RGB numpy frame → same, with every stage on ``device``.

    Args:
        device: a ``torch.device`` (CUDA).
        stream: the ``torch.cuda.Stream`` all work is queued on.
        infer: ``(1, 3, H', W')`` float32 [0, 1] CUDA tensor → same shape (H', W' multiples of
            ``size_multiple``); called inside ``torch.cuda.stream(stream)``.
        size_multiple: padding multiple applied before ``infer``.
    """

    def __init__(self, device, stream, infer: Callable, size_multiple: int = 1) -> None:
        self.device = device
        self.stream = stream
        self.infer = infer
        self.size_multiple = max(1, int(size_multiple))
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
            out = self.infer(pad_to_multiple(batch, self.size_multiple), *inputs)
            host_out.copy_(batch_to_frame(out, h, w, wide), non_blocking=True)
        self.stream.synchronize()
        result = host_out.numpy().copy()
        return result.view(np.uint16) if wide else result
