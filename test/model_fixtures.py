"""Helpers for the deployment tests: small checkpoints with seeded random weights, sample frames."""

from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def write_random_checkpoint(stem: Path, preset: str = "edge", seed: int = 0) -> Path:
    """Write ``stem.safetensors`` + ``stem.json`` (seeded random ``preset`` weights).

    Returns the ``.safetensors`` path.
    """
    import torch

    from haze_ros.networks.config import preset_config
    from haze_ros.networks.translator import build_vae
    from haze_ros.training.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    config = preset_config(preset)
    vae = build_vae(config)
    save_checkpoint(Path(stem), {"vae." + k: v for k, v in vae.state_dict().items()}, config, step=0,
                    metrics={}, training={"seed": seed, "note": "random weights for tests"})
    return Path(stem).with_suffix(".safetensors")


def sample_frame(index: int = 0) -> np.ndarray:
    """A real (540, 960, 3) uint8 RGB frame from data/samples/udacity_solidWhiteRight."""
    import cv2

    files = sorted((SAMPLES / "udacity_solidWhiteRight").glob("*.jpg"))
    assert files, f"no sample frames in {SAMPLES}"
    image = cv2.imread(str(files[index % len(files)]), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(image[:, :, ::-1])
