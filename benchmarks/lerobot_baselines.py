"""The baselines a user would pick instead: lerobot's ACT and Diffusion Policy, trained with ``lerobot-train`` on
the same tabletop demos, evaluated with ``motionvla eval`` on the same env seeds as our policy.

Arms: ``act_per_task`` and ``diffusion_per_task`` (one model per task, trained on that task's episodes only,
since they read no instruction), ``act_multitask`` (one model on all demos; it cannot tell the tasks apart
except from the scene) and ``act_small_per_task`` (ACT sized for a CPU: 256 wide, chunk 10, 5 executed).
``--steps`` are optimizer steps per model: give the per-task arms the same CPU budget per task as the policy they
are compared with (measure steps/s first; the script records each training's wall
time in the result). lerobot's defaults otherwise, except what this machine needs: no pretrained ResNet weights
(nothing downloads here), the CPU device, and DDIM sampling with 10 steps for Diffusion Policy (see ARMS).

    .venv/bin/python benchmarks/lerobot_baselines.py --demos=outputs/exp24/demos --out=outputs/exp25/baselines/s0 \\
        --arms=act_per_task --steps=40 --seed=0 --eval_seed=1000 --eval_episodes=20

Every model's evaluation is written the moment it is done (``<out>/<arm>/<task>/eval/eval_info.json``) and the
arm's summary to ``<out>/<arm>/result.json``; a re-run skips what exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ARMS = {
    "act_per_task": ("act", True, []),
    # DDIM with 10 steps instead of lerobot's default 100 DDPM steps: with its default U-Net a CPU evaluation at 100
    # steps takes minutes per episode (measured here: two episodes unfinished after 10 minutes).
    "diffusion_per_task": ("diffusion", True, ["--policy.noise_scheduler_type=DDIM", "--policy.num_inference_steps=10"]),
    "act_multitask": ("act", False, []),
    # The secondary baseline (docs/experiments/motion_ablation.md): ACT sized for a CPU budget, with our recipe's
    # chunk (10 actions, 5 executed) instead of lerobot's 100; lerobot's defaults otherwise.
    "act_small_per_task": ("act", True, ["--policy.chunk_size=10", "--policy.n_action_steps=5",
                                         "--policy.dim_model=256", "--policy.dim_feedforward=1024"]),
}
# What every arm needs on this machine: no download of ImageNet weights, CPU.
COMMON = ["--policy.pretrained_backbone_weights=null", "--policy.device=cpu", "--policy.push_to_hub=false",
          "--wandb.enable=false", "--num_workers=0"]


def episodes_by_task(root: str, repo_id: str) -> dict[str, list[int]]:
    """Instruction -> episode indices of a lerobot dataset."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    meta = LeRobotDatasetMetadata(repo_id, root=root)
    out: dict[str, list[int]] = {}
    for row in meta.episodes:
        for task in row["tasks"]:
            out.setdefault(task, []).append(int(row["episode_index"]))
    return out


def train(args: argparse.Namespace, policy_type: str, episodes: list[int] | None, out: Path,
          extra: list[str]) -> float | None:
    """``lerobot-train`` into ``out`` (skipped if its last checkpoint exists) -> wall seconds, None if skipped (the
    model was trained by an earlier invocation: main keeps the time that invocation recorded, if it got that far)."""
    if (out / "checkpoints" / "last" / "pretrained_model" / "model.safetensors").exists():
        return None
    cmd = [str(Path(sys.executable).with_name("lerobot-train")), f"--dataset.repo_id={args.demos_repo_id}",
           f"--dataset.root={args.demos}", f"--policy.type={policy_type}", f"--steps={args.steps}",
           f"--batch_size={args.batch_size}", f"--save_freq={args.steps}", f"--log_freq={max(1, args.steps // 10)}",
           f"--seed={args.seed}", f"--output_dir={out}", *COMMON, *extra]
    if episodes is not None:
        cmd.append(f"--dataset.episodes=[{','.join(map(str, episodes))}]")
    if out.exists():  # a training killed before its only checkpoint: nothing to resume, lerobot refuses the folder
        print(f"{out}: an unfinished training without a checkpoint, started again", flush=True)
        shutil.rmtree(out)
    print(" ".join(cmd), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started


def evaluate(args: argparse.Namespace, checkpoint: Path, task: str, out: Path) -> dict:
    from motionvla.cli import eval as eval_cli

    info_file = out / "eval_info.json"
    if info_file.exists():
        return json.loads(info_file.read_text())
    return eval_cli.run(eval_cli.Config(policy=str(checkpoint), tasks=task, episodes=args.eval_episodes,
                                        seed=args.eval_seed, workers=1, out=str(out), image_size=args.image_size,
                                        cameras=args.cameras, videos_per_task=0, overwrite=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", required=True)
    parser.add_argument("--demos_repo_id", default="local/quickstart")
    parser.add_argument("--out", required=True)
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma list of {', '.join(ARMS)}")
    parser.add_argument("--steps", type=int, required=True, help="optimizer steps per model")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval_seed", type=int, default=1000)
    parser.add_argument("--eval_episodes", type=int, default=20, help="per task")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--cameras", default="front,wrist")
    parser.add_argument("--tasks", default="", help="comma list of instructions' task names (default: all)")
    args, extra = parser.parse_known_args()
    unknown = [a for a in args.arms.split(",") if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; accepted: {', '.join(ARMS)}")

    from sim_envs.tabletop import TASKS

    by_instruction = episodes_by_task(args.demos, args.demos_repo_id)
    names = args.tasks.split(",") if args.tasks else list(TASKS)
    missing = [n for n in names if TASKS[n].instruction not in by_instruction]
    if missing:
        parser.error(f"{args.demos} holds no demos for task(s) {missing}")
    for arm in args.arms.split(","):
        policy_type, per_task, arm_options = ARMS[arm]
        arm_dir = Path(args.out) / arm
        options = [*arm_options, *extra]
        result = {"arm": arm, "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
                  "eval_seed": args.eval_seed, "options": options, "train_seconds": {}, "per_task": {}}
        # training times of models an earlier invocation trained (a resumed arm skips them): kept, not lost
        earlier = json.loads((arm_dir / "result.json").read_text())["train_seconds"] if (
            arm_dir / "result.json").exists() else {}
        groups = {n: [n] for n in names} if per_task else {"all": names}
        for group, tasks in groups.items():
            episodes = by_instruction[TASKS[group].instruction] if per_task else None
            run_dir = arm_dir / group
            seconds = train(args, policy_type, episodes, run_dir / "train", options)
            if seconds is not None:  # beside the model, so that a resumed arm still knows it
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "train_seconds.json").write_text(json.dumps(round(seconds, 1)) + "\n")
            elif (run_dir / "train_seconds.json").exists():
                seconds = json.loads((run_dir / "train_seconds.json").read_text())
            result["train_seconds"][group] = earlier.get(group) if seconds is None else round(seconds, 1)
            checkpoint = run_dir / "train" / "checkpoints" / "last" / "pretrained_model"
            for task in tasks:
                info = evaluate(args, checkpoint, f"tabletop/{task}", run_dir / f"eval_{task}")
                result["per_task"][task] = info["overall"]["pc_success"]
                print(f"{arm} {task}: {info['overall']['pc_success']:.1f} %", flush=True)
        result["overall"] = sum(result["per_task"].values()) / len(result["per_task"])
        tmp = arm_dir / "result.json.tmp"
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(arm_dir / "result.json")
        print(f"{arm}: {result['overall']:.1f} % overall", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
