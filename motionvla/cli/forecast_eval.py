"""`motionvla forecast eval`: a forecaster's error against non-learned baselines and shuffled captions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from motionvla.cli.forecast_data import ForecastDataOptions
from motionvla.configs import format_config
from motionvla.utils.atomic import atomic_write_json


@dataclass
class Config(ForecastDataOptions):
    """Evaluate a forecaster (a training run or a saved folder) on --data shards and/or --lerobot_root's flows."""

    checkpoint: str = ""  # a `motionvla forecast train` run folder, its pretrained_model/, or a save_pretrained folder
    out: str = ""  # write the report as JSON here ("" = only print it)
    batch_size: int = 32
    num_samples: int = 4  # S: best-of-S is reported next to single-sample
    num_inference_steps: int = 0  # 0 = the model's default (1, as FOFPred releases it)
    moving_threshold_px: float = 0.25  # a target pixel moving more than this (at the model's resolution) "moves"
    max_batches: int = 0  # 0 = the whole data
    seed: int = 0


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.cli.forecast_data import forecast_samples
    from motionvla.cli.forecast_train import forecaster_folder
    from motionvla.errors import UserError
    from motionvla.flow_forecast.evaluation import evaluate_forecaster, format_report
    from motionvla.flow_forecast.pipeline import FlowForecastPipeline
    from motionvla.flow_forecast.training import check_compatible

    if not cfg.checkpoint:
        raise UserError("--checkpoint is required (a forecaster run folder or a saved forecaster)")
    print(format_config(cfg))
    model = FlowForecastPipeline.from_pretrained(forecaster_folder(cfg.checkpoint)).model
    dataset = forecast_samples(cfg, model.cfg.frames_in, model.cfg.num_frames)
    check_compatible(model, dataset[0])
    report = evaluate_forecaster(model, dataset, batch_size=cfg.batch_size, num_samples=cfg.num_samples,
                                 num_inference_steps=cfg.num_inference_steps or None,
                                 moving_threshold_px=cfg.moving_threshold_px, seed=cfg.seed,
                                 max_batches=cfg.max_batches)
    report["checkpoint"], report["data"] = cfg.checkpoint, cfg.data or cfg.lerobot_root
    print(format_report(report))
    if cfg.out:
        atomic_write_json(cfg.out, report)
        print(f"report: {cfg.out}")
    return report
