"""Analytic simulator of one MoE layer under plain EP and under LLEP, driven by the real planner.

Numpy only. Given a model shape, a routing scenario, ``P`` devices and a :class:`HardwareProfile`, it
builds every rank's per-expert token counts, runs :func:`plan_ep` / :func:`plan_llep` on them (the
same code the dispatcher uses), and predicts the layer's latency and per-device peak memory.

Model (all per device ``d``; ``b`` = dtype bytes, ``D`` = hidden, ``H`` = expert hidden, ``k`` = top-k,
``T`` = tokens per device, ``W = 3 D H b`` = one expert's weights):

* Tokens. Every (token, top-k slot) pair is one row of ``D`` values sent to the device that computes
  it (no de-duplication, as in the paper's implementation). Rows whose source and compute device
  are the same do not touch a link. The source-to-device matrix comes from the plan's token ranges
  (an expert's tokens are numbered in source-rank order, as in :func:`route_counts`).
* All-to-all (dispatch; the combine moves the same rows back): ``t = collective_latency +
  max(max(sent, received) / intra_bw, max(sent, received) / inter_bw)``, each ``max(sent, received)``
  taken over the bytes that cross NVLink or the NIC (full-duplex links, the two kinds in parallel).
* Weight transfers (LLEP): each ``(expert, home, dst)`` moves ``W`` bytes point-to-point, timed like
  the all-to-all (``p2p_latency`` once if any). They overlap the dispatch all-to-all as in the paper:
  phase 1 is ``max(dispatch, weights)``, not the sum (optimistic: the two share the links; pass
  ``overlap_weights=False`` for the sum).
* Compute: for each expert with ``m`` tokens on ``d``, three GEMMs (SwiGLU gate, up: ``m x D x H``;
  down: ``m x H x D``; ``2 D H`` flops per token each), each ``launch + max(flops / throughput(m),
  bytes / HBM)`` with the profile's throughput curve, plus elementwise traffic of
  ``m b (4 D + 3 H)`` bytes (permute, SwiGLU, un-permute) and one launch per expert.
* Latency (phase-synchronous: each all-to-all waits for its slowest device, so each phase is a max
  over devices): ``overhead + max_d phase1 + max_d compute + max_d combine``. ``overhead`` is the
  token-count exchange (``collective_latency``) plus, for LLEP, ``plan_overhead``.
* Backward (``backward=True``, forward + backward): the backward adds the combine's all-to-all,
  twice the forward GEMM and elementwise time (input and weight gradients), and the dispatch's
  all-to-all overlapped (max) with returning the borrowed experts' weight gradients (``W`` bytes
  each, same dtype).
* Peak memory (forward), everything held at once (an upper bound; an implementation that frees the
  gate/up outputs after SwiGLU needs less): ``(M + borrowed_d) W + T b (2 D + 2 k D) + R_d b (2 D + 3 H)``
  where ``M`` = native experts, ``T b (2D + 2kD)`` = layer input and output plus the dispatch send
  and combine receive buffers, and ``R_d`` rows received, each holding its input (D), the gate and
  up outputs (2H), the SwiGLU output (H) and the expert output (D). Forward + backward: twice that
  (gradients of the same size: weight gradients, activation gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motionvla.moe.hardware import HardwareProfile
from motionvla.moe.planner import LLEPPlan, TransferCost, plan_ep, plan_llep


@dataclass(frozen=True)
class MoEShape:
    """One MoE layer's shape: ``num_experts`` SwiGLU experts ``D -> H -> D``, top-``top_k`` routing."""

    num_experts: int
    top_k: int
    hidden: int
    expert_hidden: int
    name: str = "custom"

    def expert_weight_bytes(self, dtype_bytes: int = 2) -> int:
        """Bytes of one expert's weights: gate, up (D x H) and down (H x D)."""
        return 3 * self.hidden * self.expert_hidden * dtype_bytes

    @property
    def flops_per_token(self) -> int:
        """Forward flops of one expert for one token: 3 GEMMs of ``2 D H``."""
        return 6 * self.hidden * self.expert_hidden


