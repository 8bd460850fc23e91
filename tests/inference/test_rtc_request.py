"""Real-time chunking through ``Policy.infer``: the previous chunk's remaining actions (robot units) go in under
``rtc.prefix_actions``, the first ``rtc.delay`` of them come back unchanged, a request without them is unchanged."""

import numpy as np
import pytest
import torch

from motionvla.errors import UserError
from motionvla.inference import CheckpointPolicy
from motionvla.keys import RTC_DELAY_KEY, RTC_PREFIX_KEY


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny motionvla checkpoint whose processors normalize with non-trivial statistics (so a prefix that skipped
    normalization could not come back unchanged)."""
    from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
    from motionvla.policy.processor_motionvla import make_motionvla_pre_post_processors

    folder = tmp_path_factory.mktemp("rtc_policy")
    torch.manual_seed(0)
    config = MotionVLAConfig(image_size=32, device="cpu", num_inference_steps=3, state_dim=4, action_dim=4,
                             chunk_size=8, n_action_steps=8, inference_noise_scale=1.0, motion_weight=0.0)
    stats = {"action": {"mean": torch.tensor([1.0, -2.0, 0.5, 3.0]), "std": torch.tensor([2.0, 0.5, 1.5, 4.0])},
             "observation.state": {"mean": torch.zeros(4), "std": torch.ones(4)}}
    pre, post = make_motionvla_pre_post_processors(config, stats)
    MotionVLAPolicy(config).save_pretrained(folder)
    pre.save_pretrained(folder)
    post.save_pretrained(folder)
    return str(folder)


def observation(n=None):
    rng = np.random.default_rng(0)
    shape = () if n is None else (n,)
    return {"observation.images.front": rng.integers(0, 255, (*shape, 32, 32, 3), dtype=np.uint8),
            "observation.state": rng.normal(size=(*shape, 4)).astype(np.float32),
            "task": "push the red block to the left" if n is None else ["push the red block to the left"] * n}


def test_the_delayed_prefix_comes_back_exactly_in_robot_units(checkpoint):
    policy = CheckpointPolicy(checkpoint, "cpu")
    prefix = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32) * 3 + 1
    policy.reset(seed=3)
    out = policy.infer({**observation(), RTC_PREFIX_KEY: prefix, RTC_DELAY_KEY: 2})["actions"]
    assert out.shape == (8, 4)
    np.testing.assert_allclose(out[:2], prefix[:2], atol=1e-4)  # executed while computing: kept exactly
    policy.reset(seed=3)
    free = policy.infer(observation())["actions"]
    assert not np.allclose(out[2:5], free[2:5], atol=1e-3)  # the overlap follows the prefix, not the free sample
    # Closer to the prefix over the soft overlap than a free sample from the same noise is.
    assert np.abs(out[2:5] - prefix[2:5]).mean() < np.abs(free[2:5] - prefix[2:5]).mean()


def test_without_rtc_keys_infer_is_unchanged_and_batches_take_a_prefix_each(checkpoint):
    policy = CheckpointPolicy(checkpoint, "cpu")
    policy.reset(seed=5)
    a = policy.infer(observation())["actions"]
    policy.reset(seed=5)
    b = policy.infer(observation())["actions"]
    assert np.array_equal(a, b)
    prefix = np.zeros((2, 3, 4), dtype=np.float32) + np.array([[[1.0]], [[-1.0]]], dtype=np.float32)
    out = policy.infer({**observation(2), RTC_PREFIX_KEY: prefix, RTC_DELAY_KEY: 1})["actions"]
    assert out.shape == (2, 8, 4)
    np.testing.assert_allclose(out[:, 0], prefix[:, 0], atol=1e-4)


@pytest.mark.parametrize(("extra", "message"), [
    ({RTC_PREFIX_KEY: np.zeros((3, 5), np.float32)}, r"expected \(P, 4\) with 1 <= P <= 8, got \(3, 5\)"),
    ({RTC_PREFIX_KEY: np.zeros((9, 4), np.float32)}, r"1 <= P <= 8, got \(9, 4\)"),
    ({RTC_PREFIX_KEY: np.zeros((3, 4), np.float32), RTC_DELAY_KEY: 4}, r"rtc.delay: expected an int in 0..3"),
    ({RTC_DELAY_KEY: 2}, r"rtc.delay without rtc.prefix_actions"),
])
def test_bad_rtc_requests_are_named(checkpoint, extra, message):
    policy = CheckpointPolicy(checkpoint, "cpu")
    with pytest.raises(UserError, match=message):
        policy.infer({**observation(), **extra})
