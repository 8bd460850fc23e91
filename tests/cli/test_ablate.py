"""`motionvla ablate` at a tiny size: both variants, every seed, a mean ± std table, finished runs reused."""

import json

import pytest

from motionvla.cli.ablate import markdown_table, summarize
from motionvla.cli.main import main



@pytest.fixture(scope="module")
def demos(record_tiny_demos):
    return record_tiny_demos("push_red_left")


def test_ablate_trains_both_variants_per_seed_and_writes_the_table(demos, tiny_policy_args, tmp_path, capsys):
    argv = ["ablate", f"--dataset_root={demos.out}", f"--repo_id={demos.repo_id}", "--seeds=2", f"--out={tmp_path}",
            "--train.steps=2", "--train.batch_size=4", "--eval_episodes=1", "--eval_workers=1", "--image_size=32", *tiny_policy_args]
    assert main(argv) == 0
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert runs == ["action-only_seed0", "action-only_seed1", "dual-head_seed0", "dual-head_seed1"]
    for run in runs:
        config = json.loads((tmp_path / run / "train" / "pretrained_model" / "config.json").read_text())
        assert config["motion_weight"] == (0.0 if run.startswith("action-only") else 1.0)
        assert (tmp_path / run / "eval" / "eval_info.json").is_file()
    results = (tmp_path / "results.md").read_text()
    assert "| tabletop/push_red_left |" in results and "±" in results and "(2 seeds)" in results
    assert (tmp_path / "loss_curves.png").is_file()
    capsys.readouterr()
    # Run again: every finished run is reused, nothing retrained.
    assert main(argv) == 0
    assert capsys.readouterr().out.count("finished earlier, reusing its results") == 4


def test_summary_statistics_are_over_seeds():
    def info(pc):
        return {"per_task": {"t": {"pc_success": pc}}, "overall": {"pc_success": pc}}

    table = summarize({"a": {0: {"eval": info(10.0)}, 1: {"eval": info(30.0)}}})
    assert table["a"]["t"]["mean"] == 20.0 and table["a"]["t"]["std"] == 10.0
    assert "20.0 ± 10.0" in markdown_table(table)


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    assert main(["ablate", f"--dataset_root={tmp_path / 'none'}", f"--out={tmp_path / 'o'}"]) == 2
    assert "no LeRobotDataset at" in capsys.readouterr().err
