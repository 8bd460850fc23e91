"""Real-time chunking (Black, Galliker & Levine 2025, arXiv 2506.07339) for a flow-matching action head.

While chunk n+1 is computed, the robot keeps executing chunk n. RTC generates chunk n+1 *inpainted* onto what
chunk n still has to say: the first ``delay`` actions (executed before the new chunk can arrive) are frozen, the
following ones (chunk n's remaining plan) are followed softly with exponentially decaying weights, the rest is
free. It is guided denoising (ΠGDM): at each Euler step the velocity is corrected by the vector-Jacobian product
of the weighted error between the predicted clean chunk and the prefix, with the guidance weight clipped at
``max_guidance`` (the paper's β). After the last step the frozen actions are set to the prefix exactly (they are
executed from the old chunk anyway).

Conventions (motionvla.flow_forecast.flow_matching): ``x_t = t·noise + (1 − t)·x0``, velocity ``v = noise − x0``,
sampling from t = 1 to 0. The paper's τ is ``1 − t`` and its velocity is ``−v``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from motionvla.flow_forecast.flow_matching import VelocityFn, euler_sample

#: The paper's β: the largest guidance weight (they found 5 works across tasks).
MAX_GUIDANCE = 5.0


def prefix_weights(chunk_size: int, delay: int, overlap_end: int, device: torch.device | None = None) -> Tensor:
    """RTC's soft mask ``(chunk_size,)``: 1 for the ``delay`` frozen actions, then the paper's exponential decay
    ``c·(e^c − 1)/(e − 1)`` with ``c`` falling linearly from 1 to 0 up to ``overlap_end`` (the end of the previous
    chunk's remaining plan in the new chunk's indices), 0 after it.
    """
    if not 0 <= delay < chunk_size:
        raise ValueError(f"delay must be in [0, chunk_size) = [0, {chunk_size}), got {delay}")
    if not delay <= overlap_end <= chunk_size:
        raise ValueError(f"overlap_end must be in [delay, chunk_size] = [{delay}, {chunk_size}], got {overlap_end}")
    i = torch.arange(chunk_size, dtype=torch.float32, device=device)
    c = ((overlap_end - i) / (overlap_end - delay + 1)).clamp(0.0, 1.0)
    weights = c * torch.expm1(c) / math.expm1(1.0)
    weights[:delay] = 1.0
    weights[overlap_end:] = 0.0
    return weights


def guided_sample(velocity_fn: VelocityFn, noise: Tensor, num_steps: int, prefix: Tensor, weights: Tensor,
                  delay: int, max_guidance: float = MAX_GUIDANCE) -> Tensor:
    """Sample a chunk ``(B, H, A)`` from ``noise`` that continues ``prefix``.

    Args:
        velocity_fn: ``v(x (B, H, A), t (B,)) -> (B, H, A)``, differentiable in ``x``.
        prefix: ``(B, P, A)`` with ``P <= H``: the previous chunk's actions for the new chunk's steps 0..P-1.
        weights: ``(H,)`` or ``(B, H)`` guidance weights (:func:`prefix_weights`); zero beyond ``P``.
        delay: the first ``delay`` actions are returned equal to ``prefix`` exactly.
    """
    b, h, a = noise.shape
    if prefix.dim() != 3 or prefix.shape[0] != b or prefix.shape[2] != a or not delay <= prefix.shape[1] <= h:
        raise ValueError(f"prefix must be (B={b}, P, A={a}) with {delay} <= P <= {h}, got {tuple(prefix.shape)}")
    weights = weights.to(noise.device, noise.dtype).reshape(-1, h) if weights.dim() <= 2 else weights
    if weights.shape[-1] != h or weights.shape[0] not in (1, b):
        raise ValueError(f"weights must be (H={h},) or (B, H), got {tuple(weights.shape)}")
    target = torch.zeros_like(noise)
    target[:, : prefix.shape[1]] = prefix.to(noise.dtype)
    mask = weights.clone()
    mask[:, prefix.shape[1]:] = 0.0  # nothing to follow past the prefix
    mask = mask[:, :, None]

    def guided(x: Tensor, t: Tensor) -> Tensor:
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            v = velocity_fn(x_in, t)
            clean = x_in - t.view(-1, 1, 1) * v  # the predicted chunk at t = 0
            (grad,) = torch.autograd.grad(clean, x_in, grad_outputs=mask * (target - clean))
        tau = (1.0 - t).clamp_min(1e-6).view(-1, 1, 1)  # the paper's time: 0 = noise, 1 = data
        r2 = (1.0 - tau) ** 2 / (tau**2 + (1.0 - tau) ** 2)
        scale = torch.clamp((1.0 - tau) / (tau * r2.clamp_min(1e-12)), max=max_guidance)
        return v.detach() - scale * grad  # ours is −(the paper's velocity): the correction changes sign too

    chunk = euler_sample(guided, noise, num_steps)
    chunk[:, :delay] = prefix[:, :delay].to(chunk.dtype)
    return chunk
