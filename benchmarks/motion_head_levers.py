"""Train the quickstart's tiny policy with motion-head options and measure its forecast on held-out episodes.

One run = ``motionvla train`` with the quickstart's recipe (3000 steps x batch 32, lr 1e-3, 200 warm-up steps)
plus ``--policy.*`` overrides, then the motion head's end-point error on a held-out demo set, on all and moving
pixels, against "nothing moves" and the last observed flow, with 1-step and 10-step sampling. Writes
``<out>/motion_heldout.json`` the moment it is done; a run whose JSON exists is skipped (resumable).

    .venv/bin/python benchmarks/motion_head_levers.py --demos=outputs/exp24/demos --heldout=outputs/exp24/val \\
        --out=outputs/exp24/runs/one_step --policy.motion_one_step_fraction=0.5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from policy_recipe import train_run  # the quickstart's recipe + overrides (benchmarks/policy_recipe.py)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", required=True)
    parser.add_argument("--demos_repo_id", default="local/quickstart")
    parser.add_argument("--heldout", required=True)
    parser.add_argument("--heldout_repo_id", default="local/heldout")
    parser.add_argument("--out", required=True)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--eval_episodes", type=int, default=0,
                        help="also evaluate the policy's success, this many tabletop episodes per task (env seeds 1000+)")
    args, overrides = parser.parse_known_args()
    out = Path(args.out)
    result_file = out / "motion_heldout.json"
    if result_file.exists():
        print(f"{result_file} exists: skipped")
        return 0
    train_dir = out / "train"
    started = time.perf_counter()
    train_run(args.demos, args.demos_repo_id, overrides, train_dir)
    train_seconds = time.perf_counter() - started

    from motionvla.evaluation.motion_heldout import heldout_motion_items
    from motionvla.policy import MotionVLAPolicy, load_processors
    from motionvla.reports.policy_report import forecast_summary, motion_forecast_error

    checkpoint = train_dir / "pretrained_model"
    policy = MotionVLAPolicy.from_pretrained(checkpoint).eval()
    preprocess, _ = load_processors(checkpoint)
    items = heldout_motion_items(args.heldout, args.heldout_repo_id, policy.config, every=args.every)
    result = {"overrides": overrides, "train_seconds": round(train_seconds, 1), "heldout": args.heldout,
              "items": len(items)}
    for steps in (1, 10):
        result[f"steps{steps}"] = motion_forecast_error(policy, preprocess, items, num_steps=steps)
    if args.eval_episodes:
        from motionvla.cli import eval as eval_cli

        cameras = ",".join(k.removeprefix("observation.images.") for k in policy.config.image_keys)
        info = eval_cli.run(eval_cli.Config(policy=str(checkpoint), episodes=args.eval_episodes, workers=1,
                                            out=str(out / "eval"), image_size=policy.config.image_size,
                                            cameras=cameras, videos_per_task=0, overwrite=True))
        result["success"] = {"overall": info["overall"]["pc_success"],
                             "per_task": {t: v["pc_success"] for t, v in info["per_task"].items()},
                             "episodes": info["overall"]["n_episodes"]}
    out.mkdir(parents=True, exist_ok=True)
    tmp = result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(result_file)
    for steps in (1, 10):
        print(f"{out.name} {steps}-step: {forecast_summary(result[f'steps{steps}'], args.heldout)}")
    if "success" in result:
        print(f"{out.name} success: {result['success']['overall']:.1f} % of {result['success']['episodes']} episodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
