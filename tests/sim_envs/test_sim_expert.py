"""Scripted expert solves each task; trivial policies do not."""

from __future__ import annotations

import numpy as np
import pytest

from sim_envs.tabletop import TASKS, ScriptedExpert, run_expert_episode


@pytest.mark.parametrize("task", list(TASKS))
def test_expert_solves_task(make_env, task):
    env = make_env(task, image_size=32)
    expert = ScriptedExpert(env)
    results = [run_expert_episode(env, seed, expert) for seed in range(5)]
    assert all(ok for ok, _ in results), results
    assert all(n <= env.unwrapped.max_episode_steps for _, n in results)


def test_expert_actions_in_range(make_env):
    env = make_env("green_on_yellow", image_size=32)
    expert = ScriptedExpert(env, noise_std=0.5, seed=0)
    obs, _ = env.reset(seed=0)
    expert.reset()
    for _ in range(20):
        a = expert.act(obs)
        assert a.dtype == np.float32 and a.shape == (4,)
        assert np.all(np.abs(a) <= 1.0)
        obs, *_ = env.step(a)


@pytest.mark.parametrize("task", ["lift_red", "green_on_yellow", "push_red_left"])
def test_random_and_noop_policies_fail(make_env, task):
    env = make_env(task, image_size=32)
    rng = np.random.default_rng(0)
    for seed in range(3):
        for policy in ("noop", "random"):
            env.reset(seed=seed)
            info = {"is_success": False}
            for _ in range(env.unwrapped.max_episode_steps):
                a = np.zeros(4, np.float32) if policy == "noop" else rng.uniform(-1, 1, 4).astype(np.float32)
                _, reward, terminated, truncated, info = env.step(a)
                if terminated or truncated:
                    break
            assert not info["is_success"], (task, policy, seed)
            assert reward == 0.0
