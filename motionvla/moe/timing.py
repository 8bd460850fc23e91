"""Clocks around the expert GEMMs, forward and backward, for benchmarks.

The forward is timed directly. The backward of the expert compute runs inside autograd, so two
identity autograd functions mark its ends: one on the compute's output (its backward runs first,
when the output gradient arrives) and one on the compute's inputs (its backward runs when every
input gradient is ready, i.e. after the expert GEMMs' backward). Both write into the layer's stats
dict, so ``layer.last_stats["expert_compute_bwd_thread_s"]`` is filled in by ``loss.backward()``.

Times are ``time.thread_time()`` (CPU time of the calling thread; on CPU the autograd engine runs
the backward on the thread that calls it). On a GPU they measure kernel launches only; time GPU
work with CUDA events instead.
"""

from __future__ import annotations

import time

import torch

BWD_KEY = "expert_compute_bwd_thread_s"
_START = "_expert_compute_bwd_start"


class _Mark(torch.autograd.Function):
    """Identity in forward; in backward records the thread time (start or end) and passes gradients on."""

    @staticmethod
    def forward(ctx, stats: dict, is_start: bool, *tensors):
        ctx.set_materialize_grads(False)
        ctx.stats, ctx.is_start = stats, is_start
        return tuple(t.view_as(t) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        now = time.thread_time()
        if ctx.is_start:
            ctx.stats[_START] = now
        else:
            ctx.stats[BWD_KEY] = now - ctx.stats.pop(_START, now)
        return (None, None, *grads)


def mark_backward_end(stats: dict, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Wrap the expert compute's inputs: their backward is when the compute's backward is done."""
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in inputs):
        return inputs
    return _Mark.apply(stats, False, *inputs)


def mark_backward_start(stats: dict, output: torch.Tensor) -> torch.Tensor:
    """Wrap the expert compute's output: its backward is when the compute's backward starts."""
    if not torch.is_grad_enabled() or not output.requires_grad:
        return output
    return _Mark.apply(stats, True, output)[0]


class ForwardClock:
    """``with ForwardClock(stats, "expert_compute_thread_s"):`` adds the block's thread time to ``stats[key]``."""

    def __init__(self, stats: dict, key: str) -> None:
        self.stats, self.key = stats, key

    def __enter__(self) -> "ForwardClock":
        self.start = time.thread_time()
        return self

    def __exit__(self, *exc) -> None:
        self.stats[self.key] = self.stats.get(self.key, 0.0) + time.thread_time() - self.start
