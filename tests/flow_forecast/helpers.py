"""Helpers for the forecaster tests: the argv of a tiny `motionvla forecast train` run."""

from __future__ import annotations

from pathlib import Path

TINY_MODEL = ("--model.hidden_size=32", "--model.image_token_grid=4", "--model.resolution=16", "--model.image_size=32")


def train_args(shards: Path, out: Path, steps: int = 6) -> list[str]:
    return ["forecast", "train", f"--data={shards}", f"--output_dir={out}", f"--steps={steps}", "--batch_size=4",
            "--log_freq=1", "--save_freq=2", "--train.warmup_steps=0", "--train.progress=false",
            *TINY_MODEL]
