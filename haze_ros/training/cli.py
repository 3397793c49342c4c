"""``haze_train --config config/train/<preset>.yaml [section.key=value ...]`` (also under ``torchrun``)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

import torch

from haze_ros.training.config import ConfigError
from haze_ros.training.config_io import load_train_config
from haze_ros.training.data import HazeTrainingData, validation_images
from haze_ros.training.loop import TrainingRun
from haze_ros.training.physics_data import PhysicsTrainingData, physics_validation_images
from haze_ros.training.physics_trainer import PhysicsTrainer
from haze_ros.training.trainer import Trainer

LOG = logging.getLogger("haze_train")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="haze_train", description="Train the shared-latent MMD-VAE/GAN (dehazing + haze synthesis).")
    parser.add_argument("--config", required=True, type=Path, help="training YAML (config/train/*.yaml)")
    parser.add_argument("--resume", default=None, help="checkpoint to resume from (overrides run.resume)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. run.iterations=1000")
    return parser.parse_intermixed_args(argv)  # overrides may come before or after --resume


def _resolve(path_text: str) -> Path:
    """Relative data/output paths are taken from the repository root (``../shared/data`` convention)."""
    path = Path(path_text)
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def training_device(name: str) -> torch.device:
    """Map ``run.device`` to a torch device.

    ``auto`` = CUDA when available, else the CPU; under torchrun a plain ``cuda`` becomes
    ``cuda:$LOCAL_RANK`` (one GPU per process).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return torch.device(name)


def end_process_group() -> None:
    """Destroy the default process group, then collect garbage before the interpreter exits.

    Without the collection about one two-process gloo run in five (torch 2.13, CPU, ``mp.spawn``)
    died at interpreter exit, after its work was done, with SIGABRT ("terminate called without an
    active exception") or SIGSEGV; with it, 0 of 110 runs did. Which object held the gloo state
    into shutdown was not identified. test_ddp.py runs this path.
    """
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    gc.collect()


def build_run_parts(config, root, device, rank: int = 0, world_size: int = 1):
    """``(trainer, data, validation images)`` for ``config.model.generator`` (pixel or physics)."""
    if config.model.is_physics:
        trainer = PhysicsTrainer(config, device, rank, world_size)
        m = config.model
        data = PhysicsTrainingData(config.data, root, m.input_stride, (m.depth_min_m, m.depth_max_m))
        val = physics_validation_images(config.data, root, config.run.seed, m.size_multiple) \
            if rank == 0 else []
        return trainer, data, val
    trainer = Trainer(config, device, rank, world_size)
    data = HazeTrainingData(config.data, root)
    return trainer, data, (validation_images(config.data, root, config.run.seed) if rank == 0 else [])


def main(argv=None) -> int:
    """Entry point; returns the exit status (2 for configuration errors)."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_train_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"haze_train: invalid config: {exc}", file=sys.stderr)
        return 2
    resume = args.resume or config.run.resume
    if resume:  # checked before the data loads and the process group forms
        from haze_ros.networks.loading import CheckpointError, read_checkpoint_meta
        try:
            read_checkpoint_meta(resume)
        except CheckpointError as exc:
            print(f"haze_train: cannot resume from {resume}: {exc}", file=sys.stderr)
            return 2
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1:
        torch.distributed.init_process_group("gloo")
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    try:
        root = _resolve(config.data.root)
        trainer, data, val = build_run_parts(config, root, training_device(config.run.device), rank,
                                             world_size)
        run = TrainingRun(trainer, data, val, _resolve(config.run.output_dir))
        if resume:
            run.resume(resume)
        metrics = run.fit()
        if rank == 0:
            LOG.info("finished at step %d: %s", trainer.step, metrics)
    except (OSError, ValueError) as exc:
        print(f"haze_train: {exc}", file=sys.stderr)
        return 1
    finally:
        if world_size > 1:
            end_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
