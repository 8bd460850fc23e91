"""Roll a policy out in simulated envs: one episode, and many across spawned worker processes.

Work is cut into single episodes, each fixed by ``(task, episode_index)`` and its recorded seed, so a
result never depends on which worker ran it or in what order. A worker keeps one env per task and one
policy for its whole life. An episode that raises is recorded as failed with its error; episodes lost
with a dead worker process are recorded the same way, so every requested episode is accounted for.

The env side uses only ``sim_envs.make(name, image_size=, cameras=)`` and the gymnasium API
(``reset(seed=)``, ``step``, ``info["is_success"]``), plus the env's own step limit: another family
(LIBERO, RoboTwin) slots in by registering its tasks with ``sim_envs.register``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from motionvla.evaluation.policies import EvalPolicy, PolicySpec, instruction_of, make_policy, policy_seed


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run: ``task`` (``family/name``), its index within the task, and the env seed."""

    task: str
    episode_index: int
    seed: int
    video_path: str | None = None  # write a GIF of this episode here


@dataclass(frozen=True)
class EnvSpec:
    """How to build envs (keyword arguments every family's factory takes)."""

    image_size: int = 128
    cameras: tuple[str, ...] = ("front",)
    max_steps: int | None = None  # None: the env's own limit

    def make(self, task: str) -> gym.Env:
        import sim_envs

        kwargs: dict[str, Any] = {"image_size": self.image_size, "cameras": self.cameras}
        if self.max_steps:
            kwargs["max_episode_steps"] = self.max_steps
        return sim_envs.make(task, **kwargs)


@dataclass
class EpisodeResult:
    task: str
    episode_index: int
    seed: int
    success: bool
    length: int
    sum_reward: float
    max_reward: float
    seconds: float
    instruction: str = ""
    error: str | None = None
    video_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("task", "instruction")}


def env_max_steps(env: gym.Env) -> int | None:
    """The env's episode step limit: its ``max_episode_steps`` or its gymnasium spec's."""
    steps = getattr(env.unwrapped, "max_episode_steps", None)
    if steps is None and env.spec is not None:
        steps = env.spec.max_episode_steps
    return int(steps) if steps else None


def run_episode(env: gym.Env, policy: EvalPolicy, spec: EpisodeSpec, fps: float | None = None) -> EpisodeResult:
    """Roll ``policy`` for one seeded episode; an exception is caught and recorded, never raised."""
    start = time.perf_counter()
    length, rewards, success, error = 0, [], False, None
    instruction = ""
    frames: list[np.ndarray] = []
    try:
        obs, info = env.reset(seed=spec.seed)
        instruction = instruction_of(env)
        policy.reset(seed=policy_seed(spec.task, spec.seed))
        limit = env_max_steps(env)
        while True:
            if spec.video_path is not None:
                frames.append(_first_camera(obs))
            action = policy.act(obs, env)
            obs, reward, terminated, truncated, info = env.step(action)
            length += 1
            rewards.append(float(reward))
            success = success or bool(info.get("is_success", False))
            if terminated or truncated or (limit is not None and length >= limit):
                break
        if spec.video_path is not None:
            frames.append(_first_camera(obs))
    except Exception as exc:  # noqa: BLE001 -- a crashed episode is a failed episode, with its error
        success = False
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
        error = f"{type(exc).__name__}: {exc}{where}"
    video = None
    if spec.video_path is not None and frames:
        try:
            from motionvla.reports.media import write_gif

            status = "success" if success else ("error" if error else "failure")
            text = f"{instruction} [{status}, seed {spec.seed}]"
            scale = max(2, -(-256 // frames[0].shape[1]))  # at least 256 px wide so the caption fits
            fps = fps or float(env.metadata.get("render_fps", 10.0))
            video = str(write_gif(spec.video_path, frames, text, fps, scale=scale))
        except Exception as exc:  # noqa: BLE001 -- a video problem must not lose the episode's result
            error = error or f"video: {type(exc).__name__}: {exc}"
    return EpisodeResult(
        task=spec.task,
        episode_index=spec.episode_index,
        seed=spec.seed,
        success=success,
        length=length,
        sum_reward=float(sum(rewards)),
        max_reward=float(max(rewards)) if rewards else 0.0,
        seconds=round(time.perf_counter() - start, 4),
        instruction=instruction,
        error=error,
        video_path=video,
    )


def _first_camera(obs: dict[str, Any]) -> np.ndarray:
    pixels = obs["pixels"]
    return np.asarray(next(iter(pixels.values())) if isinstance(pixels, dict) else pixels, dtype=np.uint8).copy()


# ------------------------------------------------------------------------------------ workers
@dataclass
class _WorkerState:
    policy_spec: PolicySpec | None = None
    env_spec: EnvSpec | None = None
    policy: EvalPolicy | None = None
    envs: dict[str, gym.Env] = field(default_factory=dict)


_STATE = _WorkerState()


def _init_worker(policy_spec: PolicySpec, env_spec: EnvSpec) -> None:
    _STATE.policy_spec, _STATE.env_spec = policy_spec, env_spec
    _STATE.policy, _STATE.envs = None, {}
    if policy_spec.kind == "checkpoint":
        import torch

        torch.set_num_threads(1)  # parallelism comes from the worker processes


def _worker_episode(spec: EpisodeSpec) -> EpisodeResult:
    assert _STATE.policy_spec is not None and _STATE.env_spec is not None
    try:
        if _STATE.policy is None:
            _STATE.policy = make_policy(_STATE.policy_spec)
        if spec.task not in _STATE.envs:
            _STATE.envs[spec.task] = _STATE.env_spec.make(spec.task)
    except Exception as exc:  # noqa: BLE001 -- recorded like any other episode error
        return _crashed(spec, f"setup: {type(exc).__name__}: {exc}")
    return run_episode(_STATE.envs[spec.task], _STATE.policy, spec)


def _crashed(spec: EpisodeSpec, error: str) -> EpisodeResult:
    return EpisodeResult(spec.task, spec.episode_index, spec.seed, False, 0, 0.0, 0.0, 0.0, error=error)


def _close_worker_envs() -> None:
    for env in _STATE.envs.values():
        env.close()
    _STATE.envs.clear()
    _STATE.policy = None


def run_episodes(
    episodes: list[EpisodeSpec],
    policy_spec: PolicySpec,
    env_spec: EnvSpec,
    workers: int = 2,
    on_result: Callable[[EpisodeResult], None] | None = None,
) -> list[EpisodeResult]:
    """Run every episode (in ``workers`` spawned processes, or here when ``workers <= 1``).

    Returns one result per requested episode, in the order requested.
    """
    results: dict[tuple[str, int], EpisodeResult] = {}

    def record(result: EpisodeResult) -> None:
        results[(result.task, result.episode_index)] = result
        if on_result is not None:
            on_result(result)

    if workers <= 1 or len(episodes) <= 1:
        _init_worker(policy_spec, env_spec)
        try:
            for spec in episodes:
                record(_worker_episode(spec))
        finally:
            _close_worker_envs()
    else:
        # spawn, not fork: every worker makes its own GL context and torch runtime
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=min(workers, len(episodes)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(policy_spec, env_spec),
        ) as pool:
            futures = {pool.submit(_worker_episode, spec): spec for spec in episodes}
            for future in concurrent.futures.as_completed(futures):
                spec = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 -- e.g. BrokenProcessPool: a worker died
                    result = _crashed(spec, f"worker: {type(exc).__name__}: {exc}")
                record(result)
    return [results[(spec.task, spec.episode_index)] for spec in episodes]
