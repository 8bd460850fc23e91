"""lerobot-train's option names for `motionvla train` / `forecast train`: the old names still work with one note
each, a name given twice is refused, options the trainer would ignore are refused, --config_path replays a saved
config (old layouts included) and names unknown keys."""

import json

import pytest

from motionvla.cli import forecast_train, train
from motionvla.cli.main import _resolve_options, main
from motionvla.configs import parse_config, save_config
from motionvla.configs.parsing import config_to_dict
from motionvla.errors import UserError

LEROBOT = ["--dataset.repo_id=me/demos", "--dataset.root=/data/demos", "--dataset.episodes=0:5",
           "--policy.path=/runs/a/pretrained_model", "--steps=7", "--batch_size=3", "--num_workers=2",
           "--output_dir=/runs/b", "--save_freq=5", "--log_freq=2", "--seed=11", "--resume=true",
           "--wandb.enable=true", "--policy.optimizer_lr=0.003"]
OLD = ["--repo_id=me/demos", "--dataset_root=/data/demos", "--episodes=0:5", "--init_from=/runs/a/pretrained_model",
       "--train.steps=7", "--train.batch_size=3", "--train.num_workers=2", "--train.output_dir=/runs/b",
       "--train.checkpoint_every=5", "--train.log_every=2", "--train.seed=11", "--train.resume=true",
       "--train.wandb=true", "--train.lr=0.003"]


def resolved(module, argv):
    options, notes = _resolve_options(module, argv)
    return parse_config(module.Config, options), notes


def test_lerobot_names_reach_the_loop():
    cfg, notes = resolved(train, LEROBOT)
    assert notes == []
    loop = cfg.loop_config()
    assert (loop.steps, loop.batch_size, loop.num_workers, loop.output_dir) == (7, 3, 2, "/runs/b")
    assert (loop.checkpoint_every, loop.log_every, loop.seed, loop.resume, loop.wandb) == (5, 2, 11, True, True)
    assert loop.lr == 0.003
    assert (cfg.dataset.repo_id, cfg.dataset.root, cfg.dataset.episodes) == ("me/demos", "/data/demos", "0:5")
    assert str(cfg.init_from) == "/runs/a/pretrained_model"


def test_old_names_give_the_same_config_with_one_note_each():
    new, _ = resolved(train, LEROBOT)
    old, notes = resolved(train, OLD)
    assert config_to_dict(old) == config_to_dict(new)
    assert len(notes) == len(OLD)
    assert any("note: --train.checkpoint_every is deprecated, use --save_freq" in n for n in notes)


def test_one_option_under_two_names_is_refused():
    with pytest.raises(UserError, match="--train.steps and --steps name the same option"):
        resolved(train, ["--steps=3", "--train.steps=4"])


@pytest.mark.parametrize(("option", "instead"), [("--policy.use_amp=true", "--train.mixed_precision=bf16")])
def test_options_only_lerobot_train_reads_are_refused(tmp_path, capsys, option, instead):
    assert main(["train", f"--output_dir={tmp_path / 'run'}", option]) == 2
    err = capsys.readouterr().err
    assert f"{option.split('=')[0]} is read by lerobot-train only" in err and instead in err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_fsdp_is_refused_with_what_to_use_instead(tmp_path, capsys):
    assert main(["train", f"--output_dir={tmp_path / 'run'}", "--train.fsdp=true"]) == 2
    err = capsys.readouterr().err
    assert "--train.fsdp is not available" in err and "DDP" in err and err.count("\n") == 1


@pytest.mark.parametrize("dispatcher", ["ep", "llep"])
def test_expert_parallel_on_one_process_says_how_to_launch_before_reading_data(tmp_path, capsys, monkeypatch,
                                                                              dispatcher):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    argv = ["train", f"--output_dir={tmp_path / 'run'}", f"--dataset.root={tmp_path / 'no_such_dataset'}",
            "--policy.moe.num_experts=4", f"--policy.moe.dispatcher={dispatcher}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    # the missing dataset is never reached: the refusal comes first, one line, naming the option and the launchers
    assert f"--policy.moe.dispatcher={dispatcher} spreads the 4 experts" in err and err.count("\n") == 1
    assert "accelerate launch --multi_gpu" in err and "torchrun" in err and "--policy.moe.dispatcher=local" in err
    assert not (tmp_path / "run").exists()


def test_config_path_replays_a_saved_config_and_the_command_line_wins(tmp_path):
    cfg, _ = resolved(train, LEROBOT)
    save_config(cfg, tmp_path)
    again, notes = resolved(train, [f"--config_path={tmp_path / 'config.json'}", "--steps=9"])
    assert notes == [] and again.steps == 9
    expected = config_to_dict(cfg) | {"steps": 9}
    assert config_to_dict(again) == expected


def test_config_path_of_the_old_layout_is_renamed_with_notes(tmp_path):
    old = {"repo_id": "me/demos", "dataset_root": "/data/demos", "init_from": "",
           "train": {"steps": 12, "output_dir": "/runs/old", "lr": 0.002}, "flow": {"stride": 2}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg, notes = resolved(train, [f"--config_path={tmp_path / 'config.json'}"])
    assert (cfg.dataset.repo_id, cfg.dataset.root, cfg.steps, cfg.output_dir) == ("me/demos", "/data/demos", 12,
                                                                                   "/runs/old")
    assert cfg.policy.optimizer_lr == 0.002 and cfg.policy.flow_stride == 2
    assert any("--train.steps is deprecated, use --steps" in n for n in notes)


def test_config_path_with_unknown_keys_names_them(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"steps": 3, "bogus": 1, "train": {"nope": 2}}))
    assert main(["train", f"--config_path={tmp_path / 'config.json'}"]) == 2
    err = capsys.readouterr().err
    assert "unknown keys bogus, train.nope" in err and str(tmp_path / "config.json") in err


