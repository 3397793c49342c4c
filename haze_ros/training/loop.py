"""The training loop: sampling, steps, progress bar, TensorBoard, sample grids, checkpoints, resume."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
import yaml

from haze_ros.networks.loading import checkpoint_paths, load_checkpoint_tensors
from haze_ros.training.checkpoint import load_optimizer_tensors, save_checkpoint
from haze_ros.training.data import HazeTrainingData, ValidationImage
from haze_ros.training.trainer import Trainer

LOG = logging.getLogger(__name__)


class TrainingRun:
    """One run: a :class:`Trainer`, its data and its output folder (only rank 0 writes files)."""

    def __init__(self, trainer: Trainer, data: HazeTrainingData, val_images: List[ValidationImage],
                 output_dir: Path) -> None:
        self.trainer, self.data, self.val_images = trainer, data, val_images
        self.output_dir = Path(output_dir)
        self.config = trainer.config
        self.is_main = trainer.rank == 0
        self.rng = np.random.default_rng([self.config.run.seed, trainer.rank])
        self.best_score = -float("inf")
        self.metrics: Dict[str, float] = {}
        self.started = time.time()
        self.elapsed_before = 0.0
        self.writer = None

    # ------------------------------------------------------------------ resume / save
    def resume(self, checkpoint: str) -> None:
        """Restore weights, optimiser, RNG states, step and best score from a checkpoint pair."""
        meta, tensors = load_checkpoint_tensors(checkpoint)
        self.trainer.load_model_tensors(tensors)
        self.trainer.load_optimizer_tensors(load_optimizer_tensors(Path(checkpoint), meta))
        extra = meta.get("optimizer_meta", {})
        self.trainer.step = meta["step"]
        self.best_score = float(extra.get("best_score", -float("inf")))
        self.elapsed_before = float(extra.get("elapsed_s", 0.0))
        states = extra.get("data_rng_states", [])
        if self.trainer.rank < len(states):
            self.rng.bit_generator.state = states[self.trainer.rank]
        LOG.info("resumed from %s at step %d", checkpoint, self.trainer.step)

    def save(self, name: str) -> Path:
        """Write ``output_dir/checkpoints/<name>.{safetensors,optim.safetensors,json}``."""
        states = [self.rng.bit_generator.state]
        if self.trainer.world_size > 1:
            gathered: List[Optional[dict]] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(gathered, states[0])
            states = gathered
        if not self.is_main:
            return Path()
        extra = {"best_score": self.best_score, "elapsed_s": self.elapsed_s(), "data_rng_states": states,
                 "nonfinite_steps": self.trainer.nonfinite_steps, "world_size": self.trainer.world_size}
        return save_checkpoint(self.output_dir / "checkpoints" / name, self.trainer.model_tensors(),
                               self.config.model, step=self.trainer.step, metrics=self.metrics,
                               training=self.config.to_dict(),
                               optimizer_tensors=self.trainer.optimizer_tensors(),
                               optimizer_meta=extra)

    def elapsed_s(self) -> float:
        """Training wall time in seconds, including before a resume."""
        return self.elapsed_before + time.time() - self.started

    # ------------------------------------------------------------------ loop
    def fit(self) -> Dict[str, float]:
        """Train up to ``run.iterations`` or ``run.time_limit_min`` of wall time; return the metrics."""
        run = self.config.run
        deadline = time.time() + 60.0 * run.time_limit_min if run.time_limit_min > 0 else float("inf")
        if self.is_main:
            self._prepare_output()
        from tqdm import tqdm
        progress = tqdm(total=run.iterations, initial=self.trainer.step, disable=not self.is_main,
                        dynamic_ncols=True, desc="haze_train")
        while self.trainer.step < run.iterations:
            losses = self.trainer.train_step(*self.data.batch(self.rng, self.config.data.batch_size))
            step = self.trainer.step
            progress.update(1)
            if step % run.log_every == 0 or step == 1:
                progress.set_postfix({k.split("/")[1]: f"{v:.3g}" for k, v in losses.items()
                                      if k in ("gen/total", "gen/recon_l1", "dis/hazy", "dis/clear")})
                self._log_scalars(losses, step)
            if self._out_of_time(deadline):
                LOG.info("run.time_limit_min = %g reached at step %d: stopping", run.time_limit_min, step)
                self._validate(step)
                self._sample_grid(step)
                self.save(f"step_{step:07d}")
                break
            self._periodic(step)
        progress.close()
        self.save("last")
        if self.writer is not None:
            self.writer.close()
        return self.metrics

    def _out_of_time(self, deadline: float) -> bool:
        """Whether the wall-time limit is reached (rank 0 decides, so every replica stops together)."""
        if deadline == float("inf"):  # no limit (the same config on every rank): no collective per step
            return False
        stop = torch.tensor([1.0 if time.time() >= deadline else 0.0])
        if self.trainer.world_size > 1:
            torch.distributed.broadcast(stop, src=0)
        return bool(stop.item() > 0)

    def _periodic(self, step: int) -> None:
        run = self.config.run
        final = step == run.iterations
        if step % run.val_every == 0 or final:
            self._validate(step)
        if step % run.sample_every == 0 or final:
            self._sample_grid(step)
        if step % run.checkpoint_every == 0 or final:
            self.save(f"step_{step:07d}")
            self.save("last")
            self._prune()

    def _validate(self, step: int) -> None:
        """Validate (PSNR) on rank 0; every rank then saves ``best`` if it improved (collective save)."""
        improved = torch.zeros(1)
        if self.is_main and self.val_images:
            self.metrics = self.trainer.validate(self.val_images)
            self.metrics["train/nonfinite_steps"] = float(self.trainer.nonfinite_steps)
            self._log_scalars(self.metrics, step)
            LOG.info("step %d: %s", step, json.dumps({k: round(v, 3) for k, v in self.metrics.items()}))
            if self.metrics["val/psnr_mean"] > self.best_score:
                self.best_score = self.metrics["val/psnr_mean"]
                improved[0] = 1.0
        if self.trainer.world_size > 1:
            torch.distributed.broadcast(improved, src=0)
        if improved.item() > 0:
            self.save("best")

    def _prepare_output(self) -> None:
        for sub in ("checkpoints", "samples", "tensorboard"):
            (self.output_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.output_dir / "config.resolved.yaml").write_text(
            yaml.safe_dump(self.config.to_dict(), sort_keys=False), encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.output_dir / "tensorboard"))
        except ImportError:  # tensorboard is optional at run time
            LOG.warning("tensorboard not installed: no TensorBoard logs")

    def _log_scalars(self, values: Dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def _sample_grid(self, step: int) -> None:
        """Save a PNG grid, a row per validation image: hazy | dehazed | clear | model haze | physics haze."""
        if not self.is_main or not self.val_images:
            return
        rows = []
        with torch.no_grad():
            self.trainer.vae.eval()
            for item in self.val_images[:2]:
                rows.append(torch.cat([c[0].cpu() for c in self.trainer.sample_row(item)], dim=2))
            self.trainer.vae.train()
        grid = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        grid = cv2.resize(grid, (grid.shape[1] // 2, grid.shape[0] // 2), interpolation=cv2.INTER_AREA)
        path = self.output_dir / "samples" / f"step_{step:07d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))

    def _prune(self) -> None:
        if not self.is_main:
            return
        folder = self.output_dir / "checkpoints"
        periodic = sorted(folder.glob("step_*.json"))
        for old in periodic[:-self.config.run.keep_last]:
            json_path, weights = checkpoint_paths(old)
            for path in (json_path, weights, weights.with_name(weights.stem + ".optim.safetensors")):
                path.unlink(missing_ok=True)
