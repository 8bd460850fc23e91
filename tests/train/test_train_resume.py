"""Kill a training process hard, resume it, and get exactly the losses of an uninterrupted run."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from motionvla.policy import MotionVLAPolicy
from motionvla.train import read_metrics
from motionvla.train.checkpoint import find_last_checkpoint

SCRIPT = Path(__file__).with_name("train_script.py")
STEPS = 7


def run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(out), str(STEPS), *extra], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    proc = run(out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_killed_and_resumed_run_has_the_same_losses(uninterrupted, tmp_path):
    # Killed right after step 5: the last checkpoint is step 4 (checkpoint_every=2), step 5 is lost.
    killed = run(tmp_path, "--kill-at", "5")
    assert killed.returncode == -signal.SIGKILL
    assert find_last_checkpoint(tmp_path).name == "000004"
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    resumed = run(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr

    expected = read_metrics(uninterrupted)
    got = read_metrics(tmp_path)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))  # step 5's orphan row was replaced
    for key in ("loss", "action_loss", "motion_loss", "grad_norm", "lr"):
        assert [r[key] for r in got] == [r[key] for r in expected], key  # bitwise equal on CPU
    assert len({r["loss"] for r in expected}) > 1

    # The exported weights (EMA) are identical too, and load as a policy.
    a = MotionVLAPolicy.from_pretrained(uninterrupted / "pretrained_model").state_dict()
    b = MotionVLAPolicy.from_pretrained(tmp_path / "pretrained_model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_corrupt_checkpoint(uninterrupted, tmp_path):
    import shutil

    shutil.copytree(uninterrupted, tmp_path / "run")
    last = find_last_checkpoint(tmp_path / "run")
    (last / "training_state.pt").write_bytes(b"not a torch file")
    proc = run(tmp_path / "run", "--resume")
    assert proc.returncode != 0
    assert f"checkpoint {last} is unusable" in proc.stderr
