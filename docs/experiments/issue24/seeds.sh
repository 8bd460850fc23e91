# usage: seeds.sh ARM "overrides" SEED [SEED ...] -- quickstart recipe + overrides, test held-out set, 20 eval episodes per task
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. WANDB_MODE=offline
arm=$1; shift; ov=$1; shift
for seed in "$@"; do
  out=outputs/exp24/seeds/${arm}_seed$seed; mkdir -p $out
  .venv/bin/python benchmarks/motion_head_levers.py --demos=outputs/exp24/demos --heldout=outputs/exp24/test \
     --heldout_repo_id=local/test --out=$out --eval_episodes=20 --train.seed=$seed $ov > $out/log.txt 2>&1
  tail -3 $out/log.txt
done
