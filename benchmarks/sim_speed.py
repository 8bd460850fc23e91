"""Tabletop simulator benchmark: env steps/s with rendering, and scripted-expert success.

Usage:
    .venv/bin/python benchmarks/sim_speed.py [--episodes-per-task 20] [--steps 300] [--json PATH]

Speed: ``TabletopEnv("lift_red")`` stepped with uniform random actions (fixed
seed), resetting whenever an episode ends (reset time included); each step =
physics substeps + rendering every configured camera.  The process is pinned
to one CPU (``os.sched_setaffinity``) so Mesa's llvmpipe renderer and MuJoCo
share a single core.  Reported figure: median of ``--repeats`` timed runs.

Expert: ``ScriptedExpert`` on seeds 0..N-1 of every task (front camera, 128^2).
Torch-free on purpose: it imports only ``sim_envs``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np

import sim_envs  # noqa: F401 -- sets MUJOCO_GL before mujoco is imported
from motionvla.utils.machine import cpu_model  # stdlib only: keeps this benchmark torch-free
from sim_envs.tabletop import TASKS, ScriptedExpert, TabletopEnv, run_expert_episode

SPEED_CONFIGS: list[tuple[tuple[str, ...], int]] = [
    (("front",), 128),
    (("front", "wrist"), 128),
    (("front",), 224),
    (("front", "wrist"), 224),
]


def machine_info() -> dict[str, object]:
    import mujoco

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "mujoco": mujoco.__version__,
        "MUJOCO_GL": os.environ.get("MUJOCO_GL"),
        "platform": platform.platform(),
    }


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (sched_setaffinity unavailable)"


def time_steps(cameras: tuple[str, ...], size: int, steps: int, repeats: int) -> dict[str, float]:
    env = TabletopEnv("lift_red", image_size=size, cameras=cameras)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, 4)).astype(np.float32)
    env.reset(seed=0)
    for a in actions[:20]:  # warm-up (GL shader compilation, caches)
        env.step(a)
    rates = []
    for r in range(repeats):
        env.reset(seed=r)
        t0 = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        rates.append(steps / (time.perf_counter() - t0))
    env.close()
    med = statistics.median(rates)
    return {"steps_per_s": med, "ms_per_step": 1e3 / med, "min": min(rates), "max": max(rates)}


def time_physics_only(steps: int) -> float:
    """Steps/s of the physics alone (substeps of one control step, no rendering)."""
    import mujoco

    env = TabletopEnv("lift_red", image_size=16)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(env.model, env.data, nstep=env.n_substeps)
    rate = steps / (time.perf_counter() - t0)
    env.close()
    return rate


def expert_stats(task: str, episodes: int) -> dict[str, float]:
    env = TabletopEnv(task, image_size=128, cameras=("front",))
    expert = ScriptedExpert(env)
    t0 = time.perf_counter()
    results = [run_expert_episode(env, seed, expert) for seed in range(episodes)]
    wall = time.perf_counter() - t0
    env.close()
    lengths = [n for _, n in results]
    ok_lengths = [n for ok, n in results if ok]
    return {
        "success_rate": sum(ok for ok, _ in results) / episodes,
        "episodes": episodes,
        "mean_len": float(np.mean(ok_lengths)) if ok_lengths else float("nan"),
        "min_len": min(lengths),
        "max_len": max(lengths),
        "failed_seeds": [s for s, (ok, _) in enumerate(results) if not ok],
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes-per-task", type=int, default=20)
    ap.add_argument("--steps", type=int, default=300, help="timed env steps per speed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    print("command:", shlex.join([sys.executable, *sys.argv]))
    pin = "not pinned (--no-pin)" if args.no_pin else pin_one_core()
    info = machine_info()
    print(f"machine: {info['cpu']} | {info['cores']} cores | {pin}")
    print(f"python {info['python']} | mujoco {info['mujoco']} | MUJOCO_GL={info['MUJOCO_GL']} | {info['platform']}")
    print()

    speed = []
    print(f"env steps/s with rendering (median of {args.repeats} x {args.steps} steps, random actions, lift_red)")
    print(f"{'cameras':<16}{'size':>8}{'steps/s':>10}{'ms/step':>10}{'min':>8}{'max':>8}")
    for cams, size in SPEED_CONFIGS:
        r = time_steps(cams, size, args.steps, args.repeats)
        speed.append({"cameras": list(cams), "size": size, **r})
        print(
            f"{'+'.join(cams):<16}{f'{size}x{size}':>8}{r['steps_per_s']:>10.0f}{r['ms_per_step']:>10.2f}"
            f"{r['min']:>8.0f}{r['max']:>8.0f}"
        )
    phys = time_physics_only(args.steps)
    print(f"{'physics only':<16}{'-':>8}{phys:>10.0f}{1e3 / phys:>10.2f}")
    print()

    print(f"scripted expert, seeds 0..{args.episodes_per_task - 1} per task")
    print(f"{'task':<20}{'success':>9}{'mean len':>10}{'min':>6}{'max':>6}{'wall s':>8}  instruction")
    expert = {}
    for name, task in TASKS.items():
        r = expert_stats(name, args.episodes_per_task)
        expert[name] = r
        print(
            f"{name:<20}{r['success_rate']:>8.0%} {r['mean_len']:>10.1f}{r['min_len']:>6}{r['max_len']:>6}"
            f"{r['wall_s']:>8.1f}  {task.instruction}"
        )
    overall = float(np.mean([r["success_rate"] for r in expert.values()]))
    print(f"{'all tasks':<20}{overall:>8.0%}")

    if args.json:
        out = {"command": sys.argv, "machine": {**info, "pinning": pin}, "speed": speed,
               "physics_only_steps_per_s": phys, "expert": expert}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
