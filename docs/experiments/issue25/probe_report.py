"""Report of the backbone probe (docs/experiments/motion_ablation.md, "The probe"): docs/experiments/issue25/probe.json
-> probe.md beside it: R² per run, mean ± sd per arm, and each arm minus action-only paired by training seed with a
95 % t-interval over the seeds both arms have (as planned: five paired values are too few for a bootstrap).

    PYTHONPATH=. .venv/bin/python docs/experiments/issue25/probe_report.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).parent
ARMS = {"action_only": "(a) action-only", "dual_head": "(b) dual-head, head from scratch",
        "forecaster": "(c) dual-head, head from the forecaster", "untrained": "untrained backbone (reference)"}


def main() -> None:
    data = json.loads((HERE / "probe.json").read_text())
    by_arm: dict[str, dict[int, float]] = {}
    for name, row in data["r2"].items():
        arm, seed = re.fullmatch(r"(.+)_seed(\d+)", name).groups()
        by_arm.setdefault(arm, {})[int(seed)] = row["r2"]
    lines = [f"# Backbone probe: R² of the object's displacement over the next {data['horizon']} steps",
             "", f"Ridge (penalty {data['alpha']}), out of fold by episode, frames `{data['frames']}`. "
             f"Reference without images (state + task one-hot): R² {data['reference_state_task_r2']:+.3f}.", "",
             "| arm | seeds | R² per seed | mean ± sd | minus action-only, paired [95 % t-interval] |",
             "| --- | ---: | --- | ---: | ---: |"]
    base = by_arm.get("action_only", {})
    for arm, label in ARMS.items():
        runs = by_arm.get(arm)
        if not runs:
            continue
        values = np.array(list(runs.values()))
        per_seed = ", ".join(f"{s}: {v:.3f}" for s, v in sorted(runs.items()))
        diff_text = ""
        shared = sorted(set(runs) & set(base))
        if arm != "action_only" and len(shared) >= 2:
            d = np.array([runs[s] - base[s] for s in shared])
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            diff_text = f"{d.mean():+.3f} [{d.mean() - half:+.3f}, {d.mean() + half:+.3f}] (n = {len(d)})"
        lines.append(f"| {label} | {len(runs)} | {per_seed} | {values.mean():.3f} ± {values.std(ddof=1):.3f} | "
                     f"{diff_text} |")
    (HERE / "probe.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
