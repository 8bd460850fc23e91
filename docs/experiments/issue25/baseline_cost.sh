# The lerobot baselines' budget rule (docs/experiments/motion_ablation.md, "lerobot baselines: the protocol"):
# CPU-seconds per optimizer step of lerobot-train for ACT and Diffusion Policy at lerobot's defaults (+ COMMON of
# benchmarks/lerobot_baselines.py, DDIM 10 for Diffusion Policy), 30 steps then 60 steps on the 30 demos of the
# first task recorded, batch 8, one thread, nothing else running; per step = (CPU(60) - CPU(30)) / 30, so start-up
# cancels.
# act_small is the secondary baseline's ACT (act_small_per_task's options in benchmarks/lerobot_baselines.py).
# Writes outputs/exp25/baseline_cost/<kind>_<steps>.time (/usr/bin/time -v) and prints the per-step figures; the
# model folders are deleted once timed (only the .time files are read).
# usage: bash docs/experiments/issue25/baseline_cost.sh [KIND...]   (default: act diffusion; also act_small)
cd "$(git rev-parse --show-toplevel)"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 MUJOCO_GL=egl
OUT=outputs/exp25/baseline_cost
mkdir -p $OUT
COMMON="--policy.pretrained_backbone_weights=null --policy.device=cpu --policy.push_to_hub=false --wandb.enable=false --num_workers=0"
EPISODES=$(.venv/bin/python -c "print(','.join(map(str, range(30))))")   # the first task: tasks were recorded one after another
for kind in ${@:-act diffusion}; do
  type=$kind; extra=""
  [ $kind = diffusion ] && extra="--policy.noise_scheduler_type=DDIM --policy.num_inference_steps=10"
  [ $kind = act_small ] && { type=act; extra=$(PYTHONPATH=benchmarks .venv/bin/python -c \
      "import lerobot_baselines as b; print(' '.join(b.ARMS['act_small_per_task'][2]))"); }
  for steps in 30 60; do
    [ -f $OUT/${kind}_$steps.time ] && continue
    rm -rf $OUT/${kind}_$steps
    /usr/bin/time -v -o $OUT/${kind}_$steps.time.tmp .venv/bin/lerobot-train --dataset.repo_id=local/quickstart \
        --dataset.root=outputs/exp24/demos --policy.type=$type --steps=$steps --batch_size=8 --save_freq=$steps \
        --log_freq=10 --seed=0 --output_dir=$OUT/${kind}_$steps "--dataset.episodes=[$EPISODES]" $COMMON $extra \
        > $OUT/${kind}_$steps.log 2>&1 && mv $OUT/${kind}_$steps.time.tmp $OUT/${kind}_$steps.time
    rm -rf $OUT/${kind}_$steps
  done
done
.venv/bin/python docs/experiments/issue25/baseline_budget.py
