"""Shared helpers of the evaluation tests: a tiny randomly initialised checkpoint."""

from pathlib import Path


def write_tiny_checkpoint(folder: Path, name: str = "tiny", seed: int = 0) -> Path:
    """Write ``folder/name.safetensors`` + ``.json`` with C's checkpoint writer; returns the weights path.

    The network is a few hundred parameters (4 channels, 2 down-samplings), randomly initialised:
    its outputs are meaningless, which is all the plumbing tests need.
    """
    import torch

    from haze_ros.networks.config import NetworkConfig
    from haze_ros.networks.vae import SharedLatentVAE
    from haze_ros.training.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    config = NetworkConfig(preset="custom", channels=4, n_downsample=2, n_res_private=0, n_res_shared=1,
                           stem_kernel=3, down_kernel=3, upsample="transpose", max_channels=8)
    tensors = {"vae." + k: v for k, v in SharedLatentVAE(config).state_dict().items()}
    stem = Path(folder) / name
    save_checkpoint(stem, tensors, config, step=0, metrics={}, training={"note": "test fixture"})
    return stem.with_suffix(".safetensors")


def write_tiny_physics_checkpoint(folder: Path, name: str = "phys", seed: int = 0) -> Path:
    """Write a randomly initialised physics generator (the ``edge`` preset); returns the weights path.

    Its haze direction is conditioned (β and A per frame), which is what the evaluation tests need.
    """
    from model_fixtures import write_random_checkpoint

    return write_random_checkpoint(Path(folder) / name, preset="edge", seed=seed)


def write_depth_folders(root: Path, count: int = 2, size=(48, 64), sparse: bool = False):
    """Write ``root/clear/img-<n>.png`` (8-bit RGB) and ``root/depth/dep-<n>.png`` (uint16, cm).

    The clear images are smooth colour gradients with a little seeded noise; depth grows from 4 m
    at the bottom row to 120 m at the top, with the top four rows unmeasured (0 = sky). ``sparse``:
    only every 7th pixel of every 3rd row is measured (a LiDAR-like pattern, < 5 % of the pixels).

    Returns:
        (clear folder, depth folder).
    """
    import cv2
    import numpy as np

    clear_dir, depth_dir = Path(root) / "clear", Path(root) / "depth"
    clear_dir.mkdir(parents=True, exist_ok=True)
    depth_dir.mkdir(parents=True, exist_ok=True)
    height, width = size
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    cols = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    depth_m = np.broadcast_to(120.0 - 116.0 * rows, (height, width)).copy()
    depth_cm = np.round(depth_m * 100.0).astype(np.uint16)
    depth_cm[:4] = 0
    if sparse:
        keep = np.zeros_like(depth_cm, dtype=bool)
        keep[::3, ::7] = True
        depth_cm[~keep] = 0
    for index in range(1, count + 1):
        rng = np.random.default_rng(index)
        rgb = np.stack([0.2 + 0.6 * cols * np.ones_like(rows), 0.3 + 0.5 * rows * np.ones_like(cols),
                        0.5 + 0.3 * (rows * cols)], axis=2)
        rgb = np.clip(rgb + rng.normal(0.0, 0.03, rgb.shape), 0.0, 1.0)
        cv2.imwrite(str(clear_dir / f"img-{index:03d}.png"), (rgb[:, :, ::-1] * 255.0 + 0.5).astype(np.uint8))
        cv2.imwrite(str(depth_dir / f"dep-{index:03d}.png"), depth_cm)
    return clear_dir, depth_dir
