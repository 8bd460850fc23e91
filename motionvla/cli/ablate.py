"""`motionvla ablate`: action-only (``motion_weight=0``) vs dual-head, equal budgets, several seeds.

For each seed and variant: train on the same demos with the same steps, batch and learning rate (only
``motion_weight`` differs), then evaluate on the same env seeds. Writes ``<out>/results.md`` (mean ± std
success per task over seeds), ``<out>/results.json`` (every run's numbers) and ``<out>/loss_curves.png``.
Finished runs are reused when the command is run again (``--out`` keeps them), so an interrupted
ablation resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionvla.configs import format_config, save_config
from motionvla.errors import UserError
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.train.config import TrainConfig
from motionvla.utils.atomic import atomic_write_json, atomic_write_text

VARIANTS = {"action-only": 0.0, "dual-head": None}  # None: the policy config's own motion_weight


def _train() -> TrainConfig:
    return TrainConfig(steps=3000, batch_size=32, lr=1e-3, warmup_steps=200, log_every=50, checkpoint_every=1000,
                       progress=False)


@dataclass
class Config:
    """Train and evaluate action-only vs dual-head policies with equal budgets over several seeds."""

    # A LeRobotDataset v3 folder (default: the quickstart's demos; run `make demo` first).
    dataset_root: str = "outputs/quickstart/demos"
    repo_id: str = "local/quickstart"
    seeds: int = 3
    out: str = "outputs/ablation"
    policy: MotionVLAConfig = field(default_factory=lambda: MotionVLAConfig(device="cpu", inference_noise_scale=0.0))
    train: TrainConfig = field(default_factory=_train)
    eval_episodes: int = 20
    eval_workers: int = 2
    # Camera side used for evaluation (must match the demos).
    image_size: int = 64


def _run_one(cfg: Config, variant: str, seed: int) -> dict[str, Any]:
    """Train + evaluate one (variant, seed), or read the results of an earlier finished run."""
    from motionvla.cli import eval as eval_cli
    from motionvla.cli import train as train_cli
    from motionvla.train import read_metrics

    run_dir = Path(cfg.out) / f"{variant}_seed{seed}"
    eval_info = run_dir / "eval" / "eval_info.json"
    if eval_info.is_file():
        print(f"{run_dir.name}: finished earlier, reusing its results")
        return {"eval": json.loads(eval_info.read_text()), "metrics": read_metrics(run_dir / "train")}
    weight = VARIANTS[variant]
    policy = dataclasses.replace(cfg.policy, motion_weight=cfg.policy.motion_weight if weight is None else weight)
    train = dataclasses.replace(cfg.train, seed=seed, output_dir=str(run_dir / "train"),
                                resume=(run_dir / "train" / "checkpoints").is_dir())
    print(f"\n=== {run_dir.name}: train (motion_weight={policy.motion_weight}) ===")
    t = time.perf_counter()
    trained = train_cli.run(train_cli.Config(dataset_root=cfg.dataset_root, repo_id=cfg.repo_id, policy=policy,
                                             train=train))
    train_s = time.perf_counter() - t
    print(f"\n=== {run_dir.name}: evaluate ===")
    image_keys = json.loads((Path(trained["pretrained_dir"]) / "config.json").read_text())["image_keys"]
    cameras = ",".join(k.removeprefix("observation.images.") for k in image_keys)
    info = eval_cli.run(eval_cli.Config(policy=trained["pretrained_dir"], episodes=cfg.eval_episodes,
                                        workers=cfg.eval_workers, out=str(run_dir / "eval"), image_size=cfg.image_size,
                                        cameras=cameras, videos_per_task=0, overwrite=True))
    info["train_seconds"] = train_s
    return {"eval": info, "metrics": read_metrics(run_dir / "train")}


def summarize(results: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{variant: {task or "overall": {"mean", "std", "values"}}}`` of success % over seeds (std: population)."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for variant, by_seed in results.items():
        infos = [r["eval"] for r in by_seed.values()]
        tasks = list(infos[0]["per_task"])
        rows = {task: [i["per_task"][task]["pc_success"] for i in infos] for task in tasks}
        rows["overall"] = [i["overall"]["pc_success"] for i in infos]
        table[variant] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v} for k, v in rows.items()}
    return table


def markdown_table(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    variants = list(table)
    keys = list(next(iter(table.values())))
    lines = ["| task | " + " | ".join(f"{v} (mean ± std %)" for v in variants) + " |", "|---|" + "---:|" * len(variants)]
    for key in keys:
        cells = [f"{table[v][key]['mean']:.1f} ± {table[v][key]['std']:.1f}" for v in variants]
        name = f"**{key}**" if key == "overall" else key
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.reports.policy_report import plot_loss_curves

    if cfg.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {cfg.seeds}")
    if not (Path(cfg.dataset_root) / "meta" / "info.json").is_file():
        raise UserError(f"no LeRobotDataset at {cfg.dataset_root}; record one first (make demo, or motionvla record-demos)")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    print(format_config(cfg))
    save_config(cfg, out)
    start = time.perf_counter()
    results: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in VARIANTS}
    for seed in range(cfg.seeds):
        for variant in VARIANTS:
            results[variant][seed] = _run_one(cfg, variant, seed)
    table = summarize(results)
    curves = {f"{v} seed {s}": r["metrics"] for v, by_seed in results.items() for s, r in by_seed.items()}
    plot_loss_curves(curves, out / "loss_curves.png", keys=("action_loss",))
    machine = f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPU cores, {platform.python_version()}"
    text = "\n".join([
        f"# Ablation: action-only vs dual-head ({cfg.seeds} seeds)", "",
        f"Dataset {cfg.dataset_root}; {cfg.train.steps} steps x batch {cfg.train.batch_size} each; "
        f"{cfg.eval_episodes} eval episodes per task per run (env seeds 1000+). Machine: {machine}.", "",
        markdown_table(table), "",
        f"Total wall time {time.perf_counter() - start:.0f} s.",
    ])
    atomic_write_text(out / "results.md", text + "\n")
    atomic_write_json(out / "results.json", {"table": table, "config": cfg.train.__dict__ | {"seeds": cfg.seeds},
                                              "runs": {v: {s: r["eval"]["overall"] for s, r in b.items()} for v, b in results.items()}})
    print("\n" + text)
    return {"table": table, "results_md": str(out / "results.md")}
