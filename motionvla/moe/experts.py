"""SwiGLU experts with weights stacked per expert, and the grouped compute over sorted tokens."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ExpertWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # gate (D, H), up (D, H), down (H, D)


class SwiGLUExperts(nn.Module):
    """``num_experts`` SwiGLU MLPs: ``down(silu(x @ gate) * (x @ up))``.

    Weights: ``w_gate (E, D, H)``, ``w_up (E, D, H)``, ``w_down (E, H, D)``. ``first_expert`` is the
    global id of expert 0 of this module (non-zero for a rank's shard under expert parallelism).
    """

    def __init__(self, num_experts: int, hidden_size: int, expert_hidden_size: int, first_expert: int = 0) -> None:
        super().__init__()
        self.num_experts, self.first_expert = num_experts, first_expert
        self.hidden_size, self.expert_hidden_size = hidden_size, expert_hidden_size
        self.w_gate = nn.Parameter(torch.empty(num_experts, hidden_size, expert_hidden_size))
        self.w_up = nn.Parameter(torch.empty(num_experts, hidden_size, expert_hidden_size))
        self.w_down = nn.Parameter(torch.empty(num_experts, expert_hidden_size, hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight, fan_in in ((self.w_gate, self.hidden_size), (self.w_up, self.hidden_size), (self.w_down, self.expert_hidden_size)):
            nn.init.normal_(weight, std=1.0 / math.sqrt(fan_in))

    def weights(self, local_index: int) -> ExpertWeights:
        return self.w_gate[local_index], self.w_up[local_index], self.w_down[local_index]

    def flat_weights(self, local_index: int) -> torch.Tensor:
        """One expert's three matrices as one flat vector (what LLEP sends to a borrowing device)."""
        return torch.cat([w.reshape(-1) for w in self.weights(local_index)])

    def unflatten(self, flat: torch.Tensor) -> ExpertWeights:
        """Inverse of :meth:`flat_weights`."""
        d, h = self.hidden_size, self.expert_hidden_size
        return flat[: d * h].view(d, h), flat[d * h : 2 * d * h].view(d, h), flat[2 * d * h :].view(h, d)


def swiglu_grouped(x: torch.Tensor, counts: Sequence[int], weights: Sequence[ExpertWeights]) -> torch.Tensor:
    """Run expert ``i`` on the next ``counts[i]`` rows of ``x``.

    Args:
        x: ``(R, D)`` rows grouped by expert, in the order of ``counts``.
        counts: rows per expert, ``sum(counts) == R``.
        weights: the expert's (gate, up, down) for each entry of ``counts``.

    Returns ``(R, D)``; stays connected to ``x`` in autograd even when ``R == 0``.
    """
    outputs, start = [], 0
    for count, (gate, up, down) in zip(counts, weights):
        if count == 0:
            continue
        rows = x[start : start + count]
        outputs.append((F.silu(rows @ gate) * (rows @ up)) @ down)
        start += count
    return torch.cat(outputs) if outputs else x[:0]
