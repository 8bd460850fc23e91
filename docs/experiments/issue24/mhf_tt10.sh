cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 PYTHONPATH=${SNAP:-.} WANDB_MODE=offline
M=".venv/bin/python -P -m motionvla.cli.main"
for arm in scratch forecaster; do
  extra="--policy.motion_resolution=32 --policy.motion_layers=2 --policy.motion_condition_frames=2 --policy.motion_past_flows=1 --policy.motion_grounding_maps=8"; [ $arm = forecaster ] && extra="--policy.motion_head_from=outputs/fc10/tabletop10"
  $M train --dataset_root=outputs/exp24/demos --repo_id=local/quickstart --train.output_dir=outputs/exp24/mhf_tt10_$arm \
    --train.steps=20 --train.log_every=1 --train.batch_size=32 --train.lr=1e-3 --train.progress=false \
    --policy.inference_noise_scale=0 $extra > outputs/exp24/mhf_tt10_$arm.log 2>&1
done
echo MHF_TT10 DONE
