"""Convolutional building blocks (UNIT style): padded conv + instance norm + activation, residual blocks.

All blocks keep the spatial size except the explicit stride-2 down/up-sampling blocks. Padding is an
explicit ``nn.ReflectionPad2d`` / ``nn.ZeroPad2d`` in front of an unpadded convolution, which exports to
ONNX as ``Pad(mode=reflect)`` + ``Conv`` and to TensorRT without plugins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_pad(amount: int, mode: str) -> nn.Module:
    """Make a padding layer of ``amount`` pixels on each side (``reflect`` or ``zeros``); identity for 0."""
    if amount == 0:
        return nn.Identity()
    return nn.ReflectionPad2d(amount) if mode == "reflect" else nn.ZeroPad2d(amount)


class ConvNormAct(nn.Sequential):
    """pad → conv(k, stride) → InstanceNorm (optional) → ReLU / LeakyReLU(0.2) / tanh / none.

    Input ``(B, C_in, H, W)``; output ``(B, C_out, H / stride, W / stride)`` for H, W multiples of
    ``stride`` (kernel 3 or 4 with padding 1, odd kernel k with padding k // 2).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, padding: str = "reflect",
                 norm: bool = True, act: str = "relu", eps: float = 1e-5) -> None:
        pad = 1 if kernel in (3, 4) and stride == 2 else kernel // 2
        layers = [make_pad(pad, padding), nn.Conv2d(c_in, c_out, kernel, stride, bias=True)]
        if norm:
            layers.append(nn.InstanceNorm2d(c_out, eps=eps, affine=False))
        layers.append(_activation(act))
        super().__init__(*layers)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")


class ResBlock(nn.Module):
    """UNIT residual block: x + IN(conv3(ReLU(IN(conv3(x))))); ``(B, C, H, W)`` → same shape."""

    def __init__(self, channels: int, *, padding: str = "reflect", eps: float = 1e-5,
                 norm: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3, padding=padding, act="relu", eps=eps, norm=norm),
            ConvNormAct(channels, channels, 3, padding=padding, act="none", eps=eps, norm=norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update; shape preserved."""
        return x + self.body(x)


class UpBlock(nn.Module):
    """×2 up-sampling halving the channels (``mode``: ``nearest_conv``, ``transpose``, ``bilinear_conv``).

    ``nearest_conv``: nearest + 5×5 conv (UNIT); ``transpose``: a 4×4 stride-2 transposed conv;
    ``bilinear_conv``: bilinear + 3×3 conv (a resize-convolution).

    A transposed convolution weights even and odd output rows with different kernel taps, so it can
    draw a pattern of period 2 even from a constant input (Odena et al. 2016, "Deconvolution and
    checkerboard artifacts"); in the physics model's depth head it did, down the rows of real road
    frames. ``bilinear_conv`` (a resize-convolution) maps a constant input to a constant output away
    from the borders.

    Input ``(B, C_in, H, W)`` → ``(B, C_out, 2H, 2W)``, followed by InstanceNorm (unless ``norm`` is
    false) and ReLU.
    """

    def __init__(self, c_in: int, c_out: int, mode: str, *, padding: str = "reflect",
                 eps: float = 1e-5, norm: bool = True) -> None:
        super().__init__()
        if mode == "nearest_conv":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                    make_pad(2, padding), nn.Conv2d(c_in, c_out, 5, 1))
        elif mode == "transpose":
            self.up = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        elif mode == "bilinear_conv":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    make_pad(1, padding), nn.Conv2d(c_in, c_out, 3, 1))
        else:
            raise ValueError(f"unknown upsample mode {mode!r}")
        post = [nn.InstanceNorm2d(c_out, eps=eps, affine=False)] if norm else []
        self.post = nn.Sequential(*post, nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Up-sample ×2; shape ``(B, C_out, 2H, 2W)``."""
        return self.post(self.up(x))


class BinomialLowPass(nn.Module):
    """Fixed 3×3 binomial filter ([1, 2, 1]ᵀ[1, 2, 1]/16) per channel, replicate-padded; no weights.

    Its response at the Nyquist frequency is zero, so a pattern alternating from one pixel to the
    next (the period-2 output of a transposed convolution) is removed, while a smooth map is barely
    changed (a linear ramp passes unchanged). ``(B, C, H, W)`` → the same shape.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0]) / 4.0
        kernel = (taps[:, None] * taps[None, :]).expand(channels, 1, 3, 3).contiguous()
        self.register_buffer("kernel", kernel, persistent=False)  # not in checkpoints
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Low-passed ``x``; shape preserved."""
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.kernel, groups=self.channels)
