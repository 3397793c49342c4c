"""Multi-scale PatchGAN discriminators D_I (hazy) and D_J (clear), as UNIT's ``MsImageDis``.

The paper names D_I, D_J without an architecture; UNIT's is used: at each of ``num_scales`` scales a
stack of ``n_layers`` 4×4 stride-2 convolutions with LeakyReLU(0.2) (no normalisation) and a 1×1
convolution to one logit per patch; the input is average-pooled (3×3, stride 2) between scales.
The outputs are raw logits, usable with the BCE loss of eqs. (2)–(3) or with LSGAN.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from haze_ros.networks.blocks import ConvNormAct
from haze_ros.networks.config import DiscriminatorConfig


class PatchDiscriminator(nn.Module):
    """One PatchGAN: ``(B, 3, H, W)`` in [−1, 1] → logits ``(B, 1, ~H/2^n, ~W/2^n)``."""

    def __init__(self, cfg: DiscriminatorConfig, padding: str = "reflect") -> None:
        super().__init__()
        width = cfg.channels
        layers = [ConvNormAct(3, width, 4, 2, padding=padding, norm=False, act="lrelu")]
        for _ in range(cfg.n_layers - 1):
            layers.append(ConvNormAct(width, width * 2, 4, 2, padding=padding, norm=False, act="lrelu"))
            width *= 2
        layers.append(nn.Conv2d(width, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits (one per receptive field), unbounded."""
        return self.layers(x)


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on the image and its ×2, ×4 ... average-pooled versions.

    ``forward`` returns a list of logit maps, one per scale, finest first.
    """

    def __init__(self, cfg: DiscriminatorConfig, padding: str = "reflect") -> None:
        super().__init__()
        self.scales = nn.ModuleList([PatchDiscriminator(cfg, padding) for _ in range(cfg.num_scales)])
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """List of ``(B, 1, h_s, w_s)`` logit maps; input ``(B, 3, H, W)`` in [−1, 1], H, W ≥ 2^n_layers."""
        outputs = []
        for index, scale in enumerate(self.scales):
            if index:
                x = self.downsample(x)
            outputs.append(scale(x))
        return outputs
