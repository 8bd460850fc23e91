"""Beyond the paper: intra-node-first and transfer-cost-aware spilling in plan_llep."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motionvla.moe.planner import LLEPPlan, TransferCost, plan_llep, route_counts

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_plan(plan: LLEPPlan, loads: np.ndarray, num_devices: int) -> None:
    """Coverage, load bookkeeping, cap-unless-forced, and transfers = ranges away from home."""
    per_device = loads.size // num_devices
    device_loads = np.zeros(num_devices, dtype=np.int64)
    transfers = set()
    for expert, ranges in enumerate(plan.assignments):
        position = 0
        for device, lo, hi in ranges:
            assert lo == position and hi > lo
            position = hi
            device_loads[device] += hi - lo
            if device != expert // per_device:
                transfers.add((expert, expert // per_device, device))
        assert position == loads[expert]
    np.testing.assert_array_equal(plan.device_loads, device_loads)
    assert set(plan.transfers) == transfers and len(plan.transfers) == len(transfers)
    if not plan.is_plain_ep:
        assert set(np.flatnonzero(device_loads > plan.capacity).tolist()) <= set(plan.forced)


def reference_intra_node_first(loads, num_devices, devices_per_node, alpha=1.0, min_tokens=1024, threshold=1.3):
    """Slow transcription: the paper's rule, visiting the home node's devices (least-loaded first)
    before the other nodes' (least-loaded first)."""
    loads = [int(x) for x in loads]
    per_device = len(loads) // num_devices
    native = [sum(loads[d * per_device : (d + 1) * per_device]) for d in range(num_devices)]
    mean = sum(native) / num_devices
    if (max(native) / mean if mean > 0 else 1.0) < threshold:
        return None
    capacity = math.ceil(alpha * sum(loads) / num_devices)
    pending, assigned = list(native), [0] * num_devices
    assignments = [()] * len(loads)
    for expert in sorted(range(len(loads)), key=lambda e: (-loads[e], e)):
        count = loads[expert]
        if count == 0:
            break
        home = expert // per_device
        pending[home] -= count
        room = capacity - pending[home] - assigned[home]
        if room >= count:
            assigned[home] += count
            assignments[expert] = ((home, 0, count),)
            continue
        ranges, start = [], 0
        if room > 0:
            ranges.append((home, 0, room))
            assigned[home] += room
            start = room
        effective = {d: pending[d] + assigned[d] for d in range(num_devices)}
        by_load = sorted((d for d in range(num_devices) if d != home), key=lambda d: (effective[d], d))
        same = [d for d in by_load if d // devices_per_node == home // devices_per_node]
        other = [d for d in by_load if d // devices_per_node != home // devices_per_node]
        for group in (same, other):
            for device in group:
                remainder = count - start
                if remainder == 0:
                    break
                chunk = min(capacity - effective[device], remainder)
                if chunk <= 0 or chunk < min(min_tokens, remainder):
                    break  # the rest of this group has less room; try the next group
                ranges.append((device, start, start + chunk))
                assigned[device] += chunk
                start += chunk
        if start < count:
            totals = [pending[d] + assigned[d] for d in range(num_devices)]
            device = totals.index(min(totals))
            ranges.append((device, start, count))
            assigned[device] += count - start
        assignments[expert] = tuple(ranges)
    return tuple(assignments)


@st.composite
def node_problems(draw):
    devices_per_node = draw(st.sampled_from([1, 2, 4]))
    num_devices = devices_per_node * draw(st.integers(1, 4))
    per_device = draw(st.integers(1, 3))
    n = num_devices * per_device
    loads = draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))
    for _ in range(draw(st.integers(1, 3))):
        loads[draw(st.integers(0, n - 1))] = draw(st.integers(0, 60000))
    alpha = draw(st.sampled_from([1.0, 1.1, 1.5]))
    min_tokens = draw(st.sampled_from([0, 1, 256, 1024, 10**9]))
    threshold = draw(st.sampled_from([0.0, 1.3]))
    return np.array(loads, dtype=np.int64), num_devices, devices_per_node, alpha, min_tokens, threshold


