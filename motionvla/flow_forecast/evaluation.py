"""Honest forecast evaluation: the model against non-learned baselines and against itself with the captions
shuffled across the batch, or taken from earlier batches when the batch shares one (does language matter?),
per horizon and per kind of clip.

Kinds of clip (from the data's own flows, so they exist for any data set): ``starts`` -- nothing moves in the
last observed flow but something moves in the future (carrying the past forward cannot solve these);
``moving`` -- motion already visible; ``still`` -- nothing moves in the future either.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from motionvla.flow import resize_flows
from motionvla.flow_forecast.baselines import BASELINES, ForecastErrors, baseline_forecast
from motionvla.flow_forecast.modeling import FlowForecaster


def clip_kinds(past: Tensor, future: Tensor, threshold: float, min_fraction: float = 0.002) -> list[str]:
    """One kind per sample (see the module docstring); flows in pixels at the same size."""
    def moving(flow: Tensor) -> Tensor:
        return (flow.norm(dim=2) > threshold).float().mean(dim=(2, 3)).amax(dim=1) >= min_fraction

    past_moves = moving(past[:, -1:]) if past.shape[1] else torch.zeros(past.shape[0], dtype=torch.bool)
    future_moves = moving(future)
    return ["moving" if p else ("starts" if f else "still") for p, f in zip(past_moves.tolist(), future_moves.tolist())]


def swap_captions(captions: list[str], pool: list[str] | tuple[str, ...] = ()) -> tuple[list[str], int]:
    """Each sample gets the caption of the next sample (cyclically) whose caption *differs* from its own, else
    the latest caption of ``pool`` (captions of earlier batches) that differs.

    A plain rotation is not enough: consecutive samples are often clips of the same video and share its
    caption, so rotating would hand most samples their own caption back; and a batch of one robot episode's
    clips holds a single caption, hence the pool. Returns the new captions and how many samples kept their own
    (no different caption in the batch or the pool).
    """
    n, out, kept = len(captions), [], 0
    for i, own in enumerate(captions):
        other = next((captions[(i + j) % n] for j in range(1, n) if captions[(i + j) % n] != own), None)
        if other is None:
            other = next((c for c in reversed(pool) if c != own), None)
        kept += other is None
        out.append(own if other is None else other)
    return out, kept


def _remember(pool: list[str], captions: list[str], limit: int = 64) -> None:
    """Moves the batch's captions to the end of ``pool`` (most recent last), keeping at most ``limit``."""
    for caption in dict.fromkeys(captions):  # a batch repeats its episode's caption: once each
        if caption in pool:
            pool.remove(caption)
        pool.append(caption)
    del pool[:-limit]


