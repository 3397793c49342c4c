"""Training steps of the physics generator (``model.generator: physics``): the paper's terms + eq. (1).

The generator step reads top to bottom, one block per kind of data (see
:mod:`haze_ros.training.physics_data`); the discriminator step follows it on the generator's
detached outputs. Symbols as :mod:`haze_ros.networks.physics_model`: hazy domain I, clear J.

Terms of the generator step (every λ is in the YAML, ``loss.*``):

* eq. (9), L_VAE_I (real fog x_i): λ_m·MMD(q_I(z|x_i) ‖ N(0, I)) + λ_recon·‖Ĵ·t̂ + Â(1 − t̂) − x_i‖₁,
  i.e. G_I∘G_J's own eq. (1) gives the photo back (non-trivial: Ĵ is clamped to [0, 1]).
* eq. (10), L_VAE_J (real clear x_j): λ_m·MMD(q_J(z|x_j)) + λ_recon·‖G_J(z_j; x_j) − x_j‖₁: dehazing
  a clear frame leaves it as it is (t → 1).
* eqs. (2)/(3), GAN: D_I sees the model's haze on real clear frames (random β, A) against real
  fog; D_J sees dehazed real fog against real clear frames. Weights λ_adv·λ_adv_haze / λ_adv·λ_adv_clear.
* eq. (11), L_cc_I (real fog): x_i → Ĵ → E_J → d̂ → eq. (1) with the β fitted to t̂ and Â → x_i.
* eq. (12), L_cc_J (real clear, D4's self-augmentation): x_j hazed by the model's own depth at a
  random β, A (detached) → E_I → G_J → x_j, with t and A as targets too (λ_self).
* Supervised terms on synthetic pairs (FRIDA2 with known t, A, d) through the posterior mean
  (the inference path): t, A, J for the dehaze head; log-depth and I for the haze head. DDAD's
  LiDAR supervises the log-depth of real frames where it has returns (λ_depth).
* Not in the paper: the flat road bounds the depth of real clear frames of a known camera from
  above, below the horizon (``losses.depth_upper_bound_loss``, λ_road_bound): the middle of the
  road cannot lie beyond where a ray meets the ground, whatever D_I's pull toward dense fog.
* Not in the paper: edge-aware second-order smoothness (``losses.edge_aware_smoothness``) of the
  maps no dense target constrains: the log-depth of real clear frames and of dehazed real fog
  (λ_smooth_depth), the keep weight k of every dehazed batch (λ_smooth_keep). 0 (off) in the
  shipped recipe: at 1.0, with the previous transposed-convolution decoders, it removed their
  row-by-row near/far pattern but let far depth spread over the road (``docs/model.md``); the
  resize-convolution and the flat-road bound are what the shipped weights use instead.
"""

from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F

from haze_ros.networks.physics_model import PhysicsSharedLatentVAE, synthesize_hazy
from haze_ros.networks.range import to_network_range
from haze_ros.training import losses
from haze_ros.training.config import TrainConfig
from haze_ros.training.physics_data import PhysicsBatch
from haze_ros.training.trainer import Trainer, _psnr

DIS_POOL = 4  # the discriminators judge the frames average-pooled ×4 (colour, contrast, haze density)


def discriminator_view(x01: torch.Tensor) -> torch.Tensor:
    """What D_I / D_J see: ``(B, 3, H, W)`` in [0, 1] → ``(B, 3, H/4, W/4)`` in [−1, 1]."""
    return to_network_range(F.avg_pool2d(x01.clamp(0.0, 1.0), DIS_POOL))


