"""Paired differences between arms: paired by (training seed, task, env seed), with a bootstrap interval."""

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
    assert table["a"] == {"mean": 75.0, "std": 25.0} and table["overall"]["mean"] == 75.0
