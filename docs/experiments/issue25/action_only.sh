# Arm (a) of the motion ablation (docs/experiments/motion_ablation.md): the tiny recipe with motion_weight=0
# (no motion head), training seeds given as arguments, evaluated once on the final range (env seeds 1000-1019,
# 20 episodes per task) with n_action_steps 5 (the recipe's) and 10. Pairs with final_n5_seed*/final_n10_seed*
# (arm b, the same recipe with the sfw head, same seeds, same data order, same env seeds).
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
for seed in "$@"; do
  .venv/bin/python benchmarks/policy_recipe.py --demos=outputs/exp24/demos --out=outputs/exp25/ablation/action_only_seed$seed \
      --eval_seed=1000 --eval_episodes=20 --n_action_steps=5,10 --train.seed=$seed --policy.motion_weight=0
done
echo ACTION_ONLY DONE
