"""The motion DiT: shapes with and without an image condition, condition errors, sampling, learning."""

import pytest
import torch

from motionvla.flow_forecast.motion_dit import MotionDiT, image_condition

B, K, R, D, L = 2, 2, 8, 16, 5


def tiny_dit(**overrides) -> MotionDiT:
    kwargs = dict(num_frames=K, resolution=R, context_dim=D, patch_size=2, num_layers=1, num_heads=2, head_dim=16)
    kwargs.update(overrides)
    return MotionDiT(**kwargs)


def context(batch: int = B) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.ones(batch, L, dtype=torch.bool)
    mask[0, -2:] = False  # padded context tokens
    return torch.randn(batch, L, D), mask


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("condition_channels", [0, 3])
def test_forward_loss_and_sample_shapes(condition_channels):
    dit = tiny_dit(condition_channels=condition_channels)
    assert dit.dit.config.in_channels == 3 * K + condition_channels and dit.dit.config.out_channels == 3 * K
    ctx, mask = context()
    cond = image_condition(torch.rand(B, 3, 32, 32), R) if condition_channels else None
    v = dit(torch.randn(B, 3 * K, R, R), torch.rand(B), ctx, mask, condition=cond)
    assert v.shape == (B, 3 * K, R, R) and torch.isfinite(v).all()
    loss = dit.loss(torch.rand(B, 3 * K, R, R), ctx, mask, torch.tensor([[True, False], [True, True]]), condition=cond)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for steps in (1, 3):
        out = dit.sample(ctx, mask, num_steps=steps, condition=cond, generator=torch.Generator().manual_seed(1))
        again = dit.sample(ctx, mask, num_steps=steps, condition=cond, generator=torch.Generator().manual_seed(1))
        assert out.shape == (B, 3 * K, R, R) and torch.equal(out, again)  # the generator fixes the sample


def test_sample_maps_the_model_space_to_motion_images(monkeypatch):
    """``sample`` returns motion images: the model's [-1, 1] mapped to [0, 1], values outside cut at the ends."""
    dit = tiny_dit()
    ctx, mask = context()
    model_space = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]).view(1, 7, 1, 1)
    monkeypatch.setattr(dit, "sample_data", lambda *args, **kwargs: model_space)
    got = dit.sample(ctx, mask, num_steps=1).flatten().tolist()
    assert got == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_the_condition_changes_the_velocity():
    dit = tiny_dit(condition_channels=3)
    ctx, mask = context()
    x, t = torch.randn(B, 3 * K, R, R), torch.rand(B)
    a = dit(x, t, ctx, mask, condition=torch.zeros(B, 3, R, R))
    b = dit(x, t, ctx, mask, condition=torch.ones(B, 3, R, R))
    assert not torch.allclose(a, b)


def test_condition_mismatch_is_a_clear_error():
    ctx, mask = context()
    x, t = torch.randn(B, 3 * K, R, R), torch.rand(B)
    with pytest.raises(ValueError, match="condition_channels=0"):
        tiny_dit()(x, t, ctx, mask, condition=torch.zeros(B, 3, R, R))
    conditioned = tiny_dit(condition_channels=3)
    with pytest.raises(ValueError, match="needs condition"):
        conditioned(x, t, ctx, mask)
    with pytest.raises(ValueError, match="needs condition"):
        conditioned.sample(ctx, mask, num_steps=1)
    with pytest.raises(ValueError, match=r"condition must be \(B, condition_channels, r, r\)"):
        conditioned(x, t, ctx, mask, condition=torch.zeros(B, 3, R // 2, R // 2))
    with pytest.raises(ValueError, match="condition must be"):
        conditioned.loss(torch.rand(B, 3 * K, R, R), ctx, mask, condition=torch.zeros(B, 6, R, R))


def test_image_condition_resizes_to_the_motion_resolution_in_minus_one_one():
    frames = torch.zeros(1, 3, 32, 32)
    frames[:, :, :16] = 1.0  # top half white
    cond = image_condition(frames, R)
    assert cond.shape == (1, 3, R, R)
    assert cond[:, :, : R // 2].eq(1).all() and cond[:, :, R // 2 :].eq(-1).all()


def test_config_rebuilds_the_same_shapes_and_data_channels():
    dit = tiny_dit(condition_channels=3, data_channels=8)
    cfg = dit.dit_config
    assert cfg == dict(num_frames=K, resolution=R, context_dim=D, patch_size=2, num_layers=1, num_heads=2,
                       head_dim=16, condition_channels=3, data_channels=8)
    again = MotionDiT.from_dit_config(cfg)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in dit.state_dict().items()}
    ctx, mask = context()
    out = again.sample(ctx, mask, num_steps=2, condition=torch.zeros(B, 3, R, R))
    assert out.shape == (B, 8, R, R)
    assert tiny_dit().dit_config["data_channels"] == 3 * K


def test_a_tiny_dit_fits_a_constant_target():
    dit = tiny_dit(condition_channels=3)
    ctx, mask = context(8)
    cond = image_condition(torch.rand(8, 3, R, R), R)
    target = torch.full((8, 3 * K, R, R), 0.8)
    target[:, :, : R // 2] = 0.2

    def eval_loss() -> float:
        torch.manual_seed(123)  # the same noise and times each time
        with torch.no_grad():
            return sum(dit.loss(target, ctx, mask, condition=cond).item() for _ in range(4)) / 4

    start = eval_loss()
    opt = torch.optim.AdamW(dit.parameters(), lr=2e-3)
    for _ in range(50):
        loss = dit.loss(target, ctx, mask, condition=cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.7 * start
