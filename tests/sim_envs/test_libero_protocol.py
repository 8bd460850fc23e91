"""LIBERO family without LIBERO: protocol constants, registration, errors, and the adapter on fake envs (< 5 s)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import sim_envs
from motionvla.keys import STATE_KEY, TASK_KEY
from sim_envs.libero import LiberoAdapter, LiberoNotInstalled, install, make_env, protocol
from sim_envs.libero.adapter import libero_state, quat_to_axis_angle, turn


def test_protocol_constants_per_suite():
    # openpi examples/libero/main.py and OpenVLA-OFT run_libero_eval.py; lerobot 0.6.1 says 280 for spatial.
    assert protocol.SUITE_MAX_STEPS == {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300,
                                        "libero_10": 520, "libero_90": 400}
    assert protocol.SUITE_NUM_TASKS == {"libero_spatial": 10, "libero_object": 10, "libero_goal": 10,
                                        "libero_10": 10, "libero_90": 90}
    assert protocol.SETTLE_STEPS == 10 and protocol.SETTLE_ACTION == (0, 0, 0, 0, 0, 0, -1)
    assert protocol.NUM_INIT_STATES == 50 and protocol.TRIALS_PER_TASK == 50
    assert protocol.IMAGE_SIZE == 256 and protocol.FLIP_IMAGES
    assert protocol.CAMERAS == {"agentview_image": "image", "robot0_eye_in_hand_image": "wrist_image"}
    assert len(protocol.STATE_NAMES) == 8 and len(protocol.ACTION_NAMES) == 7
    assert protocol.SUCCESS_FROM == "done"


def test_init_state_cycles_modulo_50():
    assert [protocol.init_state_id(i) for i in (0, 1, 49, 50, 51, 99, 100)] == [0, 1, 49, 0, 1, 49, 0]
    with pytest.raises(ValueError, match=">= 0"):
        protocol.init_state_id(-1)


def test_every_suite_task_is_registered_with_its_adapter():
    for suite, n in protocol.SUITE_NUM_TASKS.items():
        assert sim_envs.list_tasks(suite) == [f"{suite}/{i}" for i in range(n)]
        adapter = sim_envs.adapter_for(f"{suite}/0")
        assert isinstance(adapter, LiberoAdapter) and adapter.suite == suite and adapter.family == suite
    # The tabletop family stays first (other tests take list_tasks()[0]).
    assert sim_envs.list_tasks()[0].startswith("tabletop/")


def test_importing_sim_envs_imports_neither_libero_nor_torch():
    code = "import sys, sim_envs; print(sorted(m for m in ('libero', 'torch', 'robosuite') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_suite_and_task_name_what_exists():
    with pytest.raises(ValueError) as exc:
        make_env("libero_100", 0)
    assert "libero_100" in str(exc.value) and all(s in str(exc.value) for s in protocol.SUITES)
    for bad in (10, -1, "x", "3.0"):
        with pytest.raises(ValueError, match=r"libero_spatial; accepted: 0\.\.9"):
            make_env("libero_spatial", bad)
    with pytest.raises(ValueError, match="libero_90; accepted: 0..89"):
        make_env("libero_90", 90)
    with pytest.raises(ValueError, match="libero_spatial/9"):
        sim_envs.make("libero_spatial/10")
    with pytest.raises(ValueError, match="accepted: libero_spatial"):
        LiberoAdapter("libero_101")


def test_missing_libero_says_run_make_libero(monkeypatch):
    # `import libero` now fails as if it were not installed (libero.libero too, in case a test imported it).
    monkeypatch.setitem(sys.modules, "libero", None)
    monkeypatch.setitem(sys.modules, "libero.libero", None)
    assert install.libero_root() is None
    with pytest.raises(LiberoNotInstalled, match="make libero") as exc:
        sim_envs.make("libero_spatial/0")
    assert isinstance(exc.value, ImportError) and "hf-libero" in str(exc.value)


def test_missing_assets_says_run_make_libero(monkeypatch, tmp_path):
    (tmp_path / "bddl_files").mkdir()
    monkeypatch.setattr(install, "libero_root", lambda: tmp_path)
    with pytest.raises(LiberoNotInstalled, match=r"meshes.*make libero"):
        make_env("libero_goal", 1)


def test_prepare_writes_config_and_points_libero_there(monkeypatch, tmp_path):
    root = tmp_path / "site" / "libero" / "libero"
    (root / "assets" / "scenes").mkdir(parents=True)
    monkeypatch.setattr(install, "libero_root", lambda: root)
    monkeypatch.setenv(install.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(install.CONFIG_ENV, "")  # unset for prepare(), restored after the test
    assert install.prepare() == root
    assert install.os.environ[install.CONFIG_ENV] == str(tmp_path / "home")
    text = (tmp_path / "home" / "config.yaml").read_text()
    keys = [line.split(":", 1)[0] for line in text.splitlines()]
    assert keys == ["benchmark_root", "bddl_files", "init_states", "datasets", "assets"]
    assert f'assets: "{root / "assets"}"' in text
    mtime = (tmp_path / "home" / "config.yaml").stat().st_mtime_ns
    install.prepare()  # unchanged config: not rewritten
    assert (tmp_path / "home" / "config.yaml").stat().st_mtime_ns == mtime


# ---------------------------------------------------------------------------------------------- adapter
def test_quat_to_axis_angle_known_rotations():
    s = np.sqrt(0.5)
    np.testing.assert_allclose(quat_to_axis_angle([0, 0, 0, 1]), [0, 0, 0])
    np.testing.assert_allclose(quat_to_axis_angle([0, 0, s, s]), [0, 0, np.pi / 2], atol=1e-12)
    np.testing.assert_allclose(quat_to_axis_angle([1, 0, 0, 0]), [np.pi, 0, 0], atol=1e-12)
    np.testing.assert_allclose(quat_to_axis_angle([0, 0, 0, 1 + 1e-9]), [0, 0, 0])  # clipped, not NaN


class _FakeEnv:
    """Stands in for LiberoTaskEnv: records reset calls."""

    def __init__(self):
        self.unwrapped = self
        self.task_description = "put the bowl on the plate"
        self.num_init_states, self.max_episode_steps, self.image_size = 50, 220, 256
        self.resets: list[dict] = []

    def reset(self, seed=None, options=None):
        self.resets.append({"seed": seed, **(options or {})})
        return {}, {}


def _raw_obs(rng):
    img = lambda: rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)  # noqa: E731
    return {"pixels": {"image": img(), "wrist_image": img()},
            "robot_state": {"eef": {"pos": np.array([0.1, -0.2, 1.1]), "quat": np.array([0, 0, np.sqrt(0.5), np.sqrt(0.5)]),
                                    "mat": np.eye(3)},
                            "gripper": {"qpos": np.array([0.04, -0.04]), "qvel": np.zeros(2)}}}


def test_adapter_reset_picks_state_episode_mod_50():
    adapter, env = LiberoAdapter("libero_spatial"), _FakeEnv()
    for episode in (0, 1, 51, 100):
        adapter.reset(env, episode_index=episode, seed=7)
    assert [r["init_state_id"] for r in env.resets] == [0, 1, 1, 0]
    assert all(r["seed"] == 7 for r in env.resets)
    assert adapter.episode_record(env, 51) == {"init_state_id": 1}
    assert adapter.max_steps(env) == 220 and adapter.instruction(env) == "put the bowl on the plate"


def test_adapter_observation_turns_images_and_builds_8d_state():
    adapter, env, raw = LiberoAdapter("libero_spatial"), _FakeEnv(), _raw_obs(np.random.default_rng(0))
    obs = adapter.observation(env, raw)
    assert set(obs) == {"observation.images.image", "observation.images.wrist_image", STATE_KEY, TASK_KEY}
    for cam in ("image", "wrist_image"):
        img = obs[f"observation.images.{cam}"]
        assert img.dtype == np.uint8 and img.shape == (256, 256, 3) and img.flags.c_contiguous
        np.testing.assert_array_equal(img, raw["pixels"][cam][::-1, ::-1])
        np.testing.assert_array_equal(img[0, 0], raw["pixels"][cam][-1, -1])
    np.testing.assert_array_equal(adapter.frame(raw), obs["observation.images.image"])
    state = obs[STATE_KEY]
    assert state.dtype == np.float32 and state.shape == (8,)
    np.testing.assert_allclose(state, [0.1, -0.2, 1.1, 0, 0, np.pi / 2, 0.04, -0.04], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(libero_state(raw["robot_state"]), state)
    np.testing.assert_array_equal(turn(turn(raw["pixels"]["image"])), raw["pixels"]["image"])


def test_adapter_action_is_7d_in_unit_box():
    adapter, env = LiberoAdapter("libero_object"), _FakeEnv()
    a = adapter.env_action(env, np.array([2, -2, 0.5, 0, 0, 0, 1], dtype=np.float64))
    assert a.dtype == np.float32 and a.tolist() == [1, -1, 0.5, 0, 0, 0, 1]
    with pytest.raises(ValueError, match="7-D"):
        adapter.env_action(env, np.zeros(4))
    assert adapter.success({"done": True, "is_success": True}, True) is True
    assert adapter.success({"done": False}, False) is False


def test_seed_protocols_follow_the_reference_scripts():
    adapter = LiberoAdapter("libero_spatial")
    assert adapter.default_episodes == protocol.TRIALS_PER_TASK == 50
    assert adapter.seed_protocols[0] == "openpi"
    assert [adapter.episode_seed("openpi", 1000, i) for i in (0, 7, 49)] == [7, 7, 7]  # openpi: seed = 7
    assert [adapter.episode_seed("openvla", 1000, i) for i in (0, 49)] == [0, 0]  # OpenVLA: env.seed(0)
    assert [adapter.episode_seed("per_episode", 1000, i) for i in (0, 49)] == [1000, 1049]
    with pytest.raises(ValueError, match="accepted: openpi, openvla, per_episode"):
        adapter.episode_seed("nightly", 1000, 0)
