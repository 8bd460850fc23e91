"""`motionvla forecast train`: train a future-flow forecaster on `motionvla prep` shards.

One process: ``motionvla forecast train --data=SHARDS --out=RUN``. Several: ``accelerate launch --multi_gpu
--num_processes N -m motionvla.cli.forecast_train --data=...`` or ``torchrun --nproc_per_node N -m
motionvla.cli.forecast_train ...`` (DDP; gloo on CPU). ``--train.resume`` continues a killed run exactly.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionvla.configs import format_config, save_config
from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.train.config import TrainConfig


def _train_defaults() -> TrainConfig:
    return TrainConfig(steps=2000, batch_size=32, lr=1e-3, warmup_steps=100, log_every=25, checkpoint_every=500)


@dataclass
class Config:
    """Train a forecaster. --model.*: its shapes (ForecasterConfig); --train.*: the shared training loop."""

    # `motionvla prep` output folders, comma-separated (several are mixed by --weights).
    data: str = ""
    # Mixing weights, one per --data folder (comma-separated); empty = equal.
    weights: str = ""
    # The run folder (= --train.output_dir).
    out: str = "outputs/forecast/run"
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
    # Percentile of the training flows' magnitudes used as the motion-image codec scale (model.flow_max_magnitude=0).
    flow_scale_percentile: float = 99.5


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def forecaster_folder(path: str) -> str:
    """A saved forecaster, a finished run (its ``pretrained_model/``), or an unfinished or killed run (its last
    checkpoint, each of which is a loadable forecaster)."""
    from motionvla.train.checkpoint import find_last_checkpoint

    run = Path(path)
    if run.is_dir() and not (run / "pretrained_model").is_dir() and (run / "checkpoints").is_dir():
        last = find_last_checkpoint(run)
        if last is not None:
            return str(last)
    return path


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.flow_forecast.modeling import FlowForecaster
    from motionvla.flow_forecast.training import (
        check_compatible,
        collate_forecast,
        measure_flow_scale,
        open_shard_folders,
        save_model_files,
    )
    from motionvla.train import make_accelerator, train

    try:
        weights = [float(w) for w in _split(cfg.weights)] or None
    except ValueError:
        raise UserError(f"--weights must be comma-separated numbers, got {cfg.weights!r}") from None
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, output_dir=cfg.out))
    accelerator = make_accelerator(cfg.train)
    dataset = open_shard_folders(_split(cfg.data), weights)
    model_cfg = cfg.model
    if model_cfg.flow_max_magnitude <= 0:
        scale = measure_flow_scale(dataset, model_cfg.resolution, cfg.flow_scale_percentile)
        model_cfg = dataclasses.replace(model_cfg, flow_max_magnitude=round(scale, 4))
        cfg = dataclasses.replace(cfg, model=model_cfg)
    import torch

    torch.manual_seed(cfg.train.seed)  # identical initial weights on every process
    model = FlowForecaster(forecaster=model_cfg.to_dict())
    check_compatible(model, dataset[0])
    if accelerator.is_main_process:
        print(format_config(cfg))
        print(f"{len(dataset)} training samples; codec scale {model_cfg.flow_max_magnitude} px at "
              f"{model_cfg.resolution}²; {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.out)
    summary = train(model, dataset, cfg.train, collate_fn=collate_forecast, save_extra=save_model_files(model),
                    accelerator=accelerator, run_config={"model": model_cfg.to_dict()})
    if accelerator.is_main_process:
        print(f"trained {summary['step']} steps in {summary['seconds']:.0f} s, final loss {summary['final_loss']:.4f}")
        print(f"forecaster: {summary['pretrained_dir']}  (evaluate: motionvla forecast eval --checkpoint={cfg.out} "
              f"--data=...)")
    return summary


if __name__ == "__main__":  # torchrun / accelerate launch -m motionvla.cli.forecast_train
    from motionvla.cli.main import main as cli_main

    sys.exit(cli_main(["forecast", "train", *sys.argv[1:]]))
