"""Language-grounding maps: where in the frame the caption points, as extra image-condition channels for the DiT.

The DiT can only place motion on "the green circle" if something tells it which pixels that is. Its
cross-attention can learn it, but a tiny model trained for minutes learns the direction word long before the
binding of colour and shape words to pixels (docs/flow_forecast.md, runs 3-4). This module gives that binding a
direct path, the language-conditioned spatial attention of CLIPort / LAVA-style policies: a few query vectors
attention-pooled from the VLM's hidden states, a small conv over the DiT's image condition (frames and observed
flow) giving a key per pixel, and one map per query ``tanh(<key(x, y), query> / sqrt(d))``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GroundingMaps(nn.Module):
    """``maps (B, M, r, r)`` in (-1, 1) from ``condition (B, C, r, r)`` and ``context (B, L, D)`` with ``mask (B, L)``.

    Args:
        condition_channels: C, the DiT's image condition (frames, then observed flows).
        context_dim: D of the VLM's hidden states. maps: M. key_dim: d per map.
    """

    def __init__(self, condition_channels: int, context_dim: int, maps: int = 4, key_dim: int = 16,
                 hidden: int = 32) -> None:
        super().__init__()
        self.maps, self.key_dim = maps, key_dim
        self.keys = nn.Sequential(
            nn.Conv2d(condition_channels, hidden, kernel_size=3, padding=1), nn.GELU(),
            nn.Conv2d(hidden, hidden, kernel_size=3, padding=1), nn.GELU(),
            nn.Conv2d(hidden, maps * key_dim, kernel_size=1),
        )
        self.pool_query = nn.Parameter(torch.randn(maps, context_dim) / math.sqrt(context_dim))
        self.pool_key = nn.Linear(context_dim, context_dim, bias=False)
        self.to_query = nn.Linear(context_dim, key_dim)

    def forward(self, condition: Tensor, context: Tensor, mask: Tensor) -> Tensor:
        b, _, h, w = condition.shape
        scores = torch.einsum("md,bld->bml", self.pool_query, self.pool_key(context)) / math.sqrt(context.shape[-1])
        scores = scores.masked_fill(~mask.bool()[:, None, :], float("-inf"))
        pooled = torch.einsum("bml,bld->bmd", scores.softmax(dim=-1), context)  # (B, M, D)
        queries = self.to_query(pooled)  # (B, M, d)
        keys = self.keys(condition).view(b, self.maps, self.key_dim, h, w)
        return torch.tanh(torch.einsum("bmdhw,bmd->bmhw", keys, queries.to(keys.dtype)) / math.sqrt(self.key_dim))
