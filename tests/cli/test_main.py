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
