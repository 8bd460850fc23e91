"""The single-process dispatcher: every expert is here. The reference the parallel ones must equal."""

from __future__ import annotations

import time

import torch

from motionvla.moe.experts import SwiGLUExperts, swiglu_grouped
from motionvla.moe.permute import combine, permute
from motionvla.moe.routing import Routing


def dispatch_local(x: torch.Tensor, routing: Routing, experts: SwiGLUExperts, stats: dict) -> torch.Tensor:
    """``x (T, D)`` → ``(T, D)``: each token's experts' outputs, weighted and summed."""
    perm = permute(routing, experts.num_experts)
    counts = perm.counts.tolist()
    start = time.thread_time()
    rows = swiglu_grouped(x[perm.tokens], counts, [experts.weights(e) for e in range(experts.num_experts)])
    stats.update(tokens_computed=len(perm.order), expert_compute_thread_s=time.thread_time() - start)
    return combine(rows, perm, routing)
