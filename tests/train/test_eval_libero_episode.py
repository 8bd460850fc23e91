"""A tiny policy trained by `motionvla train` on the LIBERO-layout video dataset runs a real, full LIBERO
episode headless through `motionvla eval`, under the official protocol (init state 0, 220 steps). Which init
state each episode gets through `motionvla eval` (0, 25, ... modulo 50) is checked by
tests/evaluation/test_eval_libero_protocol.py, and the reset itself by tests/sim_envs/test_libero_env.py.

Cost here: about 1.5 minutes (training, then one 220-step episode; a LIBERO step renders two 256² cameras in
software GL, ~0.25 s), hence the mark."""

import json

import pytest

from motionvla.cli.main import main
from tests.train.test_train_libero import train_argv


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_full_libero_episode_through_motionvla_eval(libero, tmp_path, tiny_policy_args):
    run = tmp_path / "run"
    assert main(train_argv(run, tiny_policy_args, f"--dataset_root={libero.root}", f"--repo_id={libero.repo_id}")) == 0
    out = tmp_path / "eval"
    assert main(["eval", f"--policy={run}", "--env=libero_spatial", "--tasks=0", "--episodes=1", "--workers=1",
                 f"--out={out}"]) == 0
    info = json.loads((out / "eval_info.json").read_text())
    task = info["per_task"]["libero_spatial/0"]
    assert [e["init_state_id"] for e in task["episodes"]] == [0]
    assert [e["error"] for e in task["episodes"]] == [None]
    assert [e["max_steps"] for e in task["episodes"]] == [220]
    # An untrained policy does not solve the task: the episode runs to the suite's limit, 220 (not lerobot's 280).
    assert all(e["length"] == 220 or e["success"] for e in task["episodes"])
    assert info["env_features"]["cameras"] == {"image": [256, 256, 3], "wrist_image": [256, 256, 3]}
    assert task["video_paths"] and all(p.endswith(".gif") for p in task["video_paths"])
    assert info["overall"]["env_step_s"] > 0
