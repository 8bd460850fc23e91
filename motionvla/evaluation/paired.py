"""Paired comparisons of policies evaluated on the same episodes: the unit is (training seed, env episode).

Run ``s`` of every arm shares the initialisation of the shared parts and the data order, and every run is
evaluated on the same env seeds, so arm B's success on (s, episode e) pairs with arm A's on the same (s, e). The
paired difference's 95 % interval comes from scipy's bootstrap over those pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def episode_successes(eval_info: Mapping) -> dict[tuple[str, int], float]:
    """``{(task, env seed): 1.0 | 0.0}`` from an ``eval_info.json`` (its per-task episode records)."""
    return {(str(task), int(episode["seed"])): 1.0 if episode["success"] else 0.0
            for task, row in eval_info["per_task"].items() for episode in row["episodes"]}


def _differences_by_seed(arm: Mapping[int, Mapping], baseline: Mapping[int, Mapping]) -> dict[int, np.ndarray]:
    """``{training seed: arm − baseline per shared (task, env seed) episode, percentage points}`` over the seeds both
    arms have (an array may be empty).

    Raises:
        ValueError: no episode is paired at all.
    """
    out: dict[int, np.ndarray] = {}
    for s in sorted(set(arm) & set(baseline)):
        a, b = episode_successes(arm[s]), episode_successes(baseline[s])
        out[s] = 100.0 * np.asarray([a[k] - b[k] for k in sorted(set(a) & set(b))], dtype=float)
    if not any(d.size for d in out.values()):
        raise ValueError("no paired episodes: the arms share no training seed and env episode")
    return out


def paired_difference(arm: Mapping[int, Mapping], baseline: Mapping[int, Mapping], confidence: float = 0.95,
                      resamples: int = 9999, seed: int = 0) -> dict[str, float]:
    """Success of ``arm`` minus ``baseline`` in percentage points, paired by (training seed, task, env seed).

    Args:
        arm, baseline: ``{training seed: eval_info}``; only seeds and episodes present in both count.

    Returns:
        ``{"mean", "low", "high", "pairs", "seeds"}``: the mean paired difference and its bootstrap interval
        (BCa, resampling the pairs). With fewer than two pairs, or no variation, ``low == high == mean``.
    """
    from scipy.stats import bootstrap

    by_seed = _differences_by_seed(arm, baseline)
    seeds = list(by_seed)
    d = np.concatenate(list(by_seed.values()))
    mean = float(d.mean())
    if d.size < 2 or np.all(d == d[0]):
        return {"mean": mean, "low": mean, "high": mean, "pairs": int(d.size), "seeds": len(seeds)}
    result = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples, method="BCa",
                       random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return {"mean": mean, "low": float(low), "high": float(high), "pairs": int(d.size), "seeds": len(seeds)}


def seed_level_difference(arm: Mapping[int, Mapping], baseline: Mapping[int, Mapping], confidence: float = 0.95,
                          resamples: int = 9999, seed: int = 0) -> dict:
    """The same paired difference with its interval from a two-level (cluster) bootstrap: resample training seeds,
    then episode pairs within each. Seeds are the unit a replication varies, so when they disagree this interval
    is the wider, honest one (the pair-level one of :func:`paired_difference` treats every episode as independent).

    Returns ``{"mean", "low", "high", "per_seed": {seed: difference}, "seeds"}`` in percentage points.
    """
    per_seed = _differences_by_seed(arm, baseline)
    groups = [d for d in per_seed.values() if d.size]
    mean = float(np.mean([d.mean() for d in groups]))
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for r in range(resamples):
        picked = rng.integers(0, len(groups), len(groups))
        stats[r] = np.mean([rng.choice(groups[i], groups[i].size).mean() for i in picked])
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return {"mean": mean, "low": float(low), "high": float(high), "seeds": len(groups),
            "per_seed": {s: float(d.mean()) for s, d in per_seed.items() if d.size}}


def verdict(diff: Mapping[str, float]) -> str:
    """One phrase for a paired difference: "helps by X [lo, hi]", "hurts by ...", or "no effect detectable"."""
    interval = f"[{diff['low']:+.1f}, {diff['high']:+.1f}] points"
    if diff["low"] > 0:
        return f"helps by {diff['mean']:+.1f} points {interval}"
    if diff["high"] < 0:
        return f"hurts by {diff['mean']:+.1f} points {interval}"
    return f"no effect detectable at this scale ({diff['mean']:+.1f} points, interval {interval})"


def sample_std(values: Sequence[float]) -> float:
    """The sample standard deviation (n - 1: the seeds are a sample of the seeds a user could draw; what the recipe's
    "sd <= 5" target uses), NaN for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def seed_table(runs: Mapping[int, Mapping], tasks: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """``{task or "overall": {"mean", "std"}}`` of success % over training seeds (``std``: :func:`sample_std`)."""
    infos = list(runs.values())
    tasks = list(tasks or infos[0]["per_task"])
    rows = {task: [i["per_task"][task]["pc_success"] for i in infos] for task in tasks}
    rows["overall"] = [i["overall"]["pc_success"] for i in infos]
    return {k: {"mean": float(np.mean(v)), "std": sample_std(v)} for k, v in rows.items()}
