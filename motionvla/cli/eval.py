"""`motionvla eval`: roll a policy out in simulated tasks and report success rates.

Writes ``<out>/eval_info.json`` (per task and overall ``pc_success``, per-episode ``success``,
``length``, ``seed``, the config and timing), ``<out>/config.json`` and one GIF per task for the first
``videos_per_task`` episodes under ``<out>/videos/``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motionvla.configs import format_config, save_config
from motionvla.configs.parsing import config_to_dict
from motionvla.errors import UserError

EVAL_INFO = "eval_info.json"
VIDEOS_DIR = "videos"
DEFAULT_IMAGE_SIZE = 128


@dataclass
class Config:
    """Evaluate `policy` (expert, random or a checkpoint directory) on the tasks of `env`."""

    # "expert" (scripted, tabletop only), "random" (uniform actions) or a checkpoint directory.
    policy: str = "expert"
    # Env family registered with sim_envs (tabletop is built in).
    env: str = "tabletop"
    # Comma-separated task names, or "all".
    tasks: str = "all"
    # Episodes per task.
    episodes: int = 10
    # Episode i of every task uses env seed `seed + i` (demos are recorded from seed 0 up).
    seed: int = 1000
    # Output folder; empty: outputs/eval/<time>_<policy>_<env>.
    out: str = ""
    # Worker processes running episodes in parallel (1 = in this process).
    workers: int = 2
    # GIFs written per task (its first episodes).
    videos_per_task: int = 1
    # Camera image side in pixels; 0: a checkpoint's own image_size, else 128.
    image_size: int = 0
    # Comma-separated camera names.
    cameras: str = "front"
    # Episode step limit; 0 keeps the env's own.
    max_steps: int = 0
    # Torch device for a checkpoint policy: cpu, cuda, auto.
    device: str = "cpu"
    # Checkpoints: actions executed per predicted chunk before replanning (0 = the checkpoint's own).
    n_action_steps: int = 0
    # Replace the results of an earlier evaluation in `out`.
    overwrite: bool = False


def _validate(cfg: Config) -> None:
    if cfg.episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {cfg.episodes}")
    if cfg.workers < 1:
        raise UserError(f"--workers must be >= 1, got {cfg.workers}")
    if cfg.videos_per_task < 0:
        raise UserError(f"--videos_per_task must be >= 0, got {cfg.videos_per_task}")
    if cfg.image_size and cfg.image_size < 8:
        raise UserError(f"--image_size must be >= 8 (or 0 for the default), got {cfg.image_size}")
    if cfg.max_steps < 0:
        raise UserError(f"--max_steps must be >= 0 (0 = the env's limit), got {cfg.max_steps}")
    if cfg.policy == "expert" and cfg.env != "tabletop":
        raise UserError(f"--policy=expert is the tabletop's scripted expert; it cannot run on --env={cfg.env}")


def _prepare_out(cfg: Config, policy_tag: str) -> Path:
    out = Path(cfg.out or f"outputs/eval/{time.strftime('%Y%m%d-%H%M%S')}_{policy_tag}_{cfg.env}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out={out} is a file, not a folder")
    if (out / EVAL_INFO).exists():
        if not cfg.overwrite:
            raise UserError(f"{out} already holds an evaluation; pass --overwrite to replace it or choose another --out")
        (out / EVAL_INFO).unlink()
        shutil.rmtree(out / VIDEOS_DIR, ignore_errors=True)
    try:
        (out / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write to output folder {out}: {exc.strerror}") from exc
    return out


def _check_checkpoint(cfg: Config, cameras: tuple[str, ...], task: str) -> int | None:
    """Load the checkpoint here once so a bad path or a size mismatch fails before any worker starts.

    Returns the image size the checkpoint declares (None if it declares none).
    """
    from motionvla.evaluation.policies import CheckpointPolicy, check_policy_matches_env, policy_io
    from motionvla.evaluation.rollout import EnvSpec

    policy = CheckpointPolicy(cfg.policy, "cpu")
    image_size = cfg.image_size or policy_io(policy.policy)["image_size"] or DEFAULT_IMAGE_SIZE
    env = EnvSpec(image_size=image_size, cameras=cameras).make(task)
    try:
        check_policy_matches_env(policy.policy, env, cfg.policy)
    finally:
        env.close()
    return policy_io(policy.policy)["image_size"]


def run(cfg: Config) -> dict[str, Any]:
    from tqdm import tqdm

    from motionvla.datasets.sim_recording import resolve_tasks
    from motionvla.evaluation.policies import PolicySpec
    from motionvla.evaluation.report import build_eval_info, format_table
    from motionvla.evaluation.rollout import EnvSpec, EpisodeSpec, run_episodes
    from motionvla.utils.atomic import atomic_write_json

    _validate(cfg)
    tasks = resolve_tasks(cfg.env, cfg.tasks)
    cameras = tuple(c.strip() for c in cfg.cameras.split(",") if c.strip())
    policy_spec = PolicySpec(cfg.policy, cfg.device, cfg.n_action_steps)
    declared = _check_checkpoint(cfg, cameras, tasks[0]) if policy_spec.kind == "checkpoint" else None
    if not cfg.image_size:
        cfg.image_size = declared or DEFAULT_IMAGE_SIZE
    env_spec = EnvSpec(image_size=cfg.image_size, cameras=cameras, max_steps=cfg.max_steps or None)
    out = _prepare_out(cfg, policy_spec.tag)
    print(format_config(cfg))

    episodes = [
        EpisodeSpec(
            task=task,
            episode_index=i,
            seed=cfg.seed + i,
            video_path=str(out / VIDEOS_DIR / f"{task.replace('/', '-')}_ep{i:03d}.gif") if i < cfg.videos_per_task else None,
        )
        for task in tasks
        for i in range(cfg.episodes)
    ]
    start = time.perf_counter()
    with tqdm(total=len(episodes), desc=f"eval {policy_spec.tag}", unit="ep") as bar:
        successes = [0]

        def on_result(result) -> None:
            successes[0] += result.success
            bar.update(1)
            bar.set_postfix(success=f"{100.0 * successes[0] / bar.n:.0f}%")

        results = run_episodes(episodes, policy_spec, env_spec, workers=cfg.workers, on_result=on_result)
    elapsed = time.perf_counter() - start

    config = config_to_dict(cfg)
    config["out"] = str(out)
    info = build_eval_info(
        results,
        tasks,
        config=config,
        eval_s=elapsed,
        extra={"policy": {"name": policy_spec.tag, "kind": policy_spec.kind, "source": cfg.policy}},
    )
    atomic_write_json(out / EVAL_INFO, info)
    save_config(cfg, out)
    print()
    print(format_table(info))
    errors = [(task, e) for task, stats in info["per_task"].items() for e in stats["episodes"] if e["error"]]
    if errors:
        task, episode = errors[0]
        print(f"\n{len(errors)} episode(s) crashed and count as failures; first: {task} episode {episode['episode_ix']}: {episode['error']}")
    print(f"\n{len(results)} episodes in {elapsed:.1f} s; results in {out / EVAL_INFO}")
    return info
