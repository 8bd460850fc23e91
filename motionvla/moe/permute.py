"""Local bookkeeping of dispatch: group a rank's (token, slot) rows by expert, and undo it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from motionvla.moe.routing import Routing


@dataclass
class Permutation:
    """A rank's ``T * k`` routed rows sorted by expert (stable, so ties keep token order).

    Attributes:
        order: ``(T*k,)`` slot ids (``token * k + slot``) in expert-sorted order.
        counts: ``(N,)`` rows per expert.
    """

    order: torch.Tensor
    counts: torch.Tensor
    top_k: int

    @property
    def tokens(self) -> torch.Tensor:
        """``(T*k,)`` token index of each sorted row."""
        return self.order // self.top_k


def permute(routing: Routing, num_experts: int) -> Permutation:
    """Sort the routed rows of ``routing`` by expert id."""
    flat = routing.indices.reshape(-1)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= num_experts):
        raise ValueError(f"routing indices must be in [0, {num_experts}), got [{int(flat.min())}, {int(flat.max())}]")
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=num_experts)
    return Permutation(order, counts, routing.indices.shape[1])


def combine(rows: torch.Tensor, perm: Permutation, routing: Routing) -> torch.Tensor:
    """Put expert-sorted output rows ``(T*k, D)`` back in slot order, weight them and sum over k → ``(T, D)``."""
    num_tokens, k = routing.indices.shape
    unsorted = torch.zeros_like(rows).index_copy(0, perm.order, rows)
    return (unsorted.view(num_tokens, k, rows.shape[-1]) * routing.weights.unsqueeze(-1).to(rows.dtype)).sum(dim=1)
