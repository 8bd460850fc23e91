# The 10-demos-per-task regime of the motion ablation (docs/experiments/motion_ablation.md, "10 demos per task"):
# arms (a) action-only and (b) dual-head from scratch, trained on the first 10 demos of each task of
# outputs/exp24/demos (env seeds 0-9; the spec is motionvla.cli.ablate.regime_episodes's), the tiny recipe otherwise
# unchanged (3,000 steps x batch 32), evaluated once on env seeds 1000-1019 (20 per task) with n_action_steps 5 and 10.
# Arm (c), dual-head with the head from the forecaster re-adapted on these 60 demos only
# (regime10_forecaster.sh writes outputs/fc10/tabletop10_r10; run it first).
# usage: PY=/work/venv_t/bin/python SNAP=/work/snap34 bash regime10.sh "a b c" SEED...   (resumable; a finished
# run's result.json is kept, a killed training resumes from its last checkpoint, every 1,000 steps)
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
PY=${PY:-.venv/bin/python}
EPISODES=$($PY -P -c "from motionvla.cli.ablate import regime_episodes as r; print(r('outputs/exp24/demos', 'local/quickstart', '10'))")
arms=$1; shift
for seed in "$@"; do
  for arm in $arms; do
    case $arm in
      a) name=action_only; extra=--policy.motion_weight=0 ;;
      b) name=dual_head; extra= ;;
      c) name=forecaster; extra=--policy.motion_head_from=outputs/fc10/tabletop10_r10
         [ -f outputs/fc10/tabletop10_r10/pretrained_model/config.json ] || { echo "run regime10_forecaster.sh first"; exit 2; } ;;
      *) echo "unknown arm $arm (a, b or c)"; exit 2 ;;
    esac
    $PY -P benchmarks/policy_recipe.py --demos=outputs/exp24/demos --out=outputs/exp25/regime10/${name}_seed$seed \
        --eval_seed=1000 --eval_episodes=20 --n_action_steps=5,10 --train.seed=$seed \
        --dataset.episodes=$EPISODES $extra
  done
done
echo REGIME10 DONE
