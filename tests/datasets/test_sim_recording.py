"""Recording expert demos into a LeRobotDataset v3 and loading them back with lerobot."""

import json
from pathlib import Path

import pytest
import torch

import sim_envs
from motionvla.datasets.reading import episode_frames, episode_records
from motionvla.datasets.sim_recording import (
    SUMMARY_FILE,
    RecordDemosConfig,
    plan_parts,
    record_demos,
    record_part,
    resolve_tasks,
)
from motionvla.errors import UserError

TASKS = sim_envs.list_tasks()[:2]


def _config(out, **overrides):
    base = dict(tasks=",".join(TASKS), episodes_per_task=2, episodes_per_part=1, out=str(out), workers=1, image_size=64)
    base.update(overrides)
    return RecordDemosConfig(**base)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "ds"
    cfg = _config(out)
    return cfg, record_demos(cfg)


def test_dataset_loads_back_with_lerobot(recorded):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    cfg, summary = recorded
    dataset = LeRobotDataset(cfg.repo_id, root=cfg.out)
    env = sim_envs.make(TASKS[0], image_size=64)
    assert dataset.meta.total_episodes == 4 == summary["total_episodes"]
    assert dataset.num_frames == summary["total_frames"]
    assert dataset.fps == int(round(env.metadata["render_fps"]))
    features = dataset.meta.features
    assert features["observation.images.front"]["shape"] == (64, 64, 3)
    assert features["observation.state"]["shape"] == env.observation_space["agent_pos"].shape
    assert features["action"]["shape"] == env.action_space.shape
    frame = dataset[0]
    assert frame["observation.images.front"].shape == (3, 64, 64)
    assert frame["observation.images.front"].dtype == torch.float32
    instructions = {sim_envs.make(t, image_size=64).unwrapped.instruction for t in TASKS}
    assert {r["task"] for r in episode_records(dataset)} == instructions
    assert frame["task"] in instructions


def test_frames_and_actions_match_a_replayed_expert(recorded):
    """The first stored episode is exactly what the expert did from the recorded seed."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from sim_envs.tabletop import ScriptedExpert

    cfg, summary = recorded
    dataset = LeRobotDataset(cfg.repo_id, root=cfg.out)
    record = episode_records(dataset)[0]
    task = next(t for t, s in summary["tasks"].items() if s["instruction"] == record["task"])
    seed = summary["tasks"][task]["episodes"][0]["seed"]
    env = sim_envs.make(task, image_size=64)
    expert = ScriptedExpert(env)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    frames = episode_frames(dataset, record, "front")
    assert len(frames) == record["end"] - record["start"] == summary["tasks"][task]["episodes"][0]["length"]
    for i in range(3):
        action = expert.act(obs)
        stored = dataset[record["start"] + i]
        assert torch.allclose(stored["action"], torch.as_tensor(action), atol=1e-6)
        assert (frames[i] == obs["pixels"]["front"]).all()
        obs, *_ = env.step(action)


def test_summary_accounts_for_every_attempt(recorded):
    cfg, summary = recorded
    on_disk = json.loads((Path(cfg.out) / SUMMARY_FILE).read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for stats in summary["tasks"].values():
        assert stats["recorded"] == len(stats["episodes"]) == 2
        assert stats["failed_attempts"] == len(stats["failed"])
        seeds = [e["seed"] for e in stats["episodes"] + stats["failed"]]
        assert len(seeds) == len(set(seeds))


def test_existing_dataset_is_refused_unless_overwrite(recorded):
    cfg, _ = recorded
    with pytest.raises(UserError, match="already exists.*--overwrite"):
        record_demos(cfg)


def test_resume_records_only_unfinished_parts(tmp_path, monkeypatch):
    import dataclasses

    from motionvla.datasets import sim_recording

    cfg = _config(tmp_path / "ds", tasks=TASKS[0], episodes_per_task=2)
    parts = plan_parts(cfg, [TASKS[0]], tmp_path / "ds" / ".recording" / "parts")
    record_part(parts[0])  # as if the run was killed after its first part
    with pytest.raises(UserError, match="interrupted recording.*--resume"):
        record_demos(cfg)
    recorded_now = []
    real_record_part = sim_recording.record_part
    monkeypatch.setattr(sim_recording, "record_part", lambda part: recorded_now.append(part.name) or real_record_part(part))
    summary = record_demos(dataclasses.replace(cfg, resume=True))
    assert recorded_now == [parts[1].name]
    assert summary["total_episodes"] == 2
    assert [e["seed"] for e in summary["tasks"][TASKS[0]]["episodes"]][0] == parts[0].first_seed
    assert not (tmp_path / "ds" / ".recording").exists()


def test_unknown_task_names_accepted_ones():
    with pytest.raises(UserError, match="unknown task.*accepted: all"):
        resolve_tasks("tabletop", "fly_to_the_moon")
    with pytest.raises(UserError, match="unknown env"):
        resolve_tasks("minecraft", "all")
