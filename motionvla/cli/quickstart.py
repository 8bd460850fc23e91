"""`motionvla quickstart` (what `make demo` runs): record tabletop demos, train the tiny dual-head policy,
evaluate it next to a random policy, and write a report folder.

Every run starts fresh in ``--output_dir`` (its demos, training run and evaluations are replaced). The loop takes
lerobot-train's names (``--steps``, ``--batch_size``, ``--seed``, ``--log_freq``, ``--save_freq``, ...); what lerobot
has no name for stays in ``--train.*`` (``--train.ema_decay``, ``--train.mixed_precision``, ...).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionvla.configs import format_config, save_config
from motionvla.configs.parsing import given_keys
from motionvla.cli.train import FLOW_ALIASES
from motionvla.errors import UserError
from motionvla.datasets.sim_recording import RecordDemosConfig, record_demos
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.train.config import LoopRunConfig, loop_group_spellings
from motionvla.train.prepare import POLICY_OPTIMIZER_FIELDS, DatasetOptions, tiny_recipe_policy, tiny_recipe_train
from motionvla.utils.atomic import atomic_write_text

# The old --flow.* names, as `motionvla train`; the optimizer and schedule are the policy's presets now.
ALIASES = {**FLOW_ALIASES, **{f"train.{ours}": f"policy.{theirs}" for theirs, ours in POLICY_OPTIMIZER_FIELDS.items()},
           "out": "output_dir"}

# lerobot-train's loop names (--steps, --batch_size, ...) for the --train.* group; --output_dir is the whole run's
# folder (its demos, training run and report), not the training run's alone.
SPELLINGS = loop_group_spellings(exclude=("output_dir", "resume"))


def _demos() -> RecordDemosConfig:
    # Front and wrist cameras: with the front view alone the tiny policy rarely grasps (docs/results.md).
    return RecordDemosConfig(episodes_per_task=30, image_size=64, cameras="front,wrist", episodes_per_part=15,
                             overwrite=True, repo_id="local/quickstart")


def _train() -> LoopRunConfig:
    return tiny_recipe_train(log_every=50, checkpoint_every=1000)


@dataclass
class Config:
    """Record tabletop demos, train the tiny dual-head policy on them, evaluate it, write a report."""

    output_dir: str = "outputs/quickstart"
    demos: RecordDemosConfig = field(default_factory=_demos)
    policy: MotionVLAConfig = field(default_factory=tiny_recipe_policy)
    train: LoopRunConfig = field(default_factory=_train)
    # Held-out demos per task (env seeds from heldout_seed, never trained on): where the motion head's forecast
    # is measured and drawn.
    heldout_episodes_per_task: int = 5
    heldout_seed: int = 5000
    # Evaluation episodes per task (the policy and the random baseline see the same seeds).
    eval_episodes: int = 20
    eval_workers: int = 2
    # Only record demos and write their report (no training or evaluation).
    skip_train: bool = False
    # Flow between frames this far apart is drawn in the demo report's motion-image strip.
    flow_stride: int = 2
    # Motion-image colour scale of that strip: flow of this many pixels is fully saturated.
    max_flow_pixels: float = 6.0


def heldout_demos(cfg: Config, out: Path) -> RecordDemosConfig:
    """The held-out demos: the training demos' settings, other env seeds, their own folder."""
    return dataclasses.replace(cfg.demos, out=str(out / "heldout"), repo_id=cfg.demos.repo_id + "_heldout",
                               episodes_per_task=cfg.heldout_episodes_per_task, seed=cfg.heldout_seed,
                               episodes_per_part=max(1, cfg.heldout_episodes_per_task), overwrite=True)


def _stage(name: str) -> None:
    print(f"\n=== {name} " + "=" * max(3, 70 - len(name)))


