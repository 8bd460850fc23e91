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
    shape = MoEShape("bench", cfg.num_experts, cfg.top_k, cfg.hidden_size, cfg.expert_hidden_size)
    counts = routing_counts(shape, world, cfg.tokens_per_rank, scenario)[rank]
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    indices, weights = forced_routing(counts, cfg.top_k, generator)
    x = torch.randn(cfg.tokens_per_rank, cfg.hidden_size, generator=generator)
    probe = torch.randn(cfg.tokens_per_rank, cfg.hidden_size, generator=generator)
    return x, indices, weights, probe
