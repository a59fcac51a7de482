"""Adam and its cosine learning-rate schedule, for the fitting loops.

The same arithmetic as `torch.optim.Adam` (its single-tensor path, which torch takes on the
CPU) and `torch.optim.lr_scheduler.CosineAnnealingLR`, step for step, so fits are unchanged;
written out because torch's optimizers import torch._dynamo on their first call, 1.0 s of
every learn (a `--quality fast` fit is about 20 s).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from tonemorph.errors import ParameterError


class Adam:
    """Adam (Kingma & Ba 2015) over a list of tensors; `lr` may be changed between steps."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        if not self.params:
            raise ParameterError("Adam needs at least one parameter to optimise")
        if not lr >= 0.0:
            raise ParameterError(f"the learning rate must be >= 0, got {lr}")
        self.lr, self.betas, self.eps = float(lr), betas, eps
        self._avg = [torch.zeros_like(p) for p in self.params]
        self._avg_sq = [torch.zeros_like(p) for p in self.params]
        self._steps = [0] * len(self.params)  # per tensor: one without a gradient is skipped

    def zero_grad(self) -> None:
        """Drop every parameter's gradient."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            self._steps[i] += 1
            step = float(self._steps[i])
            self._avg[i].lerp_(p.grad, 1 - beta1)
            self._avg_sq[i].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            denom = (self._avg_sq[i].sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(self._avg[i], denom, value=-(self.lr / (1 - beta1 ** step)))


class CosineLR:
    """Cosine annealing of an optimiser's `lr` from its value to `eta_min` over `t_max` steps
    (then back up, as torch's schedule does); call `step` after each optimiser step."""

    def __init__(self, opt: Adam, t_max: int, eta_min: float = 0.0):
        if t_max < 1:
            raise ParameterError(f"t_max must be >= 1 step, got {t_max}")
        self.opt, self.t_max, self.eta_min = opt, t_max, eta_min
        self.base_lr = opt.lr
        self.epoch = 0

    def step(self) -> None:
        """Advance one step: torch's recursive form, whose rounding the fits were tuned with."""
        self.epoch += 1
        e, t, lr = self.epoch, self.t_max, self.opt.lr
        if (e - 1 - t) % (2 * t) == 0:
            self.opt.lr = lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / t)) / 2
        else:
            self.opt.lr = ((1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
                           * (lr - self.eta_min) + self.eta_min)


__all__ = ["Adam", "CosineLR"]