def test_forecast_train_takes_the_same_names():
    new, notes = resolved(forecast_train, ["--output_dir=/runs/f", "--steps=5", "--batch_size=2", "--save_freq=1"])
    old, old_notes = resolved(forecast_train, ["--out=/runs/f", "--train.steps=5", "--train.batch_size=2",
                                               "--train.checkpoint_every=1"])
    assert notes == [] and len(old_notes) == 4
    assert config_to_dict(old) == config_to_dict(new)
    loop = new.loop_config()
    assert (loop.output_dir, loop.steps, loop.batch_size, loop.checkpoint_every, loop.lr) == ("/runs/f", 5, 2, 1, 1e-3)


def test_the_policy_presets_give_lerobot_train_and_ours_one_optimizer_and_schedule():
    """The same options build the same AdamW and the same learning rate at every step under `motionvla train`'s
    loop and under lerobot-train (which builds from the policy's presets, as its make_optimizer_and_scheduler
    does with use_policy_training_preset)."""
    from types import SimpleNamespace

    import torch
    from lerobot.optim.factory import make_optimizer_and_scheduler

    from motionvla.train.optim import make_optimizer, make_scheduler

    cfg, notes = resolved(train, ["--steps=12", "--policy.optimizer_lr=0.003", "--policy.scheduler_warmup_steps=3",
                                  "--policy.optimizer_weight_decay=0.05", "--policy.scheduler_min_lr_ratio=0.1"])
    assert notes == []
    loop = cfg.loop_config()
    ours_model, theirs_model = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    theirs_model.get_optim_params = theirs_model.parameters  # what lerobot asks a policy for
    ours_opt = make_optimizer(ours_model, loop)
    ours_sched = make_scheduler(ours_opt, loop)
    lerobot_cfg = SimpleNamespace(use_policy_training_preset=True, optimizer=cfg.policy.get_optimizer_preset(),
                                  scheduler=cfg.policy.get_scheduler_preset(), steps=cfg.steps)
    theirs_opt, theirs_sched = make_optimizer_and_scheduler(lerobot_cfg, theirs_model)
    keys = ("lr", "betas", "eps", "weight_decay")
    assert [ours_opt.param_groups[0][k] for k in keys] == [theirs_opt.param_groups[0][k] for k in keys]
    assert lerobot_cfg.optimizer.grad_clip_norm == loop.max_grad_norm
    ours_lr, theirs_lr = [], []
    for _ in range(cfg.steps):
        ours_lr.append(ours_opt.param_groups[0]["lr"])
        theirs_lr.append(theirs_opt.param_groups[0]["lr"])
        ours_opt.step(), ours_sched.step(), theirs_opt.step(), theirs_sched.step()
    assert ours_lr == theirs_lr
    assert ours_lr[0] == pytest.approx(0.001) and max(ours_lr) == pytest.approx(0.003)  # warm-up 1/3, 2/3, 1
    assert ours_lr[-1] == pytest.approx(0.0003)  # cosine to min_lr_ratio * lr at the last step


def test_the_old_optimizer_names_become_the_policys_presets():
    cfg, notes = resolved(train, ["--train.lr=0.002", "--train.warmup_steps=7", "--train.max_grad_norm=0.5"])
    assert (cfg.policy.optimizer_lr, cfg.policy.scheduler_warmup_steps, cfg.policy.optimizer_grad_clip_norm) == (
        0.002, 7, 0.5)
    assert any("--train.lr is deprecated, use --policy.optimizer_lr" in n for n in notes)
    loop = cfg.loop_config()
    assert (loop.lr, loop.warmup_steps, loop.max_grad_norm) == (0.002, 7, 0.5)
