"""The tabletop in lerobot's own evaluator: `lerobot-eval --env.type=motionvla_tabletop --policy.path=<checkpoint>`.

The `lerobot_policy_motionvla` plugin (installed by `make install`) registers the env type at lerobot's start-up."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motionvla.cli.main import main


def test_config_maps_the_envs_keys_to_the_policys_and_names_a_bad_task():
    from sim_envs.tabletop.lerobot_env import ENV_TYPE, TabletopEnvConfig

    cfg = TabletopEnvConfig(task="tabletop/lift_red", cameras="front,wrist", image_size=32)
    assert cfg.type == ENV_TYPE and cfg.task == "lift_red"
    assert cfg.features_map == {"action": "action", "agent_pos": "observation.state",
                                "pixels/front": "observation.images.front", "pixels/wrist": "observation.images.wrist"}
    assert cfg.features["pixels/wrist"].shape == (32, 32, 3) and cfg.features["agent_pos"].shape == (4,)
    with pytest.raises(ValueError, match="'stack_blocks' is not a tabletop task; accepted: push_red_left"):
        TabletopEnvConfig(task="stack_blocks")


def test_the_vector_env_answers_what_lerobot_eval_asks():
    from sim_envs.tabletop.lerobot_env import ENV_TYPE, TabletopEnvConfig
    from sim_envs.tabletop.tasks import TASKS

    envs = TabletopEnvConfig(task="push_blue_forward", cameras="front", image_size=32, episode_length=7).create_envs(1)
    env = envs[ENV_TYPE][0]
    try:
        obs, _ = env.reset(seed=[3])
        assert obs["pixels"]["front"].shape == (1, 32, 32, 3) and obs["agent_pos"].shape == (1, 4)
        assert list(env.call("task_description")) == [TASKS["push_blue_forward"].instruction]
        assert list(env.call("_max_episode_steps")) == [7]
        assert env.unwrapped.metadata["render_fps"] == 10 and isinstance(env.unwrapped.metadata["render_fps"], int)
    finally:
        env.close()


@pytest.mark.timeout(400)
def test_lerobot_eval_runs_a_motionvla_checkpoint_on_the_tabletop(record_tiny_demos, tiny_policy_args, tmp_path):
    demos = record_tiny_demos("push_red_left")
    run = tmp_path / "run"
    assert main(["train", f"--dataset.root={demos.out}", f"--dataset.repo_id={demos.repo_id}", f"--output_dir={run}",
                 "--steps=2", "--batch_size=4", "--train.progress=false", *tiny_policy_args]) == 0
    exe = Path(sys.executable).with_name("lerobot-eval")
    exe = exe if exe.exists() else Path(shutil.which("lerobot-eval") or "lerobot-eval")
    out = tmp_path / "eval"
    cmd = [str(exe), f"--policy.path={run / 'pretrained_model'}", "--policy.device=cpu", "--env.type=motionvla_tabletop",
           "--env.task=push_red_left", "--env.cameras=front", "--env.image_size=32", "--env.episode_length=6",
           "--eval.n_episodes=2", "--eval.batch_size=1", f"--output_dir={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=360)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    info = json.loads((out / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 2
    # A 2-step policy for 6 steps cannot push the block: lerobot read our env's success flag as False.
    assert info["per_task"][0]["metrics"]["successes"] == [False, False]
    assert all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in info["overall"]["video_paths"])
