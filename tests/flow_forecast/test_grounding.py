"""Language-grounding maps: shapes and range, that the caption changes them and they reach the DiT, a save/load
round trip with them, and the policy's motion head refusing a forecaster that needs them."""

from __future__ import annotations

import pytest
import torch

from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.grounding import GroundingMaps
from motionvla.flow_forecast.modeling import FlowForecaster
from motionvla.flow_forecast.pipeline import FlowForecastPipeline

TINY = dict(flow_max_magnitude=1.0, hidden_size=32, image_token_grid=4, resolution=16, image_size=32,
            past_flow_condition=True, grounding_maps=3)
CAPTIONS = ["the red circle moves to the left", "the blue square moves up"]


def model(**overrides) -> FlowForecaster:
    torch.manual_seed(0)
    return FlowForecaster(forecaster=ForecasterConfig(**{**TINY, **overrides}).to_dict()).eval()


def test_maps_are_bounded_per_pixel_and_ignore_masked_context():
    torch.manual_seed(0)
    maps = GroundingMaps(condition_channels=9, context_dim=32, maps=3)
    condition, context = torch.randn(2, 9, 16, 16), torch.randn(2, 5, 32)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    out = maps(condition, context, mask)
    assert out.shape == (2, 3, 16, 16) and out.abs().max() < 1
    changed = context.clone()
    changed[1, 3:] = 100.0  # padding: must not matter
    torch.testing.assert_close(maps(condition, changed, mask)[1], out[1])
    changed[1, 0] = 100.0  # a valid token: must matter
    assert not torch.allclose(maps(condition, changed, mask)[1], out[1])


def test_config_counts_the_maps_and_rejects_negative():
    assert ForecasterConfig(**TINY).condition_channels == 3 * (2 + 1) + 3
    assert ForecasterConfig(**{**TINY, "grounding_maps": 0}).condition_channels == 9
    with pytest.raises(UserError, match="grounding_maps"):
        ForecasterConfig(**{**TINY, "grounding_maps": -1})


def test_captions_reach_the_dit_through_the_maps_and_a_step_trains():
    m = model()
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 255, (2, 2, 3, 32, 32), dtype=torch.uint8, generator=g)
    past = torch.randn(2, 1, 2, 32, 32, generator=g)
    batch = {"frames": frames, "flow": torch.randn(2, 4, 2, 32, 32, generator=g), "past_flow": past,
             "caption": CAPTIONS}
    loss, _ = m.train()(batch)
    loss.backward()
    patch_embed = m.dit.dit.pos_embed.proj.weight
    assert patch_embed.shape[1] == 4 * 3 + 9 + 3 and patch_embed.grad[:, -3:].abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.grounding.parameters())
    m.eval()
    context, mask = m._context(frames.float() / 255, CAPTIONS)
    swapped, swapped_mask = m._context(frames.float() / 255, CAPTIONS[::-1])
    a = m._condition(frames.float() / 255, past, context, mask)[:, -3:]
    b = m._condition(frames.float() / 255, past, swapped, swapped_mask)[:, -3:]
    assert not torch.allclose(a, b)


def test_save_load_round_trip_is_exact(tmp_path):
    pipe = FlowForecastPipeline(model())
    images = torch.rand(2, 3, 24, 24)
    past = torch.randn(2, 2, 24, 24)
    first = pipe(images, CAPTIONS, past_flows=past, generator=torch.Generator().manual_seed(3)).flows
    pipe.save_pretrained(tmp_path / "saved")
    again = FlowForecastPipeline.from_pretrained(tmp_path / "saved")
    assert again.model.cfg.grounding_maps == 3
    torch.testing.assert_close(
        torch.as_tensor(again(images, CAPTIONS, past_flows=past, generator=torch.Generator().manual_seed(3)).flows),
        torch.as_tensor(first), rtol=0, atol=0)


@pytest.mark.parametrize("overrides, message", [
    (dict(past_flow_condition=False), "grounding maps"),
    (dict(grounding_maps=0), "observed flow"),
])
def test_policy_motion_head_refuses_what_it_cannot_compute(tmp_path, overrides, message):
    from motionvla.policy.configuration_motionvla import MotionVLAConfig
    from motionvla.policy.motion_head_init import adopt_forecaster_shapes

    FlowForecastPipeline(model(**overrides)).save_pretrained(tmp_path / "fc")
    with pytest.raises(UserError, match=message):
        adopt_forecaster_shapes(MotionVLAConfig(hidden_size=32), str(tmp_path / "fc"))
