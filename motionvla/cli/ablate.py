"""`motionvla ablate`: does the motion head help? A resumable grid of arms x regimes x seeds, paired by seed.

Arms: ``action-only`` (``motion_weight=0``), ``dual-head`` (the motion head from scratch), ``dual-head-forecaster``
(the head started from ``--forecaster=RUN``). Regimes: demos per task (``30``: the first 30 episodes of each task;
``all``). Training seed ``s`` gives every arm the same initialisation of the shared parts (built first, from the
same seed) and the same data order; every run is evaluated on the same env seeds (1000+), so arm and baseline
pair by (seed, task, env seed). Per regime, ``results.md`` has success per arm (mean ± std over seeds, per task)
and the paired difference to action-only with a 95 % bootstrap interval (:mod:`motionvla.evaluation.paired`);
``results.json`` the numbers, ``ablation.png`` the differences with their intervals.

Resumable: each finished run writes ``<out>/<regime>/<arm>_seed<s>/result.json`` at once and is skipped when the
grid runs again; a killed run resumes from its last checkpoint. ``--workers=2`` runs two single-threaded runs
side by side. An ``--output_dir`` folder holding a grid with other settings is refused (start a new folder).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from motionvla.cli.train import FLOW_ALIASES
from motionvla.configs import format_config
from motionvla.configs.parsing import config_to_dict
from motionvla.configs.parsing import given_keys
from motionvla.errors import UserError
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.train.config import LoopRunConfig, loop_group_spellings
from motionvla.train.prepare import POLICY_OPTIMIZER_FIELDS, DatasetOptions, tiny_recipe_policy, tiny_recipe_train
from motionvla.utils.atomic import atomic_write_json

# The old --flow.* names, as `motionvla train`; the optimizer and schedule are the policy's presets now; the dataset
# and the output folder under lerobot's names (--dataset.root, --dataset.repo_id, --output_dir).
ALIASES = {**FLOW_ALIASES, **{f"train.{ours}": f"policy.{theirs}" for theirs, ours in POLICY_OPTIMIZER_FIELDS.items()},
           "dataset_root": "dataset.root", "repo_id": "dataset.repo_id", "out": "output_dir"}

# lerobot-train's loop names for the --train.* group; not --seed (each run's seed comes from --seeds) nor
# --output_dir (the grid's folder) nor --resume (a re-run always resumes).
SPELLINGS = loop_group_spellings(exclude=("seed", "output_dir", "resume"))

ARMS = ("action-only", "dual-head", "dual-head-forecaster")
BASELINE_ARM = "action-only"
GRID_FILE = "grid.json"


def _train() -> LoopRunConfig:
    return tiny_recipe_train(log_every=50, checkpoint_every=500, progress=False)


@dataclass
class Config:
    """Train and evaluate the arms of the motion ablation on equal budgets, paired by seed, over regimes."""

    # A LeRobotDataset v3 (default: the quickstart's demos; run `make demo` first). Which episodes each run trains
    # on is the regime's (--regimes), so --dataset.episodes is refused.
    dataset: DatasetOptions = field(default_factory=lambda: DatasetOptions(root="outputs/quickstart/demos"))
    # Comma-separated arms: action-only, dual-head, dual-head-forecaster.
    arms: str = "action-only,dual-head"
    # Comma-separated regimes: demos per task (the first N episodes of each task), or "all".
    regimes: str = "all"
    seeds: int = 3
    # The forecaster run the dual-head-forecaster arm starts its motion head from.
    forecaster: str = ""
    output_dir: str = "outputs/ablation"
    # Runs side by side (each single-threaded); 1 = one after another in this process.
    workers: int = 1
    policy: MotionVLAConfig = field(default_factory=tiny_recipe_policy)
    train: LoopRunConfig = field(default_factory=_train)
    eval_episodes: int = 20
    eval_workers: int = 1
    # Camera side used for evaluation (must match the demos).
    image_size: int = 64
    # The linear probe (motionvla.evaluation.backbone_probe): an .npz of expert frames, recorded on first use from
    # env seeds probe_seed+ (never trained on, never evaluated); "" = no probe. Each run then reports the R² of
    # its frozen backbone features -> the manipulated object's displacement over the next 5 steps.
    probe_frames: str = ""
    probe_seed: int = 30000
    probe_episodes_per_task: int = 5


def parse_grid(cfg: Config) -> tuple[list[str], list[str]]:
    """The arms and regimes asked for, or a one-line error listing the accepted ones."""
    arms = [a.strip() for a in cfg.arms.split(",") if a.strip()]
    bad = [a for a in arms if a not in ARMS]
    if bad or not arms:
        raise UserError(f"unknown arm(s) {', '.join(bad) or '(none given)'}; accepted: {', '.join(ARMS)}")
    regimes = [r.strip() for r in cfg.regimes.split(",") if r.strip()]
    bad = [r for r in regimes if r != "all" and not (r.isdigit() and int(r) > 0)]
    if bad or not regimes:
        raise UserError(f"unknown regime(s) {', '.join(bad) or '(none given)'}; accepted: 'all' or a number of demos "
                        "per task, e.g. --regimes=30,10")
    if "dual-head-forecaster" in arms and not cfg.forecaster:
        raise UserError("the dual-head-forecaster arm needs --forecaster=RUN (a `motionvla forecast train` run)")
    if cfg.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {cfg.seeds}")
    if cfg.dataset.episodes.strip():
        raise UserError("--dataset.episodes: each run trains on its regime's episodes; choose them with --regimes "
                        "(demos per task)")
    if "train.seed" in (given_keys(cfg) or ()):
        raise UserError("--train.seed: each run of the grid gets its own seed (0 .. --seeds minus 1, paired across "
                        "arms); choose how many with --seeds")
    return arms, regimes


def regime_episodes(dataset_root: str, repo_id: str, regime: str) -> str:
    """The ``--episodes`` spec of a regime: the first N episodes of each task ("" = all)."""
    if regime == "all":
        return ""
    from motionvla.datasets.reading import episode_records
    from motionvla.train.policy_data import open_dataset

    per_task: dict[str, list[int]] = {}
    for record in episode_records(open_dataset(dataset_root, repo_id)):
        per_task.setdefault(record["task"], []).append(record["episode_index"])
    short = {task: len(eps) for task, eps in per_task.items() if len(eps) < int(regime)}
    if short:
        raise UserError(f"regime {regime} needs {regime} demos per task; {dataset_root} has fewer for {short}")
    return ",".join(str(i) for eps in per_task.values() for i in sorted(eps)[: int(regime)])


def grid_settings(cfg: Config) -> dict[str, Any]:
    """What every run of a grid shares; a folder is reused only for the same settings (arms, regimes and seeds
    may grow)."""
    settings = config_to_dict(cfg)
    for key in ("arms", "regimes", "seeds", "out", "workers", "eval_workers"):
        settings.pop(key, None)
    settings["train"].pop("output_dir", None)
    settings["train"].pop("seed", None)
    return settings


def check_folder(out: Path, settings: dict[str, Any]) -> None:
    """Refuse an output folder whose grid had other settings, naming them."""
    path = out / GRID_FILE
    if not path.is_file():
        return
    old = json.loads(path.read_text())

    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        items: dict[str, Any] = {}
        for k, v in d.items():
            items.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return items

    a, b = flat(old), flat(json.loads(json.dumps(settings)))
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if differ:
        raise UserError(f"{out} holds a grid run with other settings ({', '.join(differ[:6])}"
                        f"{' ...' if len(differ) > 6 else ''}); give a new --output_dir folder")


def run_one(cfg: Config, regime: str, episodes: str, arm: str, seed: int, threads: int | None) -> dict[str, Any]:
    """Train + evaluate one run (resuming its training if a checkpoint exists); writes and returns its result."""
    import torch

    from motionvla.cli import eval as eval_cli
    from motionvla.cli import train as train_cli

    if threads:
        torch.set_num_threads(threads)
    run_dir = Path(cfg.output_dir) / regime / f"{arm}_seed{seed}"
    policy = cfg.policy
    if arm == BASELINE_ARM:
        policy = dataclasses.replace(policy, motion_weight=0.0)
    elif arm == "dual-head-forecaster":
        policy = dataclasses.replace(policy, motion_head_from=cfg.forecaster)
    train = dataclasses.replace(cfg.train, seed=seed, output_dir=str(run_dir / "train"),
                                resume=(run_dir / "train" / "checkpoints").is_dir())
    start = time.perf_counter()
    trained = train_cli.run(train_cli.Config(
        dataset=DatasetOptions(root=cfg.dataset.root, repo_id=cfg.dataset.repo_id, episodes=episodes), policy=policy,
        **train_cli.Config.split_loop(train)))
    train_s = time.perf_counter() - start
    image_keys = json.loads((Path(trained["pretrained_dir"]) / "config.json").read_text())["image_keys"]
    cameras = ",".join(k.removeprefix("observation.images.") for k in image_keys)
    info = eval_cli.run(eval_cli.Config(policy=trained["pretrained_dir"], episodes=cfg.eval_episodes,
                                        workers=cfg.eval_workers, out=str(run_dir / "eval"),
                                        image_size=cfg.image_size, cameras=cameras, videos_per_task=0,
                                        overwrite=True))
    result = {"regime": regime, "arm": arm, "seed": seed, "train_seconds": round(train_s, 1),
              "seconds": round(time.perf_counter() - start, 1), "eval": info}
    if cfg.probe_frames:
        result["probe_r2"] = _probe(trained["pretrained_dir"], cfg.probe_frames)
    atomic_write_json(run_dir / "result.json", result)
    return result


def _probe(checkpoint: str, frames_file: str) -> float:
    from motionvla.evaluation.backbone_probe import ProbeFrames, backbone_features, probe_r2
    from motionvla.policy import MotionVLAPolicy, load_processors

    frames = ProbeFrames.load(frames_file)
    preprocess, _ = load_processors(checkpoint)
    features = backbone_features(MotionVLAPolicy.from_pretrained(checkpoint), preprocess, frames)
    return round(probe_r2(features, frames.displacement, frames.episode, alpha=10.0), 4)


def _record_probe_frames(cfg: Config) -> None:
    if not cfg.probe_frames or Path(cfg.probe_frames).is_file():
        return
    from motionvla.evaluation.backbone_probe import record_probe_frames
    from sim_envs.tabletop import TASKS

    print(f"recording probe frames: {cfg.probe_episodes_per_task} expert episodes per task from env seed "
          f"{cfg.probe_seed} -> {cfg.probe_frames}", flush=True)
    info = json.loads((Path(cfg.dataset.root) / "meta" / "info.json").read_text())
    cameras = tuple(k.removeprefix("observation.images.") for k in info["features"] if k.startswith("observation.images."))
    frames = record_probe_frames([f"tabletop/{t}" for t in TASKS], cfg.probe_episodes_per_task, cfg.probe_seed,
                                 image_size=cfg.image_size, cameras=cameras)
    Path(cfg.probe_frames).parent.mkdir(parents=True, exist_ok=True)
    frames.save(cfg.probe_frames)


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.evaluation.ablation_report import write_ablation_report

    arms, regimes = parse_grid(cfg)
    if not (Path(cfg.dataset.root) / "meta" / "info.json").is_file():
        raise UserError(f"no LeRobotDataset at {cfg.dataset.root}; record one first (make demo, or motionvla record-demos)")
    if "dual-head-forecaster" in arms:
        from motionvla.policy.motion_head_init import adopt_forecaster_shapes

        adopt_forecaster_shapes(cfg.policy, cfg.forecaster)  # a forecaster that cannot fit: refused before any run
    out = Path(cfg.output_dir)
    settings = grid_settings(cfg)
    check_folder(out, settings)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / GRID_FILE, settings)
    print(format_config(cfg))
    _record_probe_frames(cfg)
    spec = {regime: regime_episodes(cfg.dataset.root, cfg.dataset.repo_id, regime) for regime in regimes}
    grid = [(regime, arm, seed) for regime in regimes for seed in range(cfg.seeds) for arm in arms]
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    todo = []
    for key in grid:
        done = out / key[0] / f"{key[1]}_seed{key[2]}" / "result.json"
        if done.is_file():
            results[key] = json.loads(done.read_text())
            print(f"{key[0]}/{key[1]}_seed{key[2]}: finished earlier, reusing its result")
        else:
            todo.append(key)
    started, finished = time.perf_counter(), 0

    def progress(key: tuple[str, str, int], result: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        per_run = (time.perf_counter() - started) / finished
        eta = per_run * (len(todo) - finished) / max(1, cfg.workers)
        print(f"[{finished}/{len(todo)}] {key[0]}/{key[1]}_seed{key[2]}: success "
              f"{result['eval']['overall']['pc_success']:.1f} % (train {result['train_seconds']:.0f} s); "
              f"ETA {eta / 60:.0f} min", flush=True)

    if cfg.workers <= 1:
        for key in todo:
            results[key] = run_one(cfg, key[0], spec[key[0]], key[1], key[2], None)
            progress(key, results[key])
    else:
        with ProcessPoolExecutor(cfg.workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_one, cfg, key[0], spec[key[0]], key[1], key[2], 1): key for key in todo}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress(futures[future], results[futures[future]])
    summary = write_ablation_report(out, results, arms, regimes, cfg.seeds,
                                    f"{cfg.train.steps} steps x batch {cfg.train.batch_size}; {cfg.eval_episodes} "
                                    f"eval episodes per task per run (env seeds 1000+); dataset {cfg.dataset.root}; "
                                    f"{os.cpu_count()} CPU cores")
    print("\n" + summary["text"])
    return summary
