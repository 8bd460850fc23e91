"""Hub ids wherever a checkpoint is taken, resolved offline from a cache laid out as huggingface_hub lays it out;
`motionvla push`'s card and file list through huggingface_hub's own objects (no network)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from motionvla.cli.main import main
from motionvla.errors import UserError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """``folder``'s files as the snapshot of model repo ``repo_id`` at ``main``, in huggingface_hub's layout."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(folder, snapshot)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture(scope="module")
def tiny_policy_folder(tmp_path_factory) -> Path:
    from motionvla.policy import MotionVLAConfig, MotionVLAPolicy

    folder = tmp_path_factory.mktemp("run") / "pretrained_model"
    torch.manual_seed(0)
    cfg = MotionVLAConfig(image_size=32, device="cpu", num_inference_steps=2, state_dim=4, action_dim=4,
                          image_keys=["observation.images.front"], inference_noise_scale=0.0)
    MotionVLAPolicy(cfg).save_pretrained(folder)
    (folder.parent / "config.json").write_text(json.dumps({"repo_id": "someone/demos", "train": {
        "steps": 3000, "batch_size": 32, "lr": 0.001, "warmup_steps": 200, "schedule": "cosine", "seed": 0}}))
    (folder.parent / "command.txt").write_text("motionvla train --repo_id=someone/demos --train.steps=3000")
    return folder


def test_a_policy_hub_id_resolves_from_the_cache_offline(offline_cache, tiny_policy_folder):
    from motionvla.inference import CheckpointPolicy
    from motionvla.inference.checkpoint import resolve_checkpoint_dir

    snapshot = put_in_cache(offline_cache, "someone/tiny-policy", tiny_policy_folder)
    assert resolve_checkpoint_dir("someone/tiny-policy") == snapshot
    policy = CheckpointPolicy("someone/tiny-policy")
    obs = {"observation.images.front": torch.zeros(32, 32, 3, dtype=torch.uint8).numpy(),
           "observation.state": torch.zeros(4).numpy(), "task": "push the red block to the left"}
    assert policy.infer(obs)["actions"].shape == (10, 4)


def test_eval_takes_a_hub_id(offline_cache, tiny_policy_folder, tmp_path):
    put_in_cache(offline_cache, "someone/tiny-policy", tiny_policy_folder)
    out = tmp_path / "eval"
    assert main(["eval", "--policy=someone/tiny-policy", "--tasks=push_red_left", "--episodes=1", "--max_steps=3",
                 "--image_size=32", "--cameras=front", "--videos_per_task=0", "--workers=1", f"--out={out}"]) == 0
    assert json.loads((out / "eval_info.json").read_text())["overall"]["n_episodes"] == 1


def test_a_forecaster_hub_id_resolves_from_the_cache_offline(offline_cache, tmp_path):
    from motionvla.flow_forecast import FlowForecaster, FlowForecastPipeline, ForecasterConfig

    torch.manual_seed(0)
    cfg = ForecasterConfig(flow_max_magnitude=1.0, hidden_size=32, image_token_grid=4, resolution=16, image_size=32)
    FlowForecastPipeline(FlowForecaster(forecaster=cfg.to_dict())).save_pretrained(tmp_path / "fc")
    put_in_cache(offline_cache, "someone/tiny-forecaster", tmp_path / "fc")
    loaded = FlowForecastPipeline.from_pretrained("someone/tiny-forecaster")
    assert loaded.model.cfg.resolution == 16


def test_an_id_missing_from_the_cache_offline_is_one_clear_line(offline_cache, capsys):
    with pytest.raises(UserError, match="'someone/absent' is not in the cache .* HF_HUB_OFFLINE=1"):
        from motionvla.inference.checkpoint import resolve_checkpoint_dir

        resolve_checkpoint_dir("someone/absent")
    assert main(["eval", "--policy=someone/absent", "--tasks=push_red_left", "--episodes=1"]) == 2
    err = capsys.readouterr().err
    assert "--policy=someone/absent" in err and "HF_HUB_OFFLINE" in err and len(err.strip().splitlines()) == 1


