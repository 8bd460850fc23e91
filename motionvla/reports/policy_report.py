"""Pictures and tables for a trained policy: loss curves, predicted vs actual motion images, success tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from motionvla.reports.media import to_uint8_hwc, write_png


def plot_loss_curves(runs: dict[str, list[dict[str, Any]]], path: str | Path,
                     keys: tuple[str, ...] = ("action_loss", "motion_loss")) -> Path:
    """One panel per metric in ``keys``, one line per run (``{name: metrics rows}``); x = optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, rows in runs.items():
            points = [(r["step"], r[key]) for r in rows if key in r and (key != "motion_loss" or r[key] > 0)]
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=name, lw=1.4)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(key.replace("_", " "))
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.set_title(f"{key.replace('_', ' ')} (flow matching, window mean)")
        if len(runs) > 1 or ax is axes[0][0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _tile(image: np.ndarray, size: int) -> Image.Image:
    return Image.fromarray(image).resize((size, size), Image.NEAREST)


def motion_comparison(policy: Any, preprocess: Any, items: list[dict[str, Any]], tile: int = 96,
                      seed: int = 0) -> np.ndarray:
    """A grid, one row per dataset item: the camera frame, the K actual future motion images (from the
    flow cache), then the K the policy's motion head predicts from that frame and instruction.

    ``items``: training items with ``observation.images.<cam>``, ``observation.state``, ``task``, ``motion``.
    Returns a uint8 ``(H, W, 3)`` image.
    """
    from torch.utils.data import default_collate

    from motionvla.flow_forecast.motion_dit import motion_targets

    cfg = policy.config
    batch = preprocess(default_collate(items))
    generator = torch.Generator().manual_seed(seed)
    predicted = policy.predict_motion(batch, num_steps=cfg.num_inference_steps, generator=generator)
    actual = motion_targets(torch.stack([it["motion"] for it in items]), cfg.motion_resolution, cfg.flow_max_magnitude)
    k = cfg.motion_frames
    actual = actual.reshape(len(items), k, 3, cfg.motion_resolution, cfg.motion_resolution)
    header, gap = 18, 6
    cols = 1 + 2 * k
    width = cols * tile + gap * 2
    canvas = Image.new("RGB", (width, header + len(items) * (tile + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((3, 3), "frame", fill="black")
    draw.text((tile + gap + 3, 3), f"actual future flow (t..t+{k})", fill="black")
    draw.text((tile + k * tile + 2 * gap + 3, 3), "predicted by the motion head", fill="black")
    image_key = cfg.image_keys[0]
    for row, item in enumerate(items):
        y = header + row * (tile + 4)
        canvas.paste(_tile(to_uint8_hwc(item[image_key]), tile), (0, y))
        for i in range(k):
            canvas.paste(_tile(to_uint8_hwc(actual[row, i]), tile), (tile + gap + i * tile, y))
            canvas.paste(_tile(to_uint8_hwc(predicted[row, i]), tile), (tile + k * tile + 2 * gap + i * tile, y))
    return np.asarray(canvas)


def motion_forecast_error(policy: Any, preprocess: Any, items: list[dict[str, Any]], seed: int = 0,
                          batch_size: int = 32) -> dict[str, float]:
    """How well the motion head forecasts the future flow of ``items`` (as :func:`motion_comparison`).

    The predicted motion images are decoded back to flow with the codec and compared with the actual
    (cached) flow, clipped to the codec's scale M, by end-point error in pixels at the motion resolution,
    next to the zero-motion forecast ("nothing moves", the trivial baseline on a mostly still scene).
    ``moving`` restricts both to pixels whose actual motion is at least M/4.

    Returns ``{"epe", "epe_zero", "epe_moving", "epe_zero_moving", "moving_fraction", "scale_px", "frames",
    "motion_resolution"}``.
    """
    from torch.utils.data import default_collate

    from motionvla.flow import end_point_error, motion_image_float_to_flow
    from motionvla.flow_forecast.motion_dit import motion_targets

    cfg = policy.config
    k, r, m = cfg.motion_frames, cfg.motion_resolution, cfg.flow_max_magnitude
    generator = torch.Generator().manual_seed(seed)
    predicted, actual, valid = [], [], []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = preprocess(default_collate(chunk))
        predicted.append(motion_image_float_to_flow(policy.predict_motion(batch, cfg.num_inference_steps, generator), m))
        target_images = motion_targets(torch.stack([it["motion"] for it in chunk]), r, m).reshape(len(chunk), k, 3, r, r)
        actual.append(motion_image_float_to_flow(target_images, m))  # the clipped flow the head is asked for
        valid.append(torch.stack([torch.as_tensor(it["motion_mask"]) for it in chunk]).bool())
    pred, true, frame_ok = torch.cat(predicted), torch.cat(actual), torch.cat(valid)
    pred, true = pred[frame_ok], true[frame_ok]  # (N, 2, r, r) over valid future frames
    moving = torch.linalg.vector_norm(true, dim=1) >= m / 4
    zero = torch.zeros_like(true)
    return {
        "epe": end_point_error(pred, true), "epe_zero": end_point_error(zero, true),
        "epe_moving": end_point_error(pred, true, moving), "epe_zero_moving": end_point_error(zero, true, moving),
        "moving_fraction": float(moving.float().mean()), "scale_px": float(m), "frames": int(frame_ok.sum()),
        "motion_resolution": r,
    }


def write_motion_comparison(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    return write_png(path, motion_comparison(*args, **kwargs))


def success_table(evals: dict[str, dict[str, Any]]) -> str:
    """A markdown table: one row per task, one column per evaluated policy (``{name: eval_info}``), in %."""
    names = list(evals)
    tasks = list(next(iter(evals.values()))["per_task"])
    lines = ["| task | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for task in tasks:
        cells = [f"{evals[n]['per_task'][task]['pc_success']:.0f} %" for n in names]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    overall = [f"**{evals[n]['overall']['pc_success']:.1f} %** ({evals[n]['overall']['n_episodes']} ep)" for n in names]
    lines.append("| **overall** | " + " | ".join(overall) + " |")
    return "\n".join(lines)