# Shapes from the models' published configs (routed experts only; shared experts are not parallelized
# by EP and are left out): gpt-oss-120b config.json (num_local_experts 128, experts_per_token 4,
# hidden_size 2880, intermediate_size 2880); DeepSeek-V3 config.json (n_routed_experts 256,
# num_experts_per_tok 8, hidden_size 7168, moe_intermediate_size 2048); Kimi-K2 config.json (384
# routed experts, 8 per token, hidden 7168, moe_intermediate_size 2048). The same shapes are in
# REFERENCE.md section 3 for the paper's layer benchmark.
MODEL_PRESETS: dict[str, MoEShape] = {
    "gpt-oss-120b": MoEShape(128, 4, 2880, 2880, "gpt-oss-120b"),
    "deepseek-v3": MoEShape(256, 8, 7168, 2048, "deepseek-v3"),
    "kimi-k2": MoEShape(384, 8, 7168, 2048, "kimi-k2"),
}


@dataclass(frozen=True)
class Scenario:
    """``hot_fraction`` of every rank's tokens spread evenly over ``num_hot`` hot experts, the rest
    evenly over the other experts (the paper's imbalance scenarios); ``num_hot = 0``: balanced."""

    hot_fraction: float = 0.0
    num_hot: int = 0

    @property
    def name(self) -> str:
        if self.num_hot == 0:
            return "balanced"
        return f"{self.hot_fraction * 100:g}%/{self.num_hot}hot"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """``balanced`` or ``PERCENT:NUM_HOT`` (e.g. ``95:1``: 95% of tokens on 1 hot expert)."""
        text = text.strip().lower()
        if text == "balanced":
            return cls()
        percent, sep, num_hot = text.partition(":")
        try:
            if not sep:
                raise ValueError
            scenario = cls(float(percent) / 100.0, int(num_hot))
        except ValueError:
            raise ValueError(f"bad scenario {text!r}: use 'balanced' or PERCENT:NUM_HOT, e.g. 95:1") from None
        if not 0.0 <= scenario.hot_fraction <= 1.0 or scenario.num_hot < 1:
            raise ValueError(f"bad scenario {text!r}: PERCENT in [0, 100], NUM_HOT >= 1")
        return scenario


PAPER_SCENARIOS: tuple[Scenario, ...] = (Scenario(),) + tuple(
    Scenario(x / 100, h) for h in (16, 4, 1) for x in (30, 50, 80, 95)
)


def _spread(total: int, experts: np.ndarray, num_experts: int, shift: int) -> np.ndarray:
    """``total`` rows spread as evenly as possible over ``experts``; the leftover rows go to a
    window of experts that shifts with ``shift`` (the rank), so no expert is favoured everywhere."""
    out = np.zeros(num_experts, dtype=np.int64)
    if total <= 0 or experts.size == 0:
        return out
    base, extra = divmod(total, experts.size)
    out[experts] = base
    out[experts[(shift * extra + np.arange(extra)) % experts.size]] += 1
    return out


def hot_experts(num_experts: int, num_hot: int, placement: str = "first") -> np.ndarray:
    """Which experts are hot: ``first`` = experts ``0..num_hot-1`` (the paper's benchmark, so they
    share device 0), ``spread`` = evenly spaced expert ids (so they sit on different devices/nodes)."""
    if not 0 <= num_hot <= num_experts:
        raise ValueError(f"num_hot must be in [0, {num_experts}], got {num_hot}")
    if placement == "first":
        return np.arange(num_hot)
    if placement == "spread":
        return (np.arange(num_hot) * num_experts) // max(num_hot, 1)
    raise ValueError(f"unknown hot placement {placement!r}: 'first' or 'spread'")


def routing_counts(
    shape: MoEShape,
    num_devices: int,
    tokens_per_device: int,
    scenario: Scenario,
    hot_placement: str = "first",
) -> np.ndarray:
    """``(P, N)`` rows each rank routes to each expert: ``tokens_per_device * top_k`` per rank.

    As in the paper's benchmark (``create_imbalanced_routing`` in github.com/SalesforceAIResearch/
    LeastLoadedEP ``test_llep.py``): ``int(T * hot_fraction)`` hot tokens put all ``k`` of their slots
    on the hot experts (so "95% on 1 hot expert" puts 95% of all rows on it); the other tokens'
    slots are spread evenly over the other experts. Every rank routes the same way.
    """
    num_experts, k = shape.num_experts, shape.top_k
    counts = np.zeros((num_devices, num_experts), dtype=np.int64)
    rows = tokens_per_device * k
    hot = hot_experts(num_experts, scenario.num_hot, hot_placement)
    cold = np.setdiff1d(np.arange(num_experts), hot)
    hot_rows = int(tokens_per_device * scenario.hot_fraction) * k if hot.size else 0
    if cold.size == 0:
        hot_rows = rows
    for rank in range(num_devices):
        counts[rank] = _spread(hot_rows, hot, num_experts, rank) + _spread(rows - hot_rows, cold, num_experts, rank)
    return counts


