"""Distributed data parallel training on the CPU (gloo): 2 processes, replicas must stay identical."""

import hashlib
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import REPO, shared_data
from haze_ros.networks.loading import read_checkpoint_meta
from test_training import batch, tiny_config

WORLD_SIZE = 2


def _parameter_hash(trainer) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(trainer.model_tensors().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _worker(rank: int, store: str, out_dir: str) -> None:
    from haze_ros.training.cli import end_process_group
    from haze_ros.training.trainer import Trainer
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD_SIZE)
    try:
        torch.manual_seed(100 + rank)  # different local RNG: the broadcast must still align the replicas
        trainer = Trainer(tiny_config(), torch.device("cpu"), rank, WORLD_SIZE)
        initial = _parameter_hash(trainer)
        losses = [trainer.train_step(*batch(seed=rank * 10 + step))["gen/total"] for step in range(3)]
        with open(f"{out_dir}/rank{rank}.txt", "w") as handle:
            handle.write(f"{initial}\n{_parameter_hash(trainer)}\n{losses[0]!r}\n")
    finally:
        end_process_group()


def test_two_gloo_processes_keep_identical_replicas(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    results = [(tmp_path / f"rank{r}.txt").read_text().split("\n") for r in range(WORLD_SIZE)]
    initial, final, first_loss = zip(*[(r[0], r[1], r[2]) for r in results])
    assert initial[0] == initial[1]            # same start (broadcast from rank 0)
    assert first_loss[0] != first_loss[1]      # each rank saw different data ...
    assert final[0] == final[1]                # ... and the averaged gradients kept them identical
    assert final[0] != initial[0]              # and training did change the weights


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_haze_train_command_runs_under_torchrun(tmp_path):
    root = shared_data("frida2").parent
    overrides = [f"data.root={root}", "data.crop=64", "data.train_scenes=[1, 2]", "data.val_scenes=[41]",
                 "data.val_haze_draws=1", "data.batch_size=1",
                 "model.channels=4", "model.max_channels=8", "run.iterations=2", "run.checkpoint_every=2",
                 "run.val_every=2", "run.sample_every=2", "run.threads=1", "run.device=cpu",
                 f"run.output_dir={tmp_path / 'run'}"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               f"--master_port={_free_port()}", "-m", "haze_ros.training.cli",
               "--config", str(REPO / "config" / "train" / "edge.yaml"), *overrides]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = read_checkpoint_meta(tmp_path / "run" / "checkpoints" / "last")
    assert meta["step"] == 2 and meta["optimizer_meta"]["world_size"] == 2
    assert len(meta["optimizer_meta"]["data_rng_states"]) == 2
    assert meta["model"]["architecture"]["generator"] == "physics"  # the edge.yaml recipe, resolved
    assert meta["training"]["loss"]["lambda_self"] == 10.0
    assert (tmp_path / "run" / "samples" / "step_0000002.png").is_file()
    assert read_checkpoint_meta(tmp_path / "run" / "checkpoints" / "best")["step"] == 2
