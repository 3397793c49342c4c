"""The physics generator (eq. (1)): heads, conditioned haze graph, ONNX parity, training, checkpoints."""

import dataclasses

import numpy as np
import pytest
import torch

from haze_ros.networks.config import preset_config
from haze_ros.networks.physics_model import (PhysicsSharedLatentVAE, fast_guided_upsample, pool_frame,
                                             recompose_clear, scale_factor, synthesize_hazy)
from haze_ros.networks.translator import PhysicsTranslator, build_translator
from haze_ros.training.config_io import config_from_dict
from haze_ros.training.physics_data import PhysicsBatch, low_res_log_depth
from haze_ros.training.physics_trainer import PhysicsTrainer

TINY_PHYSICS = {"preset": "edge", "channels": 4, "max_channels": 8,
                "discriminator": {"channels": 4, "n_layers": 2, "num_scales": 1}}


def tiny(direction=None, **changes):
    """The edge (physics) structure at a tiny width (``changes``: other NetworkConfig fields)."""
    cfg = dataclasses.replace(preset_config("edge"), channels=4, max_channels=8, **changes)
    return cfg if direction is None else build_translator(cfg, direction).eval()


def scene(seed=0, size=32):
    """A toy scene: textured clear ``(1, 3, s, s)``; depth ``(1, 1, s, s)``, 5-400 m (far at the top)."""
    g = torch.Generator().manual_seed(seed)
    clear = (0.2 + 0.6 * torch.rand(1, 3, size, size, generator=g)).clamp(0, 1)
    rows = torch.linspace(400.0, 5.0, size)[None, None, :, None]
    return clear, rows.expand(1, 1, size, size).contiguous()


def test_eq1_round_trip_with_the_true_t_airlight_and_depth():
    clear, depth = scene()
    beta, airlight = torch.tensor([[3.0 / 80.0]]), torch.tensor([[0.9, 0.85, 0.8]])
    t = torch.exp(-beta[:, :, None, None] * depth)
    hazy = synthesize_hazy(clear, t, airlight)
    # dehaze: the recomposition with the true t and A gives J back (where t >= t0)
    recovered = recompose_clear(hazy, t, airlight, t0=0.05)
    kept = (t >= 0.05).expand_as(clear)
    assert int(kept.sum()) > clear.numel() // 8
    torch.testing.assert_close(recovered[kept], clear[kept], atol=2e-4, rtol=0)
    # haze head: log-depth in, eq. (1) out -- with the true depth it is the reference haze
    cfg = tiny()
    vae = PhysicsSharedLatentVAE(cfg)
    x_lr = torch.nn.functional.avg_pool2d(clear, cfg.input_stride)
    log_d = torch.log(torch.nn.functional.avg_pool2d(depth, cfg.input_stride))
    synthesized, t_up = vae.heads.haze(clear, x_lr, log_d, beta, airlight)
    assert float((synthesized - hazy).abs().mean()) < 0.03  # guided upsampling of a 1/4 map, iid-noise guide
    assert t_up.shape == (1, 1, 32, 32) and float(t_up.min()) >= 0 and float(t_up.max()) <= 1


def test_recomposition_equals_the_two_step_formula_it_rewrites():
    """J = (I − A)·α + A + (1 − k)·c must be J₁ + k·(I − J₁), J₁ = (I − A)/max(t, t0) + A + c."""
    g = torch.Generator().manual_seed(5)
    hazy, t, k = (torch.rand(2, 3, 9, 11, generator=g), torch.rand(2, 1, 9, 11, generator=g),
                  torch.rand(2, 1, 9, 11, generator=g))
    airlight = 0.7 + 0.3 * torch.rand(2, 3, generator=g)
    correction = 0.1 * torch.rand(2, 3, generator=g) - 0.05
    a, c = airlight[:, :, None, None], correction[:, :, None, None]
    j1 = (hazy - a) / torch.clamp(t, min=0.3) + a + c
    torch.testing.assert_close(recompose_clear(hazy, t, airlight, 0.3, keep=k, correction=correction),
                               j1 + k * (hazy - j1), atol=1e-5, rtol=0)
    torch.testing.assert_close(recompose_clear(hazy, t, airlight, 0.3, correction=correction), j1)
    torch.testing.assert_close(recompose_clear(hazy, torch.clamp(t, min=0.3), airlight, None), j1 - c)