@dataclass
class LayerEstimate:
    """Predicted cost of one MoE layer under one plan. Times in seconds, sizes in bytes."""

    label: str
    latency_s: float
    phases: dict[str, float]
    device_tokens: np.ndarray  # (P,) rows computed per device
    compute_s: np.ndarray  # (P,) forward expert compute per device
    peak_memory: np.ndarray  # (P,) bytes
    num_transfers: int
    token_bytes_intra: float  # dispatch rows over NVLink (the combine moves as many back)
    token_bytes_inter: float  # dispatch rows across nodes
    weight_bytes_intra: float
    weight_bytes_inter: float
    is_plain_ep: bool

    @property
    def imbalance(self) -> float:
        mean = self.device_tokens.mean()
        return float(self.device_tokens.max() / mean) if mean > 0 else 1.0

    @property
    def inter_node_bytes(self) -> float:
        """Bytes across nodes: dispatch and combine rows, plus weights (forward)."""
        return 2 * self.token_bytes_inter + self.weight_bytes_inter

    def summary(self) -> dict[str, float | int | str | bool]:
        """JSON-able scalars."""
        return {
            "label": self.label,
            "latency_ms": self.latency_s * 1e3,
            **{f"{name}_ms": value * 1e3 for name, value in self.phases.items()},
            "max_device_tokens": int(self.device_tokens.max()),
            "mean_device_tokens": float(self.device_tokens.mean()),
            "imbalance": self.imbalance,
            "peak_memory_gb": float(self.peak_memory.max()) / 1e9,
            "num_transfers": self.num_transfers,
            "token_gb_intra": self.token_bytes_intra / 1e9,
            "token_gb_inter": self.token_bytes_inter / 1e9,
            "weight_gb_intra": self.weight_bytes_intra / 1e9,
            "weight_gb_inter": self.weight_bytes_inter / 1e9,
            "inter_node_gb": self.inter_node_bytes / 1e9,
            "is_plain_ep": self.is_plain_ep,
        }


