cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 PYTHONPATH=.
.venv/bin/python -P -m motionvla.cli.main eval --policy=outputs/exp24/runs/base/train/pretrained_model --episodes=20 --workers=1 \
  --out=outputs/exp24/runs/base/eval --image_size=64 --cameras=front,wrist --videos_per_task=0 --overwrite=true
