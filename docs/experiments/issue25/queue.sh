# What is left of issue 25's runs, in the order docs/experiments/motion_ablation.md fixed, as two lanes of
# single-threaded processes, one per core. Every step is resumable (finished models, evaluations and runs are
# skipped), so after a stop the same two commands continue:
#   nohup bash docs/experiments/issue25/queue.sh 1 >> outputs/exp25/lane1.log 2>&1 &
#   nohup bash docs/experiments/issue25/queue.sh 2 >> outputs/exp25/lane2.log 2>&1 &
# Lane 1: ACT per task and ACT multi-task, seeds 0-2, then the secondary (CPU-sized) ACT, seeds 0-2.
# Lane 2: Diffusion Policy per task, seeds 0-2, then arm (c) at 10 demos per task: the synthetic videos and
# forecaster run 10 (docs/experiments/issue24), its re-adaptation on the regime's 60 demos, seeds 0-4 (same
# snapshot and install as (a)/(b) seeds 2-4: SNAP=/work/snap34, made by `git archive 1cc896a motionvla benchmarks
# sim_envs | tar -x -C /work/snap34`).
# On a new machine the demos come first: the first line of docs/experiments/issue24/record.sh (seeded).
cd "$(git rev-parse --show-toplevel)"
E=docs/experiments
[ -f outputs/exp24/demos/meta/info.json ] || { echo "record the demos first (docs/experiments/issue24/record.sh, first line)"; exit 2; }
case $1 in
  1) for s in 0 1 2; do bash $E/issue25/baselines.sh act_per_task $s; bash $E/issue25/baselines.sh act_multitask $s; done
     bash $E/issue25/baselines.sh act_small_per_task 0 1 2 ;;
  2) for s in 0 1 2; do bash $E/issue25/baselines.sh diffusion_per_task $s; done
     bash $E/issue24/data.sh && bash $E/issue24/run10.sh && SNAP=/work/snap34 bash $E/issue25/regime10_forecaster.sh \
       && SNAP=/work/snap34 bash $E/issue25/regime10.sh "c" 0 1 2 3 4 ;;
  *) echo "usage: bash docs/experiments/issue25/queue.sh 1|2"; exit 2 ;;
esac
echo LANE $1 DONE
