"""Two gloo processes train the forecaster through `torchrun -m motionvla.cli.forecast_train`."""

from __future__ import annotations

import os
import subprocess
import sys

from motionvla.train import read_metrics
from tests.flow_forecast.helpers import train_args


def test_two_process_training_step_on_gloo(tiny_shards, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "motionvla.cli.forecast_train",
           *train_args(tiny_shards, out, steps=2)[2:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_metrics(out)] == [1, 2]
    assert (out / "pretrained_model" / "model.safetensors").is_file()
