"""`motionvla ablate` at a tiny size: a grid of arms x seeds, resumable, paired by seed; its refusals."""

import json

import pytest

from motionvla.cli.main import main


@pytest.fixture(scope="module")
def demos(record_tiny_demos):
    return record_tiny_demos("push_red_left")


def grid_argv(demos, out, tiny_policy_args, *extra):
    return ["ablate", f"--dataset.root={demos.out}", f"--dataset.repo_id={demos.repo_id}", "--seeds=2", f"--output_dir={out}",
            "--arms=action-only,dual-head", "--regimes=all", "--steps=2", "--batch_size=4",
            "--eval_episodes=2", "--eval_workers=1", "--image_size=32", *tiny_policy_args, *extra]


@pytest.mark.timeout(300)  # 4 trainings, 4 evaluations, the probe and a resumed grid: ~100 s on 2 idle cores
def test_a_grid_runs_every_arm_and_seed_resumes_without_redoing_and_pairs_by_seed(demos, tiny_policy_args, tmp_path,
                                                                                     capsys):
    from motionvla.evaluation.backbone_probe import record_probe_frames

    out = tmp_path / "grid"
    probe = tmp_path / "probe.npz"
    record_probe_frames(["tabletop/push_red_left"], 5, seed=40000, every=6, image_size=32, cameras=("front",)).save(probe)
    argv = grid_argv(demos, out, tiny_policy_args, f"--probe_frames={probe}")
    assert main(argv) == 0
    runs = sorted(p.name for p in (out / "all").iterdir() if p.is_dir())
    assert runs == ["action-only_seed0", "action-only_seed1", "dual-head_seed0", "dual-head_seed1"]
    for run in runs:
        config = json.loads((out / "all" / run / "train" / "pretrained_model" / "config.json").read_text())
        assert config["motion_weight"] == (0.0 if run.startswith("action-only") else 0.1)  # the tiny default
    result = json.loads((out / "results.json").read_text())
    paired = result["summary"]["all"]["paired"]["dual-head"]
    one = json.loads((out / "all" / "dual-head_seed0" / "result.json").read_text())["eval"]
    episodes_per_run = sum(len(row["episodes"]) for row in one["per_task"].values())
    assert episodes_per_run == 2 * len(one["per_task"])  # --eval_episodes=2 of every task
    assert (paired["seeds"], paired["pairs"]) == (2, 2 * episodes_per_run)  # seeds x (task, env seed) pairs
    assert "dual-head vs action-only" in (out / "results.md").read_text()
    assert (out / "ablation.png").is_file() or paired["low"] == paired["high"]
    # every run probed its backbone; the report shows each arm's mean over the seeds
    r2 = {run: json.loads((out / "all" / run / "result.json").read_text())["probe_r2"] for run in runs}
    for arm in ("action-only", "dual-head"):
        mean = (r2[f"{arm}_seed0"] + r2[f"{arm}_seed1"]) / 2
        assert f"| {arm} | {mean:.3f} ± " in (out / "results.md").read_text()
    capsys.readouterr()
    # A run killed before it finished (no result.json) is redone; the finished ones are reused.
    (out / "all" / "dual-head_seed1" / "result.json").unlink()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("finished earlier, reusing its result") == 3 and "[1/1] all/dual-head_seed1" in printed


def test_summary_units_are_seed_task_episode_pairs():
    from motionvla.evaluation.ablation_report import summarize

    def result(successes):
        return {"eval": {"per_task": {"t": {"pc_success": 50.0, "episodes": [
            {"seed": 1000 + i, "success": ok} for i, ok in enumerate(successes)]}}, "overall": {"pc_success": 50.0}}}

    results = {("all", "action-only", 0): result([False, False]), ("all", "dual-head", 0): result([True, False]),
               ("all", "action-only", 1): result([True, False]), ("all", "dual-head", 1): result([True, True]),
               ("all", "dual-head", 2): result([True, True])}  # seed 2 has no baseline: not paired
    diff = summarize(results, ["action-only", "dual-head"], ["all"], seeds=3)["all"]["paired"]["dual-head"]
    assert (diff["seeds"], diff["pairs"]) == (2, 4) and diff["mean"] == pytest.approx(50.0)


@pytest.mark.parametrize("extra, message", [
    (["--arms=action-only,magic"], "unknown arm(s) magic; accepted: action-only, dual-head, dual-head-forecaster"),
    (["--regimes=30,lots"], "unknown regime(s) lots"),
    (["--arms=dual-head-forecaster"], "needs --forecaster=RUN"),
])
def test_bad_grids_are_refused_in_one_line(demos, tiny_policy_args, tmp_path, capsys, extra, message):
    assert main(grid_argv(demos, tmp_path / "g", tiny_policy_args, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "g").exists()


def test_a_folder_with_another_grid_is_refused_naming_the_settings(demos, tiny_policy_args, tmp_path, capsys):
    from motionvla.cli.ablate import GRID_FILE

    out = tmp_path / "g"
    out.mkdir()
    (out / GRID_FILE).write_text(json.dumps({"eval_episodes": 5}))
    assert main(grid_argv(demos, out, tiny_policy_args)) == 2
    err = capsys.readouterr().err
    assert "holds a grid run with other settings" in err and "eval_episodes" in err and "new --output_dir" in err


def test_missing_dataset_is_a_one_line_error_and_the_old_names_still_work(tmp_path, capsys):
    assert main(["ablate", f"--dataset_root={tmp_path / 'none'}", f"--out={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err
    assert "no LeRobotDataset at" in err and f"{tmp_path / 'none'}" in err
    assert "--dataset_root is deprecated, use --dataset.root" in err and "--out is deprecated, use --output_dir" in err


def test_episodes_are_the_regimes_not_an_option(tmp_path, capsys):
    assert main(["ablate", "--dataset.episodes=0:5", f"--output_dir={tmp_path / 'o'}"]) == 2
    assert "choose them with --regimes" in capsys.readouterr().err


def test_a_training_seed_is_the_grids_not_an_option(tmp_path, capsys):
    assert main(["ablate", "--train.seed=3", f"--output_dir={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err
    assert "--train.seed: each run of the grid gets its own seed" in err and "--seeds" in err
    assert not (tmp_path / "o").exists()
