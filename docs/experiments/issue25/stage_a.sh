# Recipe stage A (issue 25): executed actions per chunk, eval-time only, on the sfw checkpoints of seeds 0-2
# (the quickstart's recipe, trained in docs/experiments/issue24/seeds.sh), validation env seeds 20000+.
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
for seed in 0 1 2; do
  .venv/bin/python benchmarks/policy_recipe.py --checkpoint=outputs/exp24/seeds/sfw_seed$seed/train/pretrained_model \
      --out=outputs/exp25/recipe/a_sfw_seed$seed --eval_seed=20000 --eval_episodes=10 --n_action_steps=10,5,2
done
echo STAGE_A DONE
