"""Encoders E_I, E_J and generators G_I, G_J with UNIT's shared latent space (paper Sec. 3, Fig. 1).

Symbols of the paper → code: domain I = ``hazy``, domain J = ``clear``; E_I = ``encoder_hazy`` then
``encoder_shared``; E_J = ``encoder_clear`` then ``encoder_shared``; G_I = ``decoder_shared`` then
``decoder_hazy``; G_J = ``decoder_shared`` then ``decoder_clear``. The shared modules are single
``nn.Module`` instances used by both domains (the last encoder layers and the first generator
layers, as UNIT); the paper does not specify the split, so UNIT's (shared high-level residual
blocks) is used.

The posterior is q(z|x) = N(z | E_μ(x), I) (unit variance): the encoder outputs the mean map
μ of shape ``(B, latent_channels, H / m, W / m)`` with m = ``size_multiple``; training samples
z = μ + η with η ~ N(0, I) (reparameterisation trick, :meth:`SharedLatentVAE.sample_latent`);
inference uses z = μ. Images are in the networks' range [−1, 1] here; the conversion from the
package's [0, 1] happens only in :class:`haze_ros.networks.translator.OneDirectionTranslator`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from haze_ros.networks.blocks import ConvNormAct, ResBlock, UpBlock, make_pad
from haze_ros.networks.config import NetworkConfig

DOMAINS = ("hazy", "clear")


class DomainEncoder(nn.Module):
    """Private encoder layers of one domain: stem conv, ``n_downsample`` stride-2 convs, private res blocks.

    ``(B, 3, H, W)`` in [−1, 1], H and W multiples of ``size_multiple`` → ``(B, C_lat, H/m, W/m)``.
    The physics generator feeds ``(B, 4, H/s, W/s)`` (RGB pooled by s + its dark channel,
    :func:`haze_ros.networks.physics_model.encoder_input`).
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        eps, pad, widths, norm = cfg.norm_eps, cfg.padding, cfg.widths, cfg.norm == "instance"
        in_channels = 4 if cfg.is_physics else 3  # physics: RGB + dark channel (physics_model)
        if cfg.pixel_shuffle:  # first down-sampling by space-to-depth, stem conv at H/2
            layers = [nn.PixelUnshuffle(2), ConvNormAct(4 * in_channels, widths[1], cfg.stem_kernel,
                                                        padding=pad, eps=eps, norm=norm)]
            first = 1
        else:
            layers = [ConvNormAct(in_channels, widths[0], cfg.stem_kernel, padding=pad, eps=eps, norm=norm)]
            first = 0
        for level in range(first, cfg.n_downsample):
            layers.append(ConvNormAct(widths[level], widths[level + 1], cfg.down_kernel, 2,
                                      padding=pad, eps=eps, norm=norm))
        layers += [ResBlock(widths[-1], padding=pad, eps=eps, norm=norm) for _ in range(cfg.n_res_private)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of shape ``(B, latent_channels, H / m, W / m)``."""
        return self.layers(x)


class SharedResBlocks(nn.Module):
    """``n_res_shared`` residual blocks at the latent width; one instance serves both domains."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[ResBlock(cfg.latent_channels, padding=cfg.padding, eps=cfg.norm_eps,
                                               norm=cfg.norm == "instance")
                                      for _ in range(cfg.n_res_shared)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape preserved: ``(B, latent_channels, h, w)``."""
        return self.layers(x)


class DomainDecoder(nn.Module):
    """Private generator layers of one domain: private res blocks, ``n_downsample`` ×2 up-samplings, head.

    ``(B, C_lat, H/m, W/m)`` → ``(B, 3, H, W)`` in [−1, 1] (tanh).
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        eps, pad, widths = cfg.norm_eps, cfg.padding, cfg.widths
        layers = [ResBlock(widths[-1], padding=pad, eps=eps) for _ in range(cfg.n_res_private)]
        last = 1 if cfg.pixel_shuffle else 0
        for level in range(cfg.n_downsample, last, -1):
            layers.append(UpBlock(widths[level], widths[level - 1], cfg.upsample, padding=pad, eps=eps))
        head_out = 12 if cfg.pixel_shuffle else 3
        layers += [make_pad(cfg.stem_kernel // 2, pad), nn.Conv2d(widths[last], head_out, cfg.stem_kernel)]
        if cfg.pixel_shuffle:  # last up-sampling by depth-to-space
            layers.append(nn.PixelShuffle(2))
        layers.append(nn.Tanh())
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Image of shape ``(B, 3, H, W)`` in [−1, 1]."""
        return self.layers(z)


class SharedLatentVAE(nn.Module):
    """The two VAEs {E_I, G_I}, {E_J, G_J} with shared layers (the generator side of the model).

    Attributes ``encoder_hazy``, ``encoder_clear``, ``encoder_shared``, ``decoder_shared``,
    ``decoder_hazy``, ``decoder_clear``: see the module docstring for the mapping to E_I, E_J, G_I, G_J.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder_hazy = DomainEncoder(cfg)
        self.encoder_clear = DomainEncoder(cfg)
        self.encoder_shared = SharedResBlocks(cfg)
        self.decoder_shared = SharedResBlocks(cfg)
        self.decoder_hazy = DomainDecoder(cfg)
        self.decoder_clear = DomainDecoder(cfg)

    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Posterior mean E_μ(x): ``(B, 3, H, W)`` in [−1, 1] → ``(B, C_lat, H/m, W/m)``."""
        return self.encoder_shared(self._private(domain, "encoder")(x))

    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        """Generate G_domain(z): ``(B, C_lat, h, w)`` → ``(B, 3, h·m, w·m)`` in [−1, 1]."""
        return self._private(domain, "decoder")(self.decoder_shared(z))

    @staticmethod
    def sample_latent(mu: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Reparameterised sample z = μ + η, η ~ N(0, I) (unit-variance posterior; training only)."""
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + noise

    def _private(self, domain: str, part: str) -> nn.Module:
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        return getattr(self, f"{part}_{domain}")
