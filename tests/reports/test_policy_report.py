"""motionvla.reports.policy_report: the motion head's error on held-out frames, against "nothing moves"."""

import pytest
import torch

from motionvla.flow_forecast.motion_dit import motion_targets
from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
from motionvla.reports.policy_report import motion_forecast_error


def tiny_config(**overrides) -> MotionVLAConfig:
    base = dict(image_size=32, motion_resolution=16, flow_max_magnitude=1.0, device="cpu", num_inference_steps=3)
    return MotionVLAConfig(**{**base, **overrides})


def test_motion_forecast_error_scores_a_perfect_and_a_still_forecast():
    policy = MotionVLAPolicy(tiny_config(flow_max_magnitude=2.0)).eval()
    r, k = policy.config.motion_resolution, policy.config.motion_frames
    items = []
    for i in range(3):
        item = {key: value[0] for key, value in policy.config.fake_batch(1, seed=i).items() if key != "task"}
        item["task"] = "push the red block to the left"
        item["motion"] = torch.zeros(k, 2, r, r)
        item["motion"][:, 0, :4, :4] = 1.5  # a moving patch, within the codec's scale
        item["motion_mask"] = torch.tensor([True, True, True, False])
        items.append(item)
    actual = motion_targets(torch.stack([it["motion"] for it in items]), r, 2.0).reshape(3, k, 3, r, r)
    policy.predict_motion = lambda batch, num_steps, generator: actual  # a perfect forecaster
    perfect = motion_forecast_error(policy, lambda batch: batch, items)
    policy.predict_motion = lambda batch, num_steps, generator: torch.ones_like(actual)  # "nothing moves"
    still = motion_forecast_error(policy, lambda batch: batch, items)
    assert perfect["frames"] == 9 and perfect["moving_fraction"] == pytest.approx(16 / (r * r))
    assert perfect["epe_moving"] < 1e-3 and perfect["epe"] < 1e-3
    assert still["epe_moving"] == pytest.approx(1.5, abs=1e-3) == still["epe_zero_moving"]
