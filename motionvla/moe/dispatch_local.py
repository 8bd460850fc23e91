"""The single-process dispatcher: every expert is here. The reference the parallel ones must equal."""

from __future__ import annotations

import torch

from motionvla.moe.experts import SwiGLUExperts, swiglu_grouped
from motionvla.moe.permute import combine, permute
from motionvla.moe.routing import Routing
from motionvla.moe.timing import ForwardClock, mark_backward_end, mark_backward_start


def dispatch_local(x: torch.Tensor, routing: Routing, experts: SwiGLUExperts, stats: dict) -> torch.Tensor:
    """``x (T, D)`` → ``(T, D)``: each token's experts' outputs, weighted and summed."""
    perm = permute(routing, experts.num_experts)
    counts = perm.counts.tolist()
    rows, *stacked = mark_backward_end(stats, x[perm.tokens], experts.w_gate, experts.w_up, experts.w_down)
    with ForwardClock(stats, "expert_compute_thread_s"):
        rows = swiglu_grouped(rows, counts, [tuple(w[e] for w in stacked) for e in range(experts.num_experts)])
    rows = mark_backward_start(stats, rows)
    stats.update(tokens_computed=len(perm.order), expert_loads=perm.counts)
    return combine(rows, perm, routing)
