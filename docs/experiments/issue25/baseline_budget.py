"""The lerobot baselines' budget rule, in one place (docs/experiments/motion_ablation.md): CPU-seconds per step =
(CPU of the 60-step run - CPU of the 30-step run) / 30, from baseline_cost.sh's /usr/bin/time -v files; steps per
model = the budget (290 CPU-s per task, 1,750 per six-task model) / that.

    python docs/experiments/issue25/baseline_budget.py               # the summary baseline_cost.sh prints
    python docs/experiments/issue25/baseline_budget.py act 290       # steps for one model (baselines.sh)
    python docs/experiments/issue25/baseline_budget.py act_small 290 # the secondary baseline's ACT
"""

import re
import sys
from pathlib import Path

OUT = Path("outputs/exp25/baseline_cost")
KEPT = Path("docs/experiments/issue25/results/baseline_cost")  # the committed copies, read when outputs/ is gone


def timing(name: str) -> Path:
    return OUT / f"{name}.time" if (OUT / f"{name}.time").exists() else KEPT / f"{name}.time"


def cpu(name: str) -> float:
    """User + system CPU-seconds of one timed lerobot-train run (missing: run baseline_cost.sh first)."""
    text = timing(name).read_text()
    return sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", text).group(1)) for k in ("User", "System"))


def per_step(kind: str) -> float:
    return (cpu(f"{kind}_60") - cpu(f"{kind}_30")) / 30


if len(sys.argv) == 3:
    print(round(float(sys.argv[2]) / per_step(sys.argv[1])))
else:
    for t in ("act", "diffusion", "act_small"):
        if not timing(f"{t}_60").exists():
            continue
        s = per_step(t)
        print(f"{t}: {cpu(t + '_30'):.1f} CPU-s for 30 steps, {cpu(t + '_60'):.1f} for 60: {s:.2f} CPU-s per step; "
              f"290 CPU-s per task buys {290 / s:.0f} steps, 1750 CPU-s (multi-task) {1750 / s:.0f}")
