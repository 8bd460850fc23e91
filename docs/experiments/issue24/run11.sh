cd "$(git rev-parse --show-toplevel)"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. WANDB_MODE=offline
M=".venv/bin/python -P -m motionvla.cli.main"
R=""; [ -d outputs/fc10/run11/checkpoints ] && R="--train.resume=true"
[ -f outputs/fc10/run11/pretrained_model/config.json ] || $M forecast train --data=outputs/fc10/shards_train --out=outputs/fc10/run11 \
    --train.steps=1600 --train.checkpoint_every=250 --train.log_every=50 --model.past_flow_condition=true \
    --model.grounding_maps=8 --train.lr=3e-3 --train.num_workers=1 --model.moving_weight=10 \
    --model.one_step_fraction=0.5 --model.prediction=sample --train.progress=false $R
[ -f outputs/fc10/eval_val_run11.json ] || $M forecast eval --data=outputs/fc10/shards_val --checkpoint=outputs/fc10/run11 --num_samples=4 \
    --moving_threshold_px=0.1 --out=outputs/fc10/eval_val_run11.json
echo RUN11 DONE