def test_push_builds_the_card_and_the_file_list(tiny_policy_folder, tmp_path):
    from huggingface_hub import CommitOperationAdd, ModelCard

    from motionvla.cli.push import Config, prepare

    eval_info = tmp_path / "eval_info.json"
    eval_info.write_text(json.dumps({"per_task": {"tabletop/push_red_left": {"pc_success": 80.0, "n_episodes": 20}},
                                     "overall": {"pc_success": 80.0, "n_episodes": 20}}))
    figure = tmp_path / "motion_predicted_vs_actual.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    folder, card, ops = prepare(Config(checkpoint=str(tiny_policy_folder.parent), repo_id="someone/tiny-policy",
                                       eval=str(eval_info), figures=str(figure)))
    assert folder == tiny_policy_folder
    assert all(isinstance(op, CommitOperationAdd) for op in ops)
    expected = sorted(p.name for p in tiny_policy_folder.iterdir()) + [figure.name, "README.md"]
    assert [op.path_in_repo for op in ops] == expected
    text = ops[-1].path_or_fileobj.read().decode() if hasattr(ops[-1].path_or_fileobj, "read") else \
        ops[-1].path_or_fileobj.decode()
    parsed = ModelCard(text)
    assert {"lerobot", "robotics", "motionvla"} <= set(parsed.data.tags)
    assert parsed.data.library_name == "lerobot" and parsed.data.datasets == ["someone/demos"]
    assert "| tabletop/push_red_left | 80 % |" in text and "**80.0 %** (20 ep)" in text
    assert "motionvla train --repo_id=someone/demos --train.steps=3000" in text
    assert f"]({figure.name})" in text and "motionvla eval --policy=someone/tiny-policy" in text


@pytest.mark.parametrize("argv, message", [
    (["push"], "usage: motionvla push CHECKPOINT REPO_ID"),
    (["push", "nowhere", "not an id"], "expected owner/name"),
])
def test_push_refusals(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_card_reads_a_run_config_written_by_motionvla_train(tmp_path):
    """The run's config.json as `motionvla train` writes it now (lerobot's names: dataset.repo_id and steps at the top,
    the optimizer in the policy's presets), not a hand-made one: the card names the dataset and the schedule."""
    import importlib
    import re
    import shlex

    from huggingface_hub import ModelCard

    from motionvla.cli import train as train_cli
    from motionvla.cli.main import COMMANDS, _resolve_options
    from motionvla.configs import parse_config, save_config
    from motionvla.policy import MotionVLAPolicy
    from motionvla.reports.model_card import model_card

    cfg = parse_config(train_cli.Config, ["--dataset.repo_id=someone/demos", "--dataset.root=/data/demos",
                                          "--steps=1234", "--batch_size=16", "--seed=7", "--policy.optimizer_lr=0.002",
                                          "--policy.scheduler_warmup_steps=50", "--policy.image_size=32",
                                          "--policy.state_dim=4", "--policy.action_dim=4"])
    run = tmp_path / "run"
    save_config(cfg, run)
    MotionVLAPolicy(cfg.policy).save_pretrained(run / "pretrained_model")
    text = str(model_card(run / "pretrained_model", "someone/tiny-policy"))
    assert ModelCard(text).data.datasets == ["someone/demos"]
    assert "- dataset: `someone/demos` (`/data/demos`)" in text
    assert "- 1234 steps × batch 16, lr 0.002, 50 warm-up steps, cosine schedule, seed 7" in text
    # the card's "Use it" commands are ones our parser accepts (the serve line once said --policy, which serve lacks)
    lines = re.findall(r"^(motionvla \w[\w-]* .*?)(?:\s+#.*)?$", text, re.M)
    assert len(lines) == 2
    for line in lines:
        name, *options = shlex.split(line)[1:]
        module = importlib.import_module(COMMANDS[name][0])
        parse_config(module.Config, _resolve_options(module, options)[0])