def test_guided_upsampling_of_a_constant_map_is_that_constant_and_follows_edges():
    guide = torch.zeros(1, 1, 32, 32)
    guide[..., 16:] = 1.0  # a vertical edge
    guide_lr = torch.nn.functional.avg_pool2d(guide, 4)
    const = torch.full((1, 1, 8, 8), 0.4)
    out = fast_guided_upsample(const, guide_lr, guide, radius=2, eps=1e-3)
    torch.testing.assert_close(out, torch.full_like(out, 0.4), atol=1e-4, rtol=0)
    step = torch.where(guide_lr > 0.5, 0.9, 0.1)
    sharp = fast_guided_upsample(step, guide_lr, guide, radius=2, eps=1e-4)
    # bilinear upsampling smears the step over ~4 px; the guided one keeps it at the guide's edge
    assert abs(float(sharp[0, 0, 10, 14]) - 0.1) < 0.05 and abs(float(sharp[0, 0, 10, 17]) - 0.9) < 0.05


def test_haze_gets_denser_as_visibility_falls_and_tends_to_the_airlight():
    torch.manual_seed(0)
    haze = tiny("haze")
    clear, _ = scene(1, 48)
    airlight = torch.tensor([[0.7, 0.8, 0.95]])
    distances = []
    with torch.no_grad():
        for visibility in (2000.0, 500.0, 150.0, 50.0, 10.0, 0.5):
            out = haze(clear, torch.tensor([[visibility]]), airlight)
            distances.append(float((out - airlight[:, :, None, None]).abs().mean()))
        very_dense = haze(clear, torch.tensor([[1e-3]]), airlight)
        clear_air = haze(clear, torch.tensor([[float("inf")]]), airlight)
    assert all(a > b for a, b in zip(distances, distances[1:])), distances  # monotone in V
    torch.testing.assert_close(very_dense, airlight[:, :, None, None].expand_as(clear), atol=1e-3, rtol=0)
    torch.testing.assert_close(clear_air, clear, atol=1e-5, rtol=0)  # beta = 0: no haze
    # a different airlight reaches the output
    with torch.no_grad():
        other = haze(clear, torch.tensor([[10.0]]), torch.tensor([[0.2, 0.2, 0.2]]))
    assert float(other.mean()) < float(haze(clear, torch.tensor([[10.0]]), airlight).mean()) - 0.2


def test_translators_accept_odd_sizes_and_keep_the_range():
    torch.manual_seed(1)
    dehaze, haze = tiny("dehaze"), tiny("haze")
    for size in [(67, 93), (17, 23), (3, 2)]:
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            y = dehaze(x)
            z = haze(x, torch.tensor([[60.0]]), torch.tensor([[0.9, 0.9, 0.9]]))
        assert y.shape == x.shape == z.shape
        assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    assert isinstance(haze, PhysicsTranslator) and haze.conditioned and not dehaze.conditioned
    with pytest.raises(ValueError, match="visibility"):
        haze(torch.rand(1, 3, 32, 32))


def test_wide_frames_are_pooled_to_the_training_scale():
    """S = 4·r, r = max(1, round(W / 640)): box means over S × S; r capped so the map keeps a pixel."""
    assert [scale_factor(w, 640) for w in (256, 640, 959, 960, 1280, 1936, 1920)] == [1, 1, 1, 2, 2, 3, 3]
    x = torch.rand(1, 3, 50, 1290)
    pooled = pool_frame(x, 4, 640)  # r = 2: S = 8
    assert pooled.shape == (1, 3, 6, 161)
    torch.testing.assert_close(pooled, torch.nn.functional.avg_pool2d(x, 8), atol=1e-6, rtol=0)
    assert pool_frame(x, 4, 0).shape == (1, 3, 12, 322)       # fixed stride (scale_width_px = 0)
    assert pool_frame(x[..., :640], 4, 640).shape == (1, 3, 12, 160)
    assert pool_frame(torch.rand(1, 3, 9, 2000), 4, 640).shape == (1, 3, 1, 250)  # r 3 -> 2 (H/4 = 2)


