"""Loss functions of the paper, each a pure function of tensors (no module state, no randomness).

Notation (paper Sec. 3): hazy domain I, clear domain J; z_i ~ q_I(z|x_i) = N(E_μ,I(x_i), I);
x_{i→j} = G_J(z_i); x_{i→j→i} = G_I(z ~ q_J(z|x_{i→j})). Images are in the networks' range [−1, 1].

Latent codes are spatial maps ``(B, C, h, w)``; for the MMD each pixel's C-vector is one sample of
the code distribution (:func:`latent_samples`), so a batch of one image gives ``h·w`` samples of
dimension C, compared with as many samples of the prior N(0, I_C).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def latent_samples(z: torch.Tensor) -> torch.Tensor:
    """Flatten a code map ``(B, C, h, w)`` into ``(B·h·w, C)`` per-pixel code vectors."""
    if z.dim() != 4:
        raise ValueError(f"expected a (B, C, h, w) code map, got shape {tuple(z.shape)}")
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor, sigmas2: Sequence[float]) -> torch.Tensor:
    """Sum over bandwidths of k(a, b) = exp(−‖a − b‖² / (2σ²)); ``a`` (m, d), ``b`` (n, d) → (m, n)."""
    if not sigmas2:
        raise ValueError("at least one bandwidth is needed")
    sq_dist = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1).unsqueeze(0) - 2.0 * a @ b.t()).clamp_min(0.0)
    return sum(torch.exp(-sq_dist / (2.0 * s2)) for s2 in sigmas2)


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, sigmas2: Sequence[float]) -> torch.Tensor:
    """Unbiased squared MMD of eq. (8) between samples ``x`` (m, d) and ``y`` (n, d); m, n ≥ 2.

    MMD²[F, X, Y] = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j)
                    − 2/(mn) Σ_{i,j} k(x_i, y_j),
    with the Gaussian kernel k(x, x') = exp(−‖x − x'‖² / (2σ²)) summed over ``sigmas2`` (σ² values).
    Can be slightly negative (unbiased estimator); 0 in expectation iff the distributions match.
    """
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 samples per set, got {m} and {n}")
    k_xx, k_yy = gaussian_kernel(x, x, sigmas2), gaussian_kernel(y, y, sigmas2)
    k_xy = gaussian_kernel(x, y, sigmas2)
    sum_xx = k_xx.sum() - k_xx.diagonal().sum()
    sum_yy = k_yy.sum() - k_yy.diagonal().sum()
    return sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * k_xy.sum() / (m * n)


def mmd_to_prior(z: torch.Tensor, prior: torch.Tensor, sigmas2: Sequence[float]) -> torch.Tensor:
    """MMD(q(z|x) ‖ p_η(z)) of eqs. (9)–(12): eq. (8) between codes and prior samples.

    ``z``: code map ``(B, C, h, w)`` (sampled z = μ + η) or already flattened ``(m, C)``;
    ``prior``: ``(n, C)`` samples of N(0, I) drawn by the caller (kept pure and seedable).
    """
    samples = latent_samples(z) if z.dim() == 4 else z
    return mmd2_unbiased(samples, prior, sigmas2)


def kl_to_prior(mu: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, I) ‖ N(0, I)) per latent dimension, averaged: mean(μ²) / 2 (UNIT's objective, ablation).

    ``mu``: posterior means of any shape. UNIT uses mean(μ²); the factor 1/2 of the exact KL is kept.
    """
    return 0.5 * mu.pow(2).mean()


