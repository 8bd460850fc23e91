"""The per-rank body of `motionvla moe-bench`: EP vs LLEP on real processes, measured.

Every rank builds the same full layer from one seed, keeps its expert shard, and for each routing
scenario feeds its own tokens with forced routing (the scenario's exact per-rank counts, from the
simulator's generator, so the benchmark and the simulator use one definition). Each measurement is
one forward + backward, after a warm-up call.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from motionvla.moe.memory import PeakMemory
from motionvla.moe.simulator import MoEShape, Scenario, routing_counts


def forced_routing(counts: np.ndarray, top_k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``indices (T, k)`` with exactly ``counts[e]`` slots on expert ``e`` (shuffled), and random
    softmax ``weights (T, k)``. ``counts.sum()`` must be a multiple of ``top_k``."""
    slots = torch.repeat_interleave(torch.arange(len(counts)), torch.as_tensor(counts))
    slots = slots[torch.randperm(len(slots), generator=generator)]
    indices = slots.view(-1, top_k)
    weights = torch.softmax(torch.randn(indices.shape, generator=generator), dim=-1)
    return indices, weights


def _inputs(cfg: Any, scenario: Scenario, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """This rank's tokens, routing and output-gradient probe; the same on every call for a rank."""
    shape = MoEShape(cfg.num_experts, cfg.top_k, cfg.hidden_size, cfg.expert_hidden_size, name="bench")
    counts = routing_counts(shape, world, cfg.tokens_per_rank, scenario)[rank]
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    indices, weights = forced_routing(counts, cfg.top_k, generator)
    x = torch.randn(cfg.tokens_per_rank, cfg.hidden_size, generator=generator)
    probe = torch.randn(cfg.tokens_per_rank, cfg.hidden_size, generator=generator)
    return x, indices, weights, probe


def _scenarios(text: str) -> list[Scenario]:
    from motionvla.moe.simulator import PAPER_SCENARIOS

    if text.strip().lower() == "paper":
        return list(PAPER_SCENARIOS)
    return [Scenario.parse(item) for item in text.split(",") if item.strip()]


def _measure(layer, x: torch.Tensor, routing, probe: torch.Tensor, repeats: int, loss_scale: float) -> tuple:
    """Median over ``repeats`` timed forward+backward calls (after one warm-up). The loss is a mean
    over all ranks' tokens (``loss_scale`` = their number), as in training."""
    samples = []
    for _ in range(repeats + 1):
        layer.zero_grad(set_to_none=True)
        x_in = x.clone().requires_grad_(True)
        dist.barrier()
        wall, cpu = time.perf_counter(), time.thread_time()
        with PeakMemory() as memory:
            y = layer(x_in, routing=routing)
            compute = layer.last_stats["expert_compute_thread_s"]
            (y * probe).sum().div(loss_scale).backward()
            dist.barrier()  # end-to-end = until the slowest rank is done
        samples.append(
            {
                "expert_compute_fwd_s": compute,
                "rank_cpu_fwd_bwd_s": time.thread_time() - cpu,
                "wall_fwd_bwd_s": time.perf_counter() - wall,
                "peak_bytes": memory.peak_bytes,
            }
        )
    timed = samples[1:]
    result = {key: statistics.median(s[key] for s in timed) for key in timed[0]}
    result["peak_bytes"] = max(s["peak_bytes"] for s in timed)
    result["tokens_computed"] = layer.last_stats["tokens_computed"]
    result["borrowed_experts"] = layer.last_stats.get("borrowed_experts", 0)
    result["plan_imbalance"] = layer.last_stats["plan"].imbalance
    result["transfers"] = len(layer.last_stats["plan"].transfers)
    return result, y.detach(), x_in.grad, [getattr(layer.experts, w).grad for w in ("w_gate", "w_up", "w_down")]


def _gather(tensor: torch.Tensor, world: int) -> list[torch.Tensor]:
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.contiguous())
    return parts


