"""The ablation's report: success per arm over seeds, the paired difference to action-only, a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from motionvla.evaluation.paired import paired_difference, seed_level_difference, sample_std, seed_table, verdict
from motionvla.utils.atomic import atomic_write_json, atomic_write_text

BASELINE_ARM = "action-only"


def summarize(results: dict[tuple[str, str, int], dict[str, Any]], arms: list[str], regimes: list[str],
              seeds: int) -> dict[str, Any]:
    """Per regime: ``{"arms": {arm: seed_table}, "paired": {arm: paired difference to action-only}}``.

    ``results``: ``{(regime, arm, seed): result}`` with ``result["eval"]`` an eval_info; only seeds ``0..seeds-1``
    count, and a pair needs the same seed and env episode in both arms.
    """
    out: dict[str, Any] = {}
    for regime in regimes:
        by_arm = {arm: {s: results[(regime, arm, s)]["eval"] for s in range(seeds) if (regime, arm, s) in results}
                  for arm in arms}
        entry: dict[str, Any] = {"arms": {arm: seed_table(runs) for arm, runs in by_arm.items() if runs}, "paired": {}}
        probes = {arm: [results[(regime, arm, s)]["probe_r2"] for s in range(seeds)
                        if "probe_r2" in results.get((regime, arm, s), {})] for arm in arms}
        entry["probe_r2"] = {arm: {"mean": float(np.mean(v)), "std": sample_std(v), "seeds": len(v)}
                             for arm, v in probes.items() if v}
        if BASELINE_ARM in by_arm and by_arm[BASELINE_ARM]:
            for arm in arms:
                if arm != BASELINE_ARM and by_arm[arm]:
                    diff = paired_difference(by_arm[arm], by_arm[BASELINE_ARM])
                    entry["paired"][arm] = {**diff, "verdict": verdict(diff)}
                    if len(set(by_arm[arm]) & set(by_arm[BASELINE_ARM])) > 1:
                        by_seed = seed_level_difference(by_arm[arm], by_arm[BASELINE_ARM], resamples=2000)
                        entry.setdefault("paired_by_seed", {})[arm] = {**by_seed, "verdict": verdict(by_seed)}
        out[regime] = entry
    return out


def markdown(summary: dict[str, Any], seeds: int, description: str) -> str:
    lines = [f"# Ablation: does the motion head help? ({seeds} seeds per arm and regime, paired by seed)", "",
             description, ""]
    for regime, entry in summary.items():
        arms = list(entry["arms"])
        tasks = list(next(iter(entry["arms"].values()))) if arms else []
        lines += [f"## Regime: {regime} demos per task" if regime != "all" else "## Regime: all demos", "",
                  "| task | " + " | ".join(f"{a} (mean ± std %)" for a in arms) + " |", "|---|" + "---:|" * len(arms)]
        for task in tasks:
            name = f"**{task}**" if task == "overall" else task
            lines.append(f"| {name} | " + " | ".join(
                f"{entry['arms'][a][task]['mean']:.1f} ± {entry['arms'][a][task]['std']:.1f}" for a in arms) + " |")
        if entry.get("probe_r2"):
            lines += ["", "Linear probe, frozen backbone features -> the manipulated object's displacement over the "
                      "next 5 steps (R², out-of-fold by episode; higher = the backbone encodes more of the motion):",
                      "", "| arm | R² (mean ± std over seeds) |", "|---|---:|"]
            lines += [f"| {arm} | {p['mean']:.3f} ± {p['std']:.3f} ({p['seeds']} seeds) |"
                      for arm, p in entry["probe_r2"].items()]
        for arm, diff in entry["paired"].items():
            lines.append(f"\n{arm} vs {BASELINE_ARM}: {diff['verdict']} ({diff['pairs']} paired episodes over "
                         f"{diff['seeds']} seeds, 95 % bootstrap interval over episode pairs).")
            by_seed = entry.get("paired_by_seed", {}).get(arm)
            if by_seed:
                per = ", ".join(f"{v:+.1f}" for v in by_seed["per_seed"].values())
                lines.append(f"Resampling training seeds too (two-level bootstrap; per seed: {per}): "
                             f"{by_seed['verdict']}.")
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> Path | None:
    """Bars: each arm's paired difference to action-only per regime with its 95 % interval over episode pairs
    (thick), the wider one resampling training seeds too (thin, when there are 2+ seeds), and each seed's own
    difference (dots): when seeds disagree, the dots show it before any interval does."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(regime, arm, d, entry.get("paired_by_seed", {}).get(arm)) for regime, entry in summary.items()
            for arm, d in entry["paired"].items()]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(4.6, 1.5 * len(rows)), 3.6))
    for x, (_, _, d, by_seed) in enumerate(rows):
        ax.bar(x, d["mean"], width=0.6, color="#4c72b0", alpha=0.8)
        ax.errorbar(x - 0.08, d["mean"], yerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]], color="black",
                    lw=2.2, capsize=5, label="95 % interval, episode pairs" if x == 0 else None)
        if by_seed:
            ax.errorbar(x + 0.08, by_seed["mean"], yerr=[[by_seed["mean"] - by_seed["low"]],
                                                         [by_seed["high"] - by_seed["mean"]]],
                        color="#c44e52", lw=1.0, capsize=4, label="95 % interval, seeds resampled" if x == 0 else None)
            values = list(by_seed["per_seed"].values())
            ax.scatter([x + 0.22] * len(values), values, s=14, color="#555555", zorder=3,
                       label="one training seed" if x == 0 else None)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(rows)), [f"{arm}\n({regime} demos/task)" if regime != "all" else f"{arm}\n(all demos)"
                                     for regime, arm, _, _ in rows], fontsize=8)
    ax.set_ylabel(f"success − {BASELINE_ARM} (points)")
    ax.set_title("paired difference to action-only", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_ablation_report(out: Path, results: dict[tuple[str, str, int], dict[str, Any]], arms: list[str],
                          regimes: list[str], seeds: int, description: str) -> dict[str, Any]:
    """Writes ``results.md``, ``results.json`` and ``ablation.png`` under ``out``; returns the summary and text."""
    summary = summarize(results, arms, regimes, seeds)
    text = markdown(summary, seeds, description)
    picture = plot(summary, out / "ablation.png")
    if picture is not None:
        text += "\n![paired differences](ablation.png)\n"
    atomic_write_text(out / "results.md", text)
    runs = {f"{r}/{a}_seed{s}": {"overall": v["eval"]["overall"]["pc_success"], "train_seconds": v["train_seconds"],
                                 **({"probe_r2": v["probe_r2"]} if "probe_r2" in v else {})}
            for (r, a, s), v in sorted(results.items())}
    atomic_write_json(out / "results.json", {"summary": summary, "runs": runs})
    return {"summary": summary, "text": text, "results_md": str(out / "results.md")}
