"""`motionvla train` on a LeRobotDataset the test records: trains, checkpoints load and evaluate, bad input fails clearly."""

import json
from pathlib import Path

import pytest
import torch

from motionvla.cli.main import main
from motionvla.policy import MotionVLAConfig, MotionVLAPolicy, load_processors
from motionvla.train import read_metrics



@pytest.fixture(scope="module")
def demos(record_tiny_demos):
    return record_tiny_demos("push_red_left,lift_red")


@pytest.fixture(scope="module")
def train_args(demos, tiny_policy_args):
    """``make(out, *extra)``: the argv of a 3-step tiny `motionvla train` run on the test dataset."""

    def make(out, *extra):
        return ["train", f"--dataset.root={demos.out}", f"--dataset.repo_id={demos.repo_id}", f"--output_dir={out}",
                "--steps=3", "--batch_size=4", "--train.progress=false", *tiny_policy_args, *extra]

    return make


@pytest.fixture(scope="module")
def trained(demos, tmp_path_factory, train_args):
    out = tmp_path_factory.mktemp("run")
    assert main(train_args(out, "--save_freq=2")) == 0
    return out


def test_train_writes_metrics_checkpoints_and_a_loadable_policy(trained, demos):
    rows = read_metrics(trained)
    assert [r["step"] for r in rows] == [3]  # log_every=10: the last step is always logged
    assert all(r["action_loss"] > 0 and r["motion_loss"] > 0 for r in rows)
    assert (trained / "metrics.csv").read_text().startswith("step,loss,action_loss,motion_loss")
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == ["000002", "000003", "last"]
    # Flow targets were cached next to the dataset, once.
    caches = list(Path(demos.out).glob("motionvla_flow_cache/*/manifest.json"))
    assert len(caches) == 1
    policy = MotionVLAPolicy.from_pretrained(trained / "pretrained_model")
    # Dimensions and cameras came from the dataset, not the config defaults.
    assert (policy.config.state_dim, policy.config.action_dim, policy.config.image_size) == (4, 4, 32)
    pre, post = load_processors(trained / "pretrained_model")
    stats = json.loads((trained / "pretrained_model" / "policy_preprocessor.json").read_text())
    assert any("normalizer" in json.dumps(step) for step in stats["steps"])
    obs = policy.config.fake_batch(1, with_targets=False)
    policy.eval()
    action = post(policy.select_action(pre(obs)))
    assert action.shape == (1, 4) and torch.isfinite(action).all()


