"""Loss functions against eq. (8) evaluated directly in NumPy and against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from haze_ros.training import losses


def mmd2_numpy(x: np.ndarray, y: np.ndarray, sigmas2) -> float:
    """Eq. (8) literally: double loops over the sample sets, Gaussian kernel summed over bandwidths."""
    def k(a, b):
        return sum(math.exp(-float(np.sum((a - b) ** 2)) / (2.0 * s2)) for s2 in sigmas2)
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def test_mmd_matches_a_direct_numpy_evaluation_of_eq8():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.7, 1.3, size=(5, 3))
    sigmas2 = (0.5, 2.0)
    got = losses.mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y), sigmas2)
    assert float(got) == pytest.approx(mmd2_numpy(x, y, sigmas2), rel=1e-9, abs=1e-12)


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_mean_shift():
    gen = torch.Generator().manual_seed(1)
    sigmas2 = (0.25 * 8, 8.0, 32.0)
    base = torch.randn(400, 8, generator=gen)
    values = []
    for shift in (0.0, 0.25, 0.5, 1.0, 2.0):
        other = torch.randn(400, 8, generator=gen) + shift
        values.append(float(losses.mmd2_unbiased(base, other, sigmas2)))
    assert abs(values[0]) < 0.01
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert values[-1] > 0.5


def test_mmd_to_prior_flattens_code_maps_per_pixel():
    z = torch.arange(16, dtype=torch.float64).reshape(1, 2, 2, 4)
    samples = losses.latent_samples(z)
    assert samples.shape == (8, 2)
    assert samples[0].tolist() == [0.0, 8.0] and samples[5].tolist() == [5.0, 13.0]
    prior = torch.zeros(3, 2, dtype=torch.float64)
    assert float(losses.mmd_to_prior(z, prior, (1.0,))) == pytest.approx(
        mmd2_numpy(samples.numpy(), prior.numpy(), (1.0,)))


def test_mmd_needs_two_samples_per_set():
    with pytest.raises(ValueError):
        losses.mmd2_unbiased(torch.zeros(1, 2), torch.zeros(3, 2), (1.0,))


def test_gaussian_kernel_hand_values():
    a = torch.tensor([[0.0, 0.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    k = losses.gaussian_kernel(a, b, (1.0, 2.0))  # ‖a − b‖² = 2 and 0
    expected = [math.exp(-1.0) + math.exp(-0.5), 2.0]
    assert k[0].tolist() == pytest.approx(expected)


def test_reconstruction_vae_and_cycle_losses_hand_values():
    x = torch.tensor([0.0, 0.5, -1.0, 1.0])
    x_rec = torch.tensor([0.5, 0.5, -0.5, 0.0])  # |diff| = .5, 0, .5, 1 → mean 0.5
    assert float(losses.reconstruction_l1(x_rec, x)) == pytest.approx(0.5)
    assert float(losses.vae_loss(torch.tensor(2.0), x_rec, x, 0.01, 10.0)) == pytest.approx(0.02 + 5.0)
    cc = losses.cycle_loss(torch.tensor(2.0), torch.tensor(3.0), x_rec, x, 0.01, 10.0)
    assert float(cc) == pytest.approx(0.02 + 0.03 + 5.0)


def test_kl_variant_hand_value():
    mu = torch.tensor([[1.0, -2.0], [0.0, 3.0]])  # mean μ² = 14/4 → KL = 1.75
    assert float(losses.kl_to_prior(mu)) == pytest.approx(1.75)


def test_adversarial_losses_bce_hand_values():
    zero = torch.zeros(1, 1, 2, 2)  # sigmoid(0) = 0.5 → each BCE term = ln 2
    assert float(losses.discriminator_loss(zero, zero, "bce")) == pytest.approx(2 * math.log(2))
    assert float(losses.generator_adversarial_loss(zero, "bce", 3.0)) == pytest.approx(3 * math.log(2))
    real, fake = torch.full((1, 1, 1, 1), 2.0), torch.full((1, 1, 1, 1), -1.0)
    expected = math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))  # −log σ(2) − log(1 − σ(−1))
    assert float(losses.discriminator_loss(real, fake, "bce")) == pytest.approx(expected)


def test_adversarial_losses_lsgan_and_multiscale_hand_values():
    real = [torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 1, 1), 1.0)]
    fake = [torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 1, 1), 2.0)]
    # scale 1: (0.5−1)² + 0.5² = 0.5 ; scale 2: 0 + 4 = 4
    assert float(losses.discriminator_loss(real, fake, "lsgan", 2.0)) == pytest.approx(2 * 4.5)
    assert float(losses.generator_adversarial_loss(fake, "lsgan")) == pytest.approx(0.25 + 1.0)
    with pytest.raises(ValueError):
        losses.discriminator_loss(real, fake, "wgan")


def test_total_loss_is_the_sum_of_eq13_terms():
    terms = [torch.tensor(float(v)) for v in (1, 2, 3, 4, 5, 6)]
    assert float(losses.total_loss(*terms)) == 21.0


def test_edge_aware_smoothness_costs_a_row_pattern_not_a_ramp_nor_a_step_at_an_edge():
    """Second differences: 0 for a ramp, 4·a·λ for rows alternating ±a on a flat image.

    A depth step where the image has an edge costs e^(−γ·|∂I|) of the same step on a flat image.
    """
    rows = torch.arange(16.0)[:, None].expand(16, 16)
    flat = torch.full((1, 3, 16, 16), 0.5)
    ramp = (0.1 * rows)[None, None]
    assert losses.edge_aware_smoothness(ramp, flat, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    stripes = (0.5 * (-1.0) ** rows)[None, None]     # rows alternating +0.5 / -0.5
    assert losses.edge_aware_smoothness(stripes, flat, 2.0).item() == pytest.approx(2.0 * 4 * 0.5, rel=1e-5)
    step = (rows >= 8).float()[None, None]            # a depth step between rows 7 and 8
    edged = flat.clone()
    edged[..., 8:, :] = 1.0                           # ... where the image steps from 0.5 to 1.0
    on_flat = losses.edge_aware_smoothness(step, flat, 1.0).item()
    on_edge = losses.edge_aware_smoothness(step, edged, 1.0).item()
    assert on_flat > 0 and on_edge == pytest.approx(on_flat * math.exp(-losses.SMOOTHNESS_EDGE_GAMMA * 0.25),
                                                    rel=1e-4)
    assert losses.edge_aware_smoothness(stripes, flat, 0.0).item() == 0.0


def test_depth_upper_bound_loss_costs_only_depth_beyond_the_bound():
    bound = torch.tensor([[[[1.0, 2.0, float("nan")]]]])
    near = torch.tensor([[[[0.5, 2.0, 9.0]]]])       # at or below the bound; NaN cell unconstrained
    assert losses.depth_upper_bound_loss(near, bound, 1.0).item() == 0.0
    far = torch.tensor([[[[1.5, 3.0, 9.0]]]], requires_grad=True)
    value = losses.depth_upper_bound_loss(far, bound, 2.0)
    assert value.item() == pytest.approx(2.0 * (0.5 + 1.0) / 2)  # mean over the two bounded cells
    value.backward()
    assert far.grad[0, 0, 0, :2].tolist() == [1.0, 1.0] and far.grad[0, 0, 0, 2].item() == 0.0
    assert losses.depth_upper_bound_loss(far, bound, 0.0).item() == 0.0
    assert losses.depth_upper_bound_loss(far, torch.full_like(bound, float("nan")), 1.0).item() == 0.0
