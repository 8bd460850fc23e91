"""π0-style action expert: a small transformer that denoises an action chunk by flow matching.

It reads the noisy chunk ``x_t (B, chunk, A)`` with the time embedding (π0: action and time tokens fused
by an MLP) and cross-attends to the backbone's hidden states ``(B, L, D_vlm)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from motionvla.flow_forecast.flow_matching import euler_sample, flow_matching_loss, sinusoidal_embedding
from motionvla.policy.realtime_chunking import guided_sample


class ActionExpert(nn.Module):
    """Velocity model ``v(x_t, t | features)`` for action chunks.

    Args:
        action_dim: A. chunk_size: the chunk length. context_dim: the backbone's hidden size D_vlm.
        hidden_size / num_layers / num_heads: the expert's own width and depth.
    """

    def __init__(self, action_dim: int, chunk_size: int, context_dim: int, hidden_size: int, num_layers: int, num_heads: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.action_in = nn.Linear(action_dim, hidden_size)
        self.time_mlp = nn.Sequential(nn.Linear(2 * hidden_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))
        self.pos = nn.Parameter(torch.zeros(1, chunk_size, hidden_size))
        nn.init.normal_(self.pos, std=0.02)
        self.context_proj = nn.Linear(context_dim, hidden_size)
        layer = nn.TransformerDecoderLayer(
            hidden_size, num_heads, dim_feedforward=4 * hidden_size, dropout=0.0, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(hidden_size))
        self.action_out = nn.Linear(hidden_size, action_dim)

    def forward(self, x_t: Tensor, t: Tensor, features: Tensor, feature_mask: Tensor) -> Tensor:
        """Predicted velocity ``(B, chunk, A)``.

        Args:
            x_t: noisy chunk ``(B, chunk, A)``. t: times ``(B,)`` in [0, 1].
            features: backbone hidden states ``(B, L, D_vlm)``. feature_mask: ``(B, L)`` bool, True = valid.
        """
        a = self.action_in(x_t)
        te = sinusoidal_embedding(t, self.hidden_size).to(a.dtype)[:, None, :].expand_as(a)
        h = self.time_mlp(torch.cat([a, te], dim=-1)) + self.pos[:, : a.shape[1]]
        mem = self.context_proj(features)
        h = self.decoder(h, mem, memory_key_padding_mask=~feature_mask.bool())
        return self.action_out(h)

    def loss(self, actions: Tensor, features: Tensor, feature_mask: Tensor, is_pad: Tensor | None = None) -> Tensor:
        """Flow-matching MSE on target chunk ``actions (B, chunk, A)``; a scalar.

        ``is_pad``: optional ``(B, chunk)`` bool, True for steps past the episode's end (left out of the loss).
        """
        valid = None if is_pad is None else (~is_pad.bool()).unsqueeze(-1)
        return flow_matching_loss(lambda x, t: self(x, t, features, feature_mask), actions, valid)

    @torch.no_grad()
    def sample(self, features: Tensor, feature_mask: Tensor, noise: Tensor, num_steps: int,
               prefix: Tensor | None = None, prefix_weights: Tensor | None = None, delay: int = 0) -> Tensor:
        """Euler-integrate ``noise (B, chunk, A)`` from t=1 to 0 → action chunk ``(B, chunk, A)``.

        With ``prefix (B, P, A)`` (the previous chunk's actions for this chunk's first P steps) and
        ``prefix_weights (chunk,)``: real-time chunking (:mod:`motionvla.policy.realtime_chunking`), the first
        ``delay`` actions equal to the prefix, the rest of the overlap followed softly. Without: plain sampling.
        """
        velocity = lambda x, t: self(x, t, features, feature_mask)  # noqa: E731
        if prefix is None:
            return euler_sample(velocity, noise, num_steps)
        if prefix_weights is None:
            raise ValueError("real-time chunking needs prefix_weights with the prefix (realtime_chunking.prefix_weights)")
        return guided_sample(velocity, noise, num_steps, prefix.to(noise.device), prefix_weights, delay)
