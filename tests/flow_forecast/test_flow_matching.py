"""The one flow-matching schedule: diffusers-scheduler Euler sampling, interpolation and masked loss."""

import pytest
import torch

from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.flow_matching import (
    euler_sample,
    euler_scheduler,
    flow_matching_loss,
    noisy_sample,
    sample_time,
    sinusoidal_embedding,
)


def plain_euler(velocity_fn, noise, num_steps):
    """The hand-written loop ``euler_sample`` replaced: t = 1, 1 − 1/n, ..., 1/n; x += −(1/n)·v."""
    dt = -1.0 / num_steps
    x = noise
    for i in range(num_steps):
        t = torch.full((noise.shape[0],), 1.0 + i * dt, dtype=noise.dtype)
        x = x + dt * velocity_fn(x, t)
    return x


def nonlinear_velocity(x, t):
    """A velocity that depends on both x and t (per batch element), so every step's t matters.

    Gentle on purpose (|dv/dx| <= 2.5): the two loops differ only by float32 rounding of the step sizes
    (σ_next − σ vs −1/n), and a stiff field (e.g. sin(3x)) amplifies that to ~3e-6 over 10 steps.
    """
    tt = t.view(-1, *([1] * (x.dim() - 1)))
    return torch.tanh(x) * (1 + tt) - 0.5 * tt * x + tt**2


@pytest.mark.parametrize("num_steps", [1, 2, 10])
def test_scheduler_euler_matches_the_plain_loop(num_steps):
    noise = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(num_steps))
    seen = []

    def recording(x, t):
        seen.append(t.clone())
        return nonlinear_velocity(x, t)

    out = euler_sample(recording, noise, num_steps)
    assert out.shape == noise.shape and out.dtype == noise.dtype
    assert torch.allclose(out, plain_euler(nonlinear_velocity, noise, num_steps), atol=1e-6, rtol=0)
    assert len(seen) == num_steps and all(t.shape == (4,) for t in seen)
    expected_t = torch.tensor([1.0 - i / num_steps for i in range(num_steps)])
    assert torch.allclose(torch.stack([t[0] for t in seen]), expected_t, atol=1e-7)


def test_scheduler_schedule_and_a_straight_path_is_exact():
    scheduler = euler_scheduler(4)
    assert torch.allclose(scheduler.sigmas, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    assert torch.allclose(scheduler.timesteps, 1000 * scheduler.sigmas[:-1])
    # With the true velocity of a straight path (noise − x0), one step lands on x0 exactly.
    x0, noise = torch.randn(2, 6), torch.randn(2, 6)
    assert torch.allclose(euler_sample(lambda x, t: noise - x0, noise, 1), x0, atol=1e-6)
    with pytest.raises(ValueError, match="num_steps"):
        euler_sample(lambda x, t: x, noise, 0)


def test_noisy_sample_is_the_sigma_interpolation():
    x0, noise, t = torch.randn(3, 2, 2), torch.randn(3, 2, 2), torch.tensor([0.0, 0.5, 1.0])
    x_t, target = noisy_sample(x0, noise, t)
    assert torch.allclose(x_t[0], x0[0]) and torch.allclose(x_t[2], noise[2])
    assert torch.allclose(x_t[1], 0.5 * (x0[1] + noise[1])) and torch.allclose(target, noise - x0)
    times = sample_time(1000)
    assert times.min() >= 0.001 and times.max() <= 1.0


def test_loss_leaves_out_masked_elements():
    x0 = torch.zeros(2, 4, 3)
    valid = torch.tensor([[True, True, False, False], [True, False, False, False]]).unsqueeze(-1)  # (B, chunk, 1)

    def velocity(x, t):  # exact on valid steps, wildly wrong on masked ones
        tt = t.view(-1, 1, 1)
        target = (x - (1 - tt) * x0) / tt - x0  # noise − x0, recovered from x_t
        return torch.where(valid, target, target + 100.0)

    assert flow_matching_loss(velocity, x0, valid).item() == pytest.approx(0.0, abs=1e-8)
    assert flow_matching_loss(velocity, x0).item() == pytest.approx(100.0**2 * 5 / 8, rel=1e-4)
    nothing = torch.zeros_like(valid)
    assert flow_matching_loss(velocity, x0, nothing).item() == 0.0


def test_one_step_fraction_trains_that_share_at_pure_noise():
    torch.manual_seed(0)
    plain = sample_time(4000)
    assert (plain == 1.0).float().mean() < 0.01  # the Beta draw alone almost never lands on t = 1
    mixed = sample_time(4000, one_step_fraction=0.5)
    assert 0.45 < (mixed == 1.0).float().mean() < 0.55
    assert (sample_time(64, one_step_fraction=1.0) == 1.0).all()
    with pytest.raises(ValueError, match="one_step_fraction"):
        sample_time(4, one_step_fraction=1.5)

    seen = []

    def velocity(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    x0 = torch.randn(8, 3)
    flow_matching_loss(velocity, x0, one_step_fraction=1.0)
    assert (seen[0] == 1.0).all()  # x_t is the noise itself: what a 1-step sampler sees
    with pytest.raises(UserError, match="model.one_step_fraction"):
        ForecasterConfig(one_step_fraction=-0.1)


def test_sinusoidal_embedding_shape_and_odd_dim():
    emb = sinusoidal_embedding(torch.rand(5), 8)
    assert emb.shape == (5, 8) and torch.isfinite(emb).all()
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.rand(5), 7)
