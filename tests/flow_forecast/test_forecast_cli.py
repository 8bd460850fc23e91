"""`motionvla forecast train|eval|predict|describe` on tiny shards; kill-and-resume; two gloo processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from motionvla.cli.main import main
from motionvla.train import read_metrics
from tests.flow_forecast.helpers import TINY_MODEL, train_args


KILLABLE_RUN = '''
import os, signal, sys
import motionvla.train as training
from motionvla.cli.main import main

kill_at = int(sys.argv[1])
_train = training.train


def train_and_die(*args, **kwargs):
    def hook(step, metrics):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a hard crash right after this step
    return _train(*args, on_step_end=hook, **kwargs)


training.train = train_and_die
sys.exit(main(sys.argv[2:]))
'''


def test_kill_and_resume_continues_with_the_same_losses(tiny_shards, tmp_path):
    full = tmp_path / "full"
    assert main(train_args(tiny_shards, full)) == 0
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE_RUN)
    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, str(script), "5", *train_args(tiny_shards, killed)], capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert main([*train_args(tiny_shards, killed), "--resume"]) == 0
    expected = {r["step"]: r["loss"] for r in read_metrics(full)}
    got = {r["step"]: r["loss"] for r in read_metrics(killed)}
    assert got == expected and sorted(got) == [1, 2, 3, 4, 5, 6]
    config = json.loads((full / "pretrained_model" / "config.json").read_text())
    assert config["forecaster"]["flow_max_magnitude"] > 0  # the codec scale measured from the data is saved
    # Another fresh process with another string-hash salt: the same seed gives the same losses.
    again = tmp_path / "again"
    proc = subprocess.run([sys.executable, "-m", "motionvla.cli.main", *train_args(tiny_shards, again)],
                          capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {r["step"]: r["loss"] for r in read_metrics(again)} == expected


@pytest.fixture(scope="module")
def trained(tiny_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("forecast_run") / "run"
    assert main(train_args(tiny_shards, out, steps=4)) == 0
    return out


def test_eval_reports_model_baselines_and_shuffled_captions(trained, tiny_shards, tmp_path, capsys):
    report_path = tmp_path / "eval.json"
    assert main(["forecast", "eval", f"--data={tiny_shards}", f"--checkpoint={trained}", f"--out={report_path}",
                 "--num_samples=2", "--batch_size=8", "--moving_threshold_px=0.02"]) == 0
    report = json.loads(report_path.read_text())
    for name in ("model", "model_best_of_s", "shuffled_captions", "zero", "last", "linear"):
        assert report[name]["samples"] > 0 and len(report[name]["per_horizon"]) == 4
    assert report["model_best_of_s"]["epe"] <= report["model"]["epe"] + 1e-6
    assert report["zero"]["epe_moving"] > 0 and set(report["by_kind"]) <= {"starts", "moving", "still"}
    assert "model / best baseline" in capsys.readouterr().out


def test_predict_draws_a_png(trained, tiny_shards, tmp_path):
    out = tmp_path / "pred.png"
    assert main(["forecast", "predict", f"--checkpoint={trained}", f"--data={tiny_shards}", f"--out={out}"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_figure_has_a_colour_key_column(tmp_path):
    import numpy as np
    from PIL import Image

    from motionvla.cli.forecast_predict import draw
    from motionvla.flow.codec import flow_to_motion_image

    k, r = 2, 16
    flow = np.zeros((k, 2, r, r), np.float32)
    flow[:, 0, 4:8, 4:8] = 0.3  # a patch moving right
    images = flow_to_motion_image(flow, 0.5)
    frame = np.zeros((32, 32, 3), np.uint8)
    draw(frame, "push the red block " * 12, flow, images, str(tmp_path / "plain.png"))
    draw(frame, "push the red block " * 12, flow, images, str(tmp_path / "key.png"), max_magnitude=0.5)
    plain, keyed = Image.open(tmp_path / "plain.png"), Image.open(tmp_path / "key.png")
    assert keyed.width / plain.width == pytest.approx((k + 2) / (k + 1), rel=0.02)  # one more column: the key
    # the key shows the wheel's saturated colours (+x is red at the rim) in its column, right of the predictions
    key_part = np.asarray(keyed.convert("RGB"))[:, plain.width:].astype(int)
    reddish = (key_part[..., 0] > 180) & (key_part[..., 1] < 120) & (key_part[..., 2] < 120)
    assert reddish.sum() > 20


def test_describe_and_bad_input(tiny_shards, tmp_path, capsys):
    assert main(["forecast", "describe", "--preset=fofpred-3b"]) == 0
    assert "dit" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["forecast", "train", f"--data={tmp_path / 'empty'}", f"--output_dir={tmp_path / 'run'}"]) == 2
    assert "holds no shard" in capsys.readouterr().err
    assert main(["forecast", "eval", f"--data={tiny_shards}", f"--checkpoint={tmp_path / 'nothing'}"]) == 2
    assert "no such forecaster folder" in capsys.readouterr().err
    assert main(["forecast", "train", f"--data={tiny_shards}", f"--output_dir={tmp_path / 'k'}", "--model.num_frames=3",
                 *TINY_MODEL[:1]]) == 2
    assert "K=4" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
