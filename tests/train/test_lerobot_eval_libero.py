"""lerobot's own evaluator runs our policy: `lerobot-eval --policy.path=<motionvla checkpoint> --env.type=libero`.

The `lerobot_policy_motionvla` shim distribution (packages/lerobot-policy-motionvla, installed by `make
install`) registers the policy type at lerobot's start-up and points LIBERO at our config. Cost here:
~15 s training + ~45 s for lerobot-eval (imports, LIBERO env build, 5 steps), hence the mark."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motionvla.cli.main import main
from tests.train.test_train_libero import train_argv


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_lerobot_eval_runs_a_motionvla_checkpoint_on_libero(libero, tmp_path, tiny_policy_args):
    run = tmp_path / "run"
    assert main(train_argv(run, tiny_policy_args, f"--dataset.root={libero.root}", f"--dataset.repo_id={libero.repo_id}")) == 0
    exe = Path(sys.executable).with_name("lerobot-eval")
    exe = exe if exe.exists() else Path(shutil.which("lerobot-eval") or "lerobot-eval")
    out = tmp_path / "eval"
    # lerobot's LiberoEnv calls the wrist camera "image2"; the LIBERO datasets (and our policy) "wrist_image".
    cmd = [str(exe), f"--policy.path={run / 'pretrained_model'}", "--policy.device=cpu", "--env.type=libero",
           "--env.task=libero_spatial", "--env.task_ids=[0]", "--env.episode_length=5", "--eval.n_episodes=1",
           "--eval.batch_size=1", f"--output_dir={out}",
           '--rename_map={"observation.images.image2": "observation.images.wrist_image"}']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=360)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    info = json.loads((out / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 1 and 0.0 <= info["overall"]["pc_success"] <= 100.0
    assert info["overall"]["video_paths"] and Path(info["overall"]["video_paths"][0]).is_file()
