"""`ep` and `llep` equal `local` in forward and backward, on 1, 2 and 4 gloo processes."""

import pytest

from motionvla.moe.exactness import ExactnessCase, check_cases
from motionvla.utils.local_ranks import run_local_ranks

TOLERANCE = 1e-5


def _cases(world: int) -> list[ExactnessCase]:
    even = (24,) * world
    cases = [
        ExactnessCase(dispatcher=d, routing=r, tokens_per_rank=even)
        for d in ("ep", "llep")
        for r in ("router", "one_expert", "few_experts", "duplicates")
    ]
    cases.append(ExactnessCase(dispatcher="llep", routing="router", hidden_size=13, expert_hidden_size=7, tokens_per_rank=even))
    cases.append(ExactnessCase(dispatcher="ep", routing="router", hidden_size=13, expert_hidden_size=7, tokens_per_rank=even))
    if world > 1:  # rank 0 sends no tokens
        cases.append(ExactnessCase(dispatcher="llep", routing="one_expert", tokens_per_rank=(0,) + (40,) * (world - 1)))
        cases.append(ExactnessCase(dispatcher="ep", routing="router", tokens_per_rank=(0,) + (40,) * (world - 1)))
    # Planner options reach plan_llep: aligned ranges change which tokens each device gets.
    aligned = {"min_tokens": 1, "imbalance_threshold": 1.0, "planner_options": {"align_ranges": True}}
    cases.append(ExactnessCase(dispatcher="llep", routing="few_experts", tokens_per_rank=even, llep=aligned))
    # Two stacked layers: the backward runs both layers' exchanges in turn on every rank.
    cases.append(ExactnessCase(dispatcher="llep", routing="one_expert", tokens_per_rank=even, layers=2))
    cases.append(ExactnessCase(dispatcher="llep", routing="router", tokens_per_rank=(0,) + (24,) * (world - 1), layers=2, hidden_size=13, expert_hidden_size=7))
    # LLEP with the paper's defaults (large min_tokens): the plan stays EP-like, results still equal.
    cases.append(ExactnessCase(dispatcher="llep", routing="one_expert", tokens_per_rank=even, llep={}))
    return cases


@pytest.mark.multiprocess
@pytest.mark.timeout(150)
@pytest.mark.parametrize("world", [1, 2, 4])
def test_parallel_dispatchers_equal_local(world):
    cases = _cases(world)
    results = run_local_ranks(check_cases, world, cases, timeout=120)
    for index, case in enumerate(cases):
        per_rank = [rank_results[index] for rank_results in results]
        for rank, result in enumerate(per_rank):
            for name, diff in result["diffs"].items():
                assert diff <= TOLERANCE, f"{case} rank {rank}: {name} differs by {diff:.2e}"
            assert result["timed_backward"], f"{case} rank {rank}: backward expert compute not timed"
        # Every token slot was computed exactly once somewhere.
        assert sum(r["tokens_computed"] for r in per_rank) == sum(case.tokens_per_rank) * case.top_k
        if case.dispatcher == "llep" and case.routing in ("one_expert", "few_experts") and world > 1 and case.llep:
            # With a small min_tokens the hot expert must really be split: weights moved, loads even.
            assert per_rank[0]["transfers"] > 0, f"{case}: no weight transfer happened"
            assert sum(r["borrowed_experts"] for r in per_rank) > 0
            loads = [r["tokens_computed"] for r in per_rank]
            assert max(loads) - min(loads) <= 1 * world, loads
        if case.dispatcher == "llep" and case.routing == "one_expert" and case.tokens_per_rank[0] == 0:
            # The rank with no tokens of its own still borrows the hot expert and computes for others.
            assert per_rank[0]["borrowed_experts"] > 0 and per_rank[0]["tokens_computed"] > 0
        if case.dispatcher == "ep":
            assert all(r["transfers"] == 0 and r["borrowed_experts"] == 0 for r in per_rank)
