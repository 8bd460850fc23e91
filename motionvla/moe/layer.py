"""``MoEFeedForward``: router → dispatcher → experts → combine, as one drop-in feed-forward block."""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
from torch import nn

from motionvla.moe.dispatch_local import dispatch_local
from motionvla.moe.dispatch_parallel import dispatch_parallel
from motionvla.moe.experts import SwiGLUExperts
from motionvla.moe.planner import plan_ep, plan_llep
from motionvla.moe.routing import Routing, TopKRouter

DISPATCHERS = ("local", "ep", "llep")


class MoEFeedForward(nn.Module):
    """A mixture-of-experts SwiGLU feed-forward block.

    Args:
        hidden_size: ``D``, the model width (input and output).
        expert_hidden_size: ``H``, each expert's inner width.
        num_experts: ``N`` experts in total (over all ranks).
        top_k: experts per token.
        dispatcher: ``"local"`` (all experts in this process), ``"ep"`` (expert parallelism over
            ``process_group``: this rank holds experts ``[r*N/P, (r+1)*N/P)``) or ``"llep"``
            (expert parallelism with Least-Loaded rebalancing). All three compute the same numbers.
        alpha, min_tokens, imbalance_threshold: LLEP's capacity factor, smallest chunk worth moving
            an expert for, and the device-load max/mean below which plain EP is used.
        process_group: the expert-parallel group (default: the whole world).
        aux_free_bias: DeepSeek-V3's auxiliary-loss-free balancing bias in the router.
        planner_options: further keyword arguments for :func:`plan_llep` (``llep`` only), e.g.
            ``{"align_ranges": True}``.

    ``forward(x)`` takes ``(..., D)``; ``forward(x, routing=...)`` forces a routing (tests, benchmarks;
    any expert ids, repeats within a token allowed). In ``ep``/``llep`` mode ``forward`` and the
    backward through it are collectives: every rank of the group calls them, with any number of
    tokens (0 too). The router is replicated; reduce its gradients over the data-parallel group as
    for any other replicated parameter.

    ``last_routing`` is the routing the last call used; ``last_stats`` its dispatch figures:

    - ``tokens_computed`` (int): (token, slot) rows this rank's experts computed;
    - ``expert_compute_thread_s`` (float): thread CPU seconds of this rank's expert GEMMs, forward;
    - ``expert_compute_bwd_thread_s`` (float): the same for the backward, set by ``loss.backward()``;
    - ``expert_loads`` ((N,) int64 tensor): global rows per expert (identical on every rank; feed it
      to ``router.update_bias`` for auxiliary-loss-free balancing, no extra communication needed);
    - parallel only: ``plan`` (:class:`LLEPPlan`), ``borrowed_experts`` / ``lent_experts`` (int, weight
      copies this rank received / sent), ``phase_s`` (wall seconds of the forward's phases: counts,
      plan, dispatch, compute, return, combine).

    Build a sharded layer from a full ``local`` one with :meth:`load_from_full` (on every rank), and
    get the full layer back with :meth:`gather_full`.
    """

    def __init__(
        self,
        hidden_size: int,
        expert_hidden_size: int,
        num_experts: int,
        top_k: int,
        dispatcher: str = "local",
        *,
        alpha: float = 1.0,
        min_tokens: int = 1024,
        imbalance_threshold: float = 1.3,
        process_group: dist.ProcessGroup | None = None,
        aux_free_bias: bool = False,
        planner_options: dict | None = None,
    ) -> None:
        super().__init__()
        if dispatcher not in DISPATCHERS:
            raise ValueError(f"unknown dispatcher {dispatcher!r}; accepted: {', '.join(DISPATCHERS)}")
        if planner_options and dispatcher != "llep":
            raise ValueError(f"planner_options only apply to dispatcher='llep', got dispatcher={dispatcher!r}")
        self.hidden_size, self.num_experts, self.top_k, self.dispatcher = hidden_size, num_experts, top_k, dispatcher
        self.router = TopKRouter(hidden_size, num_experts, top_k, aux_free_bias=aux_free_bias)
        if dispatcher == "local":
            self.process_group, local_experts, first = None, num_experts, 0
        else:
            if not dist.is_initialized():
                raise RuntimeError(f"dispatcher={dispatcher!r} needs torch.distributed to be initialized")
            self.process_group = process_group or dist.group.WORLD
            world, rank = dist.get_world_size(self.process_group), dist.get_rank(self.process_group)
            if num_experts % world:
                raise ValueError(f"num_experts ({num_experts}) must be divisible by the expert-parallel size ({world})")
            local_experts = num_experts // world
            first = rank * local_experts
        self.experts = SwiGLUExperts(local_experts, hidden_size, expert_hidden_size, first_expert=first)
        if dispatcher == "llep":
            self._planner = functools.partial(
                plan_llep,
                alpha=alpha,
                min_tokens=min_tokens,
                imbalance_threshold=imbalance_threshold,
                **(planner_options or {}),
            )
        else:
            self._planner = plan_ep
        self.last_stats: dict = {}
        self.last_routing: Routing | None = None

    def forward(self, x: torch.Tensor, routing: Routing | None = None) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, self.hidden_size)
        routing = self.router(flat) if routing is None else routing
        stats: dict = {}
        if self.dispatcher == "local":
            out = dispatch_local(flat, routing, self.experts, stats)
        else:
            out = dispatch_parallel(flat, routing, self.experts, self.num_experts, self._planner, self.process_group, stats)
        self.last_stats, self.last_routing = stats, routing
        return out.reshape(shape)

    @torch.no_grad()
    def load_from_full(self, full: "MoEFeedForward") -> "MoEFeedForward":
        """Copy the router and this rank's slice of the experts from a ``local`` layer holding all of them."""
        if full.num_experts != self.num_experts or full.hidden_size != self.hidden_size:
            raise ValueError("load_from_full needs a layer of the same shape")
        self.router.load_state_dict(full.router.state_dict())
        sl = slice(self.experts.first_expert, self.experts.first_expert + self.experts.num_experts)
        for name in ("w_gate", "w_up", "w_down"):
            getattr(self.experts, name).copy_(getattr(full.experts, name)[sl])
        return self

    @torch.no_grad()
    def gather_full(self) -> "MoEFeedForward":
        """A ``local`` layer holding every expert (collective in ``ep``/``llep`` mode: all ranks call it).

        Weights only (and the router's state, taken from this rank); gradients are not gathered.
        """
        experts = self.experts
        full = MoEFeedForward(
            self.hidden_size, experts.expert_hidden_size, self.num_experts, self.top_k, "local",
            aux_free_bias=self.router.selection_bias is not None,
        ).to(device=experts.w_gate.device, dtype=experts.w_gate.dtype)
        full.router.normalize = self.router.normalize
        full.router.load_state_dict(self.router.state_dict())
        for name in ("w_gate", "w_up", "w_down"):
            shard = getattr(experts, name).detach().contiguous()
            if self.dispatcher == "local":
                parts = [shard]
            else:
                parts = [torch.empty_like(shard) for _ in range(dist.get_world_size(self.process_group))]
                dist.all_gather(parts, shard, group=self.process_group)
            getattr(full.experts, name).copy_(torch.cat(parts))
        return full
