"""Expert-parallel dispatch over torch.distributed: plain EP, or LLEP's plan.

Rank r owns experts ``[r*M, (r+1)*M)``. One forward:

1. sort this rank's (token, slot) rows by expert and all-gather the per-rank counts ``(P, N)``;
2. plan (the same pure function on every rank, so no plan is sent): ``plan_ep`` or ``plan_llep``;
3. send borrowed experts' weights point-to-point, then all-to-all the rows to their compute devices;
4. run each expert's SwiGLU on the rows it got (native or borrowed weights);
5. all-to-all the results back, un-sort, weight by the router and sum over top-k.

Backward mirrors it. The token all-to-all and the weight exchange are ONE autograd function, so
every rank runs their backward communication in the same fixed order (token gradients first, then
the borrowed weights' gradients home, where they are added to the owner's gradient). Every rank's
output depends on both communication functions even when it has no tokens (empty tensors stay in
the graph), so no rank skips a collective and nothing deadlocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from motionvla.moe.experts import SwiGLUExperts, swiglu_grouped
from motionvla.moe.permute import combine, permute
from motionvla.moe.planner import LLEPPlan, route_counts
from motionvla.moe.routing import Routing
from motionvla.moe.timing import ForwardClock, mark_backward_end, mark_backward_start

Planner = Callable[[np.ndarray, int], LLEPPlan]


@dataclass
class Exchange:
    """This rank's part of a plan: what it sends, receives and computes."""

    send_order: torch.Tensor  # expert-sorted local rows, reordered by destination device
    send_splits: list[int]  # rows to each device
    recv_splits: list[int]  # rows from each device
    recv_by_expert: torch.Tensor  # received rows (source-major) → expert-major order
    compute_experts: list[int]  # global ids, ascending
    compute_counts: list[int]
    lend: list[tuple[int, int]]  # (expert, borrowing device) whose weights this rank sends
    borrow: list[tuple[int, int]]  # (expert, home device) whose weights this rank receives

    def to(self, device: torch.device) -> "Exchange":
        """The same exchange with its index tensors on ``device`` (where the tokens are)."""
        self.send_order = self.send_order.to(device)
        self.recv_by_expert = self.recv_by_expert.to(device)
        return self


def build_exchange(plan: LLEPPlan, counts: np.ndarray, rank: int) -> Exchange:
    """Derive this rank's sends and receives from the global plan and the ``(P, N)`` counts."""
    sends = route_counts(plan, counts)  # (P_src, P_dst, N)
    ends = np.cumsum(counts, axis=0)
    starts = ends - counts
    mine = counts[rank]
    # Destination of each of this rank's expert-sorted rows: its slice of each assignment range.
    destination = np.empty(int(mine.sum()), dtype=np.int64)
    position = 0
    for expert in np.flatnonzero(mine):
        lo_rank, hi_rank = starts[rank, expert], ends[rank, expert]
        for device, lo, hi in plan.assignments[expert]:
            n = min(hi, hi_rank) - max(lo, lo_rank)
            if n > 0:
                destination[position : position + n] = device
                position += n
    received = sends[:, rank, :]  # (P_src, N)
    num_experts = counts.shape[1]
    expert_of_row = np.repeat(np.tile(np.arange(num_experts), counts.shape[0]), received.reshape(-1))
    per_expert = received.sum(axis=0)
    compute_experts = np.flatnonzero(per_expert)
    return Exchange(
        send_order=torch.from_numpy(np.argsort(destination, kind="stable")),
        send_splits=sends[rank].sum(axis=1).tolist(),
        recv_splits=received.sum(axis=1).tolist(),
        recv_by_expert=torch.from_numpy(np.argsort(expert_of_row, kind="stable")),
        compute_experts=compute_experts.tolist(),
        compute_counts=per_expert[compute_experts].tolist(),
        lend=[(e, dst) for e, src, dst in plan.transfers if src == rank],
        borrow=[(e, src) for e, src, dst in plan.transfers if dst == rank],
    )


def _all_to_all(rows: torch.Tensor, out_splits: list[int], in_splits: list[int], group) -> torch.Tensor:
    out = rows.new_empty((sum(out_splits), rows.shape[1]))
    dist.all_to_all_single(out, rows.contiguous(), out_splits, in_splits, group=group)
    return out


def _point_to_point(sends: list[tuple[torch.Tensor, int]], recvs: list[tuple[torch.Tensor, int]], group) -> None:
    """Post every send and receive, then wait; messages between a pair match in list order."""
    ops = [dist.P2POp(dist.isend, t.contiguous(), dist.get_global_rank(group, peer), group) for t, peer in sends]
    ops += [dist.P2POp(dist.irecv, t, dist.get_global_rank(group, peer), group) for t, peer in recvs]
    if ops:
        for request in dist.batch_isend_irecv(ops):
            request.wait()


