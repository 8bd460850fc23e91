# usage: queue.sh NAME "overrides" [NAME "overrides" ...]  -- runs each arm in turn (1 thread), resumable
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. WANDB_MODE=offline
while [ $# -gt 0 ]; do
  name=$1; shift; ov=$1; shift
  mkdir -p outputs/exp24/runs/$name
  .venv/bin/python benchmarks/motion_head_levers.py --demos=outputs/exp24/demos --heldout=outputs/exp24/val \
     --heldout_repo_id=local/val --out=outputs/exp24/runs/$name $ov > outputs/exp24/runs/$name/log.txt 2>&1
  tail -2 outputs/exp24/runs/$name/log.txt
done
