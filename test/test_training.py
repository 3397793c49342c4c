"""Training module: steps reduce the loss, checkpoints round-trip, config validation, resume."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from haze_ros.networks.loading import (CheckpointError, load_translator, load_vae, read_checkpoint_meta)
from haze_ros.training.checkpoint import save_checkpoint
from haze_ros.training.config import ConfigError
from haze_ros.training.config_io import config_from_dict, load_train_config
from haze_ros.training.data import Sample, ValidationImage, split_batch
from haze_ros.training.loop import TrainingRun
from haze_ros.training.trainer import Trainer

TINY_MODEL = {"preset": "edge_pixel", "channels": 4, "max_channels": 8,
              "discriminator": {"channels": 4, "n_layers": 2, "num_scales": 2}}


def tiny_config(**sections):
    raw = {"model": dict(TINY_MODEL), "data": {"crop": 16},
           "run": {"iterations": 4, "checkpoint_every": 2, "val_every": 2, "sample_every": 2, "log_every": 1}}
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return config_from_dict(raw)


class FakeData:
    """Smooth random 16×16 crops: hazy = clear brightened (a paired toy domain)."""

    def sample(self, rng):
        clear = np.clip(rng.random((3, 1, 1)) * 0.6 + rng.random((3, 16, 16)) * 0.2, 0, 1).astype(np.float32)
        return Sample(hazy=(0.5 * clear + 0.45).astype(np.float32), clear=clear, paired=True)

    def batch(self, rng, size):
        return split_batch([self.sample(rng) for _ in range(size)])


def val_images():
    rng = np.random.default_rng(0)
    clear = rng.random((3, 16, 24)).astype(np.float32)
    return [ValidationImage("v0", (0.5 * clear + 0.45).astype(np.float32), clear)]


def batch(seed=0):
    rng = np.random.default_rng(seed)
    s = FakeData().sample(rng)
    return torch.from_numpy(s.hazy)[None], torch.from_numpy(s.clear)[None], torch.tensor([True])


def test_a_few_steps_reduce_the_reconstruction_loss():
    torch.manual_seed(0)
    trainer = Trainer(tiny_config(optim={"lr": 2e-3}), torch.device("cpu"))
    hazy, clear, paired = batch()
    history = [trainer.train_step(hazy, clear, paired)["gen/recon_l1"] for _ in range(40)]
    assert np.mean(history[-5:]) < 0.6 * np.mean(history[:3]), history
    assert trainer.step == 40 and trainer.nonfinite_steps == 0


def test_checkpoint_save_load_gives_identical_outputs(tmp_path):
    trainer = Trainer(tiny_config(), torch.device("cpu"))
    trainer.train_step(*batch())
    save_checkpoint(tmp_path / "ck", trainer.model_tensors(), trainer.config.model, step=1,
                    metrics={"val/psnr_mean": 12.5}, training=trainer.config.to_dict())
    x = torch.rand(1, 3, 16, 20)
    trainer.vae.eval()
    for direction, (src, dst) in (("dehaze", ("hazy", "clear")), ("haze", ("clear", "hazy"))):
        for given in ("ck", "ck.json", "ck.safetensors"):
            translator = load_translator(tmp_path / given, direction)
            with torch.no_grad():
                assert torch.equal(translator(x), trainer.translate(x, src, dst))
    vae, meta = load_vae(tmp_path / "ck")
    assert meta["step"] == 1 and meta["model"]["preset"] == trainer.config.model.preset
    for a, b in zip(vae.parameters(), trainer.vae.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_validation_rejects_tampering_and_bad_json(tmp_path):
    trainer = Trainer(tiny_config(), torch.device("cpu"))
    save_checkpoint(tmp_path / "ck", trainer.model_tensors(), trainer.config.model, step=0, metrics={},
                    training={})
    assert read_checkpoint_meta(tmp_path / "ck")["format"] == "haze_ros.checkpoint"
    weights = tmp_path / "ck.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_translator(tmp_path / "ck", "dehaze")
    meta = json.loads((tmp_path / "ck.json").read_text())
    del meta["step"]
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="step"):
        read_checkpoint_meta(tmp_path / "ck")
    (tmp_path / "ck.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        read_checkpoint_meta(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint_meta(tmp_path / "absent")


def test_config_validation_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config sections"):
        config_from_dict({"trainer": {}})
    with pytest.raises(ConfigError, match="unknown keys"):
        config_from_dict({"loss": {"lambda_mmd": 1.0}})
    with pytest.raises(ConfigError, match="expected float"):
        config_from_dict({"loss": {"lambda_m": "big"}})
    with pytest.raises(ConfigError, match="overlap"):
        config_from_dict({"data": {"train_scenes": ["1-10"], "val_scenes": [10]}})
    with pytest.raises(ConfigError, match="latent_divergence"):
        config_from_dict({"loss": {"latent_divergence": "wasserstein"}})
    with pytest.raises(ConfigError, match="model"):
        config_from_dict({"model": {"preset": "edge", "stem_kernel": 4}})
    with pytest.raises(ConfigError, match="model.preset: unknown network preset 'huge'"):
        config_from_dict({"model": {"preset": "huge"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="section.key=value"):
        load_train_config(REPO / "config" / "train" / "edge.yaml", ["iterations"])


def test_shipped_configs_load_and_paper_yaml_is_faithful():
    paper = load_train_config(REPO / "config" / "train" / "paper.yaml")
    assert paper.model.preset == "paper" and paper.loss.lambda_paired == 0.0
    assert (paper.loss.lambda_m, paper.loss.lambda_adv, paper.loss.lambda_recon) == (0.01, 1.0, 10.0)
    assert (paper.optim.lr, paper.optim.beta1, paper.optim.beta2) == (1e-4, 0.5, 0.999)
    assert paper.data.batch_size == 1 and paper.run.checkpoint_every == 10_000
    assert paper.loss.latent_divergence == "mmd" and paper.data.beta_range == (0.8, 1.6)
    edge = load_train_config(REPO / "config" / "train" / "edge.yaml", ["loss.latent_divergence=kl"])
    assert edge.model.preset == "edge" and edge.loss.latent_divergence == "kl"
    assert not set(edge.data.train_scenes) & set(edge.data.test_scenes)


def test_nonfinite_losses_are_skipped_then_abort():
    trainer = Trainer(tiny_config(run={"max_nonfinite_steps": 1}), torch.device("cpu"))
    hazy, clear, paired = batch()
    before = [p.clone() for p in trainer.vae.parameters()]
    hazy = hazy.clone()
    hazy[0, 0, 0, 0] = float("nan")
    out = trainer.train_step(hazy, clear, paired)
    assert out["gen/stepped"] == 0.0 and trainer.nonfinite_steps >= 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.vae.parameters()))
    with pytest.raises(RuntimeError, match="non-finite"):
        trainer.train_step(hazy, clear, paired)


def _run(tmp_path, name, iterations, resume=None):
    config = tiny_config(run={"iterations": iterations, "output_dir": str(tmp_path / name)})
    run = TrainingRun(Trainer(config, torch.device("cpu")), FakeData(), val_images(), tmp_path / name)
    if resume:
        run.resume(resume)
    run.fit()
    return run


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    straight = _run(tmp_path, "straight", 4)
    _run(tmp_path, "first", 2)
    resumed = _run(tmp_path, "second", 4, resume=str(tmp_path / "first" / "checkpoints" / "last"))
    assert resumed.trainer.step == 4
    for a, b in zip(straight.trainer.model_tensors().values(), resumed.trainer.model_tensors().values()):
        assert torch.equal(a, b)
    out = tmp_path / "straight"
    assert (out / "config.resolved.yaml").is_file() and list((out / "samples").glob("*.png"))
    assert list((out / "tensorboard").iterdir())
    meta = read_checkpoint_meta(out / "checkpoints" / "best")
    assert meta["step"] in (2, 4) and "val/psnr_dehaze" in meta["metrics"]


def test_cli_rejects_a_bad_config_with_status_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss: {lambda_m: -1}\n")
    proc = subprocess.run([sys.executable, "-m", "haze_ros.training.cli", "--config", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid config" in proc.stderr
    missing = tmp_path / "nope" / "last"
    proc = subprocess.run([sys.executable, "-m", "haze_ros.training.cli", "--config",
                           str(REPO / "config" / "train" / "edge.yaml"), "--resume", str(missing),
                           "data.root=/nonexistent"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and f"cannot resume from {missing}" in proc.stderr  # before reading data


def test_release_keeps_only_generator_weights_and_loads(tmp_path):
    from haze_ros.training.release import release_checkpoint
    run = _run(tmp_path, "rel", 2)
    out = release_checkpoint(tmp_path / "rel" / "checkpoints" / "best", tmp_path / "shipped" / "edge")
    meta = read_checkpoint_meta(out)
    assert "optimizer_file" not in meta and meta["step"] == 2
    assert meta["training"]["loss"]["lambda_m"] == 0.01
    from safetensors import safe_open
    with safe_open(str(tmp_path / "shipped" / "edge.safetensors"), "pt") as handle:
        assert all(key.startswith("vae.") for key in handle.keys())
    x = torch.rand(1, 3, 16, 16)
    run.trainer.vae.eval()
    with torch.no_grad():
        assert torch.equal(load_translator(out, "dehaze")(x), run.trainer.translate(x, "hazy", "clear"))
    from haze_ros.training.release import main as release_main
    checkpoints = tmp_path / "rel" / "checkpoints"
    assert release_main([str(checkpoints / "step_0000099"), str(tmp_path / "y")]) == 2  # missing
    assert release_main([str(checkpoints / "best"), str(tmp_path / "y"), "--t0", "0.3"]) == 2  # pixel
    assert not list(tmp_path.glob("y*"))
    for change in ({"t0": 0.3}, {"map_lowpass": True}):  # physics-only release settings
        with pytest.raises(ValueError, match="physics generator only"):
            release_checkpoint(tmp_path / "rel" / "checkpoints" / "best", tmp_path / "x", **change)


def test_step_lr_schedule_follows_unit_policy_and_is_applied():
    config = tiny_config(optim={"lr": 1e-3, "lr_step_iterations": 2, "lr_gamma": 0.5})
    assert [config.optim.lr_at(k) for k in (0, 1, 2, 3, 4)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    assert tiny_config().optim.lr_at(10_000) == 1e-4  # default: constant, the paper's value
    trainer = Trainer(config, torch.device("cpu"))
    seen = [trainer.train_step(*batch(k))["optim/lr"] for k in range(3)]
    assert seen == [1e-3, 1e-3, 5e-4]
    assert trainer.gen_opt.param_groups[0]["lr"] == trainer.dis_opt.param_groups[0]["lr"] == 5e-4
    with pytest.raises(ConfigError, match="lr_gamma"):
        tiny_config(optim={"lr_gamma": 0})


def test_time_limit_stops_the_run_and_leaves_a_complete_checkpoint(tmp_path):
    config = tiny_config(run={"iterations": 10_000, "time_limit_min": 1e-6, "output_dir": str(tmp_path)})
    run = TrainingRun(Trainer(config, torch.device("cpu")), FakeData(), val_images(), tmp_path / "t")
    run.fit()
    assert run.trainer.step == 1
    meta = read_checkpoint_meta(tmp_path / "t" / "checkpoints" / "last")
    assert meta["step"] == 1 and "val/psnr_dehaze" in meta["metrics"]
    assert read_checkpoint_meta(tmp_path / "t" / "checkpoints" / "step_0000001")["step"] == 1
    with pytest.raises(ConfigError, match="time_limit_min"):
        tiny_config(run={"time_limit_min": -1})


def test_cli_takes_overrides_after_resume():
    from haze_ros.training.cli import _parse
    args = _parse(["--config", "c.yaml", "--resume", "runs/x/last", "run.iterations=5", "optim.lr=1e-3"])
    assert args.resume == "runs/x/last" and args.overrides == ["run.iterations=5", "optim.lr=1e-3"]
    args = _parse(["--config", "c.yaml", "run.iterations=5", "--resume", "r", "optim.lr=1e-3"])
    assert args.resume == "r" and args.overrides == ["run.iterations=5", "optim.lr=1e-3"]


def test_training_device_auto_and_torchrun(monkeypatch):
    from haze_ros.training.cli import training_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device("auto") == torch.device("cuda")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert training_device("auto") == torch.device("cuda", 1)
    assert training_device("cuda:0") == torch.device("cuda", 0) and training_device("cpu").type == "cpu"


def test_a_config_equal_to_its_preset_keeps_the_preset_name():
    from haze_ros.networks.config import canonical_preset, preset_config

    same = config_from_dict({"model": {"preset": "edge", "upsample": "bilinear_conv", "t0": 0.3}}).model
    assert same.preset == "edge" and same.t0 == 0.3  # t0 is set at release time, not an architecture change
    other = config_from_dict({"model": {"preset": "edge", "upsample": "transpose"}}).model
    assert other.preset == "edge-custom"
    old_run = dataclasses.replace(preset_config("edge"), preset="edge-custom", map_lowpass=True)
    assert canonical_preset(old_run).preset == "edge"
    assert canonical_preset(dataclasses.replace(old_run, channels=8)).preset == "edge-custom"


def _tiny_data_root(root):
    """FRIDA2 scenes 1-2 (clear + cm depth), Udacity train + held-out folders, 10 DAWN photos."""
    import cv2
    rng = np.random.default_rng(0)
    for folder in ("frida2/clear", "frida2/depth_cm_uint16", "udacity_clear_highway/frames/solidWhiteRight",
                   "udacity_clear_highway/frames/test_video", "udacity_clear_highway/stills", "dawn_fog"):
        (root / folder).mkdir(parents=True)
    for scene in (1, 2):
        clear = rng.integers(0, 255, (96, 128, 3), np.uint8)
        cv2.imwrite(str(root / f"frida2/clear/LIma-{scene:06d}.png"), clear)
        cv2.imwrite(str(root / f"frida2/depth_cm_uint16/LDep-{scene:06d}.png"),
                    np.full((96, 128), 2000, np.uint16))
    for folder, count in (("frames/solidWhiteRight", 2), ("frames/test_video", 3), ("stills", 1)):
        for i in range(count):
            value = 200 if folder == "frames/test_video" else 50  # held-out frames are bright: easy to spot
            cv2.imwrite(str(root / "udacity_clear_highway" / folder / f"f{i}.jpg"),
                        np.full((72, 128, 3), value, np.uint8))
    for i in range(10):  # DAWN: 0, 5 held out (every 5th); those are bright too
        value = 200 if i % 5 == 0 else 50
        cv2.imwrite(str(root / "dawn_fog" / f"foggy-{i:03d}.jpg"), np.full((72, 128, 3), value, np.uint8))
    return root


def test_pixel_generator_pools_leave_the_held_out_real_images_out(tmp_path):
    from haze_ros.training.data import HazeTrainingData
    root = _tiny_data_root(tmp_path)
    config = load_train_config(REPO / "config" / "train" / "paper.yaml",
                               ["data.train_scenes=[\"1-2\"]", "data.crop=64", "data.real_width=128"])
    data = HazeTrainingData(config.data, root)
    assert len(data.real_clear) == 3 and len(data.real_hazy) == 8  # test_video and DAWN 0, 5 are out
    assert all(float(image.mean()) < 100 for image in data.real_clear + data.real_hazy)
