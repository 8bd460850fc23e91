"""`motionvla train --policy.motion_head_from=RUN`: the policy's motion head starts as the forecaster's DiT."""

from __future__ import annotations

import dataclasses
import shutil

import torch
from safetensors.torch import load_file

from motionvla.cli.main import main
from motionvla.policy import MotionVLAPolicy
from motionvla.train import read_metrics

# The tiny forecaster's width must be the tiny policy's (--policy.hidden_size=32 in tests/conftest.py).
FORECASTER = ("--model.hidden_size=32", "--model.image_token_grid=4", "--model.resolution=16",
              "--model.image_size=32")


def private_copy(demos, tmp_path):
    """The session's dataset copied: flow caches built here must not appear in other tests' dataset folder."""
    copy = tmp_path / "demos"
    shutil.copytree(demos.out, copy)
    return dataclasses.replace(demos, out=str(copy))


def test_policy_motion_head_starts_from_a_forecaster(tiny_shards, record_tiny_demos, tiny_policy_args, tmp_path,
                                                     capsys):
    forecaster = tmp_path / "forecaster"  # the kind the project's recipe trains: observed flow + grounding maps
    assert main(["forecast", "train", f"--data={tiny_shards}", f"--output_dir={forecaster}", "--steps=3",
                 "--batch_size=4", "--train.progress=false", "--model.past_flow_condition=true",
                 "--model.grounding_maps=2", "--model.prediction=sample", *FORECASTER]) == 0
    demos = private_copy(record_tiny_demos("push_red_left,lift_red"), tmp_path)
    policy_run = tmp_path / "policy"
    args = ["train", f"--dataset.root={demos.out}", f"--dataset.repo_id={demos.repo_id}", "--batch_size=4",
            "--train.progress=false", "--log_freq=1", *tiny_policy_args]
    assert main([*args, f"--output_dir={policy_run}", "--steps=1", "--policy.optimizer_lr=1e-12",
                 f"--policy.motion_head_from={forecaster}", "--policy.motion_feature_channels=8"]) == 0
    assert "tensors from the forecaster" in capsys.readouterr().out
    policy = MotionVLAPolicy.from_pretrained(str(policy_run / "pretrained_model"))
    assert policy.config.motion_condition_frames == 2 and policy.config.motion_resolution == 16
    assert (policy.config.motion_past_flows, policy.config.motion_grounding_maps) == (1, 2)
    assert policy.config.motion_prediction == "sample"
    saved = load_file(str(forecaster / "pretrained_model" / "model.safetensors"))
    dit = {k[len("dit."):]: v for k, v in saved.items() if k.startswith("dit.")}
    dit.update({k: v for k, v in saved.items() if k.startswith("grounding.")})
    own = policy.motion_head.state_dict()
    # The policy's head also reads the image-token grid (motion_feature_channels): its own projection, and extra
    # patch-embedding input channels after the forecaster's, which start at zero.
    assert {k for k in own if not k.startswith("feature_proj.")} == set(dit)
    embed = "pos_embed.proj.weight"
    extra = policy.config.feature_channels()
    assert extra > 0 and own["dit." + embed].shape[1] == dit["dit." + embed].shape[1] + extra
    assert own["dit." + embed][:, -extra:].abs().max() < 1e-6
    own["dit." + embed] = own["dit." + embed][:, :-extra]
    assert all(torch.allclose(own[k], dit[k], atol=1e-6) for k in dit)  # lr 1e-12: still the forecaster's weights
    assert read_metrics(policy_run)[0]["motion_loss"] > 0

    assert main([*args, f"--output_dir={tmp_path / 'wide'}", "--steps=1", "--policy.hidden_size=48",
                 f"--policy.motion_head_from={forecaster}"]) == 2
    assert "width 32" in capsys.readouterr().err


def test_forecaster_trains_and_evaluates_on_a_lerobot_dataset(tiny_shards, record_tiny_demos, tmp_path, capsys):
    demos = private_copy(record_tiny_demos("push_red_left,lift_red"), tmp_path)
    lerobot = [f"--lerobot_root={demos.out}", f"--lerobot_repo_id={demos.repo_id}", "--lerobot_size=32"]
    pretrained = tmp_path / "pretrained"
    assert main(["forecast", "train", f"--data={tiny_shards}", f"--output_dir={pretrained}", "--steps=2",
                 "--batch_size=4", "--train.progress=false", *FORECASTER]) == 0
    adapted = tmp_path / "adapted"  # web-video pre-training, then the robot demos' own flows
    assert main(["forecast", "train", *lerobot, "--lerobot_episodes=:1", f"--init_from={pretrained}",
                 f"--output_dir={adapted}", "--steps=2", "--batch_size=4", "--train.progress=false"]) == 0
    rescaled = tmp_path / "rescaled"  # the same, with the codec scale measured on the robot flows
    assert main(["forecast", "train", *lerobot, "--lerobot_episodes=:1", f"--init_from={pretrained}",
                 "--remeasure_flow_scale=true", "--model.moving_weight=7", f"--output_dir={rescaled}", "--steps=1",
                 "--batch_size=4", "--train.progress=false"]) == 0
    import json

    scale = lambda run: json.loads((run / "pretrained_model" / "config.json").read_text())["forecaster"][  # noqa: E731
        "flow_max_magnitude"]
    assert scale(adapted) == scale(pretrained) != scale(rescaled) > 0
    saved = lambda run: json.loads((run / "pretrained_model" / "config.json").read_text())["forecaster"]  # noqa: E731
    assert saved(rescaled)["moving_weight"] == 7 and saved(adapted)["moving_weight"] == saved(pretrained)[
        "moving_weight"]  # a training-only knob given with --init_from is used, else the saved one is kept
    report = tmp_path / "eval.json"
    assert main(["forecast", "eval", *lerobot, "--lerobot_episodes=1:", f"--checkpoint={adapted}",
                 f"--out={report}", "--num_samples=1", "--moving_threshold_px=0.01"]) == 0

    result = json.loads(report.read_text())
    assert result["model"]["samples"] > 0 and result["zero"]["epe_moving"] > 0
    picture = tmp_path / "pred.png"  # a robot frame's forecast beside its own future flow
    predict = ["forecast", "predict", *lerobot, "--lerobot_episodes=1", f"--checkpoint={adapted}"]
    assert main([*predict, "--key=ep000001-000003", f"--out={picture}"]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*predict, "--key=ep000000-000003", f"--out={tmp_path / 'no.png'}"]) == 2
    assert "no such sample" in capsys.readouterr().err and not (tmp_path / "no.png").exists()
