"""A minimal Adam with a cosine learning-rate decay, and the fit's robust penalty.

``torch.optim`` imports ``torch._dynamo`` on its first step (about 1 s on this 2-core CPU, more than the
whole landmark fit), so the fit uses this 20-line equivalent instead.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Adam", "charbonnier"]


def charbonnier(residual_sq: torch.Tensor, scale: float) -> torch.Tensor:
    """Charbonnier-like penalty on squared residuals: quadratic near 0, linear beyond ``scale``."""
    return scale * scale * (torch.sqrt(1.0 + residual_sq / (scale * scale)) - 1.0) * 2.0


class Adam:
    """Adam (Kingma & Ba) over a list of leaf tensors; ``lr`` decays from ``lr`` to ``lr * final`` by a cosine."""

    def __init__(self, params: list[torch.Tensor], lr: float, steps: int, final: float = 0.05,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 scales: list[float] | None = None) -> None:
        self.params, self.lr, self.steps, self.final = params, lr, max(steps, 1), final
        self.b1, self.b2, self.eps = betas[0], betas[1], eps
        self.scales = scales or [1.0] * len(params)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        progress = min(self.t / self.steps, 1.0)
        lr = self.lr * (self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * progress)))
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, m, v, scale in zip(self.params, self.m, self.v, self.scales):
            if p.grad is None:
                continue
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(lr * scale * (m / c1) / ((v / c2).sqrt() + self.eps))
