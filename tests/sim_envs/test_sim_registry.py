"""sim_envs.make / list_tasks / gymnasium registration and bad-input errors."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

import sim_envs
from sim_envs import registry
from sim_envs.tabletop import TASKS, TabletopEnv


def test_list_tasks_has_all_tabletop_tasks():
    names = sim_envs.list_tasks("tabletop")
    assert len(TASKS) >= 4
    assert names == [f"tabletop/{t}" for t in TASKS]
    assert sim_envs.list_tasks()[: len(names)] == names  # other families (LIBERO suites) come after
    assert sim_envs.list_tasks("libero") == []


@pytest.mark.parametrize("name", ["lift_red", "tabletop/lift_red"])
def test_make_bare_and_prefixed(make_env, name):
    env = make_env(name)
    assert isinstance(env, TabletopEnv)
    assert env.unwrapped.task_name == "lift_red"
    assert env.unwrapped.instruction == "lift the red block"


def test_unknown_task_is_one_line_value_error_naming_tasks(make_env):
    with pytest.raises(ValueError) as exc:
        sim_envs.make("stack_purple")
    msg = str(exc.value)
    assert "\n" not in msg and "stack_purple" in msg
    assert all(t in msg for t in TASKS)
    with pytest.raises(ValueError, match="lift_red"):
        TabletopEnv("stack_purple")


def test_unknown_camera_is_one_line_value_error_naming_cameras(make_env):
    with pytest.raises(ValueError) as exc:
        make_env("lift_red", cameras=("side",))
    msg = str(exc.value)
    assert "\n" not in msg and "side" in msg
    assert all(c in msg for c in ("front", "top", "wrist"))
    with pytest.raises(ValueError, match="front"):
        make_env("lift_red", cameras=())


def test_register_custom_family(monkeypatch):
    # private copy of the registry so the dummy entry does not leak into other tests
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    sim_envs.register("dummy/one", lambda **kw: "built", overwrite=True)
    assert "dummy/one" in sim_envs.list_tasks()
    assert sim_envs.make("dummy/one") == "built"
    with pytest.raises(ValueError):
        sim_envs.register("no_family", lambda **kw: None)


def test_gymnasium_make():
    env = gym.make("motionvla/Tabletop-v0", task="push_red_left", image_size=64)
    try:
        obs, info = env.reset(seed=0)
        assert info["task"] == "push_red_left"
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    finally:
        env.close()


def test_import_is_model_free():
    """sim_envs imports the key vocabulary (motionvla.keys, the bottom layer) and nothing else of ours, no torch
    (``import motionvla`` itself runs ``motionvla.utils.startup``, standard library only)."""
    code = ("import sys, sim_envs, sim_envs.tabletop; "
            "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('motionvla')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False ['motionvla', 'motionvla.keys', 'motionvla.utils', 'motionvla.utils.startup']"
    assert "Exception ignored" not in out.stderr
