# Arm (c) of the 10-demos-per-task regime needs a forecaster adapted on that regime's training demos only: the
# same adaptation as outputs/fc10/tabletop10 (docs/experiments/issue24/tt10.sh: from the synthetic-video run 10,
# flow scale re-measured, 2,400 steps, lr 3e-3, one-step fraction 0.9), on the first 10 demos of each task of
# outputs/exp24/demos (episodes 0-9, 30-39, ... 150-159; tasks were recorded one after another, 30 each) instead of
# all 180. About 30 minutes on one core. Resumable (checkpoints every 400 steps).
# usage: PY=/work/venv_t/bin/python SNAP=/work/snap34 bash docs/experiments/issue25/regime10_forecaster.sh
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
PY=${PY:-.venv/bin/python}
OUT=outputs/fc10/tabletop10_r10
R=""; [ -d $OUT/checkpoints ] && R="--resume=true"
[ -f $OUT/pretrained_model/config.json ] || $PY -P -m motionvla.cli.main forecast train \
    --lerobot_root=outputs/exp24/demos --lerobot_repo_id=local/quickstart \
    --lerobot_episodes=0:10,30:40,60:70,90:100,120:130,150:160 --init_from=outputs/fc10/run10 \
    --remeasure_flow_scale=true --output_dir=$OUT --steps=2400 --train.lr=3e-3 --model.one_step_fraction=0.9 \
    --save_freq=400 --train.progress=false $R
echo REGIME10_FORECASTER DONE
