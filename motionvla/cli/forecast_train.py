"""`motionvla forecast train`: train a future-flow forecaster on `motionvla prep` shards.

One process: ``motionvla forecast train --data=SHARDS --output_dir=RUN``. Several: ``accelerate launch --multi_gpu
--num_processes N -m motionvla.cli.forecast_train --data=...`` or ``torchrun --nproc_per_node N -m
motionvla.cli.forecast_train ...`` (DDP; gloo on CPU). ``--resume=true`` continues a killed run exactly. The loop's
options have lerobot-train's names, as in `motionvla train` (``--steps``, ``--batch_size``, ``--output_dir``,
``--save_freq``, ``--log_freq``, ``--seed``); the old ones (``--out``, ``--train.steps``, ...) still work, with a note.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionvla.cli.forecast_data import ForecastDataOptions, forecast_samples, split_list
from motionvla.configs import format_config, given_keys, save_config
from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.train.config import OLD_LOOP_NAMES, OptimizerLoopOptions, RunOptions

# Old names -> new, accepted for one release with a note.
ALIASES = {"out": "output_dir", "train.output_dir": "output_dir",
           **{k: v for k, v in OLD_LOOP_NAMES.items() if k != "train.output_dir"}}


# `--config_path` replays a saved config.json (nothing is settled again from the data).
REPLAY_SKIP: tuple[str, ...] = ()


def _loop_defaults() -> OptimizerLoopOptions:
    return OptimizerLoopOptions(lr=1e-3, warmup_steps=100)


@dataclass
class Config(ForecastDataOptions, RunOptions):
    """Train a forecaster on --data and/or --lerobot_root. --model.*: its shapes (ForecasterConfig); --steps,
    --batch_size, --output_dir, ... (lerobot-train's names) and --train.*: the shared training loop."""

    output_dir: str = "outputs/forecast/run"
    steps: int = 2000
    batch_size: int = 32
    log_freq: int = 25
    save_freq: int = 500
    train: OptimizerLoopOptions = field(default_factory=_loop_defaults)

    # Mixing weights, one per --data folder (comma-separated); empty = equal.
    weights: str = ""
    # Start from a trained forecaster (fine-tuning, e.g. web-video pre-training -> robot demos).
    init_from: str = ""
    # With --init_from: measure the codec scale on this data instead of keeping the saved one (robot flows can be
    # much faster than web video's and would saturate the old scale's motion images; the weights then adapt).
    remeasure_flow_scale: bool = False
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    # Percentile of the training flows' magnitudes used as the motion-image codec scale (model.flow_max_magnitude=0).
    flow_scale_percentile: float = 99.5


def forecaster_folder(path: str) -> str:
    """A saved forecaster, a finished run (its ``pretrained_model/``), or an unfinished or killed run (its last
    checkpoint, each of which is a loadable forecaster)."""
    from motionvla.train.checkpoint import find_last_checkpoint

    run = Path(path)
    if run.is_dir() and not (run / "pretrained_model").is_dir() and (run / "checkpoints").is_dir():
        last = find_last_checkpoint(run)
        if last is not None:  # lerobot's layout keeps the model in pretrained_model/; the layout before, flat
            return str(last / "pretrained_model" if (last / "pretrained_model").is_dir() else last)
    return path


# ForecasterConfig fields that change how a model trains, not its shapes or weights: with --init_from they are
# taken from the command line when given there, else kept from the saved model.
TRAINING_ONLY_FIELDS = ("moving_weight", "one_step_fraction", "train_vlm", "num_inference_steps")


def adapted_model_config(saved: ForecasterConfig, given: ForecasterConfig, remeasure_flow_scale: bool,
                         given_names: frozenset[str] | None = None) -> ForecasterConfig:
    """The configuration a model started from ``saved`` trains with: the saved shapes (any other --model.* option
    is refused, since the saved weights fix it), the command line's training-only knobs where it sets them.

    ``given_names``: the ForecasterConfig fields the command line named (so that a knob can be set back to its
    default, e.g. ``--model.moving_weight=0``); ``None`` = every field that differs from the default.
    """
    defaults = ForecasterConfig()
    named = [f.name for f in dataclasses.fields(ForecasterConfig)
             if (f.name in given_names if given_names is not None else getattr(given, f.name) != getattr(defaults, f.name))]
    shape_options = [name for name in named
                     if name not in TRAINING_ONLY_FIELDS and getattr(given, name) != getattr(saved, name)]
    if shape_options:
        raise UserError(f"--init_from takes the model's shapes from the saved forecaster; drop "
                        f"{', '.join('--model.' + name for name in shape_options)} (only "
                        f"{', '.join('--model.' + name for name in TRAINING_ONLY_FIELDS)} can change)")
    overrides = {name: getattr(given, name) for name in named if name in TRAINING_ONLY_FIELDS}
    if remeasure_flow_scale:
        overrides["flow_max_magnitude"] = 0.0
    return dataclasses.replace(saved, **overrides)


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.train.checkpoint import refuse_taken_output

    explicit = given_keys(cfg)  # before any dataclasses.replace, which drops the record
    model_options = None if explicit is None else frozenset(k.split(".", 1)[1] for k in explicit
                                                            if k.startswith("model."))
    try:
        weights = [float(w) for w in split_list(cfg.weights)] or None
    except ValueError:
        raise UserError(f"--weights must be comma-separated numbers, got {cfg.weights!r}") from None
    refuse_taken_output(cfg.output_dir, cfg.resume)  # before any data is read
    # after the checks above, so that a mistake is answered at once: the model imports diffusers and transformers
    from motionvla.flow_forecast.modeling import FlowForecaster
    from motionvla.flow_forecast.training import (
        check_compatible,
        collate_forecast,
        measure_flow_scale,
        save_model_files,
    )
    from motionvla.train import make_accelerator, train

    loop = cfg.loop_config()
    accelerator = make_accelerator(loop)
    model_cfg = cfg.model
    if cfg.init_from:  # the saved model's shapes and codec scale; the command line's training-only knobs
        from motionvla.flow_forecast.pipeline import FlowForecastPipeline

        base = FlowForecastPipeline.from_pretrained(forecaster_folder(cfg.init_from)).model
        model_cfg = adapted_model_config(base.cfg, cfg.model, cfg.remeasure_flow_scale, model_options)
        cfg = dataclasses.replace(cfg, model=model_cfg)
    dataset = forecast_samples(cfg, model_cfg.frames_in, model_cfg.num_frames, weights)
    if cfg.remeasure_flow_scale and not cfg.init_from:
        raise UserError("--remeasure_flow_scale only applies with --init_from (a new model measures its scale anyway)")
    if model_cfg.flow_max_magnitude <= 0:
        scale = measure_flow_scale(dataset, model_cfg.resolution, cfg.flow_scale_percentile)
        model_cfg = dataclasses.replace(model_cfg, flow_max_magnitude=round(scale, 4))
        cfg = dataclasses.replace(cfg, model=model_cfg)
    import torch

    torch.manual_seed(cfg.seed)  # identical initial weights on every process
    model = FlowForecaster(forecaster=model_cfg.to_dict())
    if cfg.init_from:
        model.load_state_dict(base.state_dict())
    check_compatible(model, dataset[0])
    if accelerator.is_main_process:
        print(format_config(cfg))
        if cfg.warmup_warning():
            print(cfg.warmup_warning())
        print(f"{len(dataset)} training samples; codec scale {model_cfg.flow_max_magnitude} px at "
              f"{model_cfg.resolution}²; {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.output_dir)
    summary = train(model, dataset, loop, collate_fn=collate_forecast, save_extra=save_model_files(model),
                    accelerator=accelerator, run_config={"model": model_cfg.to_dict()})
    if accelerator.is_main_process:
        print(f"trained {summary['step']} steps in {summary['seconds']:.0f} s, final loss {summary['final_loss']:.4f}")
        print(f"forecaster: {summary['pretrained_dir']}  (evaluate: motionvla forecast eval --checkpoint={cfg.output_dir} "
              f"--data=...)")
    return summary


if __name__ == "__main__":  # torchrun / accelerate launch -m motionvla.cli.forecast_train
    from motionvla.cli.main import main as cli_main

    sys.exit(cli_main(["forecast", "train", *sys.argv[1:]]))
