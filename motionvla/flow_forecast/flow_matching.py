"""The flow-matching schedule: the one used by the action head, the motion DiT and the forecaster.

openpi / π-series conventions: ``x_t = t·noise + (1 − t)·x0``, velocity target ``noise − x0``, MSE loss;
``t ~ Beta(1.5, 1)·0.999 + 0.001``; sampling integrates ``dx/dt = v`` with Euler steps from t=1 to t=0,
through diffusers' ``FlowMatchEulerDiscreteScheduler``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from diffusers import FlowMatchEulerDiscreteScheduler
from torch import Tensor

_BETA_ALPHA, _BETA_BETA = 1.5, 1.0

VelocityFn = Callable[[Tensor, Tensor], Tensor]


def sample_time(batch_size: int, device: torch.device | str = "cpu", one_step_fraction: float = 0.0) -> Tensor:
    """Training times ``(B,)`` in [0.001, 1.0], ``Beta(1.5, 1)·0.999 + 0.001`` (favours noisier t).

    ``one_step_fraction``: the share of times set to exactly 1 (pure noise), the only time a 1-step sampler
    queries the model; 0 keeps the plain Beta draw.
    """
    if not 0.0 <= one_step_fraction <= 1.0:
        raise ValueError(f"one_step_fraction must be in [0, 1], got {one_step_fraction}")
    beta = torch.distributions.Beta(torch.tensor(_BETA_ALPHA), torch.tensor(_BETA_BETA))
    t = beta.sample((batch_size,)) * 0.999 + 0.001
    if one_step_fraction > 0:
        t = torch.where(torch.rand(batch_size) < one_step_fraction, torch.ones_like(t), t)
    return t.to(device)


def noisy_sample(x0: Tensor, noise: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Interpolate data ``x0`` (B, ...) and ``noise`` (same shape) at times ``t`` (B,).

    Returns ``(x_t, target_velocity)``, both shaped like ``x0``.
    """
    tt = t.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return tt * noise + (1 - tt) * x0, noise - x0


PREDICTIONS = ("velocity", "sample")


def flow_matching_loss(velocity_fn: VelocityFn, x0: Tensor, valid: Tensor | None = None,
                       one_step_fraction: float = 0.0, prediction: str = "velocity") -> Tensor:
    """MSE between ``velocity_fn(x_t, t)`` and ``noise − x0`` at random ``t``; a scalar tensor.

    ``valid``: optional bool/0-1 mask broadcastable to ``x0`` (e.g. ``(B, chunk, 1)`` for padded action
    steps); the loss is the mean over valid elements only (0 if none is valid). ``one_step_fraction``: as
    in :func:`sample_time`. ``prediction="sample"``: the function predicts ``x0`` itself and the MSE is taken
    against ``x0`` (the velocity loss weighted by t², see :func:`velocity_from_sample`).
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    noise = torch.randn_like(x0)
    t = sample_time(x0.shape[0], x0.device, one_step_fraction)
    x_t, target = noisy_sample(x0, noise, t)
    if prediction == "sample":
        target = x0
    if valid is None:
        return F.mse_loss(velocity_fn(x_t, t), target)
    weight = valid.to(x0.dtype).expand_as(x0)
    squared = (velocity_fn(x_t, t) - target).pow(2) * weight
    return squared.sum() / weight.sum().clamp_min(1.0)


def velocity_from_sample(x_t: Tensor, x0_hat: Tensor, t: Tensor, min_t: float = 1e-3) -> Tensor:
    """The velocity a predicted clean sample implies: from ``x_t = t·noise + (1 − t)·x0``, ``v = noise − x0 =
    (x_t − x0) / t`` (``t`` (B,) clamped at ``min_t``). A model that predicts ``x0`` need not carry the noise through
    its layers to predict ``v``: a small one that cannot copy its input exactly otherwise turns that failure into
    speckle in every sample."""
    tt = t.clamp_min(min_t).view(-1, *([1] * (x_t.dim() - 1))).to(x_t.dtype)
    return (x_t - x0_hat) / tt


def euler_scheduler(num_steps: int, device: torch.device | str = "cpu") -> FlowMatchEulerDiscreteScheduler:
    """diffusers' flow-matching Euler scheduler (shift 1) set to ``num_steps`` uniform steps from σ=1 to σ=0.

    Its ``sigmas`` are ``[1, 1 − 1/n, ..., 1/n, 0]`` (n + 1 values) and ``timesteps`` are ``1000·sigmas[:-1]``.
    The sigmas are passed explicitly: the scheduler's default schedule ends at σ = 1/1000, not 1/n.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    sigmas = [1.0 - i / num_steps for i in range(num_steps)]
    scheduler.set_timesteps(sigmas=sigmas, device=device)
    scheduler.set_begin_index(0)
    return scheduler


@torch.no_grad()
def euler_sample(velocity_fn: VelocityFn, noise: Tensor, num_steps: int) -> Tensor:
    """Integrate ``dx/dt = velocity_fn(x, t)`` from ``noise`` at t=1 to t=0 in ``num_steps`` Euler steps.

    ``noise``: ``(B, ...)``, the starting point (the caller draws it, so no generator is needed here);
    ``velocity_fn(x (B, ...), t (B,) in [0, 1]) -> (B, ...)``. Returns ``x_0`` shaped like ``noise``.

    The steps are diffusers' ``FlowMatchEulerDiscreteScheduler`` (see :func:`euler_scheduler`), so every
    model here samples through one scheduler. Our ``x_t = t·noise + (1 − t)·x0`` is exactly diffusers'
    sigma convention (``sigma = t``, ``x_σ = σ·noise + (1 − σ)·x0``, model output = velocity
    ``noise − x0``, step ``x ← x + (σ_next − σ)·v``); ``velocity_fn`` receives ``t = σ``, i.e. the
    scheduler's timestep / 1000. Matches the plain loop ``x += −(1/n)·v(x, 1 − i/n)`` to float32 rounding.
    """
    scheduler = euler_scheduler(num_steps, noise.device)
    x = noise
    for i, timestep in enumerate(scheduler.timesteps):
        t = scheduler.sigmas[i].to(noise.dtype).repeat(noise.shape[0])  # (B,)
        x = scheduler.step(velocity_fn(x, t), timestep, x, return_dict=False)[0]
    return x


def sinusoidal_embedding(t: Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0) -> Tensor:
    """openpi's sine-cosine embedding of times ``t`` (B,) in [0, 1] → ``(B, dim)``; ``dim`` must be even."""
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    fraction = torch.linspace(0.0, 1.0, dim // 2, device=t.device, dtype=torch.float32)
    period = min_period * (max_period / min_period) ** fraction
    angle = t.float()[:, None] * (2 * torch.pi / period)[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
