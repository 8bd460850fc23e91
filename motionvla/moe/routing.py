"""Top-k softmax router: which experts each token goes to, and with what weight."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Routing:
    """A routing decision for T tokens.

    Attributes:
        indices: ``(T, k)`` long, expert ids (any ids in ``[0, N)``; repeats allowed).
        weights: ``(T, k)`` float, the weight of each expert's output in the token's sum.
        logits: ``(T, N)`` router logits, when a router made the decision (for auxiliary losses).
    """

    indices: torch.Tensor
    weights: torch.Tensor
    logits: torch.Tensor | None = None


class TopKRouter(nn.Module):
    """Softmax over all experts, keep the top k; optionally renormalize the kept weights to sum to 1.

    With ``aux_free_bias`` (DeepSeek-V3's auxiliary-loss-free balancing) a non-trained per-expert bias
    is added to the scores used to *select* experts, never to the weights; ``update_bias`` nudges it
    toward balance from observed loads.
    """

    def __init__(
        self, hidden_size: int, num_experts: int, top_k: int, *, normalize: bool = True, aux_free_bias: bool = False
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        self.num_experts, self.top_k, self.normalize = num_experts, top_k, normalize
        self.gate = nn.Linear(hidden_size, num_experts, bias=False)
        self.register_buffer("selection_bias", torch.zeros(num_experts) if aux_free_bias else None)

    def forward(self, x: torch.Tensor) -> Routing:
        """``x``: ``(T, D)`` → routing of the T tokens."""
        logits = self.gate(x)
        probs = F.softmax(logits, dim=-1, dtype=torch.float32)
        scores = probs if self.selection_bias is None else probs + self.selection_bias
        indices = scores.topk(self.top_k, dim=-1).indices
        weights = probs.gather(-1, indices)
        if self.normalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return Routing(indices, weights.to(x.dtype), logits)

    @torch.no_grad()
    def update_bias(self, counts: torch.Tensor, rate: float = 1e-3) -> None:
        """Raise the bias of under-loaded experts and lower it for over-loaded ones by ``rate``."""
        if self.selection_bias is None:
            raise RuntimeError("update_bias needs a router built with aux_free_bias=True")
        counts = counts.to(self.selection_bias)
        self.selection_bias += rate * torch.sign(counts.mean() - counts)
