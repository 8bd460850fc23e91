"""`motionvla train` on benchmark data: a LIBERO-layout video dataset found by its hub repo id (lerobot's
local copy; nothing is downloaded), flow targets from the video frames, rename maps, and bad datasets."""

import json
from pathlib import Path

import pytest
import torch

from motionvla.cli.main import main
from motionvla.cli.train import Config, dataset_location
from motionvla.train.prepare import DatasetOptions
from motionvla.policy import MotionVLAPolicy, load_processors
from motionvla.train import read_metrics

RENAME = {"observation.images.agentview": "observation.images.image",
          "observation.images.eye_in_hand": "observation.images.wrist_image"}


def train_argv(out: Path, tiny_policy_args: list[str], *extra: str) -> list[str]:
    return ["train", f"--output_dir={out}", "--steps=3", "--batch_size=4",
            "--train.progress=false", *tiny_policy_args, *extra]


def test_hub_repo_id_trains_on_lerobots_copy_with_flow_from_the_videos(libero, tmp_path, monkeypatch, tiny_policy_args):
    # --repo_id alone: lerobot's copy under $HF_LEROBOT_HOME/<repo_id> (here written by the test; with
    # network access, lerobot downloads it there first).
    import lerobot.datasets.dataset_metadata as dataset_metadata

    monkeypatch.setattr(dataset_metadata, "HF_LEROBOT_HOME", libero.home)
    out = tmp_path / "run"
    assert main(train_argv(out, tiny_policy_args, f"--dataset.repo_id={libero.repo_id}")) == 0
    row = read_metrics(out)[-1]
    assert row["step"] == 3 and row["action_loss"] > 0 and row["motion_loss"] > 0
    # The flow cache sits next to the dataset and was computed from the agent-view camera's video frames.
    manifests = [json.loads(p.read_text()) for p in libero.root.glob("motionvla_flow_cache/*/manifest.json")]
    assert manifests and all(m["config"]["camera"] == "image" and m["complete"] for m in manifests)
    assert manifests[0]["dataset"]["total_frames"] == 60
    policy = MotionVLAPolicy.from_pretrained(out / "pretrained_model")
    cfg = policy.config
    assert cfg.image_keys == ["observation.images.image", "observation.images.wrist_image"]
    assert (cfg.image_size, cfg.state_dim, cfg.action_dim, cfg.flow_stride) == (256, 8, 7, 2)
    assert cfg.flow_max_magnitude > 0
    pre, post = load_processors(out / "pretrained_model")
    action = post(policy.eval().select_action(pre(cfg.fake_batch(1, with_targets=False))))
    assert action.shape == (1, 7) and torch.isfinite(action).all()


def test_rename_map_maps_dataset_cameras_to_policy_keys(libero_variant, tmp_path, tiny_policy_args, monkeypatch, capsys):
    import motionvla.train.policy_data as training

    root = libero_variant(cameras=["agentview", "eye_in_hand"])
    out = tmp_path / "run"
    # A preload limit below the dataset's size: items are read from the videos at each step, as for LIBERO.
    monkeypatch.setattr(training, "PRELOAD_MAX_BYTES", 1024)
    argv = train_argv(out, tiny_policy_args, f"--dataset.root={root}", "--dataset.repo_id=local/agentview",
                      "--steps=1", "--train.progress=true", f"--rename_map={json.dumps(RENAME)}")
    assert main(argv) == 0
    assert "more than the 0 GiB preload limit: reading from disk" in capsys.readouterr().out
    assert read_metrics(out)[-1]["motion_loss"] > 0
    policy = MotionVLAPolicy.from_pretrained(out / "pretrained_model")
    assert policy.config.image_keys == ["observation.images.image", "observation.images.wrist_image"]
    # Flows come from the dataset's own camera (the one renamed to the policy's first camera).
    manifest = json.loads(next(root.glob("motionvla_flow_cache/*/manifest.json")).read_text())
    assert manifest["config"]["camera"] == "agentview"
    # The map is saved with the pre-processor: an observation with the dataset's names is renamed when acting.
    pre, post = load_processors(out / "pretrained_model")
    obs = policy.config.fake_batch(1, with_targets=False)
    obs = {{v: k for k, v in RENAME.items()}.get(k, k): v for k, v in obs.items()}
    assert "observation.images.agentview" in obs
    action = post(policy.eval().select_action(pre(obs)))
    assert action.shape == (1, 7)


def test_datasets_without_the_policys_features_are_refused_naming_them(libero_variant, tmp_path, capsys):
    root = libero_variant(state_key=None, episodes=1, frames=4)
    base = ["train", f"--dataset.root={root}", "--dataset.repo_id=local/nostate", f"--output_dir={tmp_path / 'run'}"]
    assert main(base) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # (lines before it: the datasets library's progress)
    assert error.startswith("motionvla train: error: dataset")
    assert "lacks feature(s) observation.state" in error and "--rename_map" in error
    assert main([*base, '--rename_map={"observation.images.top": "observation.images.image"}']) == 2
    assert "rename_map names observation.images.top, which dataset" in capsys.readouterr().err
    assert main([*base, '--rename_map={"action": "observation.action"}']) == 2
    assert "renames observation.* keys only" in capsys.readouterr().err


def test_where_the_dataset_is_read_from():
    assert dataset_location(Config()) == "outputs/quickstart/demos"  # the default run: the quickstart's demos
    hub = DatasetOptions(repo_id="lerobot/libero")
    assert dataset_location(Config(dataset=hub)) is None  # lerobot's copy of the hub dataset
    local = DatasetOptions(repo_id="lerobot/libero", root="/data/libero")
    assert dataset_location(Config(dataset=local)) == "/data/libero"
    from motionvla.errors import UserError

    with pytest.raises(UserError, match="--dataset.root"):
        dataset_location(Config(dataset=DatasetOptions(repo_id="local/mine")))
