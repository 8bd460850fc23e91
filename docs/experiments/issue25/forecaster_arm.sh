# Arm (c) of the motion ablation (docs/experiments/motion_ablation.md): the tiny recipe with the motion head started
# from the forecaster adapted on the training demos only (outputs/fc10/tabletop10: run 10 adapted on the 180 demos
# of outputs/exp24/demos, docs/experiments/issue24/tt10.sh), training seeds given as arguments, evaluated once on the
# final range (env seeds 1000-1019, 20 per task) with n_action_steps 5 and 10. Resumable (a killed training resumes
# from its last checkpoint; a finished run's result.json is kept).
# PY: the interpreter (default .venv/bin/python); this session uses /work/venv_t, the .venv with transformers 5.24.0 /
# diffusers 0.42.1 that arms (a)/(b) ran with (checked: seed 0 step-50 loss equal to the digit, 1.995852885246277).
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
for seed in "$@"; do
  ${PY:-.venv/bin/python} -P benchmarks/policy_recipe.py --demos=outputs/exp24/demos \
      --out=outputs/exp25/ablation/forecaster_seed$seed --eval_seed=1000 --eval_episodes=20 --n_action_steps=5,10 \
      --seed=$seed --policy.motion_head_from=outputs/fc10/tabletop10
done
echo FORECASTER_ARM DONE