def test_checkpoint_evaluates_in_the_tabletop(trained, tmp_path):
    out = tmp_path / "eval"
    status = main(["eval", f"--policy={trained / 'pretrained_model'}", "--tasks=push_red_left", "--episodes=1",
                   "--workers=1", "--max_steps=8", f"--out={out}"])
    assert status == 0
    info = json.loads((out / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 1


def test_action_only_baseline_needs_no_flow_targets(demos, tmp_path, train_args):
    assert main(train_args(tmp_path / "run", "--policy.motion_weight=0", "--steps=1")) == 0
    rows = read_metrics(tmp_path / "run")
    assert rows[-1]["motion_loss"] == 0.0
    assert MotionVLAPolicy.from_pretrained(tmp_path / "run" / "pretrained_model").motion_head is None


def test_dataset_without_state_names_what_is_missing(tmp_path, capsys):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {"observation.images.front": {"dtype": "image", "shape": (16, 16, 3), "names": ["height", "width", "channels"]},
                "action": {"dtype": "float32", "shape": (2,), "names": ["a0", "a1"]}}
    ds = LeRobotDataset.create("local/nostate", fps=10, root=tmp_path / "ds", features=features, use_videos=False)
    for _ in range(3):
        ds.add_frame({"observation.images.front": torch.zeros(16, 16, 3, dtype=torch.uint8).numpy(),
                      "action": torch.zeros(2).numpy(), "task": "t"})
    ds.save_episode()
    ds.finalize()
    status = main(["train", f"--dataset.root={tmp_path / 'ds'}", "--dataset.repo_id=local/nostate",
                   f"--output_dir={tmp_path / 'run'}"])
    assert status == 2
    err = capsys.readouterr().err
    assert "lacks feature(s) observation.state" in err and err.count("\n") == 1


def test_checkpoint_with_other_dimensions_is_refused_naming_both(demos, tmp_path, capsys, train_args):
    other = MotionVLAPolicy(MotionVLAConfig(image_size=32, state_dim=4, action_dim=7, device="cpu"))
    other.save_pretrained(tmp_path / "ckpt")
    status = main(train_args(tmp_path / "run", f"--policy.path={tmp_path / 'ckpt'}"))
    assert status == 2
    assert "has action_dim=7 but the dataset has action_dim=4" in capsys.readouterr().err


def test_corrupt_checkpoint_is_refused(demos, trained, tmp_path, capsys, train_args):
    import shutil

    shutil.copytree(trained / "pretrained_model", tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    status = main(train_args(tmp_path / "run", f"--policy.path={tmp_path / 'ckpt'}"))
    assert status == 2
    assert "not a readable safetensors file" in capsys.readouterr().err


def test_unknown_option_and_existing_output(demos, trained, capsys, train_args):
    assert main(train_args(trained / "x", "--policy.chunksize=3")) == 2
    assert "did you mean --policy.chunk_size" in capsys.readouterr().err
    assert main(train_args(trained)) == 2
    assert "already holds a run's checkpoints: pass --resume=true" in capsys.readouterr().err


def test_a_taken_output_folder_is_refused_before_the_dataset_is_read(trained, tmp_path, capsys, train_args):
    argv = [a if not a.startswith("--dataset.root=") else f"--dataset.root={tmp_path / 'no_dataset'}"
            for a in train_args(trained)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already holds a run's checkpoints" in err and "no_dataset" not in err


def test_resume_and_warmup_messages(trained, tmp_path, capsys, train_args):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert main(train_args(run, "--resume=true", "--steps=4", "--policy.scheduler_warmup_steps=10")) == 0
    out = capsys.readouterr().out
    assert f"resumed from step 3 (checkpoint {run / 'checkpoints' / '000003'})" in out
    assert ("warning: --policy.scheduler_warmup_steps=10 >= --steps=4: the learning rate never reaches "
            "--policy.optimizer_lr") in out
    assert main(train_args(tmp_path / "fresh", "--resume=true", "--steps=1")) == 0
    assert "no checkpoint in" in capsys.readouterr().out
    assert main(train_args(tmp_path / "tuned", f"--policy.path={trained / 'pretrained_model'}", "--steps=1")) == 0
    assert f"loaded checkpoint {trained / 'pretrained_model'}" in capsys.readouterr().out


def test_default_cameras_are_all_of_the_datasets_front_first():
    from types import SimpleNamespace

    from motionvla.policy import MotionVLAConfig
    from motionvla.errors import UserError
    from motionvla.train.policy_data import configure_from_dataset

    image = {"dtype": "image", "shape": [32, 32, 3], "names": ["height", "width", "channels"]}
    features = {"observation.images.wrist": image, "observation.images.front": image,
                "observation.state": {"dtype": "float32", "shape": [4], "names": None},
                "action": {"dtype": "float32", "shape": [4], "names": None}}
    meta = SimpleNamespace(features=features)
    config = configure_from_dataset(MotionVLAConfig(device="cpu"), meta, "ds")
    assert config.image_keys == ["observation.images.front", "observation.images.wrist"]
    only_wrist = configure_from_dataset(MotionVLAConfig(device="cpu", image_keys=["observation.images.wrist"]), meta, "ds")
    assert only_wrist.image_keys == ["observation.images.wrist"]
    with pytest.raises(UserError, match="no camera"):
        configure_from_dataset(MotionVLAConfig(device="cpu", image_keys=["observation.images.top"]), meta, "ds")


def test_the_command_line_is_kept_for_the_model_card(trained):
    command = (trained / "command.txt").read_text().strip()
    assert command.startswith("motionvla train ") and "--steps=3" in command
    assert "--save_freq=2" in command and "--batch_size=4" in command


def test_push_to_hub_without_a_repo_id_is_refused_before_training(train_args, tmp_path, capsys):
    assert main(train_args(tmp_path / "run", "--policy.push_to_hub=true")) == 2
    assert "--policy.push_to_hub=true needs --policy.repo_id=OWNER/NAME" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_tiny_policy_gets_the_quickstarts_recipe_where_no_option_is_given(train_args, tmp_path, capsys):
    from motionvla.train.prepare import TINY_RECIPE

    out = tmp_path / "run"
    assert main(train_args(out, "--policy.optimizer_lr=3e-4")) == 0  # steps and batch size from train_args, lr here
    saved = json.loads((out / "config.json").read_text())
    assert saved["policy"]["optimizer_lr"] == 3e-4 and saved["steps"] == 3 and saved["batch_size"] == 4
    assert saved["policy"]["scheduler_warmup_steps"] == TINY_RECIPE["policy.scheduler_warmup_steps"] == 200
    assert saved["policy"]["inference_noise_scale"] == 0.0  # from the recipe
    assert saved["policy"]["n_action_steps"] == 4  # given by the command line (TINY_POLICY_ARGS): the recipe's 5 not taken
    printed = capsys.readouterr().out
    assert "tiny policy: the quickstart's recipe for what no option set: --policy.scheduler_warmup_steps=200" in printed
    assert "--policy.optimizer_lr" not in printed.split("quickstart's recipe")[1].splitlines()[0]


def test_the_recipe_applies_to_options_not_given_only():
    from motionvla.train.prepare import PolicyTrainConfig, apply_tiny_recipe, tiny_recipe_policy

    assert tiny_recipe_policy().n_action_steps == 5 and tiny_recipe_policy().inference_noise_scale == 0.0
    cfg, note = apply_tiny_recipe(PolicyTrainConfig(), frozenset({"steps"}))
    assert cfg.policy.n_action_steps == 5 and cfg.policy.optimizer_lr == 1e-3 and cfg.steps == PolicyTrainConfig().steps
    assert cfg.batch_size == 32 and "--batch_size=32" in note
    assert "--policy.n_action_steps=5" in note and "--steps" not in note
    assert apply_tiny_recipe(PolicyTrainConfig(), None) == (PolicyTrainConfig(), "")  # a config built in code


def test_a_saved_config_replays_through_config_path(trained, tmp_path):
    """--config_path=RUN/config.json rebuilds the run's resolved config (the dataset's features are settled again
    from the dataset); an option on the command line wins."""
    from motionvla.cli import train as train_cli
    from motionvla.cli.main import _resolve_options
    from motionvla.configs import parse_config
    from motionvla.configs.parsing import config_to_dict

    options, notes = _resolve_options(train_cli, [f"--config_path={trained / 'config.json'}", "--steps=7"])
    replayed = config_to_dict(parse_config(train_cli.Config, options))
    saved = json.loads((trained / "config.json").read_text())
    assert replayed["steps"] == 7 and saved["steps"] == 3 and notes == []
    for key in ("input_features", "output_features"):
        replayed["policy"].pop(key), saved["policy"].pop(key)
    replayed["steps"] = saved["steps"]
    assert replayed == saved
