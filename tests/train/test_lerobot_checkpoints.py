"""lerobot-train and `motionvla train` on one lerobot command line: the same resolved ``train_config.json``, and
each resumes the other's checkpoint (lerobot's layout: pretrained_model/ + training_state/, ``last`` a symlink)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motionvla.cli.main import main
from motionvla.train import read_metrics

# One habitual lerobot command line (policy shape small enough for a test). Options whose defaults differ between
# the two trainers are given, as docs/training.md lists them: --seed, --num_workers, --log_freq, --save_freq,
# --wandb.project, and for the tiny policy the recipe's --batch_size / --policy.* (which `motionvla train` fills in
# where lerobot-train takes the config's defaults).
COMMON = ["--policy.type=motionvla", "--policy.device=cpu", "--policy.hidden_size=32",
          "--policy.action_hidden_size=32", "--policy.motion_resolution=16", "--policy.chunk_size=4",
          "--policy.n_action_steps=4", "--policy.num_inference_steps=2", "--policy.optimizer_lr=0.001",
          "--policy.scheduler_warmup_steps=1", "--policy.inference_noise_scale=0.0", "--steps=2", "--batch_size=2",
          "--save_freq=2", "--log_freq=1", "--seed=3", "--num_workers=0", "--wandb.enable=false",
          "--wandb.project=motionvla"]
# What only lerobot-train reads (its video decoder, the plugin discovery, the Hub push switch).
LEROBOT_ONLY = ["--policy.discover_packages_path=motionvla.policy", "--policy.push_to_hub=false",
                "--dataset.video_backend=pyav"]


def lerobot_train(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lerobot-train")
    exe = exe if exe.exists() else Path(shutil.which("lerobot-train") or "lerobot-train")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def dataset(libero_variant) -> list[str]:
    root = libero_variant()
    return [f"--dataset.repo_id=local/{root.parent.name}", f"--dataset.root={root}"]


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory):
    base = tmp_path_factory.mktemp("cross")
    ours, theirs = base / "ours", base / "theirs"
    assert main(["train", *COMMON, *dataset, f"--output_dir={ours}", "--train.progress=false"]) == 0
    proc = lerobot_train(*COMMON, *LEROBOT_ONLY, *dataset, f"--output_dir={theirs}")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return ours, theirs


def train_config(run: Path) -> dict:
    return json.loads((run / "checkpoints" / "last" / "pretrained_model" / "train_config.json").read_text())


def test_one_command_line_resolves_to_the_same_train_config(runs):
    ours, theirs = (train_config(run) for run in runs)
    for cfg, run in zip((ours, theirs), runs):
        assert cfg.pop("output_dir") == str(run)
    # The video decoder too: lerobot-train's --dataset.video_backend=pyav, and pyav is what ours records and reads with.
    theirs["policy"].pop("discover_packages_path", None)
    assert ours["scheduler"] == theirs["scheduler"] and ours["scheduler"]["type"] == "motionvla_warmup_cosine"
    assert ours["optimizer"] == theirs["optimizer"] and ours["optimizer"]["lr"] == 0.001
    # The codec scale is measured from the dataset by both, through the one function.
    assert ours["policy"]["flow_max_magnitude"] == theirs["policy"]["flow_max_magnitude"] > 0
    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    policy_differ = sorted(k for k in ours["policy"] if ours["policy"][k] != theirs["policy"].get(k))
    assert differ == [] and policy_differ == [], (differ, policy_differ)


def test_lerobot_train_resumes_our_checkpoint(runs, dataset, tmp_path):
    ours, _ = runs
    run = tmp_path / "ours"
    shutil.copytree(ours, run, symlinks=True)
    config = run / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    proc = lerobot_train("--resume=true", f"--config_path={config}", f"--output_dir={run}", "--steps=3",
                         "--policy.discover_packages_path=motionvla.policy", "--dataset.video_backend=pyav")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert (run / "checkpoints" / "000003" / "training_state" / "training_step.json").is_file()
    assert json.loads((run / "checkpoints" / "000003" / "training_state" / "training_step.json").read_text())[
        "step"] == 3
    assert str((run / "checkpoints" / "last").readlink()) == "000003"
    assert "step:3" in log.replace(" ", "") and "step:1 " not in log  # it trained step 3 only


def test_motionvla_train_resumes_lerobot_trains_checkpoint(runs, dataset, tmp_path, capsys):
    _, theirs = runs
    run = tmp_path / "theirs"
    shutil.copytree(theirs, run, symlinks=True)
    assert main(["train", *COMMON, *dataset, f"--output_dir={run}", "--resume=true", "--steps=3",
                 "--train.progress=false"]) == 0
    out = capsys.readouterr().out
    assert f"resumed from step 2 (checkpoint {run / 'checkpoints' / '000002'}, written by lerobot)" in out
    assert [r["step"] for r in read_metrics(run)] == [3]
    assert str((run / "checkpoints" / "last").readlink()) == "000003"
