from dataclasses import dataclass, field

import pytest

from motionvla.configs import config_fields, parse_config
from motionvla.errors import UserError


@dataclass
class Inner:
    lr: float = 1e-3
    name: str = "adam"


@dataclass
class Outer:
    out: str = "runs/x"
    episodes_per_task: int = 3
    overwrite: bool = False
    optim: Inner = field(default_factory=Inner)


def test_defaults_and_dotted_overrides():
    cfg = parse_config(Outer, ["--optim.lr=0.5", "--out", "elsewhere"])
    assert cfg.optim.lr == 0.5 and cfg.optim.name == "adam"
    assert cfg.out == "elsewhere" and cfg.episodes_per_task == 3


def test_hyphenated_keys_and_bare_booleans():
    cfg = parse_config(Outer, ["--episodes-per-task", "7", "--overwrite"])
    assert cfg.episodes_per_task == 7 and cfg.overwrite is True


def test_unknown_key_names_the_accepted_ones():
    with pytest.raises(UserError, match=r"unknown option --optim.lrr \(did you mean --optim.lr\?\); accepted: .*--out"):
        parse_config(Outer, ["--optim.lrr=1"])


def test_bad_value_is_a_user_error():
    with pytest.raises(UserError, match="episodes_per_task"):
        parse_config(Outer, ["--episodes_per_task=many"])


def test_missing_value_and_positional_are_user_errors():
    with pytest.raises(UserError, match="needs a value"):
        parse_config(Outer, ["--out"])
    with pytest.raises(UserError, match="unexpected argument"):
        parse_config(Outer, ["stray"])


def test_config_fields_lists_nested_keys():
    assert {"out", "optim", "optim.lr", "optim.name"} <= set(config_fields(Outer))


def test_string_values_are_not_reinterpreted_as_yaml():
    for text in ("95:1", "yes", "null", "1e3", "a,b"):
        assert parse_config(Outer, [f"--out={text}"]).out == text


def test_override_keeps_the_other_values_of_a_default_factory():
    """Overriding one nested field must not reset its siblings to the class defaults (a draccus quirk)."""
    from motionvla.cli.quickstart import Config as QuickstartConfig

    cfg = parse_config(QuickstartConfig, ["--train.steps=5", "--demos.episodes_per_task=2", "--policy.hidden_size=32"])
    defaults = QuickstartConfig()
    assert (cfg.train.steps, cfg.demos.episodes_per_task, cfg.policy.hidden_size) == (5, 2, 32)
    assert cfg.policy.optimizer_lr == defaults.policy.optimizer_lr == 1e-3 and cfg.train.batch_size == defaults.train.batch_size
    assert cfg.demos.image_size == defaults.demos.image_size == 64
    assert cfg.policy.inference_noise_scale == defaults.policy.inference_noise_scale == 0.0


def test_cross_field_validation_runs_on_the_merged_config(capsys):
    from motionvla.cli.main import main

    assert main(["quickstart", "--policy.n_action_steps=50"]) == 2
    assert "n_action_steps (50) must be <= chunk_size" in capsys.readouterr().err


def test_flow_target_options_are_the_policys_old_names_deprecated(capsys, tmp_path):
    from motionvla.cli import train as train_cli
    from motionvla.cli.main import main
    from motionvla.configs import apply_aliases

    argv, notes = apply_aliases(["--flow.stride=3", "--flow.camera=wrist", "--steps=5"], train_cli.ALIASES)
    cfg = parse_config(train_cli.Config, argv)
    assert (cfg.policy.flow_stride, cfg.policy.motion_camera) == (3, "observation.images.wrist")
    assert len(notes) == 2 and "--flow.stride is deprecated, use --policy.flow_stride" in notes[0]
    # The same option under both names: one line, exit 2, nothing written.
    out = tmp_path / "run"
    assert main(["train", "--flow.stride=3", "--policy.flow_stride=2", f"--output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert "--flow.stride and --policy.flow_stride name the same option" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
