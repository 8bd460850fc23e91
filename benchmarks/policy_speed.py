"""Dual-head vs action-only policy: inference latency per action chunk and training step time.

Both policies are built from the same config except ``motion_weight`` (0 = action-only: no motion head
at all). They are measured side by side in one process, interleaved round by round, so machine noise
hits both alike; the script prints medians and the ratios dual-head / action-only.

    .venv/bin/python benchmarks/policy_speed.py                 # the quickstart's tiny policy, 64x64, CPU
    .venv/bin/python benchmarks/policy_speed.py --threads 1 --rounds 40
    .venv/bin/python benchmarks/policy_speed.py --cameras 2     # front + wrist, as make demo trains
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from motionvla.policy import MotionVLAConfig, MotionVLAPolicy


# The motion head before the options of docs/experiments/motion_head.md (a velocity DiT reading features through
# cross-attention only), timed beside today's with --previous_head.
PREVIOUS_HEAD = dict(motion_prediction="velocity", motion_feature_channels=0, motion_one_step_fraction=0.0)


def build(motion_weight: float, image_size: int, cameras: int, seed: int = 0, **head) -> MotionVLAPolicy:
    torch.manual_seed(seed)
    # The tabletop's sizes: 4-dim state and action, 64x64 cameras (`make demo` trains on front + wrist).
    keys = ["observation.images.front", "observation.images.wrist", "observation.images.top"][:cameras]
    return MotionVLAPolicy(MotionVLAConfig(image_size=image_size, image_keys=keys, state_dim=4, action_dim=4, device="cpu",
                                           flow_max_magnitude=1.0, motion_weight=motion_weight, **head))


def time_inference(policy: MotionVLAPolicy, obs: dict) -> float:
    start = time.perf_counter()
    policy.predict_action_chunk(obs)
    return time.perf_counter() - start


def time_train_step(policy: MotionVLAPolicy, optimizer: torch.optim.Optimizer, batch: dict) -> float:
    start = time.perf_counter()
    loss, _ = policy(batch)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (inference uses 1)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--cameras", type=int, default=1, choices=(1, 2, 3), help="2 = front + wrist, as in make demo")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--previous_head", action="store_true",
                        help="also time the dual-head policy with the motion head's previous defaults")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    policies = {k: build(w, args.image_size, args.cameras) for k, w in (("action-only", 0.0), ("dual-head", 1.0))}
    if args.previous_head:
        policies["dual-head, previous head"] = build(1.0, args.image_size, args.cameras, **PREVIOUS_HEAD)
    config = policies["dual-head"].config
    obs = config.fake_batch(1, seed=1, with_targets=False)
    batch = config.fake_batch(args.batch_size, seed=2)
    # Flow targets arrive from the cache at the motion resolution (no resizing in the step).
    batch["motion"] = batch["motion"][..., : config.motion_resolution, : config.motion_resolution]
    optimizers = {k: torch.optim.AdamW(p.parameters(), lr=1e-4) for k, p in policies.items()}
    for policy in policies.values():
        policy.eval()
    infer: dict[str, list[float]] = {k: [] for k in policies}
    train: dict[str, list[float]] = {k: [] for k in policies}
    with torch.inference_mode():
        for r in range(args.warmup + args.rounds):
            for name, policy in policies.items():
                t = time_inference(policy, obs)
                if r >= args.warmup:
                    infer[name].append(t)
    for policy in policies.values():
        policy.train()
    for r in range(args.warmup + args.rounds):
        for name, policy in policies.items():
            t = time_train_step(policy, optimizers[name], batch)
            if r >= args.warmup:
                train[name].append(t)

    med = {f"{kind}_{k}_ms": 1000 * statistics.median(v) for kind, d in (("infer", infer), ("train", train)) for k, v in d.items()}
    params = {k: sum(p.numel() for p in pol.parameters()) for k, pol in policies.items()}
    result = {
        **{k: round(v, 3) for k, v in med.items()},
        "infer_ratio": round(med["infer_dual-head_ms"] / med["infer_action-only_ms"], 3),
        "train_ratio": round(med["train_dual-head_ms"] / med["train_action-only_ms"], 3),
        "params": params,
        "config": {"image_size": args.image_size, "cameras": args.cameras, "batch_size": args.batch_size, "threads": args.threads,
                   "rounds": args.rounds, "num_inference_steps": config.num_inference_steps,
                   "chunk_size": config.chunk_size, "motion": [config.motion_frames, config.motion_resolution,
                                                               config.motion_patch_size, config.motion_layers]},
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads",
    }
    print(f"machine: {result['machine']}")
    print(f"parameters: action-only {params['action-only']:,}  dual-head {params['dual-head']:,}")
    print(f"inference, one chunk (batch 1, {config.num_inference_steps} Euler steps): "
          f"action-only {med['infer_action-only_ms']:.2f} ms  dual-head {med['infer_dual-head_ms']:.2f} ms  "
          f"ratio {result['infer_ratio']:.3f}")
    print(f"training step (batch {args.batch_size}, fwd+bwd+AdamW): action-only {med['train_action-only_ms']:.1f} ms  "
          f"dual-head {med['train_dual-head_ms']:.1f} ms  ratio {result['train_ratio']:.3f}")
    if args.previous_head:
        previous = med["train_dual-head, previous head_ms"]
        result["train_ratio_vs_previous_head"] = round(med["train_dual-head_ms"] / previous, 3)
        print(f"training step, dual-head with the previous head: {previous:.1f} ms; today's / previous "
              f"{result['train_ratio_vs_previous_head']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
