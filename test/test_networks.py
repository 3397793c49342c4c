"""Networks of the shared-latent VAE-GAN: shapes, ranges, determinism, weight sharing, ONNX export."""

import dataclasses

import numpy as np
import pytest
import torch

from haze_ros.core.types import Direction
from haze_ros.networks.blocks import BinomialLowPass, UpBlock
from haze_ros.networks.config import (NetworkConfig, network_config_from_dict, preset_config)
from haze_ros.networks.discriminator import MultiScaleDiscriminator
from haze_ros.networks.translator import OneDirectionTranslator, build_translator
from haze_ros.networks.vae import SharedLatentVAE


def small(preset: str) -> NetworkConfig:
    """The preset's structure at a small width (fast tests)."""
    cfg = preset_config(preset)
    return dataclasses.replace(cfg, channels=4, max_channels=16,
                               discriminator=dataclasses.replace(cfg.discriminator, channels=4, n_layers=3))


@pytest.mark.parametrize("preset", ["paper", "edge_pixel"])
@pytest.mark.parametrize("size", [(17, 23), (32, 32), (5, 3), (1, 1)])
def test_translator_shapes_and_range_for_odd_sizes(preset, size):
    torch.manual_seed(0)
    translator = OneDirectionTranslator(small(preset), Direction.DEHAZE).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = translator(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert translator.size_multiple == 4 and translator.preset == preset


@pytest.mark.parametrize("preset", ["paper", "edge_pixel"])
def test_vae_code_and_generator_shapes(preset):
    cfg = small(preset)
    vae = SharedLatentVAE(cfg)
    x = torch.rand(1, 3, 24, 36) * 2 - 1
    for domain in ("hazy", "clear"):
        mu = vae.encode(x, domain)
        assert mu.shape == (1, cfg.latent_channels, 6, 9)
        out = vae.decode(mu, "clear" if domain == "hazy" else "hazy")
        assert out.shape == x.shape and float(out.abs().max()) <= 1.0


def test_full_size_presets_match_the_documented_architecture():
    paper, edge = preset_config("paper"), preset_config("edge")
    assert (paper.channels, paper.n_downsample, paper.n_res_private + paper.n_res_shared) == (64, 2, 4)
    assert paper.latent_channels == 256
    assert edge.generator == "physics" and edge.norm == "none" and edge.input_stride == 4
    assert edge.n_downsample == 2 and edge.n_res_shared == 1 and edge.latent_channels == 48
    assert edge.size_multiple == 16
    n_edge = sum(p.numel() for p in build_translator(edge, "dehaze").parameters())
    assert n_edge < 200_000  # a few hundred kB of weights per direction
    assert preset_config("edge_pixel").generator == "pixel"


def row_parity_gap(y: torch.Tensor) -> float:
    """Largest |mean of even rows − mean of odd rows| over channels, away from the borders."""
    inner = y[0, :, 2:-2, 2:-2]
    return float((inner[:, 0::2].mean(dim=(1, 2)) - inner[:, 1::2].mean(dim=(1, 2))).abs().max())


def test_resize_convolution_up_sampling_draws_no_period_two_pattern():
    # upsample: bilinear_conv maps a constant input to a constant output (no pattern of period 2,
    # the row banding the previous weights' transposed convolution drew into their depth maps).
    torch.manual_seed(0)
    x = torch.full((1, 8, 6, 7), 0.7)
    with torch.no_grad():
        resize_conv = UpBlock(8, 4, "bilinear_conv", norm=False).up(x)
        transposed = UpBlock(8, 4, "transpose", norm=False).up(x)
    assert resize_conv.shape == transposed.shape == (1, 4, 12, 14)
    inner = resize_conv[0, :, 2:-2, 2:-2]
    assert float((inner - inner.mean(dim=(1, 2), keepdim=True)).abs().max()) < 1e-5
    assert row_parity_gap(transposed) > 1e-3   # what this test guards against (random weights)


def test_binomial_low_pass_removes_a_period_two_pattern_and_keeps_a_ramp():
    rows = torch.arange(10.0)[:, None].expand(10, 12)
    ramp = (0.3 * rows + 0.1 * torch.arange(12.0))[None, None].repeat(1, 2, 1, 1)
    alternating = ramp + ((-1.0) ** rows)[None, None]
    low_pass = BinomialLowPass(2)
    assert list(low_pass.state_dict()) == []                      # nothing enters a checkpoint
    with torch.no_grad():
        kept, cleaned = low_pass(ramp), low_pass(alternating)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert torch.allclose(kept[inner], ramp[inner], atol=1e-5)
    assert torch.allclose(cleaned[inner], ramp[inner], atol=1e-5)


def test_map_low_pass_switch_keeps_the_weights_and_smooths_the_maps():
    cfg = dataclasses.replace(small("edge"), map_lowpass=False)
    torch.manual_seed(0)
    plain = build_translator(cfg, "haze").eval()
    filtered = build_translator(dataclasses.replace(cfg, map_lowpass=True), "haze").eval()
    filtered.load_state_dict(plain.state_dict())                  # same keys: strict load
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        maps = [tr.heads.log_depth(tr.network_outputs(x)[1])[0, 0] for tr in (plain, filtered)]
    rough = [float(m.diff(2, dim=0).abs().mean()) for m in maps]
    assert rough[1] < rough[0]


def test_translator_is_deterministic_and_uses_the_posterior_mean():
    torch.manual_seed(1)
    cfg = small("edge_pixel")
    vae = SharedLatentVAE(cfg)
    translator = OneDirectionTranslator(cfg, "haze")
    translator.encoder.load_state_dict(vae.encoder_clear.state_dict())
    translator.encoder_shared.load_state_dict(vae.encoder_shared.state_dict())
    translator.decoder_shared.load_state_dict(vae.decoder_shared.state_dict())
    translator.decoder.load_state_dict(vae.decoder_hazy.state_dict())
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        first, second = translator(x), translator(x)
        expected = (vae.decode(vae.encode(x * 2 - 1, "clear"), "hazy") + 1) / 2
    assert torch.equal(first, second)
    torch.testing.assert_close(first, expected.clamp(0, 1), rtol=0, atol=1e-6)


def test_shared_layers_are_one_module_used_by_both_domains():
    torch.manual_seed(2)
    vae = SharedLatentVAE(small("paper"))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    loss = vae.decode(vae.encode(x, "hazy"), "hazy").sum()
    loss.backward()
    assert all(p.grad is not None for p in vae.encoder_shared.parameters())
    assert all(p.grad is not None for p in vae.decoder_shared.parameters())
    assert all(p.grad is None for p in vae.encoder_clear.parameters())
    assert all(p.grad is None for p in vae.decoder_clear.parameters())
    # Changing the shared weights changes both domains' codes.
    before = [vae.encode(x, d).detach() for d in ("hazy", "clear")]
    with torch.no_grad():
        for p in vae.encoder_shared.parameters():
            p.add_(0.5)
    after = [vae.encode(x, d).detach() for d in ("hazy", "clear")]
    assert all(not torch.allclose(b, a) for b, a in zip(before, after))
    names = [n for n, _ in vae.named_parameters()]
    assert not any(n.startswith("encoder_hazy.") and "shared" in n for n in names)


def test_reparameterised_sample_is_seeded_and_unit_variance():
    mu = torch.zeros(1, 8, 32, 32)
    a = SharedLatentVAE.sample_latent(mu, torch.Generator().manual_seed(3))
    b = SharedLatentVAE.sample_latent(mu, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert abs(float(a.std()) - 1.0) < 0.05 and abs(float(a.mean())) < 0.05


def test_multiscale_discriminator_outputs_one_logit_map_per_scale():
    cfg = small("paper").discriminator
    dis = MultiScaleDiscriminator(cfg)
    outputs = dis(torch.rand(2, 3, 64, 48))
    assert [tuple(o.shape) for o in outputs] == [(2, 1, 8, 6), (2, 1, 4, 3), (2, 1, 2, 1)]


def test_network_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ValueError, match="unknown"):
        network_config_from_dict({"channels": 8, "colour": 1})
    with pytest.raises(ValueError, match="stem_kernel"):
        NetworkConfig(stem_kernel=4)
    with pytest.raises(ValueError, match="channels"):
        NetworkConfig(channels=0)
    cfg = preset_config("edge")
    assert network_config_from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown network preset"):
        preset_config("huge")


def test_onnx_export_keeps_height_and_width_dynamic(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(4)
    translator = OneDirectionTranslator(small("edge_pixel"), "dehaze").eval()
    path = tmp_path / "t.onnx"
    torch.onnx.export(translator, (torch.rand(1, 3, 32, 48),), str(path), input_names=["image"],
                      output_names=["output"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "output": {0: "batch", 2: "height", 3: "width"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 37, 51), (2, 3, 64, 30)]:
        x = torch.rand(*shape)
        got = session.run(None, {"image": x.numpy()})[0]
        with torch.no_grad():
            expected = translator(x).numpy()
        assert got.shape == shape
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_shipped_edge_model_loads_and_dehazes_held_out_frida2_scenes():
    from conftest import REPO, shared_data
    from haze_ros.networks.loading import load_translator, read_checkpoint_meta
    from haze_ros.physics.scattering import synthesize_haze
    from haze_ros.training.data import read_frida_scene

    stem = REPO / "models" / "edge"
    if not stem.with_suffix(".json").is_file():
        pytest.skip("no shipped model in models/")
    meta = read_checkpoint_meta(stem)
    assert meta["model"]["preset"] == "edge" and meta["training"]["data"]["test_scenes"][0] == 45
    dehaze = load_translator(stem, "dehaze")
    root = shared_data("frida2").parent
    gains = []
    for scene in (45, 55, 66):  # held-out test scenes (never trained on)
        clear, depth = read_frida_scene(root, scene)
        hazy = synthesize_haze(clear, depth, 1.2 / 100.0, (0.9, 0.9, 0.9)).astype(np.float32)
        with torch.no_grad():
            out = dehaze(torch.from_numpy(hazy.transpose(2, 0, 1))[None])[0].numpy().transpose(1, 2, 0)
        psnr = [10 * np.log10(1.0 / np.mean((img - clear) ** 2)) for img in (hazy, out)]
        gains.append(psnr[1] - psnr[0])
    assert np.mean(gains) > 3.0, gains  # shipped weights: +5.5 dB on these three scenes


def test_eager_and_traced_padding_indices_agree():
    from haze_ros.networks.translator import _pad_index, _pad_index_eager
    for multiple in (1, 4, 8):
        for size in range(1, 40):
            traced = _pad_index(torch.tensor(size), multiple, torch.device("cpu"))
            eager = _pad_index_eager(size, multiple, torch.device("cpu"))
            assert torch.equal(traced, eager), (size, multiple)
