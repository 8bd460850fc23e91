"""The learning-rate schedule both trainers use: linear warm-up, then cosine decay (or constant).

One definition, registered with lerobot's scheduler registry as ``motionvla_warmup_cosine``: the motionvla policy's
``get_scheduler_preset`` returns it, so `lerobot-train` builds the same schedule from the same options as `motionvla
train` (which builds it through the same class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lerobot.optim.schedulers import LRSchedulerConfig
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("cosine", "constant")


def lr_factor(step: int, total_steps: int, warmup_steps: int = 0, schedule: str = "cosine",
              min_lr_ratio: float = 0.0) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based): ``(step + 1) / warmup_steps``
    during warm-up, then 1 (constant) or a cosine from 1 to ``min_lr_ratio`` at the last of ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@LRSchedulerConfig.register_subclass("motionvla_warmup_cosine")
@dataclass
class WarmupCosineSchedulerConfig(LRSchedulerConfig):
    """lerobot's scheduler-config interface for :func:`lr_factor` (``build(optimizer, num_training_steps)``)."""

    num_warmup_steps: int | None = 0
    schedule: str = "cosine"
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if (self.num_warmup_steps or 0) < 0:
            raise ValueError(f"warm-up steps must be >= 0, got {self.num_warmup_steps}")

    def build(self, optimizer: Optimizer, num_training_steps: int) -> LambdaLR:
        """A LambdaLR; its state_dict holds only numbers (weights_only-loadable, JSON-able for lerobot)."""
        warmup, schedule, floor = int(self.num_warmup_steps or 0), self.schedule, self.min_lr_ratio

        def factor(step: int) -> float:
            return lr_factor(step, num_training_steps, warmup, schedule, floor)

        return LambdaLR(optimizer, factor)
