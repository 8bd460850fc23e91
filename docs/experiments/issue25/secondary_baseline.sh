# The secondary lerobot baseline (docs/experiments/motion_ablation.md, "The secondary (CPU-sized ACT) baseline"):
# arm act_small_per_task of benchmarks/lerobot_baselines.py, steps per task model = 290 CPU-s / the CPU-s per step
# that `baseline_cost.sh act_small` measured; evaluated like the primary arms (motionvla eval, env seeds 1000-1019,
# 20 per task). Resumable: finished models and evaluations are skipped.
# usage: bash docs/experiments/issue25/secondary_baseline.sh SEED...
# (baselines.sh runs the primary arms the same way; it gains this arm once no queue is running it: a running bash
# script must not be edited.)
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 PYTHONPATH=${SNAP:-.}
PY=${PY:-.venv/bin/python}
steps=$($PY docs/experiments/issue25/baseline_budget.py act_small 290) || exit 2
for seed in "$@"; do
  echo "act_small_per_task seed $seed: $steps steps per model"
  $PY -P benchmarks/lerobot_baselines.py --demos=outputs/exp24/demos --out=outputs/exp25/baselines/seed$seed \
      --arms=act_small_per_task --steps=$steps --seed=$seed --eval_seed=1000 --eval_episodes=20
done
echo BASELINES act_small_per_task DONE
