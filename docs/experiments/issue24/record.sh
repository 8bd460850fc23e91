set -e
cd "$(git rev-parse --show-toplevel)"
export MUJOCO_GL=egl
B=".venv/bin/motionvla record-demos --image_size=64 --cameras=front,wrist --episodes_per_part=15"
$B --episodes_per_task=30 --out=outputs/exp24/demos --repo_id=local/quickstart --seed=0
$B --episodes_per_task=5 --out=outputs/exp24/val --repo_id=local/val --seed=3000
$B --episodes_per_task=5 --out=outputs/exp24/test --repo_id=local/test --seed=5000
echo DONE
