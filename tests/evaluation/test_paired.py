"""Paired differences between arms: paired by (training seed, task, env seed), with a bootstrap interval."""

import numpy as np
import pytest

from motionvla.evaluation.paired import episode_successes, paired_difference, seed_table, verdict


def info(successes: dict[str, list[bool]]) -> dict:
    per_task = {task: {"pc_success": 100.0 * sum(s) / len(s),
                       "episodes": [{"seed": 1000 + i, "success": ok} for i, ok in enumerate(s)]}
                for task, s in successes.items()}
    flat = [ok for s in successes.values() for ok in s]
    return {"per_task": per_task, "overall": {"pc_success": 100.0 * sum(flat) / len(flat)}}


def test_pairs_are_matched_by_seed_task_and_episode():
    assert episode_successes(info({"a": [True, False]})) == {("a", 1000): 1.0, ("a", 1001): 0.0}
    # Arm wins episode 1000 of seed 0 and loses 1001 of seed 1; only pairs present in both arms count.
    arm = {0: info({"a": [True, False]}), 1: info({"a": [False, False]}), 2: info({"a": [True, True]})}
    base = {0: info({"a": [False, False]}), 1: info({"a": [False, True]})}
    diff = paired_difference(arm, base, resamples=999)
    assert (diff["pairs"], diff["seeds"]) == (4, 2) and diff["mean"] == pytest.approx(0.0)
    assert diff["low"] < 0 < diff["high"]


def test_a_consistent_gain_has_an_interval_above_zero_and_the_verdict_says_so():
    arm = {s: info({"a": [True] * 18 + [False] * 2}) for s in range(5)}
    base = {s: info({"a": [True] * 10 + [False] * 10}) for s in range(5)}
    diff = paired_difference(arm, base, resamples=999)
    assert diff["mean"] == pytest.approx(40.0) and diff["low"] > 0 and diff["pairs"] == 100
    assert verdict(diff).startswith("helps by +40.0 points")
    assert verdict(paired_difference(base, arm, resamples=999)).startswith("hurts by -40.0")
    assert verdict({"mean": 1.0, "low": -2.0, "high": 4.0}).startswith("no effect detectable")


def test_seed_table_is_over_training_seeds():
    table = seed_table({0: info({"a": [True, False]}), 1: info({"a": [True, True]})})
    # 50 % and 100 %: the sample sd is |100 - 50| / sqrt(2) (the population's would be 25)
    assert table["a"]["mean"] == 75.0 and table["a"]["std"] == pytest.approx(50 / 2 ** 0.5)
    assert table["overall"]["mean"] == 75.0
    single = seed_table({0: info({"a": [True, False]})})
    assert single["a"]["mean"] == 50.0 and np.isnan(single["a"]["std"])  # one seed: no spread to report


def test_seeds_that_disagree_widen_the_seed_level_interval_but_not_the_pair_level_one():
    from motionvla.evaluation.paired import seed_level_difference

    # Seeds 0-1: the arm wins 12 of 20 pairs; seeds 2-3: it loses 12 of 20 (0 points overall).
    wins, losses = info({"a": [True] * 20}), info({"a": [False] * 20})
    base = {s: info({"a": [False] * 12 + [True] * 8}) for s in (0, 1)}
    base |= {s: info({"a": [True] * 12 + [False] * 8}) for s in (2, 3)}
    arm = {0: wins, 1: wins, 2: losses, 3: losses}
    pairs = paired_difference(arm, base, resamples=999)
    seeds = seed_level_difference(arm, base, resamples=999)
    assert seeds["per_seed"] == {0: 60.0, 1: 60.0, 2: -60.0, 3: -60.0}
    assert pairs["mean"] == pytest.approx(seeds["mean"]) == pytest.approx(0.0)
    assert (seeds["high"] - seeds["low"]) > 2 * (pairs["high"] - pairs["low"])
    # Seeds that agree: both intervals exclude zero.
    agree = seed_level_difference({s: info({"a": [True] * 20}) for s in range(4)},
                                  {s: info({"a": [True] * 10 + [False] * 10}) for s in range(4)}, resamples=999)
    assert agree["low"] > 0 and agree["mean"] == pytest.approx(50.0)
