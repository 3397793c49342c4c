"""The package's [0, 1] images ↔ the networks' [−1, 1]: the only conversion, and its inverse."""

from __future__ import annotations

import torch


def to_network_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images → the networks' [−1, 1] (the package's only conversion, with its inverse)."""
    return x * 2.0 - 1.0


def from_network_range(y: torch.Tensor) -> torch.Tensor:
    """Convert the networks' [−1, 1] → [0, 1], clamped."""
    return torch.clamp((y + 1.0) * 0.5, 0.0, 1.0)
