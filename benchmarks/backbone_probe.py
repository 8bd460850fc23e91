"""Linear probe of frozen backbone features -> the manipulated object's future displacement, R² per checkpoint.

Frames come from the scripted expert on env seeds ``--seed`` + i (use a range no policy trained on and no recipe was
chosen on); they are recorded once into ``--frames`` (.npz) and reused. Each checkpoint's pre-processor and backbone
give one mean-pooled feature vector per frame; a ridge probe is scored out-of-fold, folds split by episode
(motionvla.evaluation.backbone_probe). Prints one line per checkpoint and writes ``--out`` (JSON).

    .venv/bin/python benchmarks/backbone_probe.py --frames=outputs/exp25/probe_frames.npz --seed=30000 \\
        --out=outputs/exp25/probe.json action_only_s0=outputs/x/pretrained_model dual_head_s0=outputs/y/pretrained_model
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="NAME=pretrained_model folder")
    parser.add_argument("--frames", required=True, help=".npz of probe frames (recorded if missing)")
    parser.add_argument("--seed", type=int, default=30000)
    parser.add_argument("--episodes_per_task", type=int, default=5)
    parser.add_argument("--tasks", default="all")
    parser.add_argument("--horizon", type=int, default=5, help="control steps ahead (10 Hz)")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=10.0, help="ridge penalty on standardized features")
    parser.add_argument("--untrained_from", default=None,
                        help="also probe the untrained backbone: this folder's config and processors, fresh weights")
    parser.add_argument("--untrained_seeds", default="0", help="comma list of initialisation seeds for --untrained_from")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch

    from motionvla.evaluation.backbone_probe import (ProbeFrames, backbone_features, probe_r2, record_probe_frames,
                                                     state_task_features)
    from motionvla.policy import MotionVLAConfig, MotionVLAPolicy, load_processors
    from sim_envs.tabletop import TASKS

    named = [c.split("=", 1) for c in args.checkpoints]
    if any(len(n) != 2 for n in named):
        parser.error("give checkpoints as NAME=FOLDER")
    frames_path = Path(args.frames)
    if frames_path.exists():
        frames = ProbeFrames.load(frames_path)
    else:
        tasks = [f"tabletop/{t}" for t in TASKS] if args.tasks == "all" else args.tasks.split(",")
        frames = record_probe_frames(tasks, args.episodes_per_task, args.seed, horizon=args.horizon,
                                     image_size=args.image_size)
        frames_path.parent.mkdir(parents=True, exist_ok=True)
        frames.save(frames_path)
    print(f"{len(frames.tasks)} frames from {len(set(frames.episode.tolist()))} episodes, horizon {frames.horizon}")
    result = {"frames": str(frames_path), "horizon": frames.horizon, "alpha": args.alpha, "r2": {}}
    # References: no vision at all (state + task one-hot), and the architecture before any training.
    r2 = probe_r2(state_task_features(frames), frames.displacement, frames.episode, alpha=args.alpha)
    result["reference_state_task_r2"] = round(r2, 4)
    print(f"reference state + task (no image): R² {r2:.3f}", flush=True)
    runs = [(name, folder, None) for name, folder in named]
    if args.untrained_from:
        runs += [(f"untrained_seed{s}", args.untrained_from, int(s)) for s in args.untrained_seeds.split(",")]
    for name, folder, init_seed in runs:
        if init_seed is None:
            policy = MotionVLAPolicy.from_pretrained(folder)
        else:
            torch.manual_seed(init_seed)
            policy = MotionVLAPolicy(MotionVLAConfig.from_pretrained(folder))
        preprocess, _ = load_processors(folder)
        features = backbone_features(policy, preprocess, frames)
        r2 = probe_r2(features, frames.displacement, frames.episode, alpha=args.alpha)
        result["r2"][name] = {"checkpoint": folder, "r2": round(r2, 4), "untrained": init_seed is not None}
        print(f"{name}: R² {r2:.3f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
