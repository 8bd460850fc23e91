"""Train the tiny tabletop policy with one recipe and measure its success on a range of env seeds.

One run = ``motionvla train`` on a demo folder (the quickstart's recipe: 3000 steps x batch 32, lr 1e-3, 200
warm-up steps, the action head's mean chunk at inference, plus any ``motionvla train`` options given after the known ones), then
``motionvla eval`` on the tabletop for each number of executed actions per chunk in ``--n_action_steps``, on env
seeds ``--eval_seed`` + i. Choose a recipe with a validation range of env seeds (e.g. 20000+) and report the
chosen one once on the final range (the quickstart's 1000+). ``<out>/result.json`` is written the moment the run
is done; a run whose JSON exists is skipped, a killed training resumes from its last checkpoint.

    .venv/bin/python benchmarks/policy_recipe.py --demos=outputs/exp24/demos --out=outputs/exp25/recipe/ema_s0 \\
        --eval_seed=20000 --eval_episodes=10 --n_action_steps=10,5 --seed=0 --train.ema_decay=0.999

``--checkpoint=DIR`` skips training and evaluates an existing ``pretrained_model`` folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from motionvla.train.prepare import TINY_RECIPE

# The quickstart's recipe, spelled out on the command line from its one definition (motionvla.train.prepare.
# TINY_RECIPE, which `motionvla train` would also fill in by itself), plus logging.
RECIPE = [f"--{k}={v}" for k, v in TINY_RECIPE.items()] + ["--log_freq=50", "--save_freq=1000"]


def train_run(demos: str, repo_id: str, overrides: list[str], train_dir: Path) -> None:
    """``motionvla train`` with :data:`RECIPE` + ``overrides`` into ``train_dir`` (resumed if killed, skipped if
    finished); also used by motion_head_levers.py."""
    if (train_dir / "pretrained_model" / "model.safetensors").exists():
        return
    # -P: `python -m` would put the working directory first on sys.path, ahead of PYTHONPATH, so a run meant to use
    # a snapshot of the code (PYTHONPATH=SNAP) would import the checkout being edited instead.
    cmd = [sys.executable, "-P", "-m", "motionvla.cli.main", "train", f"--dataset.root={demos}",
           f"--dataset.repo_id={repo_id}", f"--output_dir={train_dir}", "--train.progress=false",
           *RECIPE, *overrides]
    if (train_dir / "checkpoints").exists():
        cmd.append("--resume=true")
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", default="")
    parser.add_argument("--demos_repo_id", default="local/quickstart")
    parser.add_argument("--checkpoint", default="", help="evaluate this pretrained_model folder; no training")
    parser.add_argument("--out", required=True)
    parser.add_argument("--eval_seed", type=int, required=True, help="episode i uses env seed eval_seed + i")
    parser.add_argument("--eval_episodes", type=int, default=10, help="episodes per task")
    parser.add_argument("--n_action_steps", default="0", help="comma list; 0 = the checkpoint's own")
    parser.add_argument("--tasks", default="all")
    args, overrides = parser.parse_known_args()
    if bool(args.checkpoint) == bool(args.demos):
        parser.error("give exactly one of --demos (train, then evaluate) or --checkpoint (evaluate only)")
    out = Path(args.out)
    result_file = out / "result.json"
    if result_file.exists():
        print(f"{result_file} exists: skipped")
        return 0
    started = time.perf_counter()
    if args.checkpoint:
        checkpoint = Path(args.checkpoint)
    else:
        train_run(args.demos, args.demos_repo_id, overrides, out / "train")
        checkpoint = out / "train" / "pretrained_model"
    train_seconds = time.perf_counter() - started

    from motionvla.cli import eval as eval_cli
    from motionvla.policy import MotionVLAConfig

    config = MotionVLAConfig.from_pretrained(checkpoint)
    cameras = ",".join(k.removeprefix("observation.images.") for k in config.image_keys)
    result = {"checkpoint": str(checkpoint), "overrides": overrides, "train_seconds": round(train_seconds, 1),
              "eval_seed": args.eval_seed, "eval_episodes_per_task": args.eval_episodes, "success": {}}
    for steps in (int(s) for s in args.n_action_steps.split(",")):
        info = eval_cli.run(eval_cli.Config(policy=str(checkpoint), tasks=args.tasks, episodes=args.eval_episodes,
                                            seed=args.eval_seed, workers=1, out=str(out / f"eval_n{steps}"),
                                            image_size=config.image_size, cameras=cameras, videos_per_task=0,
                                            n_action_steps=steps, overwrite=True))
        result["success"][str(steps or config.n_action_steps)] = {
            "overall": info["overall"]["pc_success"], "episodes": info["overall"]["n_episodes"],
            "per_task": {t: v["pc_success"] for t, v in info["per_task"].items()}}
        print(f"{out.name} n_action_steps={steps or config.n_action_steps}: "
              f"{info['overall']['pc_success']:.1f} % of {info['overall']['n_episodes']}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    tmp = result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(result_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
