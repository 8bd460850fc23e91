"""`motionvla eval`: roll a policy out in simulated tasks and report success rates.

Any policy: ``expert`` / ``random`` / a motionvla checkpoint / any lerobot policy checkpoint (ACT,
Diffusion, SmolVLA, π0 …), all through :mod:`motionvla.inference`. Any registered env family (tabletop
built in; LIBERO suites after ``make libero``), through its adapter and its protocol.

Writes ``<out>/eval_info.json`` (per task, per suite and overall ``pc_success``, per-episode ``success``,
``length``, ``seed``, protocol facts such as LIBERO's ``init_state_id``, timing), ``<out>/config.json``,
``<out>/episodes.jsonl`` (one line per finished episode: an interrupted run resumes from it) and GIFs
of the first ``videos_per_task`` episodes of each task with the instruction drawn.
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


@dataclass
class Config:
    """Evaluate `policy` (expert, random or a checkpoint folder) on the tasks of `env`."""

    # "expert" (the family's scripted policy), "random" (uniform actions), or a checkpoint folder
    # (motionvla or any lerobot policy; a training run folder means its last checkpoint).
    policy: str = "expert"
    # Env family: tabletop, or a LIBERO suite (libero_spatial, libero_object, libero_goal, libero_10, libero_90).
    env: str = "tabletop"
    # Comma-separated task names or ids, or "all".
    tasks: str = "all"
    # Episodes per task; 0: the family's protocol (tabletop 10, LIBERO 50).
    episodes: int = 0
    # Episode i of every task uses env seed `seed + i` (tabletop demos are recorded from seed 0 up).
    seed: int = 1000
    # How episodes are seeded: "" = the env family's protocol (tabletop: per_episode = seed + i; LIBERO: openpi =
    # env seed 7 for every trial, or openvla = 0, or per_episode).
    seed_protocol: str = ""
    # Output folder; empty: outputs/eval/<time>_<policy>_<env>.
    out: str = ""
    # Worker processes running waves of episodes in parallel (1 = in this process).
    workers: int = 2
    # Envs stepped together in a worker, with one batched policy call (1 = episodes one by one, fully seeded).
    batch: int = 1
    # GIFs written per task (its first episodes).
    videos_per_task: int = 1
    # Camera image side in pixels; 0: the family's (LIBERO: 256, its protocol) or a tabletop checkpoint's own.
    image_size: int = 0
    # Comma-separated camera names; empty: the family's default (tabletop: front, or a checkpoint's cameras).
    cameras: str = ""
    # Episode step limit; 0 keeps the env's own (LIBERO: the suite's protocol limit).
    max_steps: int = 0
    # Torch device for a checkpoint policy: cpu, cuda, auto.
    device: str = "cpu"
    # Checkpoints: actions executed per predicted chunk before replanning (0 = the checkpoint's own).
    n_action_steps: int = 0
    # Env observation key -> policy key, as JSON or a=b,c=d (e.g. observation.images.front=observation.images.image).
    rename_map: str = ""
    # Run only part i of n of the episodes ("i/n", i from 0), e.g. one part per machine; merge with --merge_from.
    shard: str = ""
    # Comma-separated output folders of shards run with the same options: their episodes count as done here.
    merge_from: str = ""
    # Start again instead of resuming an unfinished evaluation in `out` (and replace a finished one).
    overwrite: bool = False


def _validate(cfg: Config) -> None:
    for name, low in (("episodes", 0), ("workers", 1), ("batch", 1), ("videos_per_task", 0), ("max_steps", 0)):
        if getattr(cfg, name) < low:
            raise UserError(f"--{name} must be >= {low}, got {getattr(cfg, name)}")
    if cfg.image_size and cfg.image_size < 8:
        raise UserError(f"--image_size must be >= 8 (or 0 for the default), got {cfg.image_size}")


def _parse_shard(text: str) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise UserError(f"--shard={text!r}: expected i/n with 0 <= i < n, e.g. 0/4")
    return index, count


def _prepare_out(cfg: Config, policy_tag: str) -> Path:
    from motionvla.evaluation import store

    out = Path(cfg.out or f"outputs/eval/{time.strftime('%Y%m%d-%H%M%S')}_{policy_tag}_{cfg.env}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out={out} is a file, not a folder")
    if cfg.overwrite:
        (out / EVAL_INFO).unlink(missing_ok=True)
        store.clear(out)
        shutil.rmtree(out / VIDEOS_DIR, ignore_errors=True)
    elif (out / EVAL_INFO).exists():
        raise UserError(f"{out} already holds a finished evaluation; pass --overwrite to replace it or choose another --out")
    try:
        (out / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write to output folder {out}: {exc.strerror}") from exc
    return out


def _env_options(cfg: Config, adapter: Any, policy: Any | None) -> tuple[int | None, tuple[str, ...] | None]:
    """Image size and cameras for the env factory: given > a tabletop checkpoint's own > the family's."""
    from motionvla.inference import parse_rename_map
    from motionvla.keys import IMAGE_KEY_PREFIX

    cameras = tuple(c.strip() for c in cfg.cameras.split(",") if c.strip()) or None
    image_size = cfg.image_size or None
    if adapter.fixed_cameras is not None:  # the env renders these always; --cameras can only name them
        unknown = [c for c in cameras or () if c not in adapter.fixed_cameras]
        if unknown:
            raise UserError(f"--cameras={cfg.cameras}: {cfg.env} has no camera {', '.join(unknown)}; it renders "
                            f"{', '.join(adapter.fixed_cameras)} (always both)")
        return image_size or adapter.default_image_size, None
    if policy is not None and adapter.default_image_size is not None:
        # A family whose render size is free (tabletop) renders what the checkpoint was trained on.
        inverse = {v: k for k, v in parse_rename_map(cfg.rename_map).items()}
        keys = [inverse.get(k, k) for k in policy.metadata.cameras]
        if cameras is None and keys:
            cameras = tuple(k.removeprefix(IMAGE_KEY_PREFIX) for k in keys)
        if image_size is None and policy.metadata.cameras:
            image_size = next(iter(policy.metadata.cameras.values()))[0]
    return image_size or adapter.default_image_size, cameras or adapter.default_cameras


def _check_policy(cfg: Config, task: str, rename: dict[str, str]) -> tuple[dict | None, int | None, tuple[str, ...] | None]:
    """Load a checkpoint here once, so a bad path or a size mismatch fails before any worker starts.

    Returns the env's features as the checkpoint was checked against (None for built-in policies), and
    the image size and cameras the envs are built with."""
    import sim_envs
    from motionvla.evaluation.rollout import EnvSpec
    from motionvla.inference import CheckpointPolicy, check_fits, renamed_features

    adapter = sim_envs.adapter_for(task)
    policy = CheckpointPolicy(cfg.policy, "cpu", cfg.n_action_steps) if cfg.policy not in ("expert", "random") else None
    image_size, cameras = _env_options(cfg, adapter, policy)
    features = None
    if policy is not None:
        env = EnvSpec(image_size=image_size, cameras=cameras).make(task)
        try:
            features = adapter.features(env)
            check_fits(policy.metadata, renamed_features(features, rename), task)
        finally:
            env.close()
    elif cfg.policy == "expert" and not adapter.has_expert:
        raise UserError(f"--policy=expert: env family {cfg.env!r} has no scripted expert (tabletop has one)")
    return (features.to_dict() if features else None), image_size, cameras


def run(cfg: Config) -> dict[str, Any]:
    from tqdm import tqdm

    import sim_envs
    from motionvla.datasets.sim_recording import resolve_tasks
    from motionvla.evaluation.report import build_eval_info, format_table
    from motionvla.evaluation.rollout import EnvSpec, EpisodeSpec, PolicySpec, run_episodes
    from motionvla.evaluation.store import EpisodeLog
    from motionvla.inference import parse_rename_map
    from motionvla.utils.atomic import atomic_write_json

    _validate(cfg)
    tasks = resolve_tasks(cfg.env, cfg.tasks)
    rename = parse_rename_map(cfg.rename_map)
    adapter = sim_envs.adapter_for(tasks[0])
    cfg.episodes = cfg.episodes or adapter.default_episodes
    cfg.seed_protocol = cfg.seed_protocol or adapter.seed_protocols[0]
    if cfg.seed_protocol not in adapter.seed_protocols:
        raise UserError(f"--seed_protocol={cfg.seed_protocol}: unknown for {cfg.env}; accepted: "
                        f"{', '.join(adapter.seed_protocols)}")
    try:
        adapter.check_available()
        env_features, image_size, cameras = _check_policy(cfg, tasks[0], rename)
    except ImportError as exc:  # e.g. LIBERO not installed: its message says what to run
        raise UserError(str(exc)) from exc
    cfg.image_size = image_size or 0
    cfg.cameras = ",".join(cameras or ())
    policy_spec = PolicySpec(cfg.policy, cfg.device, cfg.n_action_steps, tuple(sorted(rename.items())))
    env_spec = EnvSpec(image_size=image_size, cameras=cameras, max_steps=cfg.max_steps or None)
    out = _prepare_out(cfg, policy_spec.tag)
    print(format_config(cfg))

    plan_keys = ("policy", "env", "tasks", "episodes", "seed", "seed_protocol", "videos_per_task", "image_size", "cameras", "max_steps",
                 "n_action_steps", "rename_map", "batch")
    plan = {k: getattr(cfg, k) for k in plan_keys}
    log = EpisodeLog(out, plan)
    for other in (Path(p.strip()) for p in cfg.merge_from.split(",") if p.strip()):
        print(f"merged {log.merge_from(other, plan)} episodes from {other}")
    shard_index, shard_count = _parse_shard(cfg.shard)
    episodes = [
        EpisodeSpec(
            task=task,
            episode_index=i,
            seed=adapter.episode_seed(cfg.seed_protocol, cfg.seed, i),
            video_path=str(out / VIDEOS_DIR / f"{task.replace('/', '-')}_ep{i:03d}.gif") if i < cfg.videos_per_task else None,
        )
        for task in tasks
        for i in range(cfg.episodes)
    ]
    mine = [spec for n, spec in enumerate(episodes) if n % shard_count == shard_index]
    todo = [spec for spec in mine if (spec.task, spec.episode_index) not in log.done]
    if len(todo) < len(mine):
        print(f"resuming: {len(mine) - len(todo)} of {len(mine)} episodes already in {log.path}")
    start = time.perf_counter()
    with tqdm(total=len(mine), initial=len(mine) - len(todo), desc=f"eval {policy_spec.tag}", unit="ep") as bar:
        successes = [sum(log.done[(s.task, s.episode_index)].success for s in mine if (s.task, s.episode_index) in log.done)]

        def on_result(result) -> None:
            log.append(result)
            successes[0] += result.success
            bar.update(1)
            bar.set_postfix(success=f"{100.0 * successes[0] / max(bar.n, 1):.0f}%")

        try:
            fresh = run_episodes(todo, policy_spec, env_spec, workers=cfg.workers, batch=cfg.batch, on_result=on_result)
        finally:
            log.close()
    elapsed = time.perf_counter() - start
    by_key = {**log.done, **{(r.task, r.episode_index): r for r in fresh}}
    if shard_count > 1:
        # A shard's eval_info covers its own episodes; the merged run (--merge_from) covers them all.
        episodes = [spec for spec in episodes if (spec.task, spec.episode_index) in by_key]
    results = [by_key[(spec.task, spec.episode_index)] for spec in episodes]

    config = config_to_dict(cfg)
    config["out"] = str(out)
    info = build_eval_info(
        results,
        tasks,
        config=config,
        eval_s=elapsed,
        extra={"policy": {"name": policy_spec.tag, "kind": policy_spec.kind, "source": cfg.policy},
               "resumed_episodes": len(mine) - len(todo), "shard": cfg.shard or None, "env_features": env_features,
               "seed_protocol": cfg.seed_protocol},
    )
    atomic_write_json(out / EVAL_INFO, info)
    save_config(cfg, out)
    print()
    print(format_table(info))
    errors = [(task, e) for task, stats in info["per_task"].items() for e in stats["episodes"] if e["error"]]
    if errors:
        task, episode = errors[0]
        print(f"\n{len(errors)} episode(s) crashed and count as failures; first: {task} episode {episode['episode_ix']}: {episode['error']}")
    print(f"\n{len(fresh)} episodes run in {elapsed:.1f} s ({len(fresh) / max(elapsed, 1e-9):.2f} episodes/s); "
          f"results in {out / EVAL_INFO}")
    return info
