cd "$(git rev-parse --show-toplevel)"
[ -f outputs/fc10/run10/pretrained_model/config.json ] || { echo "run run10.sh first"; exit 1; }
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline MUJOCO_GL=egl
M=".venv/bin/python -P -m motionvla.cli.main"
R=""; [ -d outputs/fc10/tabletop10/checkpoints ] && R="--train.resume=true"
[ -f outputs/fc10/tabletop10/pretrained_model/config.json ] || $M forecast train --lerobot_root=outputs/exp24/demos \
    --lerobot_repo_id=local/quickstart --init_from=outputs/fc10/run10 --remeasure_flow_scale=true \
    --out=outputs/fc10/tabletop10 --train.steps=2400 --train.lr=3e-3 --model.one_step_fraction=0.9 \
    --train.checkpoint_every=400 --train.progress=false $R
for split in val test; do
  [ -f outputs/fc10/eval_tabletop10_$split.json ] || $M forecast eval --lerobot_root=outputs/exp24/$split \
    --lerobot_repo_id=local/$split --checkpoint=outputs/fc10/tabletop10 --num_samples=4 --moving_threshold_px=0.1 \
    --out=outputs/fc10/eval_tabletop10_$split.json
done
echo TT10 DONE
