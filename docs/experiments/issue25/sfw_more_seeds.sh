# The current recipe (the quickstart's, sfw head) at training seeds given as arguments: train, then the validation
# env seeds 20000+ with n_action_steps 10, 5, 2, 1 (for the final 5-seed evaluation of whichever recipe wins).
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
for seed in "$@"; do
  .venv/bin/python benchmarks/policy_recipe.py --demos=outputs/exp24/demos --out=outputs/exp25/recipe/a_sfw_seed$seed \
      --eval_seed=20000 --eval_episodes=10 --n_action_steps=10,5,2,1 --train.seed=$seed
done
echo SFW_MORE DONE
