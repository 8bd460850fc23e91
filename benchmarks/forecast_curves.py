"""Training curves of one or more forecaster runs, as one PNG (the motion loss per optimizer step).

    .venv/bin/python benchmarks/forecast_curves.py outputs/fc3/run3 outputs/fc3/run4 --out docs/forecast_curves.png

Each run is named by its folder; the curve is the window mean that ``motionvla.train`` logs in metrics.jsonl.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from motionvla.reports.policy_report import plot_loss_curves
from motionvla.train.metrics import read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="forecaster run folders (with metrics.jsonl)")
    parser.add_argument("--names", default="", help="comma-separated labels, one per run (default: folder names)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    names = [n.strip() for n in args.names.split(",")] if args.names else [Path(r).name for r in args.runs]
    if len(names) != len(args.runs):
        parser.error(f"{len(names)} names for {len(args.runs)} runs")
    runs = {name: read_metrics(run) for name, run in zip(names, args.runs)}
    empty = [name for name, rows in runs.items() if not rows]
    if empty:
        parser.error(f"no metrics.jsonl rows in: {', '.join(empty)}")
    print(f"wrote {plot_loss_curves(runs, args.out, keys=('motion_loss',))}")


if __name__ == "__main__":
    main()
