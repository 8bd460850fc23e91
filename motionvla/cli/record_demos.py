"""`motionvla record-demos`: scripted-expert episodes → LeRobotDataset v3."""

from __future__ import annotations

from motionvla.configs import format_config
from motionvla.datasets.sim_recording import RecordDemosConfig, record_demos

Config = RecordDemosConfig


def run(cfg: Config) -> dict:
    print(format_config(cfg))
    summary = record_demos(cfg)
    print(f"\nwrote {summary['total_episodes']} episodes ({summary['total_frames']} frames) to {cfg.out}")
    for task, stats in summary["tasks"].items():
        shortfall = "" if stats["recorded"] == stats["requested"] else f"  (SHORT of {stats['requested']})"
        print(f"  {task:<24} {stats['recorded']:>4} episodes, {stats['failed_attempts']} failed attempts retried{shortfall}")
    print(f"load it with: LeRobotDataset({cfg.repo_id!r}, root={cfg.out!r})")
    return summary