@SETTINGS
@given(node_problems())
def test_intra_node_first_matches_reference(problem):
    loads, num_devices, per_node, alpha, min_tokens, threshold = problem
    plan = plan_llep(loads, num_devices, alpha, min_tokens, threshold, devices_per_node=per_node, intra_node_first=True)
    check_plan(plan, loads, num_devices)
    expected = reference_intra_node_first(loads, num_devices, per_node, alpha, min_tokens, threshold)
    if expected is None:
        assert plan.is_plain_ep
    else:
        assert plan.assignments == expected
    # Within an expert, spills to its own node come before spills across nodes (the last range may
    # be a forced remainder, which goes to the least-loaded device wherever it is).
    per_device = loads.size // num_devices
    for expert, ranges in enumerate(plan.assignments):
        home = expert // per_device
        spills = [d for d, _, _ in ranges[:-1] if d != home] if ranges and ranges[-1][0] in plan.forced else [
            d for d, _, _ in ranges if d != home
        ]
        crossed = False
        for device in spills:
            if device // per_node != home // per_node:
                crossed = True
            else:
                assert not crossed, (expert, ranges)


def test_intra_node_first_stays_on_the_node_when_it_has_room():
    # 16 devices, 8 per node, one expert each. Device 9 (node 1) is hot; node 0's devices are the
    # least loaded, so the paper's rule spills there, across nodes. With alpha = 2 node 1 has room.
    loads = np.array([100] * 8 + [500, 5000] + [500] * 6)
    capacity = math.ceil(2.0 * loads.sum() / 16)
    assert 5000 - capacity <= 7 * (capacity - 500)  # node 1's other devices can take the excess
    paper = plan_llep(loads, 16, alpha=2.0, min_tokens=1)
    local = plan_llep(loads, 16, alpha=2.0, min_tokens=1, devices_per_node=8, intra_node_first=True)
    check_plan(paper, loads, 16)
    check_plan(local, loads, 16)
    assert any(dst // 8 != 1 for _, _, dst in paper.transfers)
    assert local.transfers and all(dst // 8 == 1 for _, _, dst in local.transfers)
    assert local.device_loads.max() <= local.capacity and not local.forced


def test_intra_node_first_goes_across_nodes_when_the_node_is_full():
    loads = np.array([1000] * 8 + [1000, 60000] + [1000] * 6)
    plan = plan_llep(loads, 16, min_tokens=1, devices_per_node=8, intra_node_first=True)
    check_plan(plan, loads, 16)
    destinations = [dst for e, _, dst in plan.transfers if e == 9]
    local = [d for d in destinations if d // 8 == 1]
    remote = [d for d in destinations if d // 8 == 0]
    assert sorted(local) == [8, 10, 11, 12, 13, 14, 15] and remote
    assert destinations[: len(local)] == local  # the node's own devices come first


@SETTINGS
@given(node_problems())
def test_transfer_aware_with_free_transfers_is_the_paper_plan(problem):
    loads, num_devices, per_node, alpha, min_tokens, threshold = problem
    free = TransferCost(expert_weight_bytes=0.0, seconds_per_token=1e-6, bandwidth=1.0, latency=0.0)
    paper = plan_llep(loads, num_devices, alpha, min_tokens, threshold)
    aware = plan_llep(loads, num_devices, alpha, min_tokens, threshold, transfer_cost=free)
    assert aware.assignments == paper.assignments and aware.transfers == paper.transfers
    assert aware.forced == paper.forced


@SETTINGS
@given(node_problems())
def test_transfer_aware_never_crosses_a_link_that_costs_more_than_any_saving(problem):
    loads, num_devices, per_node, alpha, min_tokens, threshold = problem
    per_token = 1e-6
    # Moving weights within a node is free; across nodes it costs more than computing every token.
    too_slow = (loads.sum() + 1) * per_token * 10

    def bandwidth(src: int, dst: int) -> float:
        return np.inf if src // per_node == dst // per_node else 1.0 / too_slow

    cost = TransferCost(expert_weight_bytes=1.0, seconds_per_token=per_token, bandwidth=bandwidth)
    plan = plan_llep(loads, num_devices, alpha, min_tokens, threshold, transfer_cost=cost)
    check_plan(plan, loads, num_devices)
    assert all(src // per_node == dst // per_node for _, src, dst in plan.transfers)


@SETTINGS
@given(node_problems(), st.floats(1e-4, 10.0), st.floats(0.0, 2e-3))
def test_transfer_aware_every_transfer_is_worth_it(problem, inter_node_seconds, latency):
    # Rule (a) for every chunk that leaves its home, forced remainders included.
    loads, num_devices, per_node, alpha, min_tokens, threshold = problem
    per_token = 1e-6
    node = np.arange(num_devices) // per_node
    bandwidth = np.where(node[:, None] == node[None, :], 1e-3, inter_node_seconds)  # seconds per "byte"
    cost = TransferCost(
        expert_weight_bytes=1.0, seconds_per_token=per_token, bandwidth=1.0 / bandwidth, latency=latency
    )
    plan = plan_llep(loads, num_devices, alpha, min_tokens, threshold, devices_per_node=per_node, transfer_cost=cost)
    check_plan(plan, loads, num_devices)
    per_device = loads.size // num_devices
    for expert, ranges in enumerate(plan.assignments):
        home = expert // per_device
        for device, lo, hi in ranges:
            if device != home:
                assert cost.seconds(home, device) < (hi - lo) * per_token


def test_transfer_aware_rule_a_boundary():
    # Two devices, one expert each; expert 0 has 10000 tokens, expert 1 none: cap 5000, the chunk
    # that would move is 5000 tokens = 5 ms of compute at 1 us/token.
    loads = np.array([10000, 0])
    chunk_seconds = 5000 * 1e-6

    def plan_with(transfer_seconds):
        cost = TransferCost(expert_weight_bytes=transfer_seconds, seconds_per_token=1e-6, bandwidth=1.0)
        return plan_llep(loads, 2, min_tokens=1, transfer_cost=cost)

    cheap = plan_with(0.99 * chunk_seconds)
    assert cheap.transfers == ((0, 0, 1),) and cheap.assignments[0] == ((0, 0, 5000), (1, 5000, 10000))
    dear = plan_with(1.01 * chunk_seconds)
    # Not worth moving: the remainder stays home, over capacity, and the home device is "forced".
    assert dear.transfers == () and dear.assignments[0] == ((0, 0, 5000), (0, 5000, 10000))
    assert dear.forced == (0,) and dear.device_loads.tolist() == [10000, 0]
    check_plan(dear, loads, 2)
    # The paper's rule moves it whatever the cost.
    assert plan_llep(loads, 2, min_tokens=1).transfers == ((0, 0, 1),)


def test_transfer_aware_rule_b_counts_weight_traffic_already_booked():
    # Three devices, one expert each: loads 6000, 4000, 0 -> cap 3334. Expert 0 spills 2666 tokens
    # to device 2 (0.5 ms transfer < 2.666 ms saved). Expert 1 would spill 666 tokens to device 2:
    # rule (a) holds (0.5 ms < 0.666 ms) but device 2, already waiting 0.5 ms for expert 0's weights,
    # would finish at 2.666 + 0.5 + 0.5 + 0.666 = 4.33 ms > 4.0 ms for device 1 keeping them: rule (b)
    # keeps them home.
    loads = np.array([6000, 4000, 0])
    cost = TransferCost(expert_weight_bytes=0.5e-3, seconds_per_token=1e-6, bandwidth=1.0)
    plan = plan_llep(loads, 3, min_tokens=1, transfer_cost=cost)
    check_plan(plan, loads, 3)
    assert plan.capacity == 3334
    assert plan.transfers == ((0, 0, 2),)
    assert plan.assignments[1] == ((1, 0, 3334), (1, 3334, 4000)) and plan.forced == (1,)
    assert (1, 1, 2) in plan_llep(loads, 3, min_tokens=1).transfers  # the paper's rule spills it


def test_transfer_cost_forms():
    matrix = np.array([[np.inf, 2.0], [4.0, np.inf]])
    for bandwidth, expected in ((2.0, 0.5), (matrix, 0.5), (lambda s, d: 2.0, 0.5)):
        cost = TransferCost(expert_weight_bytes=1.0, seconds_per_token=1.0, bandwidth=bandwidth, latency=0.0)
        assert cost.seconds(0, 1) == pytest.approx(expected)
        assert cost.seconds(1, 1) == 0.0
        np.testing.assert_allclose(cost.row(0, 2), [0.0, expected])
    with pytest.raises(ValueError, match="seconds_per_token"):
        plan_llep(np.array([100, 0]), 2, imbalance_threshold=0.0, transfer_cost=TransferCost(1.0, 0.0, 1.0))


def test_both_rules_together():
    loads = np.array([100] * 8 + [500, 20000] + [500] * 6)  # node 1 cannot hold the excess
    cost = TransferCost(
        expert_weight_bytes=1e6,
        seconds_per_token=1e-6,
        bandwidth=lambda s, d: 1e12 if s // 8 == d // 8 else 1e6,  # across nodes: 1 s per expert
    )
    plan = plan_llep(loads, 16, min_tokens=1, devices_per_node=8, intra_node_first=True, transfer_cost=cost)
    check_plan(plan, loads, 16)
    assert plan.transfers and all(dst // 8 == 1 for _, _, dst in plan.transfers)


@SETTINGS
@given(node_problems(), st.booleans())
def test_align_ranges_only_moves_which_tokens(problem, intra_node_first):
    loads, num_devices, per_node, alpha, min_tokens, threshold = problem
    kwargs = dict(devices_per_node=per_node, intra_node_first=intra_node_first)
    plain = plan_llep(loads, num_devices, alpha, min_tokens, threshold, **kwargs)
    aligned = plan_llep(loads, num_devices, alpha, min_tokens, threshold, align_ranges=True, **kwargs)
    check_plan(aligned, loads, num_devices)
    np.testing.assert_array_equal(aligned.device_loads, plain.device_loads)
    assert aligned.transfers == plain.transfers and aligned.forced == plain.forced
    for before, after in zip(plain.assignments, aligned.assignments):
        devices = [d for d, _, _ in after]
        assert devices == sorted(set(devices))  # device order, one range per device
        sizes = {}
        for d, lo, hi in before:
            sizes[d] = sizes.get(d, 0) + hi - lo
        assert {d: hi - lo for d, lo, hi in after} == sizes


def test_align_ranges_keeps_tokens_at_their_source():
    # 4 ranks route 1000 tokens each to expert 0 (device 0) and nothing else: cap = 1000, so each
    # device computes 1000 of them. Aligned, device d gets exactly rank d's tokens: nothing moves.
    counts = np.zeros((4, 4), dtype=np.int64)
    counts[:, 0] = 1000
    aligned = plan_llep(counts.sum(0), 4, min_tokens=1, align_ranges=True)
    sends = route_counts(aligned, counts)
    assert np.count_nonzero(sends.sum(2) - np.diag(np.diag(sends.sum(2)))) == 0
    assert aligned.assignments[0] == ((0, 0, 1000), (1, 1000, 2000), (2, 2000, 3000), (3, 3000, 4000))
