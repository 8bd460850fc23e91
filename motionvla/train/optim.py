"""Optimizer, learning-rate schedule and EMA weights for the training loop."""

from __future__ import annotations

import torch
from torch import nn

from lerobot.optim.optimizers import AdamWConfig

from motionvla.train.config import TrainConfig
from motionvla.utils.lr_schedule import WarmupCosineSchedulerConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters (weight decay on all of them, as lerobot does), built by lerobot's
    ``AdamWConfig`` as lerobot-train builds it."""
    params = [p for p in model.parameters() if p.requires_grad]
    return AdamWConfig(lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                       grad_clip_norm=cfg.max_grad_norm).build(params)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up then cosine (or constant), through the scheduler class the policy's preset gives lerobot-train."""
    preset = WarmupCosineSchedulerConfig(num_warmup_steps=cfg.warmup_steps, schedule=cfg.schedule,
                                         min_lr_ratio=cfg.min_lr_ratio)
    return preset.build(optimizer, cfg.steps)


class EMA:
    """Exponential moving average of a model's parameters (buffers are copied as they are).

    ``ema = decay * ema + (1 - decay) * live`` after each optimizer step, kept in float32.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.params = {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}
        persistent = set(model.state_dict())  # non-persistent buffers (e.g. rotary tables) are not saved
        self.buffers = {n: b.detach().clone() for n, b in model.named_buffers() if n in persistent}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        names = [n for n, p in model.named_parameters() if n in self.params]
        live = dict(model.named_parameters())
        ema = [self.params[n] for n in names]
        torch._foreach_lerp_(ema, [live[n].detach().float() for n in names], 1.0 - self.decay)
        for n, b in model.named_buffers():
            if n in self.buffers:
                self.buffers[n].copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors by the model's own names (a safetensors file of it loads into the model)."""
        return {**self.buffers, **self.params}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = (set(self.params) | set(self.buffers)) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:5]}")
        for n in self.params:
            self.params[n].copy_(state[n])
        for n in self.buffers:
            self.buffers[n].copy_(state[n])

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s weights by the EMA weights (e.g. for evaluation)."""
        for n, p in model.named_parameters():
            if n in self.params:
                p.copy_(self.params[n])
        for n, b in model.named_buffers():
            if n in self.buffers:
                b.copy_(self.buffers[n])
