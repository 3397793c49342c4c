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
