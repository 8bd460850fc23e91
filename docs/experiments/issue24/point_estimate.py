"""Which point estimate of the forecaster's predictive distribution does best on all pixels and moving pixels?

Exploratory (issue 24): the forecaster is trained with a (moving-weighted) squared error, so its 1-step output is
close to a conditional mean, which spreads motion over every candidate object when it is unsure. End-point error
is minimised by a (geometric) median instead: for a pixel that moves with probability p < 1/2 it is 0. This dumps
the model's predictions on a split once (``--dump``), then scores point estimates of them:

- ``mean1``: the 1-step output (what `forecast eval` reports as "model");
- ``median``: the per-pixel coordinate-wise median of S multi-step samples;
- ``deadzone(tau)``: ``mean1`` with vectors shorter than ``tau`` px set to 0.

    PYTHONPATH=. .venv/bin/python docs/experiments/issue24/point_estimate.py --checkpoint=outputs/fc10/run12 \
        --data=outputs/fc10/shards_val --dump=outputs/fc10/pe_val_run12.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def dump(args) -> dict:
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from motionvla.cli.forecast_data import ForecastDataOptions, forecast_samples
    from motionvla.cli.forecast_train import forecaster_folder
    from motionvla.flow import resize_flows
    from motionvla.flow_forecast.evaluation import clip_kinds
    from motionvla.flow_forecast.pipeline import FlowForecastPipeline
    from motionvla.flow_forecast.training import collate_forecast

    model = FlowForecastPipeline.from_pretrained(forecaster_folder(args.checkpoint)).model.eval()
    data = forecast_samples(ForecastDataOptions(data=args.data), model.cfg.frames_in, model.cfg.num_frames)
    r = model.cfg.resolution
    gen = torch.Generator().manual_seed(0)
    out = {"mean1": [], "samples": [], "target": [], "last": [], "kinds": []}
    with torch.no_grad():
        for batch in tqdm(DataLoader(data, batch_size=32, shuffle=False, collate_fn=collate_forecast)):
            target, past = resize_flows(batch["flow"], r), resize_flows(batch["past_flow"], r)
            out["kinds"] += clip_kinds(past, target, args.moving_threshold_px)
            mean1, _ = model.forecast(batch["frames"], batch["caption"], num_samples=1, num_inference_steps=1,
                                      generator=gen, past_flow=batch["past_flow"])
            samples, _ = model.forecast(batch["frames"], batch["caption"], num_samples=args.samples,
                                        num_inference_steps=args.steps, generator=gen, past_flow=batch["past_flow"])
            out["mean1"].append(mean1[:, 0].half())
            out["samples"].append(samples.half())
            out["target"].append(target.half())
            out["last"].append(past[:, -1:].expand_as(target).half())
    result = {k: (torch.cat(v) if k != "kinds" else v) for k, v in out.items()}
    torch.save(result, args.dump)
    return result


def score(pred: torch.Tensor, target: torch.Tensor, threshold: float) -> tuple[float, float]:
    epe = (pred.float() - target.float()).norm(dim=2)
    moving = target.float().norm(dim=2) > threshold
    return float(epe.mean()), float(epe[moving].mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", default="")
    p.add_argument("--data", default="")
    p.add_argument("--dump", required=True)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--moving_threshold_px", type=float, default=0.1)
    p.add_argument("--taus", default="0.02,0.05,0.1,0.15,0.2,0.3")
    p.add_argument("--out", default="")
    args = p.parse_args()
    d = torch.load(args.dump) if Path(args.dump).exists() else dump(args)
    target, last = d["target"], d["last"]
    rows = {"zero": torch.zeros_like(target), "last": last, "mean1": d["mean1"],
            "median": d["samples"].float().median(dim=1).values,
            "sample_mean": d["samples"].float().mean(dim=1)}
    for tau in (float(t) for t in args.taus.split(",")):
        m = d["mean1"].float()
        rows[f"deadzone({tau})"] = m * (m.norm(dim=2, keepdim=True) >= tau)
    kinds = d["kinds"]
    report = {}
    base_all, base_mov = score(last, target, args.moving_threshold_px)
    for name, pred in rows.items():
        all_px, mov = score(pred, target, args.moving_threshold_px)
        per_kind = {}
        for kind in sorted(set(kinds)):
            idx = torch.tensor([k == kind for k in kinds])
            per_kind[kind] = score(pred[idx], target[idx], args.moving_threshold_px)[0]
        report[name] = {"all": all_px, "moving": mov, "all_vs_last": all_px / base_all,
                        "moving_vs_last": mov / base_mov, "all_by_kind": per_kind}
        print(f"{name:<18} all {all_px:.4f} ({all_px / base_all:.2f}x last)  moving {mov:.4f} "
              f"({mov / base_mov:.2f}x last)  " + "  ".join(f"{k} {v:.4f}" for k, v in per_kind.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