class _DispatchWithWeights(torch.autograd.Function):
    """Forward: lend/borrow expert weights, then all-to-all the rows. Backward: the reverse, in a
    fixed order on every rank, adding lent experts' gradients to the owner's."""

    @staticmethod
    def forward(ctx, rows, w_gate, w_up, w_down, experts: SwiGLUExperts, exchange: Exchange, group):
        first = experts.first_expert
        flat_size = 3 * experts.hidden_size * experts.expert_hidden_size
        borrowed = rows.new_empty((len(exchange.borrow), flat_size))
        with torch.no_grad():
            _point_to_point(
                [(experts.flat_weights(e - first), dst) for e, dst in exchange.lend],
                [(borrowed[i], src) for i, (_, src) in enumerate(exchange.borrow)],
                group,
            )
        received = _all_to_all(rows, exchange.recv_splits, exchange.send_splits, group)
        ctx.experts, ctx.exchange, ctx.group = experts, exchange, group
        return received, borrowed

    @staticmethod
    def backward(ctx, grad_received, grad_borrowed):
        experts, exchange, group = ctx.experts, ctx.exchange, ctx.group
        grad_rows = _all_to_all(grad_received, exchange.send_splits, exchange.recv_splits, group)
        flat_size = 3 * experts.hidden_size * experts.expert_hidden_size
        returned = grad_borrowed.new_empty((len(exchange.lend), flat_size))
        _point_to_point(
            [(grad_borrowed[i], src) for i, (_, src) in enumerate(exchange.borrow)],
            [(returned[i], dst) for i, (_, dst) in enumerate(exchange.lend)],
            group,
        )
        grads = [torch.zeros_like(w) for w in (experts.w_gate, experts.w_up, experts.w_down)]
        for (expert, _), flat in zip(exchange.lend, returned):
            for grad, part in zip(grads, experts.unflatten(flat)):
                grad[expert - experts.first_expert] += part
        return grad_rows, *grads, None, None, None


class _Return(torch.autograd.Function):
    """All-to-all the computed rows back to the ranks they came from (backward: the other way)."""

    @staticmethod
    def forward(ctx, rows, exchange: Exchange, group):
        ctx.exchange, ctx.group = exchange, group
        return _all_to_all(rows, exchange.send_splits, exchange.recv_splits, group)

    @staticmethod
    def backward(ctx, grad):
        return _all_to_all(grad, ctx.exchange.recv_splits, ctx.exchange.send_splits, ctx.group), None, None


def _gather_counts(local_counts: torch.Tensor, group) -> np.ndarray:
    gathered = [torch.empty_like(local_counts) for _ in range(dist.get_world_size(group))]
    dist.all_gather(gathered, local_counts, group=group)
    return torch.stack(gathered).cpu().numpy()


def dispatch_parallel(
    x: torch.Tensor, routing: Routing, experts: SwiGLUExperts, num_experts: int, planner: Planner, group, stats: dict
) -> torch.Tensor:
    """``x (T, D)`` of this rank → ``(T, D)``, equal to the single-process result.

    Collective: every rank of ``group`` must call it (``T = 0`` is fine), and later run the backward.
    Fills ``stats`` (see :class:`~motionvla.moe.layer.MoEFeedForward`); ``phase_s`` holds wall-clock
    seconds of the forward's phases on this rank.
    """
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    clock = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    perm = permute(routing, num_experts)
    counts = _gather_counts(perm.counts, group)
    lap("counts")
    plan = planner(counts.sum(axis=0), world)
    exchange = build_exchange(plan, counts, rank).to(x.device)
    lap("plan")
    rows = x[perm.tokens][exchange.send_order]
    received, borrowed = _DispatchWithWeights.apply(
        rows, experts.w_gate, experts.w_up, experts.w_down, experts, exchange, group
    )
    lap("dispatch")
    received, borrowed, *stacked = mark_backward_end(
        stats, received, borrowed, experts.w_gate, experts.w_up, experts.w_down
    )
    borrowed_index = {expert: i for i, (expert, _) in enumerate(exchange.borrow)}
    weights = [
        experts.unflatten(borrowed[borrowed_index[e]])
        if e in borrowed_index
        else tuple(w[e - experts.first_expert] for w in stacked)
        for e in exchange.compute_experts
    ]
    with ForwardClock(stats, "expert_compute_thread_s"):
        computed = swiglu_grouped(received[exchange.recv_by_expert], exchange.compute_counts, weights)
    computed = mark_backward_start(stats, computed)
    computed = torch.zeros_like(computed).index_copy(0, exchange.recv_by_expert, computed)
    lap("compute")
    returned = _Return.apply(computed, exchange, group)
    lap("return")
    sorted_rows = torch.zeros_like(returned).index_copy(0, exchange.send_order, returned)
    out = combine(sorted_rows, perm, routing)
    lap("combine")
    stats.update(
        plan=plan,
        expert_loads=torch.from_numpy(counts.sum(axis=0)),
        tokens_computed=int(sum(exchange.compute_counts)),
        borrowed_experts=len(exchange.borrow),
        lent_experts=len(exchange.lend),
        phase_s=phases,
    )
    return out
