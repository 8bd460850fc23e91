"""The training step: one small pure function (accumulate, autocast, backward, clip, step, schedule, EMA)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn

from motionvla.train.optim import EMA


def _scalar(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean())
    return float(value)


def train_step(
    model: nn.Module,
    micro_batches: Sequence[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    accelerator: Accelerator,
    *,
    max_grad_norm: float = 0.0,
    ema: EMA | None = None,
) -> dict[str, float]:
    """One optimizer step over ``len(micro_batches)`` accumulated micro-batches.

    ``model(batch)`` returns ``(loss, info)``; each micro-batch's loss is divided by the number of
    micro-batches, so accumulating k batches of size b matches one batch of size k*b. Gradients are
    synchronised across processes only on the last micro-batch. Clips to ``max_grad_norm`` (<= 0:
    no clipping), steps the optimizer and the schedule, then updates ``ema``.

    Returns the logged values: ``loss`` (mean over micro-batches and processes), the mean of each
    ``info`` value (this process), ``grad_norm`` (before clipping) and ``lr`` (used for this step).
    """
    n = len(micro_batches)
    if n < 1:
        raise ValueError("train_step needs at least one micro-batch")
    lr = float(optimizer.param_groups[0]["lr"])
    loss_sum = torch.zeros((), device=accelerator.device)
    infos: dict[str, float] = {}
    for i, batch in enumerate(micro_batches):
        last = i == n - 1
        sync = contextlib.nullcontext() if last or accelerator.num_processes == 1 else accelerator.no_sync(model)
        with sync:
            with accelerator.autocast():
                loss, info = model(batch)
            accelerator.backward(loss / n)
        loss_sum += loss.detach().float()
        for key, value in info.items():
            infos[key] = infos.get(key, 0.0) + _scalar(value) / n
    clip_to = max_grad_norm if max_grad_norm > 0 else float("inf")
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), clip_to)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if ema is not None:
        ema.update(accelerator.unwrap_model(model))
    mean_loss = accelerator.reduce(loss_sum / n, reduction="mean")
    return {"loss": float(mean_loss), **infos, "grad_norm": _scalar(grad_norm), "lr": lr}
