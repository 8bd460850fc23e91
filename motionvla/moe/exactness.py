"""Check that a parallel dispatcher computes what the single-process layer computes.

Run on every rank of a process group: each rank rebuilds the whole problem (the same full layer from
one seed, every rank's tokens from per-rank seeds), so the single-process reference needs no
communication, then runs its own share through the parallel layer and compares outputs, input
gradients, its expert shard's weight gradients and (summed over ranks) the router's gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from motionvla.moe.layer import MoEFeedForward
from motionvla.moe.routing import Routing


@dataclass(frozen=True)
class ExactnessCase:
    """One problem: sizes, tokens on each rank, and how tokens are routed.

    ``routing``: ``"router"`` (the layer's own router), ``"one_expert"`` (every slot on expert
    ``hot_expert``), ``"few_experts"`` (slots only on experts 0 and 1, so the others get nothing) or
    ``"duplicates"`` (random, with every token's slots all on the same expert).
    ``layers`` > 1 stacks that many layers with residuals (``h = h + moe_i(h)``; a forced routing is
    used by every layer), so the backward runs several layers' communication in turn.
    """

    dispatcher: str = "llep"
    num_experts: int = 8
    top_k: int = 2
    hidden_size: int = 16
    expert_hidden_size: int = 24
    tokens_per_rank: tuple[int, ...] = (32, 32)
    routing: str = "router"
    hot_expert: int = -1
    llep: dict = field(default_factory=lambda: {"min_tokens": 1, "imbalance_threshold": 1.0})
    seed: int = 0
    layers: int = 1


def _rank_inputs(case: ExactnessCase, rank: int) -> tuple[torch.Tensor, Routing | None, torch.Tensor]:
    g = torch.Generator().manual_seed(case.seed * 7919 + rank)
    t, k, n = case.tokens_per_rank[rank], case.top_k, case.num_experts
    x = torch.randn(t, case.hidden_size, generator=g)
    probe = torch.randn(t, case.hidden_size, generator=g)
    weights = torch.softmax(torch.randn(t, k, generator=g), dim=-1)
    if case.routing == "router":
        return x, None, probe
    if case.routing == "one_expert":
        indices = torch.full((t, k), case.hot_expert % n)
    elif case.routing == "few_experts":
        indices = torch.randint(0, 2, (t, k), generator=g)
    elif case.routing == "duplicates":
        indices = torch.randint(0, n, (t, 1), generator=g).expand(t, k).clone()
    else:
        raise ValueError(f"unknown routing {case.routing!r}")
    return x, Routing(indices, weights), probe


def _max_diff(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None and b is None:
        return 0.0
    a = torch.zeros_like(b) if a is None else a
    b = torch.zeros_like(a) if b is None else b
    return float((a - b).abs().max()) if a.numel() else 0.0


def _rows(grad: torch.Tensor | None, rows: slice) -> torch.Tensor | None:
    return None if grad is None else grad[rows]


def check_against_local(rank: int, world_size: int, case: ExactnessCase) -> dict:
    """Run ``case`` on this rank; returns the max abs differences and what the plan did."""
    torch.manual_seed(case.seed)
    shape = (case.hidden_size, case.expert_hidden_size, case.num_experts, case.top_k)
    fulls = [MoEFeedForward(*shape, "local") for _ in range(case.layers)]
    extra = case.llep if case.dispatcher == "llep" else {}
    layers = [MoEFeedForward(*shape, case.dispatcher, **extra).load_from_full(full) for full in fulls]

    inputs = [_rank_inputs(case, r) for r in range(world_size)]
    x_all = torch.cat([x for x, _, _ in inputs]).requires_grad_(True)
    routing_all = None
    if case.routing != "router":
        routing_all = Routing(torch.cat([r.indices for _, r, _ in inputs]), torch.cat([r.weights for _, r, _ in inputs]))
    # The loss is a mean over all ranks' tokens, as in training, so gradients are O(1) and the
    # 1e-5 absolute tolerance of the tests means fp32 round-off, not scale.
    total = max(1, sum(case.tokens_per_rank))
    y_all = _stack(fulls, x_all, routing_all)
    ((y_all * torch.cat([p for _, _, p in inputs])).sum() / total).backward()

    x, routing, probe = inputs[rank]
    x = x.clone().requires_grad_(True)
    y = _stack(layers, x, routing)
    ((y * probe).sum() / total).backward()

    lo = sum(case.tokens_per_rank[:rank])
    rows = slice(lo, lo + case.tokens_per_rank[rank])
    diffs = {"output": _max_diff(y.detach(), y_all.detach()[rows]), "input_grad": _max_diff(x.grad, x_all.grad[rows])}
    diffs["expert_grad"] = diffs["router_grad"] = diffs["gather_full"] = 0.0
    for layer, full in zip(layers, fulls):
        first, count = layer.experts.first_expert, layer.experts.num_experts
        experts = slice(first, first + count)
        for w in ("w_gate", "w_up", "w_down"):
            grad = _max_diff(getattr(layer.experts, w).grad, _rows(getattr(full.experts, w).grad, experts))
            diffs["expert_grad"] = max(diffs["expert_grad"], grad)
        # Every rank joins the all-reduce (a rank without a gradient adds zeros) so none waits forever.
        router_grad = layer.router.gate.weight.grad
        router_grad = torch.zeros_like(layer.router.gate.weight) if router_grad is None else router_grad.clone()
        dist.all_reduce(router_grad)
        if full.router.gate.weight.grad is None and not router_grad.any():
            router_grad = None
        diffs["router_grad"] = max(diffs["router_grad"], _max_diff(router_grad, full.router.gate.weight.grad))
        gathered = layer.gather_full()
        for a, b in zip(gathered.state_dict().values(), full.state_dict().values()):
            diffs["gather_full"] = max(diffs["gather_full"], _max_diff(a, b))
    stats = layers[-1].last_stats
    plan = stats.get("plan")
    return {
        "diffs": diffs,
        "transfers": len(plan.transfers) if plan is not None else 0,
        "tokens_computed": stats.get("tokens_computed", 0),
        "borrowed_experts": stats.get("borrowed_experts", 0),
        "timed_backward": all("expert_compute_bwd_thread_s" in layer.last_stats for layer in layers),
    }


def _stack(layers: list[MoEFeedForward], x: torch.Tensor, routing: Routing | None) -> torch.Tensor:
    if len(layers) == 1:
        return layers[0](x, routing=routing)
    for layer in layers:
        x = x + layer(x, routing=routing)
    return x


def check_cases(rank: int, world_size: int, cases: list[ExactnessCase]) -> list[dict]:
    """:func:`check_against_local` for several cases in one process group (saves start-up time)."""
    return [check_against_local(rank, world_size, case) for case in cases]