def run(cfg: Config) -> Path:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from motionvla.reports.demo_report import write_demo_report

    set_by_us = sorted(k for k in (given_keys(cfg) or ()) if k in ("train.output_dir", "train.resume"))
    if set_by_us:  # refused rather than silently replaced below
        raise UserError(f"--{set_by_us[0]}: the quickstart trains into <--output_dir>/train and always starts fresh; "
                        "use `motionvla train` for a training run of your own")
    out = Path(cfg.output_dir)
    demos = dataclasses.replace(cfg.demos, out=str(out / "demos"))
    train = dataclasses.replace(cfg.train, output_dir=str(out / "train"), resume=False)
    cfg = dataclasses.replace(cfg, demos=demos, train=train)
    print(format_config(cfg))
    for stale in ("train", "eval", "report"):
        shutil.rmtree(out / stale, ignore_errors=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    _stage("1/4 record demos with the scripted expert")
    summary = record_demos(cfg.demos)
    if not cfg.skip_train:
        record_demos(heldout_demos(cfg, out))
    save_config(cfg, out)
    dataset = LeRobotDataset(cfg.demos.repo_id, root=cfg.demos.out, video_backend="pyav")
    report = write_demo_report(dataset, summary, out / "report" / "demos", cfg.flow_stride, cfg.max_flow_pixels)
    timings["record"] = time.perf_counter() - start
    text = report["summary"]
    if not cfg.skip_train:
        text += "\n" + _train_and_evaluate(cfg, out, timings)
    elapsed = time.perf_counter() - start
    text += "\n" + "  ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + f"\nquickstart took {elapsed:.0f} s\n"
    atomic_write_text(out / "report" / "summary.txt", text)
    print("\n" + text)
    print(f"report: {(out / 'report').resolve()}")
    return out / "report"


def _train_and_evaluate(cfg: Config, out: Path, timings: dict[str, float]) -> str:
    from motionvla.cli import eval as eval_cli
    from motionvla.cli import train as train_cli
    from motionvla.evaluation.motion_heldout import heldout_motion_items
    from motionvla.policy import MotionVLAPolicy, load_processors
    from motionvla.reports.model_card import model_card
    from motionvla.reports.policy_report import (
        forecast_summary,
        motion_forecast_error,
        plot_loss_curves,
        success_table,
        write_motion_comparison,
    )
    from motionvla.train import read_metrics

    t = time.perf_counter()
    _stage("2/4 train the tiny dual-head policy")
    trained = train_cli.run(train_cli.Config(dataset=DatasetOptions(root=cfg.demos.out, repo_id=cfg.demos.repo_id),
                                             policy=cfg.policy, **train_cli.Config.split_loop(cfg.train)))
    timings["train"] = time.perf_counter() - t
    checkpoint = Path(trained["pretrained_dir"])

    t = time.perf_counter()
    _stage("3/4 evaluate the policy and a random baseline on the same seeds")
    evals: dict[str, dict[str, Any]] = {}
    for name in (str(checkpoint), "random"):
        tag = "policy" if name != "random" else "random"
        evals[tag] = eval_cli.run(eval_cli.Config(policy=name, tasks=cfg.demos.tasks, episodes=cfg.eval_episodes,
                                                  workers=cfg.eval_workers,
                                                  out=str(out / "eval" / tag), image_size=cfg.demos.image_size,
                                                  cameras=cfg.demos.cameras, videos_per_task=2))
    timings["eval"] = time.perf_counter() - t

    t = time.perf_counter()
    _stage("4/4 report")
    report = out / "report"
    rows = read_metrics(out / "train")
    plot_loss_curves({"dual-head": rows}, report / "loss_curves.png")
    policy = MotionVLAPolicy.from_pretrained(checkpoint).eval()
    preprocess, _ = load_processors(checkpoint)
    held = heldout_demos(cfg, out)
    items = heldout_motion_items(held.out, held.repo_id, policy.config, every=4)
    write_motion_comparison(report / "motion_predicted_vs_actual.png", policy, preprocess,
                            items[:: max(1, len(items) // 4)][:4])
    forecast = motion_forecast_error(policy, preprocess, items)
    atomic_write_text(report / "motion_forecast.json", json.dumps(forecast, indent=2) + "\n")
    forecast_line = forecast_summary(forecast, f"{cfg.heldout_episodes_per_task} held-out episodes per task")
    videos = _collect_videos(out / "eval" / "policy", report / "rollouts")
    table = success_table(evals)
    lines = [
        "# motionvla quickstart",
        "",
        f"Tiny dual-head policy trained {trained['step']} steps on {cfg.demos.episodes_per_task} expert demos per task "
        f"({cfg.demos.image_size}x{cfg.demos.image_size}, cameras {cfg.demos.cameras}), evaluated on "
        f"{cfg.eval_episodes} episodes per task (env seeds from 1000, never seen in training).",
        "",
        "## Success rate",
        "",
        table,
        "",
        "## Training",
        "",
        "![loss curves](loss_curves.png)",
        "",
        "## Motion head: predicted vs actual future motion images",
        "",
        "Motion images encode optical flow (hue = direction, saturation = speed, white = still). The motion head "
        "is trained only as an auxiliary task; acting never runs it.",
        "",
        "![motion](motion_predicted_vs_actual.png)",
        "",
        f"Measured on held-out episodes (recorded with env seeds from {cfg.heldout_seed}, never trained on): "
        f"{forecast_line}. Moving pixels are those whose actual flow is at least a quarter of the codec's scale; "
        "`motion_forecast.json` has the figures.",
        "",
        "## Rollouts (trained policy)",
        "",
        *[f"- [{p.stem}](rollouts/{p.name})" for p in videos],
        "",
        "Demos report: [demos/index.md](demos/index.md)",
        "",
        "Model card (what `motionvla push` would upload with this policy): [model_card.md](model_card.md)",
    ]
    card = model_card(checkpoint, "YOUR_NAME/motionvla-tiny-tabletop", eval_info=out / "eval" / "policy" / eval_cli.EVAL_INFO,
                      figures=["motion_predicted_vs_actual.png"], notes=f"The quickstart's policy. {forecast_line}.")
    atomic_write_text(report / "model_card.md", str(card))
    atomic_write_text(report / "index.md", "\n".join(lines) + "\n")
    timings["report"] = time.perf_counter() - t
    return "\n".join([
        forecast_line,
        "success rate (%):",
        f"  {'task':<28} {'policy':>7} {'random':>7}",
        *[f"  {task:<28} {evals['policy']['per_task'][task]['pc_success']:>7.1f} "
          f"{evals['random']['per_task'][task]['pc_success']:>7.1f}" for task in evals["policy"]["per_task"]],
        f"  {'overall':<28} {evals['policy']['overall']['pc_success']:>7.1f} {evals['random']['overall']['pc_success']:>7.1f}",
    ])


def _collect_videos(eval_dir: Path, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for gif in sorted((eval_dir / "videos").glob("*.gif")):
        shutil.copy2(gif, dest / gif.name)
        copied.append(dest / gif.name)
    return copied
