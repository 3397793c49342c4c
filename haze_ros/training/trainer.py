"""The model's training steps (UNIT style), checkpoint state and validation.

A discriminator step and a generator step that read top to bottom and return their loss values,
plus the checkpoint state (weights, optimiser, RNG) and the validation PSNR.

Symbols: hazy domain I, clear domain J (see :mod:`haze_ros.networks.vae`). Images inside the
trainer are in the networks' range [−1, 1]; batches arrive in [0, 1] and are converted by
:func:`haze_ros.networks.translator.to_network_range`.

Distributed data parallel: with ``world_size > 1`` (``torch.distributed`` initialised, gloo on the
CPU) the parameters are broadcast from rank 0 at start and every gradient is averaged over ranks
(all-reduce) before each optimiser step, which is what ``DistributedDataParallel`` does; it is done
explicitly because the steps call the sub-networks' methods rather than one ``forward``.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List

import torch
import torch.distributed as dist

from haze_ros.networks.discriminator import MultiScaleDiscriminator
from haze_ros.networks.translator import from_network_range, to_network_range
from haze_ros.networks.vae import SharedLatentVAE
from haze_ros.training import losses
from haze_ros.training.config import TrainConfig


class NonFiniteLossError(RuntimeError):
    """Too many training steps produced NaN/inf losses (``run.max_nonfinite_steps``)."""


class Trainer:
    """Owns the networks and optimisers of one run; ``device`` is passed in."""

    def __init__(self, config: TrainConfig, device: torch.device, rank: int = 0, world_size: int = 1) -> None:
        self.config, self.device, self.rank, self.world_size = config, torch.device(device), rank, world_size
        torch.manual_seed(config.run.seed)  # identical initialisation on every rank (then broadcast)
        padding = config.model.padding
        self.vae = self.build_generators(config).to(self.device)
        self.dis_hazy = MultiScaleDiscriminator(config.model.discriminator, padding).to(self.device)
        self.dis_clear = MultiScaleDiscriminator(config.model.discriminator, padding).to(self.device)
        opt = config.optim
        adam = dict(lr=opt.lr, betas=(opt.beta1, opt.beta2), weight_decay=opt.weight_decay)
        self.gen_opt = torch.optim.Adam(self.vae.parameters(), **adam)
        self.dis_opt = torch.optim.Adam(list(self.dis_hazy.parameters()) + list(self.dis_clear.parameters()),
                                        **adam)
        self.noise = torch.Generator(device=self.device).manual_seed(config.run.seed * 7919 + rank)
        self.step = 0
        self.nonfinite_steps = 0
        scales = config.loss.mmd_bandwidth_scales
        self.mmd_sigmas2 = tuple(s * config.model.latent_channels for s in scales)
        if world_size > 1:
            for tensor in self._all_parameters():
                dist.broadcast(tensor.data, src=0)

    @staticmethod
    def build_generators(config: TrainConfig) -> torch.nn.Module:
        """The generator side (E_I, E_J, G_I, G_J with shared layers): the pixel model here."""
        if config.model.is_physics:
            raise ValueError("model.generator 'physics' trains with PhysicsTrainer "
                             "(haze_ros.training.physics_trainer)")
        return SharedLatentVAE(config.model)

    # ------------------------------------------------------------------ steps
    def dis_update(self, x_hazy: torch.Tensor, x_clear: torch.Tensor) -> Dict[str, float]:
        """One step of D_I, D_J on eqs. (2)–(3): real images vs translations x_{j→i}, x_{i→j}."""
        cfg = self.config.loss
        with torch.no_grad():
            x_h2c = self.vae.decode(self._sample(self.vae.encode(x_hazy, "hazy")), "clear")
            x_c2h = self.vae.decode(self._sample(self.vae.encode(x_clear, "clear")), "hazy")
        loss_hazy = losses.discriminator_loss(self.dis_hazy(x_hazy), self.dis_hazy(x_c2h), cfg.gan_mode,
                                              cfg.lambda_adv)
        loss_clear = losses.discriminator_loss(self.dis_clear(x_clear), self.dis_clear(x_h2c), cfg.gan_mode,
                                               cfg.lambda_adv)
        loss = loss_hazy + loss_clear
        stepped = self._optimise(self.dis_opt, loss, self.dis_params())
        return {"dis/hazy": loss_hazy.item(), "dis/clear": loss_clear.item(), "dis/stepped": float(stepped)}

    def gen_update(self, x_hazy: torch.Tensor, x_clear: torch.Tensor,
                   paired: torch.Tensor) -> Dict[str, float]:
        """One step of E_I, E_J, G_I, G_J on the total loss (13) (+ optional paired L1).

        ``paired``: ``(B,)`` bool, true where (x_hazy, x_clear) show the same synthetic scene.
        """
        cfg, vae = self.config.loss, self.vae
        mu_h, mu_c = vae.encode(x_hazy, "hazy"), vae.encode(x_clear, "clear")
        z_h, z_c = self._sample(mu_h), self._sample(mu_c)
        x_h2h, x_c2c = vae.decode(z_h, "hazy"), vae.decode(z_c, "clear")           # reconstruction
        x_h2c, x_c2h = vae.decode(z_h, "clear"), vae.decode(z_c, "hazy")           # translation
        mu_h2c, mu_c2h = vae.encode(x_h2c, "clear"), vae.encode(x_c2h, "hazy")
        z_h2c, z_c2h = self._sample(mu_h2c), self._sample(mu_c2h)
        x_h2c2h, x_c2h2c = vae.decode(z_h2c, "hazy"), vae.decode(z_c2h, "clear")   # cycle
        div = {name: self._divergence(mu, z) for name, mu, z in
               (("h", mu_h, z_h), ("c", mu_c, z_c), ("h2c", mu_h2c, z_h2c), ("c2h", mu_c2h, z_c2h))}
        lam_m, lam_r, mode, lam_adv = cfg.lambda_m, cfg.lambda_recon, cfg.gan_mode, cfg.lambda_adv
        terms = {
            "vae_hazy": losses.vae_loss(div["h"], x_h2h, x_hazy, lam_m, lam_r),
            "vae_clear": losses.vae_loss(div["c"], x_c2c, x_clear, lam_m, lam_r),
            "gan_hazy": losses.generator_adversarial_loss(self.dis_hazy(x_c2h), mode, lam_adv),
            "gan_clear": losses.generator_adversarial_loss(self.dis_clear(x_h2c), mode, lam_adv),
            "cc_hazy": losses.cycle_loss(div["h"], div["h2c"], x_h2c2h, x_hazy, lam_m, lam_r),
            "cc_clear": losses.cycle_loss(div["c"], div["c2h"], x_c2h2c, x_clear, lam_m, lam_r),
        }
        loss = losses.total_loss(**terms)
        if cfg.lambda_paired > 0 and bool(paired.any()):  # optional, not in the paper: see LossConfig
            terms["paired"] = self._paired_loss(mu_h[paired], mu_c[paired], x_hazy[paired], x_clear[paired])
            loss = loss + terms["paired"]
        stepped = self._optimise(self.gen_opt, loss, self.vae.parameters())
        out = {f"gen/{k}": v.item() for k, v in terms.items()}
        recon = (losses.reconstruction_l1(x_h2h, x_hazy) + losses.reconstruction_l1(x_c2c, x_clear)) / 2
        out.update({"gen/total": loss.item(), "gen/recon_l1": recon.item(),
                    "gen/divergence": (div["h"] + div["c"]).item() / 2, "gen/stepped": float(stepped)})
        return out

    def train_step(self, hazy01: torch.Tensor, clear01: torch.Tensor,
                   paired: torch.Tensor) -> Dict[str, float]:
        """Discriminator step then generator step on one batch ``(B, 3, c, c)`` in [0, 1].

        A step whose losses are NaN/inf updates nothing and is counted; more than
        ``run.max_nonfinite_steps`` of them raise :class:`NonFiniteLossError`.
        """
        lr = self.config.optim.lr_at(self.step)
        for group in self.gen_opt.param_groups + self.dis_opt.param_groups:
            group["lr"] = lr
        x_hazy = to_network_range(hazy01.to(self.device))
        x_clear = to_network_range(clear01.to(self.device))
        result = self.dis_update(x_hazy, x_clear)
        result.update(self.gen_update(x_hazy, x_clear, paired.to(self.device)))
        self.step += 1
        result["optim/lr"] = lr
        self._count_nonfinite(result)
        return result

    def _count_nonfinite(self, result: Dict[str, float]) -> None:
        """Count a step that skipped an update; raise :class:`NonFiniteLossError` past the limit."""
        if result["dis/stepped"] < 1.0 or result["gen/stepped"] < 1.0:
            self.nonfinite_steps += 1
            if self.nonfinite_steps > self.config.run.max_nonfinite_steps:
                raise NonFiniteLossError(f"{self.nonfinite_steps} steps with non-finite losses (limit "
                                         f"run.max_nonfinite_steps = {self.config.run.max_nonfinite_steps})")

    # ------------------------------------------------------------------ helpers
    def _paired_loss(self, mu_h: torch.Tensor, mu_c: torch.Tensor, x_hazy: torch.Tensor,
                     x_clear: torch.Tensor) -> torch.Tensor:
        """Supervised L1 of both translations on synthetic pairs, through the posterior mean.

        λ_paired·(‖G_J(μ_I(x_i)) − x_j‖₁ + ‖G_I(μ_J(x_j)) − x_i‖₁): the deterministic path that
        inference uses (the paper's terms keep the sampled z).
        """
        x_h2c = self.vae.decode(mu_h, "clear")
        x_c2h = self.vae.decode(mu_c, "hazy")
        return self.config.loss.lambda_paired * (losses.reconstruction_l1(x_h2c, x_clear)
                                                 + losses.reconstruction_l1(x_c2h, x_hazy))

    def _sample(self, mu: torch.Tensor) -> torch.Tensor:
        return SharedLatentVAE.sample_latent(mu, self.noise)

    def _divergence(self, mu: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Compute the latent term of eqs. (9)–(12): MMD(q(z|x) ‖ N(0, I)) (paper) or the KL of UNIT."""
        cfg = self.config.loss
        if cfg.latent_divergence == "kl":
            return losses.kl_to_prior(mu)
        samples = losses.latent_samples(z)
        if samples.shape[0] > cfg.mmd_max_samples:
            pick = torch.randperm(samples.shape[0], generator=self.noise, device=self.device)
            samples = samples[pick[:cfg.mmd_max_samples]]
        prior = torch.randn(samples.shape, generator=self.noise, device=self.device)
        return losses.mmd_to_prior(samples, prior, self.mmd_sigmas2)

    def _optimise(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: Iterable) -> bool:
        """Backward + (all-reduce) + step, unless the loss is non-finite on any rank (then skip: False)."""
        optimizer.zero_grad(set_to_none=True)
        finite = torch.tensor([1.0 if math.isfinite(loss.item()) else 0.0])
        if self.world_size > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if finite.item() < 1.0:
            return False
        loss.backward()
        if self.world_size > 1:
            for param in params:
                if param.grad is not None:
                    dist.all_reduce(param.grad)
                    param.grad /= self.world_size
        optimizer.step()
        return True

    def dis_params(self) -> List[torch.nn.Parameter]:
        """Parameters of D_I and D_J."""
        return list(self.dis_hazy.parameters()) + list(self.dis_clear.parameters())

    def _all_parameters(self) -> List[torch.Tensor]:
        return list(self.vae.parameters()) + self.dis_params()

    # ------------------------------------------------------------------ state
    def model_tensors(self) -> Dict[str, torch.Tensor]:
        """All weights with the checkpoint prefixes ``vae.``, ``dis_hazy.``, ``dis_clear.``."""
        tensors = {f"vae.{k}": v for k, v in self.vae.state_dict().items()}
        tensors.update({f"dis_hazy.{k}": v for k, v in self.dis_hazy.state_dict().items()})
        tensors.update({f"dis_clear.{k}": v for k, v in self.dis_clear.state_dict().items()})
        return tensors

    def load_model_tensors(self, tensors: Dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`model_tensors` (strict: every key must match)."""
        modules = (("vae.", self.vae), ("dis_hazy.", self.dis_hazy), ("dis_clear.", self.dis_clear))
        for prefix, module in modules:
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                                   strict=True)

    def optimizer_tensors(self) -> Dict[str, torch.Tensor]:
        """Adam states flattened to ``{gen|dis}.{param_index}.{step|exp_avg|exp_avg_sq}`` + RNG state."""
        tensors = {"rng.noise": self.noise.get_state()}
        for name, opt in (("gen", self.gen_opt), ("dis", self.dis_opt)):
            for index, state in opt.state_dict()["state"].items():
                for key, value in state.items():
                    tensors[f"{name}.{index}.{key}"] = torch.as_tensor(value, dtype=torch.float32) \
                        if key == "step" else value
        return tensors

    def load_optimizer_tensors(self, tensors: Dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`optimizer_tensors`."""
        self.noise.set_state(tensors["rng.noise"])
        for name, opt in (("gen", self.gen_opt), ("dis", self.dis_opt)):
            state_dict = opt.state_dict()
            states: Dict[int, Dict[str, torch.Tensor]] = {}
            for key, value in tensors.items():
                parts = key.split(".")
                if parts[0] == name:
                    states.setdefault(int(parts[1]), {})[parts[2]] = value.clone()
            state_dict["state"] = states
            opt.load_state_dict(state_dict)

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self, images) -> Dict[str, float]:
        """Mean PSNR [dB] of dehazing (vs clear) and haze synthesis (vs the physics hazy image).

        ``images``: :class:`~haze_ros.training.data.ValidationImage` full frames (CHW, [0, 1]); the
        posterior mean is used (inference path). ``val/psnr_mean`` selects the best checkpoint.
        """
        self.vae.eval()
        dehaze, haze = [], []
        for item in images:
            hazy = torch.from_numpy(item.hazy)[None].to(self.device)
            clear = torch.from_numpy(item.clear)[None].to(self.device)
            dehaze.append(_psnr(self.translate(hazy, "hazy", "clear"), clear))
            haze.append(_psnr(self.translate(clear, "clear", "hazy"), hazy))
        self.vae.train()
        mean_d, mean_h = sum(dehaze) / len(dehaze), sum(haze) / len(haze)
        return {"val/psnr_dehaze": mean_d, "val/psnr_haze": mean_h, "val/psnr_mean": (mean_d + mean_h) / 2}

    def translate(self, image01: torch.Tensor, source: str, target: str) -> torch.Tensor:
        """G_target(E_μ,source(x)) for ``(B, 3, H, W)`` in [0, 1], H, W multiples of the size multiple."""
        return from_network_range(self.vae.decode(self.vae.encode(to_network_range(image01), source), target))

    @torch.no_grad()
    def sample_row(self, item) -> List[torch.Tensor]:
        """One row of the sample grid, ``(1, 3, H, W)`` cells: hazy | dehazed | clear | model haze | hazy."""
        hazy = torch.from_numpy(item.hazy)[None].to(self.device)
        clear = torch.from_numpy(item.clear)[None].to(self.device)
        return [hazy, self.translate(hazy, "hazy", "clear"), clear, self.translate(clear, "clear", "hazy"),
                hazy]


def _psnr(pred: torch.Tensor, ref: torch.Tensor) -> float:
    mse = float(torch.mean((pred.clamp(0, 1) - ref) ** 2))
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))
