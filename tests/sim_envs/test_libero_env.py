"""Real LIBERO steps, headless on the CPU: a libero_spatial task through sim_envs.make and its adapter.

Cost on the 2-core CPU machine (software EGL): ~25 s idle, up to ~45 s when the machine is busy — importing
LIBERO ~7 s, building the task ~8 s, one protocol reset (hard reset + 10 settle steps) ~6 s, each step
~0.25 s (two 256² renders). One env and one reset serve every test here. Skips when LIBERO is not set up.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim_envs
from motionvla.keys import STATE_KEY, TASK_KEY
from sim_envs.libero import install, protocol

# `make test` sets LIBERO up first, so a missing set-up is a failure here, never a silent skip.
if install.missing_parts():
    pytest.fail(f"LIBERO not set up ({'; '.join(install.missing_parts())}); run `make libero`", pytrace=False)

TASK = "libero_spatial/0"
EPISODE = 51  # -> init state 1


@pytest.fixture(scope="module")
def episode():
    """One protocol reset of TASK, recording the init state LIBERO was given and the settle actions."""
    env = sim_envs.make(TASK)
    adapter = sim_envs.adapter_for(TASK)
    inner = env.unwrapped
    inner._ensure_env()
    libero_env = inner._env
    given, actions = [], []
    real_set, real_step = libero_env.set_init_state, libero_env.step

    def set_init_state(state):
        given.append(np.array(state))
        return real_set(state)

    def step(action):
        actions.append(list(action))
        return real_step(action)

    libero_env.set_init_state, libero_env.step = set_init_state, step
    raw, info = adapter.reset(env, episode_index=EPISODE, seed=protocol.DEFAULT_SEED)
    libero_env.set_init_state, libero_env.step = real_set, real_step
    yield {"env": env, "adapter": adapter, "raw": raw, "info": info, "given": given, "settle": actions}
    env.close()


def test_reset_sets_init_state_episode_mod_50_then_settles(episode):
    env, adapter = episode["env"], episode["adapter"]
    assert episode["info"]["init_state_id"] == EPISODE % 50 == 1
    assert adapter.episode_record(env, EPISODE) == {"init_state_id": 1}
    assert len(episode["given"]) == 1
    np.testing.assert_array_equal(episode["given"][0], env.unwrapped._init_states[1])
    assert env.unwrapped.num_init_states == 50
    # the 10 no-op settle steps, gripper open, before the policy acts
    assert episode["settle"] == [list(protocol.SETTLE_ACTION)] * protocol.SETTLE_STEPS


def test_observation_is_raw_image_turned_180(episode):
    env, adapter = episode["env"], episode["adapter"]
    obs = adapter.observation(env, episode["raw"])
    raw = env.unwrapped.raw_observation()  # LIBERO's own dict, upside down
    for raw_cam, cam in protocol.CAMERAS.items():
        img = obs[f"observation.images.{cam}"]
        assert img.shape == (256, 256, 3) and img.dtype == np.uint8
        np.testing.assert_array_equal(img, raw[raw_cam][::-1, ::-1])
        assert not np.array_equal(img, raw[raw_cam])
    np.testing.assert_array_equal(adapter.frame(episode["raw"]), obs["observation.images.image"])
    np.testing.assert_array_equal(env.unwrapped.render(), obs["observation.images.image"])
    state = obs[STATE_KEY]
    assert state.shape == (8,) and state.dtype == np.float32
    np.testing.assert_allclose(state[:3], raw["robot0_eef_pos"], rtol=1e-6)
    np.testing.assert_allclose(state[6:], raw["robot0_gripper_qpos"], rtol=1e-6)
    assert obs[TASK_KEY] == adapter.instruction(env) == env.unwrapped.task_description
    assert obs[TASK_KEY].startswith("pick up the black bowl")


def test_policy_steps_shapes_success_and_the_220_limit(episode):
    env, adapter = episode["env"], episode["adapter"]
    assert adapter.max_steps(env) == 220 == protocol.SUITE_MAX_STEPS["libero_spatial"]
    assert env.unwrapped.max_episode_steps == 220
    rng = np.random.default_rng(0)
    before = adapter.observation(env, episode["raw"])[STATE_KEY]
    for _ in range(3):
        action = rng.uniform(-0.5, 0.5, 7).astype(np.float32)
        raw, reward, terminated, truncated, info = adapter.step(env, action)
        obs = adapter.observation(env, raw)
        assert isinstance(adapter.success(info, terminated), bool)
        assert isinstance(terminated, bool) and isinstance(truncated, bool) and not truncated
        assert obs["observation.images.wrist_image"].shape == (256, 256, 3)
        assert obs[STATE_KEY].dtype == np.float32 and obs[STATE_KEY].shape == (8,)
    assert env.unwrapped.steps_taken == 3
    assert not np.allclose(obs[STATE_KEY][:3], before[:3], atol=1e-5)  # the arm moved
    features = adapter.features(env)
    assert features.cameras == {"image": (256, 256, 3), "wrist_image": (256, 256, 3)}
    assert (features.state_dim, features.action_dim, features.fps) == (8, 7, 20.0)