def test_detail_comes_from_the_input_not_the_network():
    """High-frequency texture of the input survives dehazing (the output is recomposed from it)."""
    torch.manual_seed(2)
    dehaze = tiny("dehaze")
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None]) % 2).float()
    x = (0.4 + 0.2 * checker).expand(1, 3, 64, 64).contiguous()
    with torch.no_grad():
        y = dehaze(x)
    high_in = (x[..., 1:] - x[..., :-1]).abs().mean()
    high_out = (y[..., 1:] - y[..., :-1]).abs().mean()
    assert float(high_out) > 0.5 * float(high_in)


@pytest.mark.parametrize("upsample", ["transpose", "bilinear_conv"])
@pytest.mark.parametrize("direction", ["dehaze", "haze"])
def test_onnx_matches_pytorch_at_odd_sizes(tmp_path, direction, upsample):
    """Odd sizes, and frames 1000-2000 px wide: the exported graph computes the scale factor r itself."""
    sizes = [(67, 93), (121, 160), (9, 7), (41, 1000), (23, 1700), (9, 2000)]  # (H, W); r = 1, 2, 3, capped
    pytest.importorskip("onnxruntime")
    from haze_ros.export import metadata as md
    from haze_ros.export import onnx_export

    torch.manual_seed(3)
    module = tiny(direction, upsample=upsample)
    meta = md.ModelMetadata(direction=direction, size_multiple=module.size_multiple, preset="edge",
                            **onnx_export.module_io_metadata(module))
    result = onnx_export.export_translator(module, tmp_path / f"{direction}.onnx", meta)
    read = md.read_onnx_metadata(result.onnx_path, direction)
    assert read.conditions == (md.CONDITION_NAMES if direction == "haze" else ())
    cases = onnx_export.check_parity(result.onnx_path, module,
                                     onnx_export.random_batches(sizes, seed=4), max_abs_tol=1e-4)
    assert all(c.ok for c in cases), [(c.size, c.max_abs) for c in cases]


def _tiny_trainer(**loss):
    config = config_from_dict({"model": dict(TINY_PHYSICS), "data": {"crop": 64},
                               "optim": {"lr": 3e-3}, "loss": loss})
    return PhysicsTrainer(config, torch.device("cpu"))


