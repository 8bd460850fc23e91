"""`motionvla quickstart` (what `make demo` runs): record tabletop demos and write a report folder.

Later stages (train the dual-head policy, evaluate it) extend this same command.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from motionvla.configs import format_config, save_config
from motionvla.datasets.sim_recording import RecordDemosConfig, record_demos
from motionvla.utils.atomic import atomic_write_text


@dataclass
class Config:
    """Record tabletop demos with the scripted expert and write a report of what was recorded."""

    out: str = "outputs/quickstart"
    demos: RecordDemosConfig = field(
        default_factory=lambda: RecordDemosConfig(episodes_per_task=4, overwrite=True, repo_id="local/quickstart")
    )
    # Flow between frames this far apart is drawn in the motion-image strip.
    flow_stride: int = 2
    # Motion-image colour scale: flow of this many pixels is fully saturated.
    max_flow_pixels: float = 6.0


def run(cfg: Config) -> Path:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from motionvla.reports.demo_report import write_demo_report

    out = Path(cfg.out)
    demos = dataclasses.replace(cfg.demos, out=str(out / "demos"))
    cfg = dataclasses.replace(cfg, demos=demos)
    print(format_config(cfg))
    start = time.perf_counter()
    summary = record_demos(cfg.demos)
    save_config(cfg, out)
    dataset = LeRobotDataset(cfg.demos.repo_id, root=cfg.demos.out, video_backend="pyav")
    report = write_demo_report(dataset, summary, out / "report", cfg.flow_stride, cfg.max_flow_pixels)
    elapsed = time.perf_counter() - start
    text = report["summary"] + f"\nquickstart took {elapsed:.0f} s\n"
    atomic_write_text(out / "report" / "summary.txt", text)
    print("\n" + text)
    print(f"report: {(out / 'report').resolve()}")
    return out / "report"
