"""The quickstart behind `make demo`, at a tiny size: it records, reads back and writes its report."""

import json

from PIL import Image

from motionvla.cli.main import main


def test_quickstart_writes_report(tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["quickstart", f"--out={out}", "--demos.episodes_per_task=1", "--demos.image_size=64", "--demos.workers=1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report = out / "report"
    assert str(report.resolve()) in printed
    config = json.loads((out / "config.json").read_text())
    assert config["demos"]["image_size"] == 64 and config["demos"]["out"] == str(out / "demos")
    summary = json.loads((out / "demos" / "meta" / "motionvla_recording.json").read_text())
    gifs = sorted((report / "rollouts").glob("*.gif"))
    assert len(gifs) == len(summary["tasks"])
    assert Image.open(gifs[0]).n_frames > 5
    strip = Image.open(report / "motion_strip.png")
    assert strip.height > 64 and strip.width > 64
    index = (report / "index.md").read_text()
    for stats in summary["tasks"].values():
        assert stats["instruction"] in index
    assert (report / "summary.txt").read_text().startswith("task")
