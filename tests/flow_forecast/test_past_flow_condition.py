"""A forecaster conditioned on the observed flow: the extra condition channels, that the flow reaches the
output, the pipeline's ways of giving it, and the errors when it is missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.modeling import FlowForecaster
from motionvla.flow_forecast.pipeline import FlowForecastPipeline

TINY = dict(flow_max_magnitude=1.0, hidden_size=32, image_token_grid=4, resolution=16, image_size=32,
            past_flow_condition=True)
CAPTIONS = ["the red circle moves to the left", "the blue square moves up"]


def model(**overrides) -> FlowForecaster:
    torch.manual_seed(0)
    return FlowForecaster(forecaster=ForecasterConfig(**{**TINY, **overrides}).to_dict()).eval()


def test_condition_channels_count_the_observed_flows():
    assert ForecasterConfig(**TINY).condition_channels == 3 * (2 + 1)
    assert ForecasterConfig(**{**TINY, "frames_in": 3}).condition_channels == 3 * (3 + 2)
    assert ForecasterConfig(**{**TINY, "past_flow_condition": False}).condition_channels == 3 * 2
    with pytest.raises(UserError, match="frames_in >= 2"):
        ForecasterConfig(**{**TINY, "frames_in": 1})


def test_loss_and_forecast_use_the_past_flow():
    m = model()
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 255, (2, 2, 3, 32, 32), dtype=torch.uint8, generator=g)
    still, moving = torch.zeros(2, 1, 2, 32, 32), torch.full((2, 1, 2, 32, 32), 0.8)
    loss, _ = m.train()({"frames": frames, "flow": torch.randn(2, 4, 2, 32, 32, generator=g), "past_flow": moving,
                         "caption": CAPTIONS})
    loss.backward()
    assert torch.isfinite(loss)
    first_layer = m.dit.dit.pos_embed.proj.weight  # the patch embedding sees the condition channels
    assert first_layer.shape[1] == 4 * 3 + 3 * 3 and first_layer.grad[:, -3:].abs().sum() > 0
    m.eval()
    a = m.forecast(frames, CAPTIONS, past_flow=still, generator=torch.Generator().manual_seed(1))[0]
    b = m.forecast(frames, CAPTIONS, past_flow=moving, generator=torch.Generator().manual_seed(1))[0]
    assert a.shape == (2, 1, 4, 2, 16, 16) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditioned on the observed flow"):
        m.forecast(frames, CAPTIONS)
    with pytest.raises(ValueError, match=r"past_flow must be \(B=2, 1, 2, H, W\)"):
        m.forecast(frames, CAPTIONS, past_flow=torch.zeros(2, 2, 2, 32, 32))


def test_pipeline_takes_past_flows_or_estimates_them_from_the_previous_frame(tmp_path):
    pipe = FlowForecastPipeline(model())
    rng = np.random.default_rng(0)
    current = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    previous = [np.roll(c, -2, axis=1) for c in current]  # the scene moved 2 px to the right
    with pytest.raises(UserError, match="previous_images"):
        pipe(current, CAPTIONS)
    given = pipe(current, CAPTIONS, past_flows=np.zeros((2, 2, 40, 40), np.float32),
                 generator=torch.Generator().manual_seed(2))
    estimated = pipe(current, CAPTIONS, previous_images=previous, generator=torch.Generator().manual_seed(2))
    assert given.flows.shape == estimated.flows.shape == (2, 1, 4, 2, 16, 16)
    assert not np.allclose(given.flows, estimated.flows)
    with pytest.raises(UserError, match=r"past_flows must be"):
        pipe(current, CAPTIONS, past_flows=np.zeros((3, 2, 40, 40), np.float32))
    pipe.save_pretrained(tmp_path / "saved")
    again = FlowForecastPipeline.from_pretrained(tmp_path / "saved")
    assert again.model.cfg.past_flow_condition
    np.testing.assert_array_equal(
        again(current, CAPTIONS, previous_images=previous, generator=torch.Generator().manual_seed(2)).flows,
        estimated.flows)


def test_vae_codec_with_past_flow_trains_a_step():
    m = model(codec="vae", vae_latent_channels=4, vae_block_channels=(8, 16), patch_size=1).train()
    assert m.cfg.condition_channels == 4 * 3
    loss, _ = m({"frames": torch.rand(2, 2, 3, 32, 32), "flow": torch.randn(2, 4, 2, 32, 32),
                 "past_flow": torch.randn(2, 1, 2, 32, 32), "caption": CAPTIONS})
    loss.backward()
    assert torch.isfinite(loss)


def test_a_past_flow_forecaster_seeds_a_policy_head_that_reads_the_observed_flow(tmp_path):
    from motionvla.policy.configuration_motionvla import MotionVLAConfig
    from motionvla.policy.motion_head_init import adopt_forecaster_shapes

    FlowForecastPipeline(model()).save_pretrained(tmp_path / "fc")
    config = adopt_forecaster_shapes(MotionVLAConfig(hidden_size=32), str(tmp_path / "fc"))
    assert config.motion_past_flows == model().cfg.past_flows == 1
    # lerobot-train then loads frame t - s too, from which the pre-processor makes the observed flow.
    assert config.observation_delta_indices[0] == -config.flow_stride
