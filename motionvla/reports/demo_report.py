"""The report folder of recorded demonstrations: one GIF per task and a motion-image strip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motionvla.datasets.reading import episode_frames, episode_records
from motionvla.reports.media import write_gif, write_png
from motionvla.utils.atomic import atomic_write_text


def _summary_table(summary: dict[str, Any]) -> str:
    width = max(len(task) for task in summary["tasks"])
    lines = [f"{'task':<{width}} {'episodes':>8} {'frames':>7} {'expert retries':>14}  instruction"]
    for task, stats in summary["tasks"].items():
        lines.append(
            f"{task:<{width}} {stats['recorded']:>8} {stats['frames']:>7} {stats['failed_attempts']:>14}  {stats['instruction']}"
        )
    lines.append(
        f"{'total':<{width}} {summary['total_episodes']:>8} {summary['total_frames']:>7} {summary['total_failed_attempts']:>14}"
    )
    return "\n".join(lines)


def write_demo_report(
    dataset: Any, summary: dict[str, Any], report_dir: Path, flow_stride: int, max_flow_pixels: float
) -> dict[str, Any]:
    """Write ``rollouts/<task>.gif`` (first episode of each task, read back from ``dataset``) and
    ``motion_strip.png`` (frames of one episode above the motion images of their optical flow).

    Returns the written paths and a printable summary.
    """
    from motionvla.flow import FlowEstimator
    from motionvla.flow.visualize import color_wheel, motion_strip

    report_dir = Path(report_dir)
    camera = dataset.meta.camera_keys[0].removeprefix("observation.images.")
    records = episode_records(dataset)
    task_of_instruction = {stats["instruction"]: task for task, stats in summary["tasks"].items()}
    gifs = {}
    for record in records:
        task = task_of_instruction[record["task"]]
        if task in gifs:
            continue
        frames = episode_frames(dataset, record, camera)
        name = f"{task.replace('/', '_')}_episode{record['episode_index']:03d}.gif"
        gifs[task] = write_gif(report_dir / "rollouts" / name, frames, record["task"], dataset.fps)

    # The strip shows the longest recorded episode: it has the most motion to see.
    record = max(records, key=lambda r: r["end"] - r["start"])
    frames = episode_frames(dataset, record, camera)
    picks = list(range(0, len(frames) - flow_stride, max(1, (len(frames) - flow_stride) // 6)))[:6]
    estimator = FlowEstimator("dis")
    flows = [estimator(frames[i], frames[i + flow_stride]) for i in picks]
    strip = write_png(report_dir / "motion_strip.png", motion_strip(frames[picks], flows, max_flow_pixels))
    wheel = write_png(report_dir / "motion_color_wheel.png", color_wheel(96, max_flow_pixels))

    text = _summary_table(summary)
    index = [
        "# Quickstart report",
        "",
        "```",
        text,
        "```",
        "",
        "## Expert rollouts (read back from the recorded LeRobotDataset)",
        *[f"- {task} (\"{summary['tasks'][task]['instruction']}\"): `{path.relative_to(report_dir)}`" for task, path in gifs.items()],
        "",
        f"## Motion images of episode {record['episode_index']} ({record['task']})",
        f"`motion_strip.png`: top row frames t, bottom row the optical flow t → t+{flow_stride} (OpenCV DIS) as motion",
        f"images (hue = direction, saturation = magnitude, white = still, full colour = {max_flow_pixels} px);",
        "`motion_color_wheel.png` is the legend.",
    ]
    atomic_write_text(report_dir / "index.md", "\n".join(index) + "\n")
    return {"gifs": gifs, "motion_strip": strip, "color_wheel": wheel, "summary": text}
