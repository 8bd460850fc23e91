"""`motionvla moe-bench`: EP vs LLEP on N gloo processes, per routing scenario.

Launches its own worker processes (or runs under `torchrun`), and for every scenario and dispatcher
measures on every rank: tokens computed, own expert-compute CPU time (thread time, so 8 processes
sharing 2 cores still measure their own work), forward+backward wall time, and peak memory; and
checks exactness against the single-process `local` layer on the same tokens.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from motionvla.configs import format_config
from motionvla.errors import UserError
from motionvla.utils.atomic import atomic_write_json


@dataclass
class Config:
    """Benchmark EP vs LLEP expert dispatch on `num_processes` gloo ranks (CPU)."""

    num_processes: int = 8
    num_experts: int = 64
    top_k: int = 4
    hidden_size: int = 256
    expert_hidden_size: int = 256
    tokens_per_rank: int = 2048
    # Comma-separated scenarios ("balanced" or PERCENT:NUM_HOT, e.g. 95:1), or "paper" for all 13
    # (balanced, and X% of tokens on H hot experts for X in 30/50/80/95, H in 16/4/1).
    scenarios: str = "paper"
    dispatchers: str = "ep,llep"
    alpha: float = 1.0
    min_tokens: int = 256
    # The paper uses 1.3; below it LLEP keeps plain EP. 1.15 makes LLEP act whenever the device loads
    # are more than 15% above the mean, the balance target this benchmark checks.
    imbalance_threshold: float = 1.15
    # Timed repetitions per (scenario, dispatcher); the median is reported.
    repeats: int = 2
    seed: int = 0
    json: str = ""
    plot: str = ""


def _validate(cfg: Config) -> None:
    from motionvla.cli.moe_sim import parse_scenarios

    parse_scenarios(cfg.scenarios)  # raises UserError naming the accepted forms
    if cfg.num_processes < 1 or cfg.num_experts % cfg.num_processes:
        raise UserError(f"num_experts ({cfg.num_experts}) must be a multiple of num_processes ({cfg.num_processes})")
    for name in cfg.dispatchers.split(","):
        if name not in ("ep", "llep"):
            raise UserError(f"unknown dispatcher {name!r}; accepted: ep, llep")


def run(cfg: Config) -> list[dict]:
    import torch.distributed as dist

    from motionvla.moe.benchmark import bench_rank, summarize
    from motionvla.utils.local_ranks import run_local_ranks
    from motionvla.utils.machine import machine_description

    _validate(cfg)
    print(format_config(cfg))
    print(f"machine: {machine_description()}")
    if "RANK" in os.environ and "LOCAL_RANK" in os.environ:  # under torchrun: this process is one rank
        dist.init_process_group("gloo")
        gathered: list = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, bench_rank(dist.get_rank(), dist.get_world_size(), cfg))
        is_main = dist.get_rank() == 0
        dist.destroy_process_group()
        if not is_main:
            return []
    else:
        print(f"launching {cfg.num_processes} gloo processes ...", flush=True)
        # glibc must hand large tensors back to the kernel when they are freed, or the peak-memory
        # probe would see the allocator's retained heap rather than the layer's peak.
        gathered = run_local_ranks(
            bench_rank, cfg.num_processes, cfg, timeout=3600, env={"MALLOC_MMAP_THRESHOLD_": "65536"}
        )
    rows = summarize(gathered)
    print(format_table(rows))
    if cfg.json:
        atomic_write_json(cfg.json, {"config": dataclasses.asdict(cfg), "machine": machine_description(), "rows": rows})
        print(f"wrote {cfg.json}")
    if cfg.plot:
        from motionvla.moe.bench_plot import plot_bench

        plot_bench(rows, Path(cfg.plot))
        print(f"wrote {cfg.plot}")
    return rows


def _ratio(value: float) -> str:
    """``1.53x``, or ``n/a`` where the reference row was not run (no EP row, or no balanced scenario asked for)."""
    return f"{'n/a':>7}" if value != value else f"{value:>6.2f}x"


def format_table(rows: list[dict]) -> str:
    """One line per (scenario, dispatcher) with LLEP's speedup and memory next to EP's."""
    header = (
        f"{'scenario':<9} {'disp':<5} {'max/mean':>8} {'crit ms':>8} {'speedup':>7} {'e2e ms':>8} "
        f"{'peak MB (max rank)':>18} {'mem/bal':>7} {'max |dy|':>9} {'max |dgrad|':>11}"
    )
    lines = [header]
    ep = {r["scenario"]: r for r in rows if r["dispatcher"] == "ep"}
    balanced = {r["dispatcher"]: r for r in rows if r["scenario"] == "balanced"}
    for r in rows:
        base = ep.get(r["scenario"])
        speedup = base["critical_path_ms"] / r["critical_path_ms"] if base and r["critical_path_ms"] > 0 else float("nan")
        bal = balanced.get(r["dispatcher"])
        mem_ratio = r["peak_memory_mb_max"] / bal["peak_memory_mb_max"] if bal and bal["peak_memory_mb_max"] > 0 else float("nan")
        lines.append(
            f"{r['scenario']:<9} {r['dispatcher']:<5} {r['max_mean_load']:>8.2f} {r['critical_path_ms']:>8.1f} "
            f"{_ratio(speedup)} {r['end_to_end_ms']:>8.1f} {r['peak_memory_mb_max']:>18.1f} {_ratio(mem_ratio)} "
            f"{r['max_abs_diff_output']:>9.1e} {r['max_abs_diff_grad']:>11.1e}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # `torchrun --nproc_per_node N -m motionvla.cli.moe_bench --key=value ...`
    from motionvla.configs import parse_config

    try:
        run(parse_config(Config, sys.argv[1:]))
    except UserError as exc:
        print(f"motionvla moe-bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
