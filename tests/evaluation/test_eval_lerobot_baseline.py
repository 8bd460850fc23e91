"""A lerobot baseline (ACT, trained a few steps by lerobot's own `lerobot-train`) runs through `motionvla eval`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from lerobot.utils.constants import ACTION, OBS_IMAGES, OBS_STATE

import sim_envs
from motionvla.cli.main import main
from motionvla.inference import CheckpointPolicy, stack_observations
from motionvla.keys import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY


def test_observation_keys_are_lerobots():
    assert (IMAGE_KEY_PREFIX, STATE_KEY, ACTION_KEY) == (OBS_IMAGES + ".", OBS_STATE, ACTION)


def test_lerobot_act_checkpoint_is_evaluated_through_the_interface(record_tiny_demos, tmp_path):
    demos = record_tiny_demos("lift_red")
    lerobot_train = Path(sys.executable).with_name("lerobot-train")
    if not lerobot_train.exists():
        lerobot_train = Path(shutil.which("lerobot-train") or "lerobot-train")
    run = tmp_path / "act"
    # A small ACT (no pretrained ResNet weights: nothing is downloaded), 3 steps: about 15 s here.
    cmd = [str(lerobot_train), "--policy.type=act", "--policy.device=cpu", "--policy.push_to_hub=false",
           "--policy.pretrained_backbone_weights=null", "--policy.dim_model=32", "--policy.dim_feedforward=64",
           "--policy.n_heads=2", "--policy.n_encoder_layers=1", "--policy.n_decoder_layers=1", "--policy.use_vae=false",
           "--policy.chunk_size=10", "--policy.n_action_steps=5", f"--dataset.repo_id={demos.repo_id}",
           f"--dataset.root={demos.out}", "--dataset.video_backend=pyav", "--steps=3", "--batch_size=2",
           "--save_freq=3", "--log_freq=1", f"--output_dir={run}", "--wandb.enable=false", "--num_workers=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    policy = CheckpointPolicy(run)  # a run folder means its last checkpoint
    meta = policy.metadata
    assert (meta.policy_type, meta.state_dim, meta.action_dim, meta.chunk_size, meta.n_action_steps) == ("act", 4, 4, 10, 5)
    env = sim_envs.make("lift_red", image_size=32, cameras=[k.removeprefix(IMAGE_KEY_PREFIX) for k in meta.cameras])
    adapter = sim_envs.adapter_for("lift_red")
    obs = adapter.observation(env, env.reset(seed=0)[0])
    actions = policy.infer(stack_observations([obs, obs]))["actions"]
    env.close()
    assert actions.shape == (2, 5, 4) and np.isfinite(actions).all()
    assert np.allclose(actions[0], actions[1], atol=1e-5)  # ACT is deterministic: same input, same chunk

    out = tmp_path / "eval"
    assert main(["eval", f"--policy={run}", "--tasks=lift_red", "--episodes=2", "--workers=1", "--batch=2",
                 f"--out={out}"]) == 0
    info = json.loads((out / "eval_info.json").read_text())
    assert info["policy"]["kind"] == "checkpoint" and info["overall"]["n_episodes"] == 2
    assert info["overall"]["n_errors"] == 0 and info["config"]["image_size"] == 32


def test_padded_empty_cameras_are_not_asked_of_the_env():
    """π0 / π0.5 configs with ``empty_cameras`` declare padding cameras the model fills itself."""
    from types import SimpleNamespace

    from lerobot.configs.types import FeatureType, PolicyFeature

    from motionvla.inference.checkpoint import metadata_of

    features = {"observation.images.image": PolicyFeature(FeatureType.VISUAL, (3, 224, 224)),
                "observation.images.empty_camera_0": PolicyFeature(FeatureType.VISUAL, (3, 224, 224)),
                "observation.state": PolicyFeature(FeatureType.STATE, (8,))}
    config = SimpleNamespace(type="pi05", input_features=features, chunk_size=10, n_action_steps=10,
                             output_features={"action": PolicyFeature(FeatureType.ACTION, (7,))})
    meta = metadata_of(SimpleNamespace(config=config), "ckpt")
    assert meta.cameras == {"observation.images.image": (224, 224, 3)}
    assert (meta.state_dim, meta.action_dim, meta.chunk_size) == (8, 7, 10)
