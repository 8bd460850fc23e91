"""The quickstart behind `make demo`, at a tiny size: record, train, evaluate, report."""

import json

from PIL import Image

from motionvla.cli.main import main

def test_quickstart_records_trains_evaluates_and_reports(tiny_policy_args, tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["quickstart", f"--output_dir={out}", "--demos.tasks=push_red_left,lift_red", "--demos.episodes_per_task=1",
            "--demos.image_size=32", "--demos.workers=1", "--steps=3", "--batch_size=4",
            "--train.progress=false", "--eval_episodes=1", "--eval_workers=1", "--heldout_episodes_per_task=1", *tiny_policy_args]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report = out / "report"
    assert str(report.resolve()) in printed
    assert "success rate (%)" in printed and "tabletop/lift_red" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["demos"]["image_size"] == 32 and config["demos"]["out"] == str(out / "demos")

    # The demos' own report.
    summary = json.loads((out / "demos" / "meta" / "motionvla_recording.json").read_text())
    gifs = sorted((report / "demos" / "rollouts").glob("*.gif"))
    assert len(gifs) == len(summary["tasks"]) == 2
    assert Image.open(gifs[0]).n_frames > 5

    # Training, evaluation of the trained policy and the random baseline, and their report.
    assert (out / "train" / "pretrained_model" / "model.safetensors").is_file()
    for tag in ("policy", "random"):
        info = json.loads((out / "eval" / tag / "eval_info.json").read_text())
        assert set(info["per_task"]) == {"tabletop/push_red_left", "tabletop/lift_red"}
    index = (report / "index.md").read_text()
    assert "| tabletop/lift_red |" in index and "| task | policy | random |" in index
    for picture in ("loss_curves.png", "motion_predicted_vs_actual.png"):
        image = Image.open(report / picture)
        assert image.width > 100 and image.height > 50
        assert f"]({picture})" in index
    rollouts = sorted((report / "rollouts").glob("*.gif"))
    assert len(rollouts) == 2 and all(f"rollouts/{p.name}" in index for p in rollouts)
    assert "quickstart took" in (report / "summary.txt").read_text()
    forecast = json.loads((report / "motion_forecast.json").read_text())
    assert forecast["frames"] > 0 and forecast["scale_px"] > 0 and forecast["epe_zero"] >= 0
    # Measured on the held-out demos (their own folder, other env seeds), against both baselines.
    held = json.loads((out / "heldout" / "meta" / "motionvla_recording.json").read_text())
    seeds = lambda s: {e["seed"] for t in s["tasks"].values() for e in t["episodes"]}  # noqa: E731
    assert seeds(held) and not seeds(held) & seeds(summary)
    assert {"epe_last", "epe_last_moving", "epe_moving", "epe_zero_moving"} <= set(forecast)
    assert "held-out" in index and "last flow" in index and "nothing moves" in printed
    trained = json.loads((out / "train" / "pretrained_model" / "config.json").read_text())
    assert trained["flow_max_magnitude"] == forecast["scale_px"] > 0  # measured from the demos' flows
    # The model card `motionvla push` would upload: lerobot's tags, the success table, the motion figure.
    from huggingface_hub import ModelCard

    card = ModelCard((report / "model_card.md").read_text())
    assert {"lerobot", "motionvla"} <= set(card.data.tags) and "](model_card.md)" in index
    policy_overall = json.loads((out / "eval" / "policy" / "eval_info.json").read_text())["overall"]["pc_success"]
    assert f"**{policy_overall:.1f} %**" in card.text and "](motion_predicted_vs_actual.png)" in card.text
