# Recipe stage B (issue 25): random shift 4 px + EMA 0.999, seeds given as arguments, validation env seeds 20000+.
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
for seed in "$@"; do
  .venv/bin/python benchmarks/policy_recipe.py --demos=outputs/exp24/demos --out=outputs/exp25/recipe/b_seed$seed \
      --eval_seed=20000 --eval_episodes=10 --n_action_steps=10,5,2,1 --train.seed=$seed \
      --policy.image_shift_px=4 --train.ema_decay=0.999
done
echo STAGE_B DONE
