"""Plot `moe-bench` results: LLEP speedup per scenario, peak memory, and per-device loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_bench(rows: list[dict], path: Path) -> Path:
    """Three panels: critical-path speedup of LLEP over EP per scenario; peak memory per rank (max)
    for EP and LLEP; tokens per device under EP and LLEP in the most skewed scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = {r["scenario"]: r for r in rows if r["dispatcher"] == "ep"}
    llep = {r["scenario"]: r for r in rows if r["dispatcher"] == "llep"}
    scenarios = [s for s in ep if s in llep]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    speedup = [ep[s]["critical_path_ms"] / llep[s]["critical_path_ms"] for s in scenarios]
    axes[0].bar(range(len(scenarios)), speedup, color="tab:green")
    axes[0].axhline(1.0, color="grey", lw=0.8)
    axes[0].set_xticks(range(len(scenarios)), scenarios, rotation=60, ha="right")
    axes[0].set_ylabel("expert-compute critical path, EP / LLEP")
    axes[0].set_title("LLEP speedup (slowest rank's own compute)")

    width = 0.4
    positions = np.arange(len(scenarios))
    axes[1].bar(positions - width / 2, [ep[s]["peak_memory_mb_max"] for s in scenarios], width, label="EP")
    axes[1].bar(positions + width / 2, [llep[s]["peak_memory_mb_max"] for s in scenarios], width, label="LLEP")
    axes[1].set_xticks(positions, scenarios, rotation=60, ha="right")
    axes[1].set_ylabel("peak memory of the busiest rank (MiB, measured)")
    axes[1].set_title("Peak memory per rank")
    axes[1].legend()

    worst = max(scenarios, key=lambda s: ep[s]["max_mean_load"])
    devices = np.arange(len(ep[worst]["device_loads"]))
    axes[2].bar(devices - width / 2, ep[worst]["device_loads"], width, label="EP")
    axes[2].bar(devices + width / 2, llep[worst]["device_loads"], width, label="LLEP")
    axes[2].set_xlabel("device (rank)")
    axes[2].set_ylabel("token rows computed")
    axes[2].set_title(f"Per-device load, {worst}")
    axes[2].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