def bench_rank(rank: int, world: int, cfg: Any) -> list[dict]:
    """Run every scenario × dispatcher on this rank; returns this rank's measurements.

    Exactness: the parallel outputs, input gradients and expert-weight gradients are gathered and
    rank 0 compares them with the single-process ``local`` layer run on all ranks' tokens.
    """
    from motionvla.moe.layer import MoEFeedForward
    from motionvla.moe.routing import Routing

    torch.set_num_threads(1)  # each rank computes on its own thread, so its thread time is its work
    shape = (cfg.hidden_size, cfg.expert_hidden_size, cfg.num_experts, cfg.top_k)
    torch.manual_seed(cfg.seed)
    full = MoEFeedForward(*shape, "local")
    llep = dict(alpha=cfg.alpha, min_tokens=cfg.min_tokens, imbalance_threshold=cfg.imbalance_threshold)
    layers = {
        name: MoEFeedForward(*shape, name, **(llep if name == "llep" else {})).load_from_full(full)
        for name in cfg.dispatchers.split(",")
    }
    rows = []
    for scenario in _scenarios(cfg.scenarios):
        x, indices, weights, probe = _inputs(cfg, scenario, rank, world)
        reference = None
        if rank == 0:  # the single-process reference on every rank's tokens (regenerated, not sent)
            everything = [_inputs(cfg, scenario, r, world) for r in range(world)]
            x_all = torch.cat([e[0] for e in everything]).requires_grad_(True)
            routing_all = Routing(torch.cat([e[1] for e in everything]), torch.cat([e[2] for e in everything]))
            full.zero_grad(set_to_none=True)
            y_all = full(x_all, routing=routing_all)
            (y_all * torch.cat([e[3] for e in everything])).sum().div(world * cfg.tokens_per_rank).backward()
            reference = (y_all.detach(), x_all.grad, [getattr(full.experts, w).grad for w in ("w_gate", "w_up", "w_down")])
        for name, layer in layers.items():
            result, y, x_grad, expert_grads = _measure(
                layer, x, Routing(indices, weights), probe, cfg.repeats, world * cfg.tokens_per_rank
            )
            outputs, input_grads = _gather(y, world), _gather(x_grad, world)
            shard_grads = [_gather(g, world) for g in expert_grads]
            if rank == 0:
                y_ref, x_grad_ref, expert_grads_ref = reference
                result["max_abs_diff_output"] = float((torch.cat(outputs) - y_ref).abs().max())
                result["max_abs_diff_grad"] = max(
                    float((torch.cat(input_grads) - x_grad_ref).abs().max()),
                    *(float((torch.cat(parts) - ref).abs().max()) for parts, ref in zip(shard_grads, expert_grads_ref)),
                )
                result["max_abs_grad"] = max(float(g.abs().max()) for g in [x_grad_ref, *expert_grads_ref])
            rows.append({"scenario": scenario.name, "dispatcher": name, "rank": rank, **result})
        if rank == 0:
            print(f"  measured {scenario.name}", flush=True)
    return rows


def summarize(per_rank_rows: list[list[dict]]) -> list[dict]:
    """One row per (scenario, dispatcher): critical path = the slowest rank; exactness from rank 0."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for rank_rows in per_rank_rows:
        for row in rank_rows:
            by_key.setdefault((row["scenario"], row["dispatcher"]), []).append(row)
    summary = []
    for (scenario, dispatcher), rows in by_key.items():
        rows.sort(key=lambda r: r["rank"])
        loads = [r["tokens_computed"] for r in rows]
        summary.append(
            {
                "scenario": scenario,
                "dispatcher": dispatcher,
                "device_loads": loads,
                "max_mean_load": max(loads) / (sum(loads) / len(loads)),
                "critical_path_ms": 1e3 * max(r["expert_compute_fwd_s"] for r in rows),
                "rank_cpu_fwd_bwd_ms_max": 1e3 * max(r["rank_cpu_fwd_bwd_s"] for r in rows),
                "end_to_end_ms": 1e3 * max(r["wall_fwd_bwd_s"] for r in rows),
                "peak_memory_mb_per_rank": [r["peak_bytes"] / 2**20 for r in rows],
                "peak_memory_mb_max": max(r["peak_bytes"] for r in rows) / 2**20,
                "borrowed_experts": sum(r["borrowed_experts"] for r in rows),
                "max_abs_diff_output": rows[0]["max_abs_diff_output"],
                "max_abs_diff_grad": rows[0]["max_abs_diff_grad"],
                "max_abs_grad": rows[0]["max_abs_grad"],
            }
        )
    return summary
