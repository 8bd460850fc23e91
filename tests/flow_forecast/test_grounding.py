"""Language-grounding maps: shapes and range, that the caption changes them and they reach the DiT, a save/load
round trip with them, and the policy's motion head taking them from a forecaster."""

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


def test_policy_motion_head_takes_a_forecaster_with_observed_flow_and_grounding_maps(tmp_path):
    """The policy's head, seeded from such a forecaster, computes exactly what the forecaster's DiT computes for
    the same hidden states, current frame and observed flow: the same condition channels, the same velocity."""
    from motionvla.keys import MOTION_PAST_KEY
    from motionvla.policy.configuration_motionvla import MotionVLAConfig
    from motionvla.policy.modeling_motionvla import MotionVLAPolicy
    from motionvla.policy.motion_head_init import adopt_forecaster_shapes, load_forecaster_dit

    forecaster = model()
    FlowForecastPipeline(forecaster).save_pretrained(tmp_path / "fc")
    config = adopt_forecaster_shapes(MotionVLAConfig(hidden_size=32, image_size=32, flow_max_magnitude=1.0,
                                                     motion_feature_channels=0, device="cpu"), str(tmp_path / "fc"))
    assert (config.motion_condition_frames, config.motion_past_flows, config.motion_grounding_maps) == (2, 1, 3)
    torch.manual_seed(1)
    policy = MotionVLAPolicy(config).eval()
    assert load_forecaster_dit(policy, str(tmp_path / "fc")) == len(policy.motion_head.state_dict())
    g = torch.Generator().manual_seed(0)
    frame, past = torch.rand(2, 3, 32, 32, generator=g), torch.randn(2, 1, 2, 32, 32, generator=g) * 0.5
    context, mask = torch.randn(2, 7, 32, generator=g), torch.ones(2, 7, dtype=torch.bool)
    batch = {config.image_keys[0]: frame, MOTION_PAST_KEY: past}
    ours = policy.motion_head.condition(batch, context, mask)
    theirs = forecaster._condition(torch.stack([frame, frame], dim=1), past, context, mask)
    torch.testing.assert_close(ours, theirs)
    x_t, t = torch.randn(2, 12, 16, 16, generator=g), torch.tensor([0.3, 1.0])
    torch.testing.assert_close(policy.motion_head(x_t, t, context, mask, ours),
                               forecaster.dit(x_t, t, context, mask, theirs))
    # A head that also reads the backbone's image-token grid: the forecaster's patch embedding for its channels,
    # zeros for the new ones, so it starts out computing exactly what the forecaster's DiT computes.
    import dataclasses

    wide = MotionVLAPolicy(dataclasses.replace(config, motion_feature_channels=4)).eval()
    load_forecaster_dit(wide, str(tmp_path / "fc"))
    with_grid = wide.motion_head.condition(batch, context, mask, feature_map=torch.randn(2, 32, 4, 4, generator=g))
    assert with_grid.shape[1] == theirs.shape[1] + 4
    torch.testing.assert_close(wide.motion_head(x_t, t, context, mask, with_grid),
                               forecaster.dit(x_t, t, context, mask, theirs))


def test_the_policy_head_takes_the_forecasters_output_parameterisation(tmp_path):
    from motionvla.policy.configuration_motionvla import MotionVLAConfig
    from motionvla.policy.motion_head_init import adopt_forecaster_shapes

    FlowForecastPipeline(model(prediction="sample")).save_pretrained(tmp_path / "fc")
    config = adopt_forecaster_shapes(MotionVLAConfig(hidden_size=32), str(tmp_path / "fc"))
    assert config.motion_prediction == "sample"
    with pytest.raises(UserError, match="model.prediction must be"):
        ForecasterConfig(**{**TINY, "prediction": "noise"})


def test_policy_motion_head_refuses_a_latent_codec_forecaster(tmp_path):
    from motionvla.policy.configuration_motionvla import MotionVLAConfig
    from motionvla.policy.motion_head_init import adopt_forecaster_shapes

    FlowForecastPipeline(model(codec="vae", past_flow_condition=False, grounding_maps=0, patch_size=1)
                         ).save_pretrained(tmp_path / "fc")
    with pytest.raises(UserError, match="vae-codec forecaster cannot seed"):
        adopt_forecaster_shapes(MotionVLAConfig(hidden_size=32), str(tmp_path / "fc"))
