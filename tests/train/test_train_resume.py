"""Kill a training process hard, resume it, and get exactly the losses of an uninterrupted run; checkpoints in
lerobot-train's layout that lerobot's own readers take, and the layout before it still resumes exactly."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from motionvla.policy import MotionVLAPolicy
from motionvla.train import TrainConfig, read_metrics
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


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A run killed right after step 5: the last checkpoint is step 4 (checkpoint_every=2), step 5 is lost. Each
    test resumes its own copy."""
    out = tmp_path_factory.mktemp("killed")
    proc = run(out, "--kill-at", "5")
    assert proc.returncode == -signal.SIGKILL
    return out


def copy_of(killed: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(killed, dest, symlinks=True)
    return dest


def test_killed_and_resumed_run_has_the_same_losses(uninterrupted, killed, tmp_path):
    tmp_path = copy_of(killed, tmp_path / "run")
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
    (last / "training_state" / "optimizer_state.safetensors").write_bytes(b"not a safetensors file")
    proc = run(tmp_path / "run", "--resume")
    assert proc.returncode != 0
    assert f"checkpoint {last} is unusable" in proc.stderr


def test_checkpoints_have_lerobots_layout_and_lerobots_reader_takes_them(uninterrupted):
    from lerobot.common.train_utils import load_training_state

    from motionvla.train.optim import make_optimizer, make_scheduler

    root = uninterrupted / "checkpoints"
    assert (root / "last").is_symlink() and str((root / "last").readlink()) == "000007"  # relative, as lerobot's
    step = root / "000004"
    assert {p.name for p in (step / "pretrained_model").iterdir()} >= {"config.json", "model.safetensors"}
    assert {p.name for p in (step / "training_state").iterdir()} >= {
        "training_step.json", "optimizer_state.safetensors", "optimizer_param_groups.json", "scheduler_state.json",
        "rng_state.safetensors"}
    # lerobot's own resume code restores our step, optimizer and schedule into a fresh policy's optimizer.
    policy = MotionVLAPolicy.from_pretrained(step / "pretrained_model")
    cfg = TrainConfig(steps=STEPS, warmup_steps=2)
    optimizer = make_optimizer(policy, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    got_step, optimizer, scheduler = load_training_state(step, optimizer, scheduler)
    assert got_step == 4 and scheduler.last_epoch == 4
    assert all(len(s) > 0 for s in optimizer.state.values()) and len(optimizer.state) > 0
    saved = load_file(step / "training_state" / "optimizer_state.safetensors")
    first = next(k for k in saved if k.endswith("/exp_avg"))
    param_id = int(first.split("/")[1])
    assert torch.equal(optimizer.state_dict()["state"][param_id]["exp_avg"], saved[first])


def _to_old_layout(step_dir: Path) -> None:
    """Rewrite a checkpoint in the layout before lerobot's (flat files, torch-saved state, a `last` text file)."""
    import json
    import shutil

    from motionvla.train.checkpoint import load_checkpoint

    state = load_checkpoint(step_dir)
    rng = state["rng"]
    old_rng = {"python": [int(rng["py_rng_version"].item()), rng["py_rng_state"],
                          None if rng["py_rng_gauss"][0].item() == 0 else float(rng["py_rng_gauss"][1].item())],
               "numpy": ["MT19937", rng["np_rng_state_values"], int(rng["np_rng_state_index"].item()),
                         int(rng["np_rng_has_gauss"].item()), float(rng["np_rng_cached_gaussian_f64"].item())],
               "torch": rng["torch_rng_state"]}
    shutil.move(step_dir / "pretrained_model", step_dir.parent / "pm")
    shutil.rmtree(step_dir)
    shutil.move(step_dir.parent / "pm", step_dir)  # config.json + model.safetensors, flat
    torch.save({"step": state["step"], "optimizer": state["optimizer"], "scheduler": state["scheduler"],
                "data": state["data"]}, step_dir / "training_state.pt")
    torch.save(old_rng, step_dir / "rng_state_0.pt")
    save_file(state["ema"], str(step_dir / "ema.safetensors"))
    files = sorted(p.name for p in step_dir.iterdir())
    (step_dir / "meta.json").write_text(json.dumps({"step": state["step"], "world_size": 1, "files": files}))
    (step_dir.parent / "last").unlink()
    (step_dir.parent / "last").write_text(step_dir.name + "\n")


def test_a_checkpoint_of_the_old_layout_resumes_exactly(uninterrupted, killed, tmp_path):
    tmp_path = copy_of(killed, tmp_path / "run")
    _to_old_layout(tmp_path / "checkpoints" / "000004")
    assert find_last_checkpoint(tmp_path).name == "000004"
    resumed = run(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "written by motionvla (old layout)" in resumed.stdout
    got, expected = read_metrics(tmp_path), read_metrics(uninterrupted)
    assert [r["loss"] for r in got] == [r["loss"] for r in expected]


def test_a_checkpoint_without_our_extras_resumes_as_lerobot_trains_one(uninterrupted, killed, tmp_path):
    """lerobot-train's checkpoints have no data position, no meta.json and no EMA: the loop continues the data
    order from the step count (for our own order that is exactly where it was) and says so."""
    import shutil

    tmp_path = copy_of(killed, tmp_path / "run")
    step = tmp_path / "checkpoints" / "000004"
    for name in ("meta.json", "training_state/data_state.json"):
        (step / name).unlink()
    (step / "training_state" / "ema.safetensors").unlink()
    proc = run(tmp_path, "--resume")
    assert proc.returncode != 0 and "has no EMA weights" in proc.stderr  # the script trains with EMA
    shutil.copy(uninterrupted / "checkpoints" / "000004" / "training_state" / "ema.safetensors",
                step / "training_state")
    proc = run(tmp_path, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "written by lerobot" in proc.stdout and "the data order continues at epoch" in proc.stdout
    got, expected = read_metrics(tmp_path), read_metrics(uninterrupted)
    assert [r["loss"] for r in got] == [r["loss"] for r in expected]
