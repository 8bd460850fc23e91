# The backbone probe of the motion ablation (docs/experiments/motion_ablation.md, "The probe"): every finished run of
# arms (a) action-only, (b) dual-head from scratch and (c) head from the forecaster, seeds 0-4, plus the references
# (the untrained backbone at seeds 0-4; state + task without images). Frames are recorded once (env seeds 30000+,
# 5 episodes per task) into outputs/exp25/probe_frames.npz. Writes docs/experiments/issue25/probe.json.
# PY: the interpreter (default .venv/bin/python; this session /work/venv_t, the experiment's library versions).
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. WANDB_MODE=offline
runs=()
for s in 0 1 2 3 4; do
  a=outputs/exp25/ablation/action_only_seed$s/train/pretrained_model
  b=outputs/exp24/seeds/sfw_seed$s/train/pretrained_model
  [ -d $b ] || b=outputs/exp25/recipe/a_sfw_seed$s/train/pretrained_model
  c=outputs/exp25/ablation/forecaster_seed$s/train/pretrained_model
  [ -f $a/model.safetensors ] && runs+=("action_only_seed$s=$a")
  [ -f $b/model.safetensors ] && runs+=("dual_head_seed$s=$b")
  [ -f $c/model.safetensors ] && [ -f outputs/exp25/ablation/forecaster_seed$s/result.json ] && runs+=("forecaster_seed$s=$c")
done
${PY:-.venv/bin/python} -P benchmarks/backbone_probe.py --frames=outputs/exp25/probe_frames.npz --seed=30000 \
    --episodes_per_task=5 --horizon=5 --alpha=10 \
    --untrained_from=outputs/exp25/ablation/action_only_seed0/train/pretrained_model --untrained_seeds=0,1,2,3,4 \
    --out=docs/experiments/issue25/probe.json "${runs[@]}"
