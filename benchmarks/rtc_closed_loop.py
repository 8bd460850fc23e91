"""Real-time chunking in closed loop: tabletop success and smoothness when inference takes ``d`` control steps.

Every strategy drives the policy through the robot-side ``ActionChunkBroker`` (its own seams, cross-fade and RTC
prefix), with the inference delay simulated in control steps instead of wall time, so the figures do not depend
on this machine's speed: the reply to a request sent before control step ``t`` is merged at the first step
``>= t + d``; actions keep executing meanwhile. When the plan runs out before the reply, the robot holds still
(the env is not stepped; the tabletop is quasi-static) and those steps are counted as ``idle_steps``.

Strategies (``--strategies``):
    sync       ask when the chunk is used up and wait (openpi's broker): success is the delay-0 policy's, the cost
               is ``d`` idle steps per chunk;
    naive      ask early (``refill``), switch to the new chunk at once when it lands (``blend="none"``);
    crossfade  ask early, blend old and new over their overlap (``blend="linear"``, the broker's default);
    rtc        ask early with the plan's remaining actions as prefix: the server inpaints the new chunk onto them
               (Black, Galliker & Levine 2025), no blend.
The early strategies ask when at most ``max(0.5, (d + 1) / chunk)`` of the chunk is left, so a reply lands
before the plan is used up whenever the chunk allows it.

Per episode: success, length, idle steps, ``max |a_t - a_(t-1)|`` at each seam, and the mean squared jerk (third
difference of the executed actions). One JSON per (delay, strategy) cell in ``--out`` (a finished cell is kept:
the run resumes), then a table of success (with the paired difference RTC − cross-fade and its bootstrap
interval over (task, env seed) pairs), seam jump and jerk per cell, printed and written to ``summary.md``.

    .venv/bin/python benchmarks/rtc_closed_loop.py --policy=RUN/pretrained_model --out=outputs/rtc \
        --delays=0,2,4,8 --episodes_per_task=10 --seed=7000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from motionvla.evaluation.paired import paired_difference, verdict
from motionvla.evaluation.rollout import EnvSpec, policy_seed
from motionvla.inference import CheckpointPolicy
from motionvla.utils.atomic import atomic_write_json, atomic_write_text
from motionvla_client import ActionChunkBroker
from sim_envs.adapters import adapter_for

STRATEGIES = {"sync": "none", "naive": "none", "crossfade": "linear", "rtc": "rtc"}  # strategy -> broker blend


class DelayedBroker(ActionChunkBroker):
    """The broker with inference that takes ``delay`` control steps (see the module docstring)."""

    def __init__(self, client: Any, delay: int, **kwargs: Any) -> None:
        self.delay = delay
        super().__init__(client, **kwargs)

    def reset(self) -> None:
        super().reset()
        self.idle_steps, self._sent_before = 0, 0

    def _request(self, obs: dict[str, Any], step: int | None = None) -> None:
        super()._request(obs, step)
        self._sent_before = self._step  # the next control step to execute when the request went out

    def _integrate_if_done(self, wait: bool) -> None:
        if self._pending is None:
            return
        ready = self._sent_before + self.delay
        if self._step < ready:
            if not wait:
                return
            self.idle_steps += ready - self._step  # nothing left to execute: the robot holds while it waits
        super()._integrate_if_done(wait=True)  # the reply exists by now (or is computed in the background)


def refill_fraction(strategy: str, delay: int, chunk: int) -> float:
    return 0.0 if strategy == "sync" else min(1.0, max(0.5, (delay + 1) / chunk))


def mean_squared_jerk(actions: np.ndarray) -> float:
    """Mean over steps of ``||Δ³a||²`` (action units per step³); nan for fewer than 4 actions."""
    return float(np.mean(np.sum(np.diff(actions, n=3, axis=0) ** 2, axis=1))) if len(actions) >= 4 else math.nan


def run_episode(env: Any, adapter: Any, policy: CheckpointPolicy, task: str, index: int, seed: int, strategy: str,
                delay: int) -> dict[str, Any]:
    raw, _ = adapter.reset(env, episode_index=index, seed=seed)
    limit = adapter.max_steps(env)
    policy.reset(seed=policy_seed(task, seed))
    chunk = policy.metadata.n_action_steps
    # No wall-clock timeout: the delay is counted in control steps, and the reply always comes (a slow or paused
    # machine must not turn into a failed episode).
    broker = DelayedBroker(policy, delay, refill_fraction=refill_fraction(strategy, delay, chunk),
                           blend=STRATEGIES[strategy], wait_timeout_s=None)
    actions, success, length = [], False, 0
    try:
        while limit is None or length < limit:
            action = broker.act(adapter.observation(env, raw))
            actions.append(action)
            raw, _, terminated, truncated, info = adapter.step(env, action)
            length += 1
            success = success or adapter.success(info, terminated)
            if terminated or truncated or success:
                break
    finally:
        broker.close()
    jumps = broker.boundary_jumps
    return {"task": task, "seed": seed, "success": bool(success), "length": length, "idle_steps": broker.idle_steps,
            "seams": len(jumps), "max_seam_jump": max(jumps) if jumps else 0.0,
            "mean_seam_jump": float(np.mean(jumps)) if jumps else 0.0,
            "mean_squared_jerk": mean_squared_jerk(np.asarray(actions))}


def run_cell(args: argparse.Namespace, policy: CheckpointPolicy, delay: int, strategy: str, path: Path) -> dict:
    env_spec = EnvSpec(image_size=args.image_size, cameras=tuple(args.cameras.split(",")))
    episodes, started = [], time.perf_counter()
    for task in args.tasks.split(","):
        name = task if "/" in task else f"tabletop/{task}"
        env, adapter = env_spec.make(name), adapter_for(name)
        try:
            for i in range(args.episodes_per_task):
                episodes.append(run_episode(env, adapter, policy, name, i, args.seed + i, strategy, delay))
        finally:
            env.close()
    cell = {"delay": delay, "strategy": strategy, "policy": args.policy, "seconds": time.perf_counter() - started,
            "refill_fraction": refill_fraction(strategy, delay, policy.metadata.n_action_steps),
            "episodes": episodes}
    atomic_write_json(path, cell)
    return cell


def as_eval_info(cell: dict) -> dict:
    """The cell's episodes in ``eval_info.json``'s per-task layout (what motionvla.evaluation.paired reads)."""
    per_task: dict[str, dict] = {}
    for e in cell["episodes"]:
        per_task.setdefault(e["task"], {"episodes": []})["episodes"].append(e)
    return {"per_task": per_task}


def summary(cells: dict[tuple[int, str], dict], delays: list[int], strategies: list[str]) -> str:
    lines = ["| d | strategy | success % | idle steps / ep | max seam jump | mean seam jump | mean sq. jerk | episodes |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for d in delays:
        for s in strategies:
            eps = cells[(d, s)]["episodes"]
            col = lambda k: np.nanmean([e[k] for e in eps])  # noqa: E731
            lines.append(f"| {d} | {s} | {100 * col('success'):.1f} | {col('idle_steps'):.1f} | "
                         f"{col('max_seam_jump'):.4f} | {col('mean_seam_jump'):.4f} | {col('mean_squared_jerk'):.5f} | "
                         f"{len(eps)} |")
    if "rtc" in strategies and "crossfade" in strategies:
        lines += ["", "RTC − cross-fade, success, paired by (task, env seed), 95 % BCa bootstrap:"]
        for d in delays:
            diff = paired_difference({0: as_eval_info(cells[(d, "rtc")])}, {0: as_eval_info(cells[(d, "crossfade")])})
            lines.append(f"- d = {d}: {verdict(diff)} ({diff['pairs']} pairs)")
    return "\n".join(lines)


def plot(cells: dict[tuple[int, str], dict], delays: list[int], strategies: list[str], path: Path) -> None:
    """Success (with a 95 % Wilson interval over episodes) and mean seam jump against the delay, one line per
    strategy; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import binomtest

    fig, (ax_s, ax_j) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, s in enumerate(strategies):
        x = np.asarray(delays, dtype=float) + (k - (len(strategies) - 1) / 2) * 0.08  # side by side, not on top
        wins = np.asarray([sum(e["success"] for e in cells[(d, s)]["episodes"]) for d in delays])
        n = np.asarray([len(cells[(d, s)]["episodes"]) for d in delays])
        cis = [binomtest(int(w), int(m)).proportion_ci(confidence_level=0.95, method="wilson") for w, m in zip(wins, n)]
        low, high = np.asarray([c.low for c in cis]), np.asarray([c.high for c in cis])
        rate = wins / n
        ax_s.errorbar(x, 100 * rate, yerr=100 * np.stack([rate - low, high - rate]), marker="o", capsize=3, label=s)
        ax_j.plot(x, [np.mean([e["mean_seam_jump"] for e in cells[(d, s)]["episodes"]]) for d in delays],
                  marker="o", label=s)
    ax_s.set(xlabel="inference delay d (control steps)", ylabel="success % (95 % Wilson)", xticks=delays,
             title="tabletop success")
    ax_j.set(xlabel="inference delay d (control steps)", ylabel="mean |Δa| at seams (action units)", xticks=delays,
             title="seam jump")
    ax_s.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", required=True, help="a motionvla checkpoint folder (pretrained_model)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--delays", default="0,2,4,8")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--tasks", default="push_red_left,push_blue_forward,push_green_right,lift_red,"
                                           "green_on_yellow,blue_on_yellow")
    parser.add_argument("--episodes_per_task", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7000, help="env seeds seed .. seed + episodes_per_task - 1")
    parser.add_argument("--n_action_steps", type=int, default=0, help="actions per chunk (0: the policy's chunk)")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--cameras", default="front,wrist")
    parser.add_argument("--plot", default="", help="also draw success and seam jump against the delay (PNG)")
    args = parser.parse_args(argv)
    delays = [int(d) for d in args.delays.split(",")]
    strategies = args.strategies.split(",")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"--strategies: unknown {unknown}; accepted: {', '.join(STRATEGIES)}")
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    policy = CheckpointPolicy(args.policy, n_action_steps=args.n_action_steps)  # 0: the checkpoint's own
    if not args.n_action_steps:
        policy.metadata.n_action_steps = policy.metadata.chunk_size  # every chunk whole (always in range)
    chunk = policy.metadata.n_action_steps
    bad = [d for d in delays if not 0 <= d < chunk]
    if bad:
        parser.error(f"--delays: each must be in [0, {chunk}) (the chunk length), got {bad}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = {}
    for d in delays:
        for s in strategies:
            path = out / f"d{d}_{s}.json"
            cells[(d, s)] = json.loads(path.read_text()) if path.is_file() else run_cell(args, policy, d, s, path)
            eps = cells[(d, s)]["episodes"]
            print(f"d={d} {s}: {100 * np.mean([e['success'] for e in eps]):.1f} % of {len(eps)}", flush=True)
    text = summary(cells, delays, strategies)
    atomic_write_text(out / "summary.md", f"`{' '.join(sys.argv)}`\n\n{text}\n")
    print(text)
    if args.plot:
        plot(cells, delays, strategies, Path(args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