def reconstruction_l1(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p_G(x|z) up to constants for a unit Laplace likelihood: mean |x_rec − x| (as UNIT)."""
    return (x_rec - x).abs().mean()


def vae_loss(divergence: torch.Tensor, x_rec: torch.Tensor, x: torch.Tensor,
             lambda_m: float, lambda_recon: float) -> torch.Tensor:
    """MMD-VAE loss of eqs. (9)/(10): λ_m·MMD(q(z|x) ‖ p_η(z)) − λ_recon·E[log p_G(x|z)].

    ``divergence`` is the precomputed latent term (MMD, or KL for the ablation); the likelihood term
    is :func:`reconstruction_l1` of the reconstruction ``x_rec`` = G(z ~ q(z|x)) against ``x``.
    """
    return lambda_m * divergence + lambda_recon * reconstruction_l1(x_rec, x)


def cycle_loss(divergence_source: torch.Tensor, divergence_translated: torch.Tensor,
               x_cycle: torch.Tensor, x: torch.Tensor, lambda_m: float, lambda_recon: float) -> torch.Tensor:
    """MMD-VAE cycle-consistency of eqs. (11)/(12).

    For the hazy domain:

    L_cc_I = λ_m·MMD(q_I(z_i|x_i) ‖ p_η) + λ_m·MMD(q_J(z_j|x_{i→j}) ‖ p_η)
             − λ_recon·E_{z_j ~ q_J(z_j|x_{i→j})}[log p_{G_I}(x_i|z_j)],
    with the likelihood as L1 between the cycle reconstruction ``x_cycle`` = x_{i→j→i} and ``x``.
    """
    return (lambda_m * divergence_source + lambda_m * divergence_translated
            + lambda_recon * reconstruction_l1(x_cycle, x))


def _per_scale(logits) -> Sequence[torch.Tensor]:
    return logits if isinstance(logits, (list, tuple)) else [logits]


def discriminator_loss(real_logits, fake_logits, mode: str = "bce", lambda_adv: float = 1.0) -> torch.Tensor:
    """Compute the discriminator's side of eqs. (2)/(3), as a loss to minimise, summed over scales.

    ``bce`` (the paper): max E[log D(x)] + E[log(1 − D(G(z)))] ⇔ min BCE(D(x), 1) + BCE(D(G(z)), 0),
    with D(·) = sigmoid(logits). ``lsgan`` (UNIT): min E[(D(x) − 1)²] + E[D(G(z))²] on raw outputs.
    ``real_logits`` / ``fake_logits``: a tensor or a list of per-scale tensors (multi-scale D).
    """
    total = 0.0
    for real, fake in zip(_per_scale(real_logits), _per_scale(fake_logits)):
        if mode == "bce":
            total = total + F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) \
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        elif mode == "lsgan":
            total = total + (real - 1.0).pow(2).mean() + fake.pow(2).mean()
        else:
            raise ValueError(f"gan mode must be 'bce' or 'lsgan', got {mode!r}")
    return lambda_adv * total


def generator_adversarial_loss(fake_logits, mode: str = "bce", lambda_adv: float = 1.0) -> torch.Tensor:
    """Compute the encoder/generator side of eqs. (2)/(3), summed over scales.

    ``bce``: the non-saturating form of min E[log(1 − D(G(z)))], i.e. min BCE(D(G(z)), 1)
    (Goodfellow et al.; the paper's log loss). ``lsgan``: min E[(D(G(z)) − 1)²].
    """
    total = 0.0
    for fake in _per_scale(fake_logits):
        if mode == "bce":
            total = total + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        elif mode == "lsgan":
            total = total + (fake - 1.0).pow(2).mean()
        else:
            raise ValueError(f"gan mode must be 'bce' or 'lsgan', got {mode!r}")
    return lambda_adv * total


def total_loss(vae_hazy: torch.Tensor, vae_clear: torch.Tensor, gan_hazy: torch.Tensor,
               gan_clear: torch.Tensor, cc_hazy: torch.Tensor, cc_clear: torch.Tensor) -> torch.Tensor:
    """Total objective of eq. (13) for the encoders/generators.

    L = L_VAE_I + L_VAE_J + L_GAN_I + L_GAN_J + L_cc_I + L_cc_J
    (the λ weights are already inside each term; the discriminators maximise the GAN terms).
    """
    return vae_hazy + vae_clear + gan_hazy + gan_clear + cc_hazy + cc_clear


# ---------------------------------------------------------------------------------------------
# Physics generator (model.generator: physics). Images and maps here are in [0, 1] (t), metres or
# log-metres (depth); see haze_ros.networks.physics_model for the symbols.


def masked_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |prediction − target| over the pixels where ``target`` is finite (0 when there are none).

    Used for the log-depth against sparse LiDAR (NaN where no return); same shapes in.
    """
    valid = torch.isfinite(target)
    if not bool(valid.any()):
        return prediction.sum() * 0.0
    return (prediction[valid] - target[valid]).abs().mean()


def depth_upper_bound_loss(log_depth: torch.Tensor, log_bound: torch.Tensor, weight: float) -> torch.Tensor:
    """Hinge on a log-depth above its upper bound: λ·mean(max(0, log d̂ − log d_max)) (not in the paper).

    For real clear frames of a camera of known geometry the flat road bounds the depth below the
    horizon (``physics_data.flat_road_log_depth_bound``); nothing pulls the depth toward the bound.
    ``log_depth``, ``log_bound``: same shape ``(B, 1, h, w)`` [log m]; NaN in ``log_bound`` = no
    bound; the mean is over the bounded cells (0 when there are none, or when ``weight`` is 0).
    """
    valid = torch.isfinite(log_bound)
    if weight == 0.0 or not bool(valid.any()):
        return log_depth.sum() * 0.0
    return weight * F.relu(log_depth[valid] - log_bound[valid]).mean()


def supervised_dehaze_loss(t_pred: torch.Tensor, t_true: torch.Tensor, airlight_pred: torch.Tensor,
                           airlight_true: torch.Tensor, clear_pred: torch.Tensor, clear_true: torch.Tensor,
                           lambda_t: float, lambda_airlight: float, lambda_clear: float) -> torch.Tensor:
    """Supervised terms of G_J∘E_I on a pair with known t, A, J (eq. (1) inverted).

    λ_t·‖t̂ − t‖₁ + λ_A·‖Â − A‖₁ + λ_J·‖Ĵ − J‖₁, with Ĵ = (I − Â)/max(t̂↑, t0) + Â + c.
    ``t_*`` ``(B, 1, h, w)`` at map resolution, ``airlight_*`` ``(B, 3)``, ``clear_*`` ``(B, 3, H, W)``.
    """
    return (lambda_t * reconstruction_l1(t_pred, t_true)
            + lambda_airlight * reconstruction_l1(airlight_pred, airlight_true)
            + lambda_clear * reconstruction_l1(clear_pred, clear_true))


def supervised_haze_loss(log_depth_pred: torch.Tensor, log_depth_true: torch.Tensor, hazy_pred: torch.Tensor,
                         hazy_true: torch.Tensor, lambda_depth: float, lambda_haze: float) -> torch.Tensor:
    """Supervised terms of G_I∘E_J: λ_d·‖log d̂ − log d‖₁ (finite targets only) + λ_I·‖Î − I‖₁.

    Î = J·t̂ + A·(1 − t̂), t̂ = exp(−β·d̂) for the pair's own β and A (eq. (1)).
    ``log_depth_*`` ``(B, 1, h, w)`` [log m]; ``hazy_*`` ``(B, 3, H, W)`` in [0, 1].
    """
    return lambda_depth * masked_l1(log_depth_pred, log_depth_true) \
        + lambda_haze * reconstruction_l1(hazy_pred, hazy_true)


def self_augmentation_loss(clear_pred: torch.Tensor, clear_true: torch.Tensor, t_pred: torch.Tensor,
                           t_used: torch.Tensor, airlight_pred: torch.Tensor, airlight_used: torch.Tensor,
                           lambda_self: float) -> torch.Tensor:
    """Cycle J → I → J of a real clear frame through eq. (1) (eq. (12) with the physics generators).

    The frame is hazed with the model's own depth at a random β and A (D4's self-augmentation;
    the haze is detached) and dehazed again: λ_self·(‖Ĵ − J‖₁ + ‖t̂ − t‖₁ + ‖Â − A‖₁).
    """
    return lambda_self * (reconstruction_l1(clear_pred, clear_true) + reconstruction_l1(t_pred, t_used)
                          + reconstruction_l1(airlight_pred, airlight_used))


SMOOTHNESS_EDGE_GAMMA = 10.0  # γ of the edge weights e^(−γ·|∂I|), I the grey frame in [0, 1]


def edge_aware_smoothness(maps: torch.Tensor, image_lr: torch.Tensor, weight: float) -> torch.Tensor:
    """Second-order, edge-aware smoothness of a map: λ·mean(|∂²ₓm|·e^(−γ|∂ₓI|) + |∂²ᵧm|·e^(−γ|∂ᵧI|)).

    ``maps`` ``(B, C, h, w)`` (log-depth [log m] or the keep weight k), ``image_lr`` the frame at
    the maps' resolution ``(B, 3, h, w)`` in [0, 1] (its grey mean gives the edges; central
    differences, so a depth step at an image edge is free). Second differences leave ramps alone
    (a road's log-depth rises smoothly towards the horizon) and cost an alternating pattern four
    times its amplitude. Not in the paper: a prior of monocular depth (Godard et al. 2017, there
    first order) for the maps that no dense target constrains (real frames: the guided upsampling
    averages a row-by-row pattern away, so eq. (1)'s terms do not see it). ``weight`` = λ.
    """
    if weight == 0.0:  # off (the shipped recipe): no work per step
        return maps.new_zeros(())
    grey = image_lr.mean(dim=1, keepdim=True)
    dxx = maps[..., :, 2:] - 2.0 * maps[..., :, 1:-1] + maps[..., :, :-2]
    dyy = maps[..., 2:, :] - 2.0 * maps[..., 1:-1, :] + maps[..., :-2, :]
    wx = torch.exp(-SMOOTHNESS_EDGE_GAMMA * 0.5 * (grey[..., :, 2:] - grey[..., :, :-2]).abs())
    wy = torch.exp(-SMOOTHNESS_EDGE_GAMMA * 0.5 * (grey[..., 2:, :] - grey[..., :-2, :]).abs())
    return weight * ((dxx.abs() * wx).mean() + (dyy.abs() * wy).mean())


def fit_beta(t: torch.Tensor, depth_m: torch.Tensor) -> torch.Tensor:
    """Per-image β [1/m] that best explains t by t = exp(−β·d): the median of −log t / d.

    ``t`` ``(B, 1, h, w)`` in (0, 1], ``depth_m`` ``(B, 1, h, w)`` > 0 → ``(B, 1)`` (detached).
    Used by the re-hazing cycle of real fog photos, whose β is unknown.
    """
    ratio = (-torch.log(t.clamp(1e-4, 1.0)) / depth_m.clamp_min(1e-3)).detach()
    return ratio.flatten(1).median(dim=1).values[:, None]
