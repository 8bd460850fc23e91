"""Flow forecaster speed: training samples/s and inference latency (1 and 4 sampling steps) of the ``tiny``
preset on this machine, and the ``fofpred-3b`` parameter counts (built on the meta device).

    .venv/bin/python benchmarks/forecast_speed.py                     # tiny, 64² inputs, batch 32, CPU
    .venv/bin/python benchmarks/forecast_speed.py --threads 1 --rounds 30
    .venv/bin/python benchmarks/forecast_speed.py --grounding_maps 8 --past_flow   # the synthetic runs' model

Inputs are random tensors of the shapes the prep shards give (frames uint8 (B, 2, 3, 64, 64), flow (B, 4, 2,
64, 64)); the numbers measure compute only (data loading is the shard reader's, see prep_speed.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from motionvla.flow_forecast.configuration import ForecasterConfig
from motionvla.flow_forecast.modeling import FlowForecaster
from motionvla.flow_forecast.presets import describe_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64, help="input frame / flow side")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--grounding_maps", type=int, default=0, help="--model.grounding_maps of the model timed")
    parser.add_argument("--past_flow", action="store_true", help="--model.past_flow_condition=true")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from motionvla.utils.machine import machine_description

    print("command:", " ".join([sys.executable, *sys.argv]))
    print("machine:", machine_description(), f"torch threads {torch.get_num_threads()}")
    torch.manual_seed(0)
    cfg = ForecasterConfig(flow_max_magnitude=1.0, grounding_maps=args.grounding_maps,
                           past_flow_condition=args.past_flow)
    model = FlowForecaster(forecaster=cfg.to_dict())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(0)
    b, s = args.batch, args.size
    batch = {"frames": torch.randint(0, 255, (b, 2, 3, s, s), dtype=torch.uint8, generator=g),
             "flow": torch.randn(b, 4, 2, s, s, generator=g), "caption": ["the red circle moves to the left"] * b}
    if args.past_flow:  # the flows observed between the input frames, as the shards give them
        batch["past_flow"] = torch.randn(b, cfg.past_flows, 2, s, s, generator=g)
    one = {"frames": batch["frames"][:1], "caption": batch["caption"][:1], "past_flow": batch.get("past_flow")}

    def train_step() -> float:
        start = time.perf_counter()
        loss, _ = model(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    def infer(steps: int) -> float:
        start = time.perf_counter()
        past = one["past_flow"][:1] if one["past_flow"] is not None else None
        model.forecast(one["frames"], one["caption"], num_inference_steps=steps, past_flow=past)
        return time.perf_counter() - start

    for _ in range(3):  # warm-up (the first steps of a fresh process are slow)
        train_step(), infer(1), infer(4)
    times: dict[str, list[float]] = {"train": [], "infer1": [], "infer4": []}
    for _ in range(args.rounds):  # interleaved, so drift hits all three alike
        times["train"].append(train_step())
        model.eval()
        times["infer1"].append(infer(1))
        times["infer4"].append(infer(4))
        model.train()
    med = {k: statistics.median(v) for k, v in times.items()}
    counts = describe_preset("fofpred-3b")
    result = {"machine": machine_description(), "batch": b, "size": s,
              "grounding_maps": args.grounding_maps, "past_flow_condition": args.past_flow,
              "params_tiny_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
              "train_step_ms": round(1e3 * med["train"], 2), "train_samples_per_s": round(b / med["train"], 1),
              "infer_1_step_ms": round(1e3 * med["infer1"], 2), "infer_4_steps_ms": round(1e3 * med["infer4"], 2),
              "fofpred_3b_params": counts}
    print(f"tiny ({result['params_tiny_M']} M parameters), inputs {s}², medians of {args.rounds} rounds:")
    print(f"  training step (batch {b}, fwd+bwd+AdamW): {result['train_step_ms']:.1f} ms -> "
          f"{result['train_samples_per_s']:.1f} samples/s")
    print(f"  inference, batch 1: 1 step {result['infer_1_step_ms']:.2f} ms, 4 steps {result['infer_4_steps_ms']:.2f} ms")
    print("fofpred-3b on meta: " + ", ".join(f"{k} {v / 1e9:.2f} B" for k, v in counts.items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
