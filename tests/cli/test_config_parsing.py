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


def test_quickstart_and_ablate_take_lerobots_loop_names(capsys, monkeypatch):
    """`--steps`, `--batch_size`, `--log_freq`, `--output_dir` reach the same fields as the `--train.*` names; the
    old `--out` works with one note; one option under both names, or a field the quickstart sets itself, is refused
    in one line before anything runs."""
    from motionvla.cli import ablate as ablate_cli
    from motionvla.cli import quickstart as quickstart_cli
    from motionvla.cli.main import _resolve_options, main

    seen = {}
    monkeypatch.setattr(quickstart_cli, "run", lambda cfg: seen.setdefault("quickstart", cfg))
    monkeypatch.setattr(ablate_cli, "run", lambda cfg: seen.setdefault("ablate", cfg))
    assert main(["quickstart", "--steps=7", "--batch_size=3", "--log_freq=2", "--save_freq=5", "--seed=4",
                 "--out=somewhere"]) == 0
    cfg = seen["quickstart"]
    assert (cfg.train.steps, cfg.train.batch_size, cfg.train.log_every, cfg.train.checkpoint_every, cfg.train.seed,
            cfg.output_dir) == (7, 3, 2, 5, 4, "somewhere")
    err = capsys.readouterr().err
    assert err.count("deprecated") == 1 and "--out is deprecated, use --output_dir" in err
    assert main(["ablate", "--steps=9", "--batch_size=2", "--output_dir=grid"]) == 0
    cfg = seen["ablate"]
    assert (cfg.train.steps, cfg.train.batch_size, cfg.output_dir) == (9, 2, "grid")
    # --seed means nothing to a grid whose runs take seeds 0..N-1: not rewritten, so refused as unknown
    options, _ = _resolve_options(ablate_cli, ["--seed=3"])
    assert options == ["--seed=3"]
    assert main(["ablate", "--seed=3"]) == 2
    assert "seed" in capsys.readouterr().err

    assert main(["quickstart", "--steps=7", "--train.steps=8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--steps and --train.steps name the same option: give it once, as --steps")
    assert len(err.splitlines()) == 1


def test_quickstart_refuses_the_training_fields_it_sets_itself(tmp_path, capsys):
    from motionvla.cli.main import main

    out = tmp_path / "qs"
    assert main(["quickstart", f"--output_dir={out}", "--train.output_dir=elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "--train.output_dir: the quickstart trains into <--output_dir>/train" in err and not out.exists()


def test_help_shows_lerobots_names_beside_the_group_fields(capsys):
    from motionvla.cli.main import main

    assert main(["quickstart", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--train.steps=3000  (int)  [lerobot name: --steps]" in text
    assert "--output_dir=outputs/quickstart" in text