class PhysicsTrainer(Trainer):
    """:class:`~haze_ros.training.trainer.Trainer` for the physics generator (same optimisers, DDP, state)."""

    @staticmethod
    def build_generators(config: TrainConfig) -> torch.nn.Module:
        """E_I, E_J, G_I, G_J of the physics model."""
        return PhysicsSharedLatentVAE(config.model)

    # ------------------------------------------------------------------ steps
    def gen_update(self, b: PhysicsBatch) -> Dict[str, torch.Tensor]:
        """One step of the encoders and generators; returns the loss terms and the detached fakes."""
        cfg, vae = self.config.loss, self.vae
        heads, s = vae.heads, self.config.model.input_stride
        lam_m, lam_r = cfg.lambda_m, cfg.lambda_recon

        # --- synthetic pairs: supervised, through the posterior mean (the inference path)
        mu, lr = vae.encode(b.syn_hazy, "hazy")
        raw, glob = vae.dehaze_raw(mu)
        clear_hat, _ = heads.dehaze(b.syn_hazy, lr, raw, glob)
        smooth = losses.edge_aware_smoothness(heads.keep_weight(raw), lr, cfg.lambda_smooth_keep)
        sup_dehaze = losses.supervised_dehaze_loss(
            heads.transmission(raw), F.avg_pool2d(b.syn_t, s), heads.airlight(glob), b.syn_airlight,
            clear_hat, b.syn_clear, cfg.lambda_t, cfg.lambda_airlight, cfg.lambda_clear)
        mu, lr = vae.encode(b.syn_clear, "clear")
        log_depth = vae.log_depth(mu)
        hazy_hat, _ = heads.haze(b.syn_clear, lr, log_depth, b.syn_beta, b.syn_airlight)
        sup_haze = losses.supervised_haze_loss(log_depth, b.syn_log_depth, hazy_hat, b.syn_hazy,
                                               cfg.lambda_depth, cfg.lambda_haze)

        # --- real clear frames: LiDAR depth, VAE (10), the model's haze for D_I, self-augmentation (12)
        mu_c, lr_c = vae.encode(b.real_clear, "clear")
        z_c = self._sample(mu_c)
        log_depth_c = vae.log_depth(mu_c)
        lidar = cfg.lambda_depth * losses.masked_l1(log_depth_c, b.real_log_depth)
        road_bound = losses.depth_upper_bound_loss(log_depth_c, b.real_log_bound, cfg.lambda_road_bound)
        smooth = smooth + losses.edge_aware_smoothness(log_depth_c, lr_c, cfg.lambda_smooth_depth)
        raw, glob = vae.dehaze_raw(z_c)
        clear_rec, _ = heads.dehaze(b.real_clear, lr_c, raw, glob)
        fake_hazy, t_fake = heads.haze(b.real_clear, lr_c, log_depth_c, b.aug_beta, b.aug_airlight)
        augmented = fake_hazy.detach()
        mu_a, lr_a = vae.encode(augmented, "hazy")
        raw, glob = vae.dehaze_raw(mu_a)
        clear_cycle, _ = heads.dehaze(augmented, lr_a, raw, glob)
        self_aug = losses.self_augmentation_loss(
            clear_cycle, b.real_clear, heads.transmission(raw), F.avg_pool2d(t_fake.detach(), s),
            heads.airlight(glob), b.aug_airlight, cfg.lambda_self)

        # --- real fog photos: VAE (9), D_J on the dehazed photo, re-hazing cycle (11)
        mu_h, lr_h = vae.encode(b.real_hazy, "hazy")
        z_h = self._sample(mu_h)
        raw_h, glob_h = vae.dehaze_raw(z_h)
        dehazed, t_h = heads.dehaze(b.real_hazy, lr_h, raw_h, glob_h)
        smooth = smooth + losses.edge_aware_smoothness(heads.keep_weight(raw_h), lr_h, cfg.lambda_smooth_keep)
        dehazed01 = dehazed.clamp(0.0, 1.0)
        airlight_h = heads.airlight(glob_h)
        hazy_rec = synthesize_hazy(dehazed01, t_h, airlight_h)
        mu_hc, lr_hc = vae.encode(dehazed01, "clear")
        z_hc = self._sample(mu_hc)
        log_depth_hc = vae.log_depth(z_hc)
        smooth = smooth + losses.edge_aware_smoothness(log_depth_hc, lr_hc, cfg.lambda_smooth_depth)
        beta_hat = losses.fit_beta(heads.transmission(raw_h), torch.exp(log_depth_hc))
        hazy_cycle, _ = heads.haze(dehazed01, lr_hc, log_depth_hc, beta_hat, airlight_h)

        div_h, div_c = self._divergence(mu_h, z_h), self._divergence(mu_c, z_c)
        div_hc, div_a = self._divergence(mu_hc, z_hc), self._divergence(mu_a, self._sample(mu_a))
        mode, adv = cfg.gan_mode, cfg.lambda_adv
        terms = {
            "vae_hazy": losses.vae_loss(div_h, hazy_rec, b.real_hazy, lam_m, lam_r),
            "vae_clear": losses.vae_loss(div_c, clear_rec, b.real_clear, lam_m, lam_r),
            "gan_hazy": losses.generator_adversarial_loss(self.dis_hazy(discriminator_view(fake_hazy)), mode,
                                                          adv * cfg.lambda_adv_haze),
            "gan_clear": losses.generator_adversarial_loss(self.dis_clear(discriminator_view(dehazed)), mode,
                                                           adv * cfg.lambda_adv_clear),
            "cc_hazy": losses.cycle_loss(div_h, div_hc, hazy_cycle, b.real_hazy, lam_m, lam_r),
            "cc_clear": losses.cycle_loss(div_c, div_a, clear_cycle, b.real_clear, lam_m, 0.0) + self_aug,
        }
        loss = losses.total_loss(**terms) + sup_dehaze + sup_haze + lidar + road_bound + smooth
        terms.update(sup_dehaze=sup_dehaze, sup_haze=sup_haze, lidar_depth=lidar, road_bound=road_bound,
                     smoothness=smooth,
                     total=loss, fake_hazy=fake_hazy.detach(), dehazed=dehazed.detach())
        return terms

    def dis_update_physics(self, b: PhysicsBatch, fake_hazy: torch.Tensor, dehazed: torch.Tensor
                           ) -> Dict[str, float]:
        """One step of D_I, D_J on eqs. (2)–(3): real fog vs the model's haze; real clear vs dehazed fog."""
        cfg = self.config.loss
        loss_hazy = losses.discriminator_loss(self.dis_hazy(discriminator_view(b.real_hazy)),
                                              self.dis_hazy(discriminator_view(fake_hazy)), cfg.gan_mode,
                                              cfg.lambda_adv * cfg.lambda_adv_haze)
        loss_clear = losses.discriminator_loss(self.dis_clear(discriminator_view(b.real_clear)),
                                               self.dis_clear(discriminator_view(dehazed)), cfg.gan_mode,
                                               cfg.lambda_adv * cfg.lambda_adv_clear)
        stepped = self._optimise(self.dis_opt, loss_hazy + loss_clear, self.dis_params())
        return {"dis/hazy": loss_hazy.item(), "dis/clear": loss_clear.item(), "dis/stepped": float(stepped)}

    def train_step(self, batch: PhysicsBatch) -> Dict[str, float]:  # type: ignore[override]
        """Generator step, then discriminator step on its detached outputs; values as floats.

        Non-finite steps are skipped and counted as in :meth:`Trainer.train_step`.
        """
        lr = self.config.optim.lr_at(self.step)
        for group in self.gen_opt.param_groups + self.dis_opt.param_groups:
            group["lr"] = lr
        b = batch.to(self.device)
        terms = self.gen_update(b)
        fake_hazy, dehazed = terms.pop("fake_hazy"), terms.pop("dehazed")
        stepped = self._optimise(self.gen_opt, terms["total"], self.vae.parameters())
        result = {f"gen/{k}": v.item() for k, v in terms.items()}
        result["gen/stepped"] = float(stepped)
        result.update(self.dis_update_physics(b, fake_hazy, dehazed))
        self.step += 1
        result["optim/lr"] = lr
        result["gen/recon_l1"] = result["gen/sup_dehaze"]  # the progress bar's summary column
        self._count_nonfinite(result)
        return result

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def translate_physics(self, image01: torch.Tensor, direction: str, beta: float = 0.0,
                          airlight=(1.0, 1.0, 1.0)) -> torch.Tensor:
        """Dehaze, or haze at ``beta`` [1/m] and ``airlight``, a ``(1, 3, H, W)`` frame in [0, 1]."""
        vae = self.vae
        if direction == "dehaze":
            mu, lr = vae.encode(image01, "hazy")
            raw, glob = vae.dehaze_raw(mu)
            return vae.heads.dehaze(image01, lr, raw, glob)[0].clamp(0.0, 1.0)
        mu, lr = vae.encode(image01, "clear")
        beta_t = torch.full((image01.shape[0], 1), float(beta), device=image01.device)
        airlight_t = torch.tensor([list(airlight)], dtype=torch.float32, device=image01.device)
        return vae.heads.haze(image01, lr, vae.log_depth(mu), beta_t, airlight_t)[0].clamp(0.0, 1.0)

    @torch.no_grad()
    def validate(self, images) -> Dict[str, float]:
        """Mean PSNR [dB] of dehazing and of conditioned haze synthesis (the image's own β and A)."""
        self.vae.eval()
        dehaze, haze = [], []
        for item in images:
            hazy = torch.from_numpy(item.hazy)[None].to(self.device)
            clear = torch.from_numpy(item.clear)[None].to(self.device)
            dehaze.append(_psnr(self.translate_physics(hazy, "dehaze"), clear))
            haze.append(_psnr(self.translate_physics(clear, "haze", item.beta, item.airlight), hazy))
        self.vae.train()
        mean_d, mean_h = sum(dehaze) / len(dehaze), sum(haze) / len(haze)
        return {"val/psnr_dehaze": mean_d, "val/psnr_haze": mean_h, "val/psnr_mean": (mean_d + mean_h) / 2}

    @torch.no_grad()
    def sample_row(self, item) -> List[torch.Tensor]:
        """Sample-grid row: hazy | dehazed | clear | model haze (same β, A) | hazy."""
        self.vae.eval()
        hazy = torch.from_numpy(item.hazy)[None].to(self.device)
        clear = torch.from_numpy(item.clear)[None].to(self.device)
        row = [hazy, self.translate_physics(hazy, "dehaze"), clear,
               self.translate_physics(clear, "haze", item.beta, item.airlight), hazy]
        self.vae.train()
        return row
