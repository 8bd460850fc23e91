"""The motion ablation's report (docs/experiments/motion_ablation.md) from the runs on disk, through the same
report `motionvla ablate` writes: arm (b) dual-head = the recipe's final runs, arm (a) action-only =
action_only.sh's runs, arm (c) dual-head-forecaster = forecaster_arm.sh's runs (when any exist); each arm is paired
with action-only over the seeds both have. The probe's R² (probe.json, from probe.sh) goes in beside them.

    PYTHONPATH=. .venv/bin/python docs/experiments/issue25/ablation_report.py 5   # n_action_steps (5 or 10)
    PYTHONPATH=. .venv/bin/python docs/experiments/issue25/ablation_report.py 5 10   # the 10-demos-per-task regime

The 10-demo regime's runs are regime10.sh's (outputs/exp25/regime10/<arm>_seed<s>: all three arms trained there, by
one code snapshot); its report goes to docs/experiments/issue25/regime10_n<n>/. Each run's per-episode evaluation is
kept in results/episodes/ (see below), so both reports can be made again from a clone without outputs/.
"""

import json
import sys
from pathlib import Path

from motionvla.evaluation.ablation_report import write_ablation_report

n = sys.argv[1] if len(sys.argv) > 1 else "5"
regime = sys.argv[2] if len(sys.argv) > 2 else "30"
root = Path("outputs/exp25")
if regime == "30":
    folders = {"action-only": "ablation/action_only_seed{}", "dual-head": f"recipe/final_n{n}_seed{{}}",
               "dual-head-forecaster": "ablation/forecaster_seed{}"}
elif regime == "10":
    folders = {"action-only": "regime10/action_only_seed{}", "dual-head": "regime10/dual_head_seed{}",
               "dual-head-forecaster": "regime10/forecaster_seed{}"}
else:
    sys.exit(f"regime {regime!r}: 30 or 10")
# Every run's per-episode evaluation is kept in git (results/episodes/<regime>/<arm>_seed<s>_n<n>.json: the
# eval_info.json plus the run's train_seconds), copied there from outputs/ when a run is on this disk, so the report
# (paired by episode) can be made again from a clone.
kept = Path(f"docs/experiments/issue25/results/episodes/{regime}")
results = {}
for seed in range(5):
    for arm, pattern in folders.items():
        folder = root / pattern.format(seed)
        info_file, result_file = folder / f"eval_n{n}" / "eval_info.json", folder / "result.json"
        copy = kept / f"{arm}_seed{seed}_n{n}.json"
        if info_file.exists() and result_file.exists():
            kept.mkdir(parents=True, exist_ok=True)
            copy.write_text(json.dumps({"eval": json.loads(info_file.read_text()),
                                        "train_seconds": json.loads(result_file.read_text())["train_seconds"]}) + "\n")
        if copy.exists():
            results[(regime, arm, seed)] = json.loads(copy.read_text())
# The lerobot baselines (baselines.sh: outputs/exp25/baselines/seed<s>/<arm>/, one model per task or one for all;
# the 30-demo regime only): each model's per-task evaluations merged into one eval_info per training seed. Their
# training seeds share nothing with ours, so the pairing with action-only's seed s is by env seed only (the
# protocol in motion_ablation.md).
BASELINES = {"lerobot ACT (per task)": "act_per_task", "lerobot Diffusion Policy (per task)": "diffusion_per_task",
             "lerobot ACT (multi-task)": "act_multitask", "lerobot ACT, CPU-sized (per task)": "act_small_per_task"}


def merged_baseline(arm_dir: Path) -> dict | None:
    """One eval_info over the six tasks from a finished baseline arm's per-task evaluations (None if unfinished)."""
    if not (arm_dir / "result.json").exists():
        return None
    result = json.loads((arm_dir / "result.json").read_text())
    per_task = {}
    for info_file in sorted(arm_dir.glob("*/eval_*/eval_info.json")):
        per_task.update(json.loads(info_file.read_text())["per_task"])
    episodes = [e for row in per_task.values() for e in row["episodes"]]
    overall = {"pc_success": round(100.0 * sum(e["success"] for e in episodes) / len(episodes), 2),
               "n_episodes": len(episodes)}
    return {"eval": {"per_task": per_task, "overall": overall}, "train_seconds": result["train_seconds"],
            "steps": result["steps"]}


if regime == "30" and n == "5":  # the baselines run with their own n_action_steps, kept under n5
    for seed in range(5):
        for arm, name in BASELINES.items():
            copy = kept / f"lerobot_{name}_seed{seed}.json"
            # outputs/ first, else the copies keep_baselines.sh commits (the same layout)
            merged = (merged_baseline(root / "baselines" / f"seed{seed}" / name)
                      or merged_baseline(Path("docs/experiments/issue25/results/baselines") / f"seed{seed}" / name))
            if merged is not None:
                kept.mkdir(parents=True, exist_ok=True)
                copy.write_text(json.dumps(merged) + "\n")
            if copy.exists():
                results[(regime, arm, seed)] = json.loads(copy.read_text())
    # An arm joins the report once its three planned seeds (0-2) are all done; until then its copies wait on disk.
    for arm in BASELINES:
        if not all((regime, arm, s) in results for s in range(3)):
            for s in range(5):
                results.pop((regime, arm, s), None)
# The backbone probe (probe.sh -> probe.json, the same ridge probe `ablate --probe_frames` runs): R² per run.
probe_file = Path("docs/experiments/issue25/probe.json")
probe = json.loads(probe_file.read_text())["r2"] if probe_file.exists() and regime == "30" else {}
PROBE_NAMES = {"action-only": "action_only", "dual-head": "dual_head", "dual-head-forecaster": "forecaster"}
for (_, arm, seed), entry in results.items():
    if f"{PROBE_NAMES.get(arm)}_seed{seed}" in probe:
        entry["probe_r2"] = probe[f"{PROBE_NAMES[arm]}_seed{seed}"]["r2"]
arms = [a for a in ("action-only", "dual-head", "dual-head-forecaster", *BASELINES) if any(k[1] == a for k in results)]
seeds = sorted({s for (_, _, s) in results})
out = Path(f"docs/experiments/issue25/ablation_n{n}" if regime == "30" else f"docs/experiments/issue25/regime10_n{n}")
demos = ("training demos outputs/exp24/demos (30 per task). Dual-head = the sfw head, motion_weight 0.1; "
         "dual-head-forecaster = the head from outputs/fc10/tabletop10." if regime == "30" else
         "training demos: the first 10 per task of outputs/exp24/demos (env seeds 0-9). Dual-head = the recipe's "
         "default head; dual-head-forecaster = the head from outputs/fc10/tabletop10_r10 (adapted on these 60 demos).")
summary = write_ablation_report(out, results, arms, [regime], max(seeds) + 1 if seeds else 0,
                                f"Seeds {seeds}; n_action_steps={n}; the tiny recipe (3,000 steps x batch 32, lr 1e-3, "
                                "200 warm-up steps); env seeds 1000-1019 per task (20 x 6 = 120 episodes per run); "
                                f"{demos} docs/experiments/motion_ablation.md.")
print(summary["text"])
