# The chosen recipe's final evaluation (issue 25): training seeds 0-4, env seeds 1000+, 20 episodes per task.
# usage: final.sh N_ACTION_STEPS
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
for seed in 0 1 2 3 4; do
  ckpt=outputs/exp24/seeds/sfw_seed$seed/train/pretrained_model
  [ -d $ckpt ] || ckpt=outputs/exp25/recipe/a_sfw_seed$seed/train/pretrained_model
  .venv/bin/python benchmarks/policy_recipe.py --checkpoint=$ckpt --out=outputs/exp25/recipe/final_n$1_seed$seed \
      --eval_seed=1000 --eval_episodes=20 --n_action_steps=$1
done
echo FINAL DONE
