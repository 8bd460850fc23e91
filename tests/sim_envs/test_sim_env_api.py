"""Observation / action spaces, shapes, dtypes, cameras and step semantics."""

from __future__ import annotations

import numpy as np
import pytest

from sim_envs.tabletop import ACTION_DIM, STATE_DIM


def test_observation_and_spaces(make_env):
    env = make_env("lift_red", image_size=64)
    obs, info = env.reset(seed=0)
    assert set(obs) == {"pixels", "agent_pos"}
    assert list(obs["pixels"]) == ["front"]
    img = obs["pixels"]["front"]
    assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
    assert img.std() > 5  # something was actually drawn
    assert obs["agent_pos"].dtype == np.float32 and obs["agent_pos"].shape == (STATE_DIM,)
    assert env.observation_space.contains(obs)
    assert env.action_space.shape == (ACTION_DIM,) and env.action_space.dtype == np.float32
    assert info == {"is_success": False, "task": "lift_red"}

    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert reward == 0.0 and terminated is False and truncated is False
    assert info["task"] == "lift_red" and info["is_success"] is False
    assert np.array_equal(env.render(), obs["pixels"]["front"])


def test_two_cameras_and_non_square_size(make_env):
    env = make_env("push_red_left", image_size=(48, 80), cameras=("front", "wrist"))
    obs, _ = env.reset(seed=1)
    assert list(obs["pixels"]) == ["front", "wrist"]
    for img in obs["pixels"].values():
        assert img.shape == (48, 80, 3) and img.dtype == np.uint8
    assert not np.array_equal(obs["pixels"]["front"], obs["pixels"]["wrist"])
    assert env.observation_space.contains(obs)
    assert env.unwrapped.camera_names == ("front", "wrist")
    assert env.render().shape == (48, 80, 3)


def test_metadata_and_attributes(make_env):
    env = make_env("green_on_yellow", control_hz=20.0, cameras=("top",))
    assert env.metadata["render_fps"] == 20.0
    assert env.unwrapped.max_step == pytest.approx(0.015)
    assert env.unwrapped.instruction == "put the green cube on the yellow pad"
    assert env.unwrapped.camera_names == ("top",)


def test_action_moves_gripper_and_gripper_closes(make_env):
    env = make_env("lift_red")
    obs, _ = env.reset(seed=2)
    start = obs["agent_pos"].copy()
    for _ in range(3):
        obs, *_ = env.step(np.array([1.0, 0.0, 0.0, 1.0], np.float32))
    # +x for 3 steps at 3 cm/step; the gripper closes (opening -> ~0).
    assert obs["agent_pos"][0] - start[0] == pytest.approx(0.09, abs=0.01)
    assert abs(obs["agent_pos"][1] - start[1]) < 0.005
    assert start[3] == pytest.approx(0.07, abs=0.002) and obs["agent_pos"][3] < 0.005


def test_truncation_at_max_steps(make_env):
    env = make_env("lift_red", max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(np.zeros(ACTION_DIM, np.float32))[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_bad_action_shape(make_env):
    env = make_env("lift_red")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))
