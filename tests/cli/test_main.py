import subprocess
import sys

from motionvla.cli.main import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text


def test_command_help_lists_options_with_defaults(capsys):
    assert main(["record-demos", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--episodes_per_task=10" in text and "--overwrite=False" in text


def test_unknown_command_exits_2(capsys):
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err


def test_user_mistakes_give_one_line_and_no_traceback(tmp_path):
    cases = [
        ["record-demos", "--tasks=juggle", f"--out={tmp_path / 'a'}"],
        ["record-demos", "--episodes_per_tsk=2"],
        ["record-demos", f"--out={tmp_path / 'afile' / 'sub'}", "--tasks=lift_red", "--episodes_per_task=1"],
    ]
    (tmp_path / "afile").write_text("not a folder")
    for argv in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "motionvla.cli.main", *argv], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        error_lines = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(error_lines) == 1, proc.stderr


def test_train_mistakes_are_answered_before_the_models_are_imported(tmp_path):
    """An unknown option and a taken output folder are answered from the command line alone (train, forecast train,
    record-demos): the model and data modules (transformers, diffusers' models, lerobot's policies and datasets:
    seconds of imports) are not loaded yet."""
    (tmp_path / "run" / "checkpoints" / "000001").mkdir(parents=True)
    code = f"""
import sys
from motionvla.cli.main import main
codes = [main(["train", "--policy.chunksize=3"]),
         main(["train", "--dataset.root={tmp_path / 'no_dataset'}", "--dataset.repo_id=local/x",
               "--output_dir={tmp_path / 'run'}"]),
         main(["record-demos", "--tasks=juggle", "--out={tmp_path / 'demos'}"]),
         main(["forecast", "train", "--data={tmp_path / 'no_shards'}", "--output_dir={tmp_path / 'run'}"])]
heavy = ("motionvla.policy.modeling_motionvla", "motionvla.policy.motion_head.head", "motionvla.train.policy_data",
         "motionvla.flow_forecast.modeling", "transformers", "lerobot.policies.act", "lerobot.datasets.lerobot_dataset")
print(codes, sorted(m for m in heavy if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1:] == ["[2, 2, 2, 2] []"], proc.stdout + proc.stderr
    assert "did you mean --policy.chunk_size" in proc.stderr
    assert proc.stderr.count("already holds a run's checkpoints") == 2  # train's and forecast train's
    assert "no_dataset" not in proc.stderr and "no_shards" not in proc.stderr
    assert "unknown task(s) tabletop/juggle" in proc.stderr
