"""Pictures and tables for a trained policy: loss curves, predicted vs actual motion images, success tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from motionvla.reports.media import write_png
from motionvla.utils.images import to_uint8_hwc


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


def policy_batch(preprocess: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset items collated and run through the policy's pre-processor, with the observed flow
    (``motion_past``, which the pre-processor does not know) carried over when the items have it."""
    from torch.utils.data import default_collate

    from motionvla.keys import MOTION_PAST_KEY

    batch = preprocess(default_collate(items))
    if all(MOTION_PAST_KEY in it for it in items):
        batch[MOTION_PAST_KEY] = torch.stack([torch.as_tensor(it[MOTION_PAST_KEY]) for it in items])
    return batch


def motion_comparison(policy: Any, preprocess: Any, items: list[dict[str, Any]], tile: int = 96,
                      seed: int = 0) -> np.ndarray:
    """A grid, one row per dataset item: the camera frame, the K actual future motion images (from the
    flow cache), then the K the policy's motion head predicts from that frame and instruction.

    ``items``: training items with ``observation.images.<cam>``, ``observation.state``, ``task``, ``motion``.
    Returns a uint8 ``(H, W, 3)`` image.
    """
    from motionvla.flow import motion_targets

    cfg = policy.config
    batch = policy_batch(preprocess, items)
    generator = torch.Generator().manual_seed(seed)
    predicted = policy.predict_motion(batch, generator=generator)
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
                          batch_size: int = 32, num_steps: int | None = None) -> dict[str, float]:
    """How well the motion head forecasts the future flow of ``items`` (as :func:`motion_comparison`).

    The predicted motion images (``num_steps`` Euler steps, default ``config.motion_sample_steps``) are decoded
    back to flow with the codec and compared with the actual (cached) flow, clipped to the codec's scale M, by
    end-point error in pixels at the motion resolution, on all pixels and on ``moving`` pixels (actual motion
    at least M/4), next to two forecasts that need no model: "nothing moves" (zero flow) and, when the items
    carry ``motion_past`` (the observed flow t - s -> t), "the last observed flow goes on" (clipped alike).

    Returns ``{"epe", "epe_moving", "epe_zero", "epe_zero_moving", "epe_last", "epe_last_moving",
    "moving_fraction", "scale_px", "frames", "motion_resolution", "sample_steps"}`` (the ``last`` pair only
    with ``motion_past``).
    """
    from motionvla.keys import MOTION_PAST_KEY
    from motionvla.flow import end_point_error, motion_image_float_to_flow
    from motionvla.flow import motion_targets

    cfg = policy.config
    k, r, m = cfg.motion_frames, cfg.motion_resolution, cfg.flow_max_magnitude
    steps = num_steps or cfg.motion_sample_steps
    generator = torch.Generator().manual_seed(seed)
    with_last = all(MOTION_PAST_KEY in it for it in items)

    def clipped(flow: torch.Tensor) -> torch.Tensor:  # (B, N, 2, H, W) -> the codec's round trip (B, N, 2, r, r)
        n = flow.shape[1]
        return motion_image_float_to_flow(motion_targets(flow, r, m).reshape(len(flow), n, 3, r, r), m)

    predicted, actual, last, valid = [], [], [], []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = policy_batch(preprocess, chunk)
        if with_last:
            last.append(clipped(batch[MOTION_PAST_KEY].float()).expand(-1, k, -1, -1, -1))
        predicted.append(motion_image_float_to_flow(policy.predict_motion(batch, steps, generator), m))
        actual.append(clipped(torch.stack([torch.as_tensor(it["motion"]) for it in chunk]).float()))
        valid.append(torch.stack([torch.as_tensor(it["motion_mask"]) for it in chunk]).bool())
    frame_ok = torch.cat(valid)
    pred, true = torch.cat(predicted)[frame_ok], torch.cat(actual)[frame_ok]  # (N, 2, r, r) over valid frames
    moving = torch.linalg.vector_norm(true, dim=1) >= m / 4
    zero = torch.zeros_like(true)
    out = {
        "epe": end_point_error(pred, true), "epe_moving": end_point_error(pred, true, moving),
        "epe_zero": end_point_error(zero, true), "epe_zero_moving": end_point_error(zero, true, moving),
    }
    if with_last:
        prev = torch.cat(last)[frame_ok]
        out.update(epe_last=end_point_error(prev, true), epe_last_moving=end_point_error(prev, true, moving))
    out.update(moving_fraction=float(moving.float().mean()), scale_px=float(m), frames=int(frame_ok.sum()),
               motion_resolution=r, sample_steps=int(steps))
    return out


def forecast_summary(forecast: dict[str, Any], where: str) -> str:
    """One line of :func:`motion_forecast_error`'s figures: moving and all pixels, each against "nothing moves"
    and (when measured) the last observed flow, saying which forecast is best on each."""
    parts = []
    for label, key in (("moving pixels", "_moving"), ("all pixels", "")):
        model, zero, last = forecast[f"epe{key}"], forecast[f"epe_zero{key}"], forecast.get(f"epe_last{key}")
        baselines = {"nothing moves": zero, **({} if last is None else {"last flow": last})}
        best_name, best = min(baselines.items(), key=lambda kv: kv[1])
        verdict = "better than" if model < best else "worse than"
        parts.append(f"{label} {model:.4f} px = {model / zero:.2f}x 'nothing moves' ({zero:.4f})"
                     + ("" if last is None else f", {model / last:.2f}x last flow ({last:.4f})")
                     + f": {verdict} the best baseline ({best_name})")
    return (f"motion head ({forecast['sample_steps']}-step samples), end-point error on {forecast['frames']} future "
            f"flows of {where}: " + "; ".join(parts) + f" [{forecast['motion_resolution']}x"
            f"{forecast['motion_resolution']}, codec scale {forecast['scale_px']:.3g} px]")


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
