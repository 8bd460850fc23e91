"""Rollout pieces: crashed episodes are recorded, checkpoint adapter converts obs and checks sizes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import motionvla.policy
import sim_envs
from motionvla.cli.main import main
from motionvla.errors import UserError
from motionvla.evaluation import (
    CheckpointPolicy,
    EnvSpec,
    EpisodeSpec,
    PolicySpec,
    RandomPolicy,
    obs_to_batch,
    run_episode,
    run_episodes,
)


class _Crashing:
    name = "crashing"

    def __init__(self, at_step: int) -> None:
        self.at_step, self.steps = at_step, 0

    def reset(self, seed=None) -> None:
        self.steps = 0

    def act(self, obs, env):
        self.steps += 1
        if self.steps > self.at_step:
            raise RuntimeError("policy exploded")
        return np.zeros(4, dtype=np.float32)


@pytest.fixture
def env():
    env = sim_envs.make("lift_red", image_size=32)
    yield env
    env.close()


def test_crashed_episode_is_recorded_as_failed_with_its_error(env, tmp_path):
    result = run_episode(env, _Crashing(at_step=3), EpisodeSpec("tabletop/lift_red", 0, 5, str(tmp_path / "v.gif")))
    assert result.success is False and result.length == 3 and result.seed == 5
    assert "RuntimeError: policy exploded" in result.error
    assert (tmp_path / "v.gif").exists()  # the frames up to the crash are still shown


def test_worker_setup_failure_accounts_for_every_episode():
    episodes = [EpisodeSpec("tabletop/lift_red", i, i) for i in range(3)]
    results = run_episodes(episodes, PolicySpec("/no/such/checkpoint"), EnvSpec(image_size=32), workers=2)
    assert [r.episode_index for r in results] == [0, 1, 2]
    assert all(not r.success and r.error.startswith("setup: UserError") for r in results)


def test_random_policy_is_seeded_per_episode(env):
    policy = RandomPolicy()
    policy.reset(seed=3)
    first = [policy.act({}, env) for _ in range(3)]
    policy.reset(seed=3)
    assert np.array_equal(first, [policy.act({}, env) for _ in range(3)])
    assert all(a.shape == (4,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1) for a in first)


def test_obs_to_batch_keys_shapes_and_ranges(env):
    obs, _ = env.reset(seed=0)
    batch = obs_to_batch(obs, "lift the red block")
    image = batch["observation.images.front"]
    assert image.shape == (1, 3, 32, 32) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert torch.allclose(image[0].permute(1, 2, 0) * 255, torch.from_numpy(obs["pixels"]["front"]).float())
    assert batch["observation.state"].shape == (1, 4)
    assert batch["task"] == ["lift the red block"]


class _FakePolicy(torch.nn.Module):
    """What the policy module will provide: LeRobot-style config features, reset, select_action."""

    def __init__(self, state_dim: int = 4, action_dim: int = 4) -> None:
        super().__init__()
        self.config = SimpleNamespace(
            input_features={"observation.state": SimpleNamespace(shape=(state_dim,))},
            output_features={"action": {"shape": [action_dim]}},
        )
        self.action_dim = action_dim
        self.seen: list[dict] = []
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def select_action(self, batch):
        self.seen.append(batch)
        return torch.full((1, self.action_dim), 0.5)


def _checkpoint_dir(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"type": "fake"}))
    (ckpt / "model.safetensors").write_bytes(b"")
    return ckpt


def test_checkpoint_policy_drives_select_action(env, tmp_path, monkeypatch):
    fake = _FakePolicy()
    monkeypatch.setattr(motionvla.policy, "load_policy", lambda path: fake, raising=False)
    policy = CheckpointPolicy(str(_checkpoint_dir(tmp_path)))
    result = run_episode(env, policy, EpisodeSpec("tabletop/lift_red", 0, 1))
    assert result.error is None and result.length == env.unwrapped.max_episode_steps
    assert fake.resets == 1 and len(fake.seen) == result.length
    assert fake.seen[0]["task"] == ["lift the red block"]


def test_checkpoint_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(motionvla.policy, "load_policy", lambda path: _FakePolicy(), raising=False)
    ckpt = _checkpoint_dir(tmp_path)
    argv = ["eval", f"--policy={ckpt}", "--tasks=lift_red", "--episodes=2", "--workers=1", "--image_size=32", f"--out={tmp_path / 'o'}"]
    assert main(argv) == 0
    info = json.loads((tmp_path / "o" / "eval_info.json").read_text())
    assert info["policy"]["kind"] == "checkpoint" and info["overall"]["n_episodes"] == 2
    capsys.readouterr()

    monkeypatch.setattr(motionvla.policy, "load_policy", lambda path: _FakePolicy(action_dim=7), raising=False)
    assert main(argv[:-1] + [f"--out={tmp_path / 'o2'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "7-dim actions" in err and "4-dim" in err


def test_checkpoint_without_a_loader_names_what_is_expected(tmp_path, monkeypatch):
    for name in ("load_policy", "from_pretrained", "MotionVLAPolicy"):
        monkeypatch.delattr(motionvla.policy, name, raising=False)
    monkeypatch.setattr(motionvla.policy, "__all__", [], raising=False)
    with pytest.raises(UserError, match="load_policy"):
        CheckpointPolicy(str(_checkpoint_dir(tmp_path)))


def test_real_tiny_checkpoint_end_to_end(tmp_path, capsys):
    """A tiny untrained MotionVLAPolicy saved to disk, evaluated through the CLI (sizes read from its config)."""
    from motionvla.policy import MotionVLAConfig, MotionVLAPolicy  # a broken policy import must fail, not skip

    torch.manual_seed(0)
    config = MotionVLAConfig(image_size=32, motion_resolution=16, device="cpu", num_inference_steps=2, state_dim=4, action_dim=4)
    MotionVLAPolicy(config).save_pretrained(tmp_path / "tiny")
    out = tmp_path / "o"
    argv = ["eval", f"--policy={tmp_path / 'tiny'}", "--tasks=lift_red", "--episodes=1", "--workers=1", f"--out={out}"]
    assert main(argv) == 0
    info = json.loads((out / "eval_info.json").read_text())
    assert info["config"]["image_size"] == 32  # the checkpoint's own
    episode = info["per_task"]["tabletop/lift_red"]["episodes"][0]
    assert episode["error"] is None and episode["length"] == 60

    wrong = MotionVLAConfig(image_size=32, motion_resolution=16, device="cpu", state_dim=8, action_dim=4)
    MotionVLAPolicy(wrong).save_pretrained(tmp_path / "wrong")
    capsys.readouterr()
    assert main(["eval", f"--policy={tmp_path / 'wrong'}", "--tasks=lift_red", f"--out={tmp_path / 'o2'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "8-dim observation.state" in err and "4-dim" in err


def test_n_action_steps_override_replans_more_often(tmp_path):
    from motionvla.policy import MotionVLAConfig, MotionVLAPolicy
    from motionvla.evaluation.policies import PolicySpec, make_policy

    torch.manual_seed(0)
    config = MotionVLAConfig(image_size=32, device="cpu", num_inference_steps=2, state_dim=4, action_dim=4, chunk_size=6,
                             n_action_steps=6)
    MotionVLAPolicy(config).save_pretrained(tmp_path / "tiny")
    env = sim_envs.make("lift_red", image_size=32)
    obs, _ = env.reset(seed=0)
    for steps, expected_chunks in ((0, 2), (2, 6)):  # 0 = the checkpoint's own 6
        policy = make_policy(PolicySpec(str(tmp_path / "tiny"), n_action_steps=steps))
        calls = []
        original = policy.policy.predict_action_chunk
        policy.policy.predict_action_chunk = lambda batch, **kw: calls.append(1) or original(batch, **kw)
        policy.reset(seed=0)
        for _ in range(12):
            assert policy.act(obs, env).shape == (4,)
        assert len(calls) == expected_chunks
    with pytest.raises(UserError, match="n_action_steps=7"):
        make_policy(PolicySpec(str(tmp_path / "tiny"), n_action_steps=7))
