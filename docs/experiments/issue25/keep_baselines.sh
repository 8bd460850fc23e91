# Copies every finished lerobot-baseline evaluation (and each arm's result.json once the arm is done) from
# outputs/exp25/baselines/ into docs/experiments/issue25/results/baselines/ (same layout), so they survive a lost
# machine and can be committed as they arrive. Idempotent.
# usage: bash docs/experiments/issue25/keep_baselines.sh
cd "$(git rev-parse --show-toplevel)"
src=outputs/exp25/baselines dst=docs/experiments/issue25/results/baselines
[ -d $src ] || exit 0
(cd $src && find . \( -path "*/eval_*/eval_info.json" -o -name result.json \)) | while read -r f; do
  mkdir -p "$dst/$(dirname "$f")" && cp "$src/$f" "$dst/$f"
done
find $dst -name eval_info.json | wc -l