@torch.no_grad()
def evaluate_forecaster(model: FlowForecaster, dataset: Dataset, *, batch_size: int = 32, num_samples: int = 1,
                        num_inference_steps: int | None = None, moving_threshold_px: float = 0.25,
                        seed: int = 0, max_batches: int = 0, progress: bool = True) -> dict:
    """Errors (pixels at the model's resolution) of the model, best-of-S, shuffled captions and the baselines."""
    from motionvla.flow_forecast.training import collate_forecast

    model.eval()
    r = model.cfg.resolution
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_forecast)
    names = ["model", "model_best_of_s", "shuffled_captions", *BASELINES]
    errors = {name: ForecastErrors(moving_threshold_px) for name in names}
    generator = torch.Generator().manual_seed(seed)
    total = min(len(loader), max_batches) if max_batches else len(loader)
    unchanged = 0  # samples whose caption could not be swapped for a different one (none in batch or pool)
    pool: list[str] = []
    for n, batch in enumerate(tqdm(loader, total=total, desc="forecast eval", disable=not progress)):
        if max_batches and n >= max_batches:
            break
        target = resize_flows(batch["flow"], r)
        past = resize_flows(batch["past_flow"], r)
        kinds = clip_kinds(past, target, moving_threshold_px)
        pred, _ = model.forecast(batch["frames"], batch["caption"], num_samples=num_samples,
                                 num_inference_steps=num_inference_steps, generator=generator,
                                 past_flow=batch["past_flow"])
        swapped, same = swap_captions(list(batch["caption"]), pool)
        unchanged += same
        _remember(pool, list(batch["caption"]))
        shuffled, _ = model.forecast(batch["frames"], swapped,
                                     num_inference_steps=num_inference_steps, generator=generator,
                                     past_flow=batch["past_flow"])
        per_sample = (pred - target[:, None]).norm(dim=3).mean(dim=(2, 3, 4))  # (B, S)
        best = pred[torch.arange(pred.shape[0]), per_sample.argmin(dim=1)]
        outputs = {"model": pred[:, 0], "model_best_of_s": best, "shuffled_captions": shuffled[:, 0],
                   **{b: baseline_forecast(b, past, target.shape[1]) for b in BASELINES}}
        for i, kind in enumerate(kinds):
            for name, out in outputs.items():
                errors[name].add(out[i:i + 1], target[i:i + 1], group=kind)
    report = {name: errors[name].summary() for name in names}
    report["by_kind"] = {kind: {name: errors[name].summary(f"group:{kind}") for name in names}
                         for kind in errors["model"].groups()}
    best_baseline = min(BASELINES, key=lambda b: report[b]["epe_moving"])
    # All pixels too: a model that wins on moving pixels by painting motion on still ones has not won.
    best_all = min(BASELINES, key=lambda b: report[b]["epe"])
    report["ratios"] = {
        "best_baseline": best_baseline,
        "model_vs_best_baseline_moving": _ratio(report["model"]["epe_moving"], report[best_baseline]["epe_moving"]),
        "best_baseline_all": best_all,
        "model_vs_best_baseline_all": _ratio(report["model"]["epe"], report[best_all]["epe"]),
        "shuffled_vs_model_moving": _ratio(report["shuffled_captions"]["epe_moving"], report["model"]["epe_moving"]),
    }
    report["settings"] = {"shuffled_captions_unchanged": unchanged, "resolution": r, "num_samples": num_samples,
                          "moving_threshold_px": moving_threshold_px,
                          "num_inference_steps": num_inference_steps or model.cfg.num_inference_steps}
    return report


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")  # no moving pixels at this threshold: no ratio to report


def format_report(report: dict) -> str:
    """A plain-text table: EPE (all / moving pixels) and angular error per method, then per kind and horizon."""
    names = ["model", "model_best_of_s", "shuffled_captions", *BASELINES]
    lines = [f"{'method':<20}{'EPE all':>9}{'EPE moving':>12}{'angle mov.':>11}{'samples':>9}"]
    for name in names:
        s = report[name]
        lines.append(f"{name:<20}{s['epe']:>9.4f}{s['epe_moving']:>12.4f}{s['angular_moving_deg']:>11.2f}{s['samples']:>9}")
    ratios = report["ratios"]
    verdict = lambda r: "better than" if r < 1 else "not better than"  # noqa: E731
    moving, everywhere = ratios["model_vs_best_baseline_moving"], ratios["model_vs_best_baseline_all"]
    lines.append(f"model / best baseline ({ratios['best_baseline']}), moving pixels: {moving:.3f} "
                 f"({verdict(moving)} it);  all pixels ({ratios['best_baseline_all']}): {everywhere:.3f} "
                 f"({verdict(everywhere)} it);  shuffled captions / model: {ratios['shuffled_vs_model_moving']:.3f}")
    for kind, rows in report["by_kind"].items():
        if not math.isfinite(rows["model"]["epe_moving"]):
            cells = "no moving pixels at this threshold"
        else:
            cells = "  ".join(f"{name} {rows[name]['epe_moving']:.3f}" for name in names if rows[name])
        lines.append(f"  {kind:<8} ({rows['model']['samples']} clips) EPE moving: {cells}")
        cells = "  ".join(f"{name} {rows[name]['epe']:.4f}" for name in names if rows[name])
        lines.append(f"  {'':<8} {'':>{len(str(rows['model']['samples'])) + 8}} EPE all:    {cells}")
    horizons = report["model"]["per_horizon"]
    lines.append("  per horizon, EPE moving: " + "  ".join(
        f"t+{h['horizon']}: model {h['epe_moving']:.3f} / last {report['last']['per_horizon'][i]['epe_moving']:.3f}"
        for i, h in enumerate(horizons)))
    return "\n".join(lines)