def plan_traffic(plan: LLEPPlan, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(P_src, P_dst)`` rows each rank sends to each device, and ``(P, N)`` rows each device
    computes per expert, under ``plan`` (the same token order as :func:`route_counts`)."""
    counts = np.asarray(counts, dtype=np.int64)
    num_ranks, num_experts = counts.shape
    ends = np.cumsum(counts, axis=0)
    starts = ends - counts
    sends = np.zeros((num_ranks, plan.num_devices), dtype=np.int64)
    compute = np.zeros((plan.num_devices, num_experts), dtype=np.int64)
    for expert, ranges in enumerate(plan.assignments):
        for device, lo, hi in ranges:
            compute[device, expert] += hi - lo
            if lo == 0 and hi == ends[-1, expert]:
                sends[:, device] += counts[:, expert]
            else:
                overlap = np.minimum(ends[:, expert], hi) - np.maximum(starts[:, expert], lo)
                sends[:, device] += np.maximum(overlap, 0)
    return sends, compute


def _link_seconds(sent_intra, recv_intra, sent_inter, recv_inter, hw: HardwareProfile) -> np.ndarray:
    intra = np.maximum(sent_intra, recv_intra) / (hw.intra_node_bandwidth * hw.intra_node_efficiency)
    inter = np.maximum(sent_inter, recv_inter) / (hw.inter_node_bandwidth * hw.inter_node_efficiency)
    return np.maximum(intra, inter)


def estimate_layer(
    plan: LLEPPlan,
    counts: np.ndarray,
    shape: MoEShape,
    hw: HardwareProfile,
    *,
    label: str = "",
    devices_per_node: int | None = None,
    dtype_bytes: int = 2,
    backward: bool = False,
    overlap_weights: bool = True,
    llep: bool = True,
) -> LayerEstimate:
    """Latency and peak memory of one MoE layer computed as ``plan`` says (see the module doc).

    Args:
        plan: from :func:`plan_ep` or :func:`plan_llep` on ``counts.sum(0)``.
        counts: ``(P, N)`` rows each rank routes to each expert.
        llep: charge LLEP's planning overhead (False for plain EP).
    """
    counts = np.asarray(counts, dtype=np.int64)
    num_devices, num_experts = counts.shape
    per_node = devices_per_node or hw.devices_per_node
    node = np.arange(num_devices) // per_node
    same_node = node[:, None] == node[None, :]
    off_diagonal = ~np.eye(num_devices, dtype=bool)
    D, H, b = shape.hidden, shape.expert_hidden, dtype_bytes
    weight_bytes = shape.expert_weight_bytes(dtype_bytes)

    # Tokens: dispatch all-to-all (the combine is its mirror image and takes as long).
    sends, compute_rows = plan_traffic(plan, counts)
    row_bytes = sends.astype(np.float64) * D * b
    intra = np.where(same_node & off_diagonal, row_bytes, 0.0)
    inter = np.where(~same_node, row_bytes, 0.0)
    dispatch = hw.collective_latency_s + _link_seconds(intra.sum(1), intra.sum(0), inter.sum(1), inter.sum(0), hw)

    # Weights: point-to-point, home -> borrower.
    w_sent = np.zeros((2, num_devices))  # [intra, inter]
    w_recv = np.zeros((2, num_devices))
    borrowed = np.zeros(num_devices, dtype=np.int64)
    for _, src, dst in plan.transfers:
        kind = 0 if node[src] == node[dst] else 1
        w_sent[kind, src] += weight_bytes
        w_recv[kind, dst] += weight_bytes
        borrowed[dst] += 1
    any_transfer = (w_sent.sum(0) + w_recv.sum(0)) > 0
    weights = np.where(any_transfer, hw.p2p_latency_s, 0.0)
    weights = weights + _link_seconds(w_sent[0], w_recv[0], w_sent[1], w_recv[1], hw)
    phase1 = np.maximum(dispatch, weights) if overlap_weights else dispatch + weights

    # Compute: three GEMMs per (device, expert) with tokens, plus elementwise traffic.
    gemm = 2 * hw.gemm_seconds(compute_rows, D, H, b) + hw.gemm_seconds(compute_rows, H, D, b)
    launches = (compute_rows > 0).sum(1) * hw.kernel_launch_s
    device_rows = compute_rows.sum(1)
    elementwise = hw.memory_seconds(device_rows * b * (4 * D + 3 * H)) + 2 * hw.kernel_launch_s
    compute = gemm.sum(1) + launches + elementwise

    overhead = hw.collective_latency_s + (hw.plan_overhead_s if llep else 0.0)
    phases = {
        "overhead": overhead,
        "dispatch": float(dispatch.max()),
        "weights": float(weights.max()),
        "phase1": float(phase1.max()),
        "compute": float(compute.max()),
        "combine": float(dispatch.max()),
    }
    latency = overhead + phases["phase1"] + phases["compute"] + phases["combine"]
    if backward:
        # combine's all-to-all, input + weight gradients, dispatch's all-to-all with the borrowed
        # experts' weight gradients going home (same bytes as the weights, overlapped the same way).
        phases["backward"] = float(dispatch.max() + 2 * compute.max() + phase1.max())
        latency += phases["backward"]

    native_experts = num_experts // num_devices
    tokens_per_device = counts.sum(1) / shape.top_k
    peak = (
        (native_experts + borrowed) * weight_bytes
        + tokens_per_device * b * (2 * D + 2 * shape.top_k * D)
        + device_rows * b * (2 * D + 3 * H)
    )
    if backward:
        peak = 2 * peak
    return LayerEstimate(
        label=label,
        latency_s=float(latency),
        phases=phases,
        device_tokens=device_rows,
        compute_s=compute,
        peak_memory=peak,
        num_transfers=len(plan.transfers),
        token_bytes_intra=float(intra.sum()),
        token_bytes_inter=float(inter.sum()),
        weight_bytes_intra=float(w_sent[0].sum()),
        weight_bytes_inter=float(w_sent[1].sum()),
        is_plain_ep=plan.is_plain_ep,
    )


VARIANTS: dict[str, tuple[bool, bool, bool]] = {
    # name -> (transfer_aware, intra_node_first, align_ranges); all but "LLEP" are beyond the paper.
    "LLEP": (False, False, False),
    "LLEP+transfer-aware": (True, False, False),
    "LLEP+intra-node-first": (False, True, False),
    "LLEP+both": (True, True, False),
    "LLEP+aligned": (False, False, True),
    "LLEP+all": (True, True, True),
}


def transfer_cost_for(
    shape: MoEShape, hw: HardwareProfile, num_devices: int, devices_per_node: int, dtype_bytes: int = 2
) -> TransferCost:
    """The planner's :class:`TransferCost` for this shape and hardware.

    ``seconds_per_token`` = one row's expert compute at the large-batch GEMM rate, plus moving its
    ``D``-wide input in and output back (``2 D b`` bytes) over the link mix a row comes from when
    sources are spread evenly: a fraction ``(dpn - 1) / P`` over NVLink, ``(P - dpn) / P`` across
    nodes. Bandwidth per pair: NVLink within a node, the NIC across. Latency: the p2p latency plus
    the destination's extra launches (3 GEMMs + 1 elementwise).
    """
    per_node = min(devices_per_node, num_devices)
    compute = shape.flops_per_token / (hw.bf16_flops * hw.gemm_efficiency)
    intra_bw = hw.intra_node_bandwidth * hw.intra_node_efficiency
    inter_bw = hw.inter_node_bandwidth * hw.inter_node_efficiency
    move = 2 * shape.hidden * dtype_bytes * (
        (per_node - 1) / num_devices / intra_bw + (num_devices - per_node) / num_devices / inter_bw
    )
    node = np.arange(num_devices) // per_node
    bandwidth = np.where(node[:, None] == node[None, :], intra_bw, inter_bw)  # (P, P), bytes/s
    return TransferCost(
        expert_weight_bytes=float(shape.expert_weight_bytes(dtype_bytes)),
        seconds_per_token=compute + move,
        bandwidth=bandwidth,
        latency=hw.p2p_latency_s + 4 * hw.kernel_launch_s,
    )


def simulate(
    shape: MoEShape,
    scenario: Scenario,
    num_devices: int,
    tokens_per_device: int,
    hw: HardwareProfile,
    *,
    devices_per_node: int | None = None,
    dtype_bytes: int = 2,
    alpha: float = 1.0,
    min_tokens: int = 1024,
    imbalance_threshold: float = 1.3,
    variants: tuple[str, ...] = ("LLEP",),
    hot_placement: str = "first",
    backward: bool = False,
    overlap_weights: bool = True,
) -> dict[str, LayerEstimate]:
    """EP and the requested LLEP ``variants`` (keys of :data:`VARIANTS`) for one configuration.

    Returns ``{"EP": ..., "LLEP": ..., ...}`` in that order.
    """
    if shape.num_experts % num_devices:
        raise ValueError(f"{shape.num_experts} experts do not divide over {num_devices} devices")
    per_node = devices_per_node or hw.devices_per_node
    counts = routing_counts(shape, num_devices, tokens_per_device, scenario, hot_placement)
    loads = counts.sum(0)
    common = dict(
        devices_per_node=per_node, dtype_bytes=dtype_bytes, backward=backward, overlap_weights=overlap_weights
    )
    results = {"EP": estimate_layer(plan_ep(loads, num_devices), counts, shape, hw, label="EP", llep=False, **common)}
    for name in variants:
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        transfer_aware, intra_node_first, align_ranges = VARIANTS[name]
        plan = plan_llep(
            loads,
            num_devices,
            alpha,
            min_tokens,
            imbalance_threshold,
            devices_per_node=per_node,
            intra_node_first=intra_node_first,
            transfer_cost=transfer_cost_for(shape, hw, num_devices, per_node, dtype_bytes) if transfer_aware else None,
            align_ranges=align_ranges,
        )
        results[name] = estimate_layer(plan, counts, shape, hw, label=name, llep=True, **common)
    return results


# The paper's layer benchmark (REFERENCE.md section 3; arXiv 2601.17111): 8 x H200, forward, 95% of
# tokens on 1 hot expert. Peak memory is reported there only as ranges over the three models.
PAPER_LAYER_SPEEDUP_95_1: dict[str, float] = {"gpt-oss-120b": 6.1, "deepseek-v3": 5.1, "kimi-k2": 5.0}
PAPER_BALANCED_SPEEDUP: tuple[float, float] = (0.92, 1.07)
PAPER_EP_PEAK_GB_95: tuple[float, float] = (60.0, 100.0)
PAPER_LLEP_PEAK_GB: tuple[float, float] = (13.0, 43.0)
