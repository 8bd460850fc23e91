set -e
cd "$(git rev-parse --show-toplevel)"
export OMP_NUM_THREADS=1 PYTHONPATH=.
M=".venv/bin/motionvla"
S="--size=128 --frames=12 --speeds=slowly:1.5,quickly:4"
P="--size=64 --flow_size=128 --frames_in=2 --future=4 --stride=1 --motion_threshold_px=0.15 --workers=2 --dis_finest_scale=-1"
[ -f outputs/fc10/synth_train/manifest.jsonl ] || $M synth-videos --out=outputs/fc10/synth_train --videos=2000 --seed=1 $S
[ -f outputs/fc10/synth_val/manifest.jsonl ] || $M synth-videos --out=outputs/fc10/synth_val --videos=80 --seed=2000 $S
[ -f outputs/fc10/synth_heldout/manifest.jsonl ] || $M synth-videos --out=outputs/fc10/synth_heldout --videos=80 --seed=1000 $S
for s in train val heldout; do
  [ -f outputs/fc10/shards_$s/stats.json ] || $M prep --input=outputs/fc10/synth_$s/manifest.jsonl --out=outputs/fc10/shards_$s $P
done
echo DATA DONE
