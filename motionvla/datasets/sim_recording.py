"""Record scripted-expert episodes from a simulated env into a LeRobotDataset v3.

Crash safety and parallelism come from the same shape: the work is cut into *parts* (a few episodes
of one task each). Each part is recorded by a worker process into its own small LeRobotDataset under
``<out>/.recording/parts/`` and marked done by an atomically written JSON file. When every part is
done they are merged with lerobot's ``aggregate_datasets`` into ``<out>``. An interrupted run loses at
most the parts in flight; ``resume=True`` redoes only those.

Every attempted episode is accounted for: a failed expert episode is retried with a new seed and
recorded in ``meta/motionvla_recording.json`` with its seed and length.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from motionvla.errors import UserError
from motionvla.utils.atomic import atomic_write_json

RECORDING_DIR = ".recording"
SUMMARY_FILE = "meta/motionvla_recording.json"
# Seeds of different tasks and parts never collide: part p of task t starts at
# seed + t * TASK_SEED_STRIDE + p * PART_SEED_STRIDE and counts up one per attempt.
TASK_SEED_STRIDE = 1_000_000
PART_SEED_STRIDE = 10_000


@dataclass
class RecordDemosConfig:
    """Record scripted-expert demonstrations into a LeRobotDataset v3 at `out`."""

    env: str = "tabletop"
    # Comma-separated task names, or "all".
    tasks: str = "all"
    episodes_per_task: int = 10
    out: str = "outputs/demos/tabletop"
    repo_id: str = "local/motionvla_tabletop"
    image_size: int = 128
    # Comma-separated camera names.
    cameras: str = "front"
    seed: int = 0
    # Worker processes recording parts in parallel (1 = record in this process).
    workers: int = 2
    episodes_per_part: int = 10
    # A part gives up after episodes_per_part * max_attempts_factor attempts (expert failures).
    max_attempts_factor: int = 4
    # Store camera frames as MP4 (needs FFmpeg libraries to decode) instead of PNG images.
    use_videos: bool = False
    overwrite: bool = False
    # Finish an interrupted recording in `out` instead of refusing.
    resume: bool = False


@dataclass(frozen=True)
class PartSpec:
    """One unit of work: `num_episodes` successful expert episodes of `task`."""

    name: str
    task: str
    task_index: int
    part_index: int
    num_episodes: int
    first_seed: int
    max_attempts: int
    root: str
    repo_id: str
    image_size: int
    cameras: tuple[str, ...]
    use_videos: bool


def resolve_tasks(env_family: str, tasks: str) -> list[str]:
    """Expand ``"all"`` or a comma-separated list (bare or ``family/task`` names) into full task names."""
    import sim_envs

    families = sorted({name.split("/")[0] for name in sim_envs.list_tasks()})
    if env_family not in families:
        raise UserError(f"unknown env {env_family!r}; accepted: {', '.join(families)}")
    known = [name for name in sim_envs.list_tasks() if name.startswith(env_family + "/")]
    if tasks.strip() == "all":
        return known
    names = [t.strip() if "/" in t else f"{env_family}/{t.strip()}" for t in tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in known]
    if unknown or not names:
        accepted = ", ".join(name.split("/", 1)[1] for name in known)
        raise UserError(f"unknown task(s) {', '.join(unknown) or '(none given)'}; accepted: all, {accepted}")
    return names


def plan_parts(cfg: RecordDemosConfig, tasks: list[str], parts_root: Path) -> list[PartSpec]:
    """Cut the job into parts with fixed seeds, so a resumed run records exactly what a fresh one would."""
    if cfg.episodes_per_task < 1 or cfg.episodes_per_part < 1:
        raise UserError("episodes_per_task and episodes_per_part must be >= 1")
    cameras = tuple(c.strip() for c in cfg.cameras.split(",") if c.strip())
    parts = []
    for task_index, task in enumerate(tasks):
        remaining, part_index = cfg.episodes_per_task, 0
        while remaining > 0:
            count = min(cfg.episodes_per_part, remaining)
            name = f"{task.replace('/', '-')}-{part_index:04d}"
            parts.append(
                PartSpec(
                    name=name,
                    task=task,
                    task_index=task_index,
                    part_index=part_index,
                    num_episodes=count,
                    first_seed=cfg.seed + task_index * TASK_SEED_STRIDE + part_index * PART_SEED_STRIDE,
                    max_attempts=count * cfg.max_attempts_factor,
                    root=str(parts_root / name),
                    repo_id=f"{cfg.repo_id}-{name}",
                    image_size=cfg.image_size,
                    cameras=cameras,
                    use_videos=cfg.use_videos,
                )
            )
            remaining -= count
            part_index += 1
    return parts


def _done_marker(part: PartSpec) -> Path:
    return Path(part.root + ".done.json")


def record_part(part: PartSpec) -> dict[str, Any]:
    """Record one part in this process; returns (and writes) its account of every attempt."""
    import torch

    import sim_envs
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from motionvla.datasets.features import dataset_features, frame_from_step
    from sim_envs.tabletop import ScriptedExpert

    torch.set_num_threads(1)  # parallelism comes from the worker processes
    _quiet_libraries()
    shutil.rmtree(part.root, ignore_errors=True)  # a leftover from an interrupted run
    env = sim_envs.make(part.task, image_size=part.image_size, cameras=part.cameras)
    adapter = sim_envs.adapter_for(part.task)
    expert = ScriptedExpert(env)
    dataset = LeRobotDataset.create(
        repo_id=part.repo_id,
        fps=int(round(env.metadata["render_fps"])),
        features=dataset_features(adapter.features(env), part.use_videos),
        root=part.root,
        robot_type="motionvla_tabletop_gripper",
        use_videos=part.use_videos,
        video_backend="pyav",  # never probe torchcodec while writing: it needs system FFmpeg libraries
    )
    episodes, failed = [], []
    seed = part.first_seed
    while len(episodes) < part.num_episodes and len(episodes) + len(failed) < part.max_attempts:
        obs, info = env.reset(seed=seed)
        expert.reset()
        instruction = adapter.instruction(env)
        frames, success = [], False
        while True:
            action = expert.act(obs)
            frames.append(frame_from_step(adapter.observation(env, obs), action))
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                success = bool(info.get("is_success", False))
                break
        if success:
            for frame in frames:
                dataset.add_frame(frame)
            dataset.save_episode()
            episodes.append({"seed": seed, "length": len(frames)})
        else:
            failed.append({"seed": seed, "length": len(frames)})
        seed += 1
    dataset.finalize()
    env.close()
    result = {"name": part.name, "task": part.task, "instruction": instruction, "episodes": episodes, "failed": failed}
    atomic_write_json(_done_marker(part), result)
    return result


def _quiet_libraries() -> None:
    """Our own progress bar counts episodes; the per-episode bars of HF datasets would drown it."""
    import datasets.utils.logging

    datasets.disable_progress_bars()
    # lerobot's SuppressProgressBars turns the bars back on when it exits (it imports this function
    # lazily, so replacing the module attribute is enough); keep them off in recording processes.
    datasets.utils.logging.enable_progress_bar = lambda: None


def _prepare_out_dir(cfg: RecordDemosConfig) -> Path:
    out = Path(cfg.out)
    recording = out / RECORDING_DIR
    if out.exists() and any(out.iterdir()):
        if cfg.overwrite:
            shutil.rmtree(out)
        elif recording.exists() and cfg.resume:
            return out
        elif recording.exists():
            raise UserError(f"{out} holds an interrupted recording; pass --resume to finish it or --overwrite to start over")
        else:
            raise UserError(f"{out} already exists and is not empty; pass --overwrite to replace it or choose another --out")
    try:
        (out / RECORDING_DIR / "parts").mkdir(parents=True, exist_ok=True)
        probe = out / RECORDING_DIR / ".write_probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to output folder {out}: {exc.strerror}") from exc
    return out


def _run_parts(parts: list[PartSpec], workers: int, total_episodes: int, done_episodes: int) -> list[dict]:
    results = []
    with tqdm(total=total_episodes, initial=done_episodes, desc="recording demos", unit="ep") as bar:
        if workers <= 1:
            for part in parts:
                results.append(record_part(part))
                bar.update(len(results[-1]["episodes"]))
        else:
            # spawn, not fork: each worker makes its own GL context and torch runtime
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for result in pool.imap_unordered(record_part, parts):
                    results.append(result)
                    bar.update(len(result["episodes"]))
    return results


def record_demos(cfg: RecordDemosConfig) -> dict[str, Any]:
    """Record ``cfg.episodes_per_task`` successful expert episodes per task into ``cfg.out``.

    Returns the summary also written to ``<out>/meta/motionvla_recording.json``: per task the seeds and
    lengths of recorded episodes and of failed attempts, and the totals.
    """
    tasks = resolve_tasks(cfg.env, cfg.tasks)
    out = _prepare_out_dir(cfg)
    parts_root = out / RECORDING_DIR / "parts"
    parts = plan_parts(cfg, tasks, parts_root)
    # after the checks above: importing lerobot's datasets (torch, datasets, pandas) takes ~10 CPU-s, and a
    # mistyped task or a taken folder is answered at once
    from lerobot.datasets.aggregate import aggregate_datasets

    _quiet_libraries()
    finished = {p.name: json.loads(_done_marker(p).read_text()) for p in parts if _done_marker(p).exists()}
    todo = [p for p in parts if p.name not in finished]
    start = time.perf_counter()
    done_episodes = sum(len(r["episodes"]) for r in finished.values())
    for result in _run_parts(todo, cfg.workers, len(tasks) * cfg.episodes_per_task, done_episodes):
        finished[result["name"]] = result
    elapsed = time.perf_counter() - start

    usable = [p for p in parts if finished[p.name]["episodes"]]
    final_root = out / RECORDING_DIR / "final"
    shutil.rmtree(final_root, ignore_errors=True)
    if not usable:
        raise UserError("the expert solved no episode; nothing to write")
    aggregate_datasets(
        repo_ids=[p.repo_id for p in usable],
        roots=[Path(p.root) for p in usable],
        aggr_repo_id=cfg.repo_id,
        aggr_root=final_root,
    )
    for item in final_root.iterdir():
        target = out / item.name
        if target.exists():  # left by a run interrupted while moving; the new merge replaces it
            shutil.rmtree(target)
        shutil.move(str(item), str(target))
    summary = _summary(cfg, tasks, parts, finished, elapsed)
    atomic_write_json(out / SUMMARY_FILE, summary)
    shutil.rmtree(out / RECORDING_DIR)
    return summary


def _summary(cfg: RecordDemosConfig, tasks: list[str], parts: list[PartSpec], finished: dict, elapsed: float) -> dict:
    per_task: dict[str, dict[str, Any]] = {}
    for task in tasks:
        results = [finished[p.name] for p in parts if p.task == task]
        episodes = [e for r in results for e in r["episodes"]]
        failed = [e for r in results for e in r["failed"]]
        per_task[task] = {
            "instruction": results[0]["instruction"],
            "recorded": len(episodes),
            "requested": cfg.episodes_per_task,
            "failed_attempts": len(failed),
            "frames": sum(e["length"] for e in episodes),
            "episodes": episodes,
            "failed": failed,
        }
    return {
        "config": dataclasses.asdict(cfg),
        "tasks": per_task,
        "total_episodes": sum(t["recorded"] for t in per_task.values()),
        "total_frames": sum(t["frames"] for t in per_task.values()),
        "total_failed_attempts": sum(t["failed_attempts"] for t in per_task.values()),
        "recording_seconds_this_run": round(elapsed, 2),
    }
