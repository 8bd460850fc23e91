"""Real-time chunking: the frozen prefix exactly, the soft overlap approximately, plain sampling unchanged."""

import math

import pytest
import torch

from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
from motionvla.policy.realtime_chunking import prefix_weights

CHUNK, DIM = 10, 4


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    cfg = MotionVLAConfig(device="cpu", image_size=32, state_dim=4, action_dim=DIM, chunk_size=CHUNK,
                          n_action_steps=CHUNK, num_inference_steps=10, image_keys=["observation.images.front"])
    return MotionVLAPolicy(cfg).eval()


def _obs(policy, seed=0):
    return policy.config.fake_batch(batch_size=2, seed=seed, with_targets=False)


def test_weights_follow_the_paper():
    w = prefix_weights(10, delay=3, overlap_end=8)
    assert w[:3].tolist() == [1.0, 1.0, 1.0] and w[8:].tolist() == [0.0, 0.0]
    # between the frozen steps and the end of the overlap: c (e^c - 1) / (e - 1), c = (8 - i) / 6
    expected = [(8 - i) / 6 * math.expm1((8 - i) / 6) / math.expm1(1) for i in range(3, 8)]
    assert w[3:8].tolist() == pytest.approx(expected)
    assert all(a > b for a, b in zip(w[2:8], w[3:9]))
    with pytest.raises(ValueError, match="delay must be in"):
        prefix_weights(10, delay=10, overlap_end=10)


def test_without_a_prefix_sampling_is_bit_identical(policy):
    noise = torch.randn(2, CHUNK, DIM, generator=torch.Generator().manual_seed(1))
    obs = _obs(policy)
    from motionvla.flow_forecast.flow_matching import euler_sample

    features, mask = policy.encode(obs)
    reference = euler_sample(lambda x, t: policy.action_head(x, t, features, mask), noise, 10)  # the plain sampler
    assert torch.equal(policy.predict_action_chunk(obs, noise=noise), reference)


def test_the_frozen_prefix_is_exact_and_the_overlap_is_followed(policy):
    obs = _obs(policy)
    noise = torch.randn(2, CHUNK, DIM, generator=torch.Generator().manual_seed(2))
    free = policy.predict_action_chunk(obs, noise=noise)
    # a previous plan far from what the policy would do on its own: 7 of its actions overlap the new chunk
    prefix = free[:, :7] + 2.0
    guided = policy.predict_action_chunk(obs, noise=noise, prefix_actions=prefix, delay=3)
    assert torch.equal(guided[:, :3], prefix[:, :3])  # executed while computing: exactly the old plan
    soft_free = (free[:, 3:7] - prefix[:, 3:7]).abs().mean()
    soft_guided = (guided[:, 3:7] - prefix[:, 3:7]).abs().mean()
    assert soft_guided < 0.5 * soft_free  # the overlap is pulled towards the old plan ...
    seam = (guided[:, 3] - prefix[:, 2]).abs().max()
    assert seam < (free[:, 3] - prefix[:, 2]).abs().max()  # ... so the seam after the frozen steps is smaller
    again = policy.predict_action_chunk(obs, noise=noise, prefix_actions=prefix, delay=3)
    assert torch.equal(again, guided)  # seeded: the same noise gives the same chunk


def test_bad_prefixes_are_refused(policy):
    obs = _obs(policy)
    with pytest.raises(ValueError, match="prefix must be"):
        policy.predict_action_chunk(obs, prefix_actions=torch.zeros(2, 4, DIM + 1), delay=1)
    with pytest.raises(ValueError, match="delay must be in"):
        policy.predict_action_chunk(obs, prefix_actions=torch.zeros(2, CHUNK, DIM), delay=CHUNK)
