# The lerobot baselines, primary protocol (docs/experiments/motion_ablation.md, "lerobot baselines: the protocol"):
# ACT and Diffusion Policy per task, ACT multi-task, lerobot's defaults (+ COMMON of benchmarks/lerobot_baselines.py),
# batch 8, the 30 demos per task of outputs/exp24/demos, evaluated with motionvla eval on env seeds 1000-1019 (20 per
# task). Steps per model = 290 CPU-s per task (1,750 for the multi-task model) / the CPU-seconds per step that
# baseline_cost.sh measured (run it first, on idle cores). Resumable: a finished model or evaluation is skipped.
# The secondary baseline (motion_ablation.md, "The secondary (CPU-sized ACT) baseline") is arm act_small_per_task: the
# same protocol, steps per task model = 290 CPU-s / what `baseline_cost.sh act_small` measured.
# usage: bash docs/experiments/issue25/baselines.sh ARM SEED...
#   (ARM: act_per_task, diffusion_per_task, act_multitask, act_small_per_task)
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 PYTHONPATH=${SNAP:-.}
PY=${PY:-.venv/bin/python}
arm=$1; shift
case $arm in
  act_per_task) type=act; budget=290 ;;
  diffusion_per_task) type=diffusion; budget=290 ;;
  act_multitask) type=act; budget=1750 ;;
  act_small_per_task) type=act_small; budget=290 ;;
  *) echo "unknown arm $arm (act_per_task, diffusion_per_task, act_multitask, act_small_per_task)"; exit 2 ;;
esac
steps=$($PY docs/experiments/issue25/baseline_budget.py "$type" "$budget") || exit 2
for seed in "$@"; do
  echo "$arm seed $seed: $steps steps per model"
  $PY -P benchmarks/lerobot_baselines.py --demos=outputs/exp24/demos --out=outputs/exp25/baselines/seed$seed \
      --arms=$arm --steps=$steps --seed=$seed --eval_seed=1000 --eval_episodes=20
done
echo BASELINES $arm DONE
