"""The training step: one small pure function (accumulate, autocast, backward, clip, step, schedule, EMA)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from accelerate import Accelerator
from torch import nn

from motionvla.train.optim import EMA


def _scalar(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean())
    return float(value)


def _sum_of_squares(params: Sequence[nn.Parameter]) -> torch.Tensor:
    grads = [p.grad.detach().float() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.stack([g.pow(2).sum() for g in grads]).sum()


@torch.no_grad()
def clip_global_grad_norm(replicated: Sequence[nn.Parameter], sharded: Sequence[nn.Parameter], max_norm: float,
                          world_size: int) -> float:
    """Clip by the norm of the *whole* model's gradient when some parameters are rank-local slices.

    Replicated gradients are identical on every rank (after DDP's all-reduce); each rank's sharded
    gradients are its own slice, so their squares are summed over ranks. Every rank gets the same norm
    and the same clip coefficient, which keeps the replicated weights identical. Returns the norm.
    """
    total = _sum_of_squares(replicated)
    sharded_sq = _sum_of_squares(sharded)
    if world_size > 1:
        dist.all_reduce(sharded_sq)
    norm = float((total + sharded_sq).sqrt())
    if max_norm > 0 and norm > max_norm:
        coef = max_norm / (norm + 1e-6)
        for p in [*replicated, *sharded]:
            if p.grad is not None:
                p.grad.mul_(coef)
    return norm


def train_step(
    model: nn.Module,
    micro_batches: Sequence[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    accelerator: Accelerator,
    *,
    max_grad_norm: float = 0.0,
    ema: EMA | None = None,
    sharded_params: Sequence[nn.Parameter] = (),
) -> dict[str, float]:
    """One optimizer step over ``len(micro_batches)`` accumulated micro-batches.

    ``model(batch)`` returns ``(loss, info)``; each micro-batch's loss is divided by the number of
    micro-batches, so accumulating k batches of size b matches one batch of size k*b. Gradients are
    synchronised across processes only on the last micro-batch. Clips to ``max_grad_norm`` (<= 0:
    no clipping), steps the optimizer and the schedule, then updates ``ema``.

    ``sharded_params``: expert-parallel slices that DDP leaves alone (see ``motionvla.moe.state``).
    Their gradients already sum every rank's loss (the backward all-to-all brings them home), so they
    are divided by the world size to match DDP's mean over ranks.

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
    if sharded_params:
        world = accelerator.num_processes
        for p in sharded_params:
            if p.grad is not None:
                p.grad.div_(world)
        sharded_ids = {id(p) for p in sharded_params}
        replicated = [p for p in model.parameters() if id(p) not in sharded_ids]
        grad_norm: Any = clip_global_grad_norm(replicated, list(sharded_params), max_grad_norm, world)
    else:
        clip_to = max_grad_norm if max_grad_norm > 0 else float("inf")
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), clip_to)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if ema is not None:
        ema.update(accelerator.unwrap_model(model))
    mean_loss = accelerator.reduce(loss_sum / n, reduction="mean")
    return {"loss": float(mean_loss), **infos, "grad_norm": _scalar(grad_norm), "lr": lr}