def toy_batch(seed=0, size=64, n=2):
    """A PhysicsBatch of toy scenes (eq. (1) pairs with known t, A, depth)."""
    g = np.random.default_rng(seed)
    fields = {k: [] for k in PhysicsBatch.__dataclass_fields__}
    for _ in range(n):
        clear, depth = scene(int(g.integers(1000)), size)
        beta = float(3.0 / g.uniform(40, 400))
        airlight = torch.tensor(g.uniform(0.7, 1.0, 3), dtype=torch.float32)[None]
        t = torch.exp(-beta * depth)
        fields["syn_clear"].append(clear[0])
        fields["syn_hazy"].append(synthesize_hazy(clear, t, airlight)[0])
        fields["syn_t"].append(t[0])
        log_depth = low_res_log_depth(depth[0, 0].numpy(), 4, (1.0, 1000.0))
        fields["syn_log_depth"].append(torch.from_numpy(log_depth)[None])
        fields["syn_beta"].append(torch.tensor([beta]))
        fields["syn_airlight"].append(airlight[0])
        fields["real_clear"].append(clear[0].flip(-1))
        ld = torch.full((1, size // 4, size // 4), float("nan"))
        ld[:, -3:, :] = 2.0  # a few "LiDAR" cells
        fields["real_log_depth"].append(ld)
        bound = torch.full((1, size // 4, size // 4), float("nan"))
        bound[:, size // 8:, :] = 1.0  # a flat-road bound below the "horizon" (log m)
        fields["real_log_bound"].append(bound)
        fields["real_hazy"].append(synthesize_hazy(clear, torch.exp(-3 * beta * depth), airlight)[0])
        fields["aug_beta"].append(torch.tensor([beta]))
        fields["aug_airlight"].append(airlight[0])
    return PhysicsBatch(**{k: torch.stack(v) for k, v in fields.items()})


def test_a_few_cpu_steps_lower_each_supervised_term():
    torch.manual_seed(0)
    trainer = _tiny_trainer()
    batch = toy_batch()
    names = ("gen/sup_dehaze", "gen/sup_haze", "gen/lidar_depth")
    history = [trainer.train_step(batch) for _ in range(60)]  # the LiDAR term falls after step 50
    for name in names:
        first, last = history[0][name], np.mean([h[name] for h in history[-3:]])
        assert last < 0.8 * first, (name, first, last)
    assert trainer.nonfinite_steps == 0 and trainer.step == 60


def test_checkpoint_round_trip_gives_identical_translations(tmp_path):
    from haze_ros.networks.loading import load_translator, load_vae
    from haze_ros.training.checkpoint import save_checkpoint

    trainer = _tiny_trainer()
    trainer.train_step(toy_batch())
    save_checkpoint(tmp_path / "ck", trainer.model_tensors(), trainer.config.model, step=1, metrics={},
                    training=trainer.config.to_dict())
    clear, _ = scene(5, 48)
    trainer.vae.eval()
    dehaze, haze = load_translator(tmp_path / "ck", "dehaze"), load_translator(tmp_path / "ck", "haze")
    with torch.no_grad():
        torch.testing.assert_close(dehaze(clear), trainer.translate_physics(clear, "dehaze"),
                                   atol=1e-6, rtol=0)
        torch.testing.assert_close(haze(clear, torch.tensor([[3.0 / 0.02]]), torch.tensor([[0.9, 0.8, 0.7]])),
                                   trainer.translate_physics(clear, "haze", 0.02, (0.9, 0.8, 0.7)),
                                   atol=1e-6, rtol=0)
    vae, _meta = load_vae(tmp_path / "ck")
    assert isinstance(vae, PhysicsSharedLatentVAE)


def test_pixel_trainer_refuses_a_physics_config():
    from haze_ros.training.trainer import Trainer

    with pytest.raises(ValueError, match="PhysicsTrainer"):
        Trainer(config_from_dict({"model": dict(TINY_PHYSICS)}), torch.device("cpu"))


def test_cpu_steps_pull_real_depth_under_the_flat_road_bound():
    torch.manual_seed(0)
    trainer = _tiny_trainer(lambda_road_bound=1.0, lambda_depth=0.0, lambda_haze=0.0)  # no rival depth target
    batch = toy_batch()
    batch.real_log_bound[torch.isfinite(batch.real_log_bound)] = 0.5  # 1.6 m: the toy depth starts beyond it
    history = [trainer.train_step(batch)["gen/road_bound"] for _ in range(30)]
    assert history[0] > 0.0 and np.mean(history[-3:]) < 0.5 * history[0], history


def test_flat_road_bound_lies_above_the_road_depth_of_every_row_of_its_cell():
    from haze_ros.physics.depth_free import FlatRoadGeometry, flat_road_depth
    from haze_ros.training.physics_data import flat_road_log_depth_bound

    geometry = FlatRoadGeometry(camera_height_m=1.25, hfov_deg=60.0, horizon_row=201.6)
    bound = flat_road_log_depth_bound(360, 640, 4, geometry, 1.0, (1.0, 1000.0))
    road = flat_road_depth(360, 640, geometry)
    assert bound.shape == (90, 160)
    cells = np.isfinite(bound[:, 0])
    assert not cells[:50].any() and cells[53:].all()  # NaN at and above the horizon, bounded below it
    for r in np.nonzero(cells)[0]:
        assert np.exp(bound[r, 0]) >= road[4 * r:4 * r + 4, 0].max() * (1 - 1e-5)
    loose = flat_road_log_depth_bound(360, 640, 4, geometry, 2.0, (1.0, 1000.0))
    np.testing.assert_allclose(loose[-1], bound[-1] + np.log(2.0), rtol=1e-6)
    with pytest.raises(ValueError, match="slack"):
        flat_road_log_depth_bound(360, 640, 4, geometry, 0.5, (1.0, 1000.0))


def test_road_bound_folders_must_be_trained_on(tmp_path):
    from haze_ros.training.physics_data import PhysicsTrainingData

    cfg = config_from_dict({"data": {"road_bound_folders": ["frames/test_video"]}}).data
    with pytest.raises(ValueError, match="road_bound_folders"):
        PhysicsTrainingData(cfg, tmp_path, 4, (1.0, 1000.0))
