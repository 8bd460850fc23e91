"""The backbone probe: expert frames with the object's future displacement, features, R² split by episode."""

import numpy as np
import pytest

from motionvla.evaluation.backbone_probe import (ProbeFrames, backbone_features, probe_r2, record_probe_frames,
                                                 state_task_features)


def test_r2_is_near_one_for_a_linear_target_and_near_zero_for_noise():
    rng = np.random.default_rng(0)
    episodes = np.repeat(np.arange(20), 15)
    x = rng.normal(size=(300, 12))
    w = rng.normal(size=(12, 3))
    y = x @ w + 0.01 * rng.normal(size=(300, 3))
    assert probe_r2(x, y, episodes, alpha=1e-3) > 0.99
    assert probe_r2(rng.normal(size=(300, 12)), y, episodes, alpha=1e-3) < 0.1


def test_folds_never_share_an_episode():
    """Features that only identify the episode predict a per-episode constant perfectly if frames of one episode
    sat on both sides of a fold; split by episode, they predict nothing."""
    rng = np.random.default_rng(1)
    episodes = np.repeat(np.arange(10), 8)
    x = np.eye(10)[episodes]
    y = rng.normal(size=(10, 2))[episodes]
    assert probe_r2(x, y, episodes, alpha=1e-6) < 0.05


def test_too_few_episodes_for_the_folds_is_refused():
    with pytest.raises(ValueError, match="at least 5 episodes"):
        probe_r2(np.zeros((6, 2)), np.zeros((6, 1)), np.array([0, 0, 1, 1, 2, 2]))


def test_recorded_frames_follow_the_pushed_object(tmp_path):
    frames = record_probe_frames(["tabletop/push_red_left"], 2, seed=40000, horizon=5, every=3, image_size=32,
                                 cameras=("front",))
    n = len(frames.tasks)
    assert frames.images["front"].shape == (n, 32, 32, 3) and frames.images["front"].dtype == np.uint8
    assert frames.displacement.shape == (n, 3) and set(frames.episode.tolist()) == {0, 1}
    assert set(frames.tasks) == {"push the red block to the left"}
    # the expert pushes the red block to the left (-x): over the episodes its summed x displacement is negative
    assert frames.displacement[:, 0].sum() < -0.05
    frames.save(tmp_path / "p.npz")
    again = ProbeFrames.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(again.images["front"], frames.images["front"])
    assert again.tasks == frames.tasks and again.horizon == 5

    from motionvla.policy import MotionVLAConfig, MotionVLAPolicy

    cfg = MotionVLAConfig(device="cpu", image_size=32, image_keys=["observation.images.front"], state_dim=4)
    features = backbone_features(MotionVLAPolicy(cfg), None, frames, batch_size=7)
    assert features.shape == (n, cfg.hidden_size) and np.isfinite(features).all()


def test_state_task_reference_sees_the_task_and_the_state_but_no_image():
    """A target fixed by the instruction is predicted exactly from the reference features; one made of image noise
    is not (the reference holds no pixel)."""
    rng = np.random.default_rng(2)
    n_episodes, per = 12, 6
    episode = np.repeat(np.arange(n_episodes), per)
    tasks = [["push left", "push right", "lift"][e % 3] for e in episode]
    state = rng.normal(size=(len(tasks), 4)).astype(np.float32)
    images = {"front": rng.integers(0, 256, size=(len(tasks), 8, 8, 3), dtype=np.uint8)}
    by_task = {"push left": [-0.1, 0, 0], "push right": [0.1, 0, 0], "lift": [0, 0, 0.05]}
    displacement = np.array([by_task[t] for t in tasks])
    frames = ProbeFrames(images, state, tasks, displacement, episode, horizon=5)
    features = state_task_features(frames)
    assert features.shape == (len(tasks), 4 + 3)
    np.testing.assert_array_equal(features[:, 4:].sum(1), 1.0)
    assert probe_r2(features, displacement, episode, alpha=1e-3) > 0.99
    from_pixels = images["front"][:, 0, 0, :].astype(np.float64)
    assert probe_r2(features, from_pixels, episode, alpha=1e-3) < 0.1
