"""LLEP planner speed: median milliseconds per ``plan_llep`` call for several shapes and scenarios.

Usage:
    .venv/bin/python benchmarks/moe_planner_speed.py [--repeats 200] [--json PATH] [--no-pin]

Loads come from the simulator's routing generator (``motionvla.moe.simulator.routing_counts``,
8192 tokens per device; the plan depends only on the global per-expert counts). Each case is timed
``--repeats`` times after 5 warm-up calls; the figure is the median. The process is pinned to one CPU
core (``os.sched_setaffinity``) unless ``--no-pin``. Variants: the paper's rule, intra-node-first
(8 devices per node), transfer-aware (H200 costs), both. Target: under 2 ms for 384 experts on 64
devices. Numpy only (no torch import).
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

from motionvla.moe.hardware import H200_SXM
from motionvla.moe.planner import plan_llep
from motionvla.moe.simulator import MoEShape, Scenario, routing_counts, transfer_cost_for
from motionvla.utils.machine import machine_description

SHAPES = [(128, 8), (256, 8), (384, 8), (128, 64), (256, 64), (384, 64), (384, 128), (256, 256)]
SCENARIOS = ["balanced", "30:16", "80:4", "95:1"]
VARIANTS = ["paper", "intra-node-first", "transfer-aware", "both"]


def time_case(loads: np.ndarray, num_devices: int, kwargs: dict, repeats: int) -> float:
    for _ in range(5):
        plan_llep(loads, num_devices, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        plan_llep(loads, num_devices, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", default="")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)
    pinned = "not pinned"
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        pinned = f"pinned to core {core}"
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"command: {command}")
    print(f"machine: {machine_description()}; numpy {np.__version__}; {pinned}")
    print(f"median ms per plan_llep call over {args.repeats} calls (8192 tokens/device, top-8)\n")
    header = f"{'experts':>7} {'devices':>7} {'scenario':<10}" + "".join(f"{v:>18}" for v in VARIANTS)
    print(header)
    print("-" * len(header))
    results = []
    for num_experts, num_devices in SHAPES:
        shape = MoEShape(num_experts, 8, 7168, 2048)
        cost = transfer_cost_for(shape, H200_SXM, num_devices, 8)
        variant_kwargs = {
            "paper": {},
            "intra-node-first": {"devices_per_node": 8, "intra_node_first": True},
            "transfer-aware": {"transfer_cost": cost},
            "both": {"devices_per_node": 8, "intra_node_first": True, "transfer_cost": cost},
        }
        for scenario_text in SCENARIOS:
            scenario = Scenario.parse(scenario_text)
            loads = routing_counts(shape, num_devices, 8192, scenario).sum(0)
            row = {"experts": num_experts, "devices": num_devices, "scenario": scenario.name}
            for variant, kwargs in variant_kwargs.items():
                row[variant] = time_case(loads, num_devices, kwargs, args.repeats)
            results.append(row)
            print(
                f"{num_experts:>7} {num_devices:>7} {scenario.name:<10}"
                + "".join(f"{row[v]:>18.3f}" for v in VARIANTS)
            )
    if args.json:
        payload = {
            "command": command,
            "machine": machine_description(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pinned": pinned,
            "repeats": args.repeats,
            "results": results,
        }
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
