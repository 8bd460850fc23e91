"""Demo-recording throughput: scripted-expert episodes written to a LeRobotDataset v3 per second.

    .venv/bin/python benchmarks/record_speed.py [--episodes-per-task 4] [--workers 1 2]

Prints the command, the machine and, for each worker count, episodes/s and frames/s of the whole
`record-demos` job (env stepping + rendering + expert + PNG encoding + parquet writing + merging).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from motionvla.datasets.sim_recording import RecordDemosConfig, record_demos
from motionvla.utils.machine import machine_description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes-per-task", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print("machine:", machine_description())
    print(f"{'workers':>7} {'episodes':>8} {'frames':>7} {'seconds':>8} {'episodes/s':>10} {'frames/s':>9}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = RecordDemosConfig(
                episodes_per_task=args.episodes_per_task,
                episodes_per_part=max(1, args.episodes_per_task // 2),
                workers=workers,
                image_size=args.image_size,
                out=f"{tmp}/demos",
            )
            start = time.perf_counter()
            summary = record_demos(cfg)
            seconds = time.perf_counter() - start
        episodes, frames = summary["total_episodes"], summary["total_frames"]
        print(f"{workers:>7} {episodes:>8} {frames:>7} {seconds:>8.1f} {episodes / seconds:>10.2f} {frames / seconds:>9.1f}")


if __name__ == "__main__":
    main()
