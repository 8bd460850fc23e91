"""MoE layer simulator: routing scenarios, hardware curves, the cost model, and the paper's trends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from motionvla.moe.hardware import H100_SXM, H200_SXM, PROFILES, get_profile
from motionvla.moe.planner import plan_ep, plan_llep
from motionvla.moe.simulator import (
    MODEL_PRESETS,
    PAPER_SCENARIOS,
    VARIANTS,
    MoEShape,
    Scenario,
    estimate_layer,
    hot_experts,
    plan_traffic,
    routing_counts,
    simulate,
    transfer_cost_for,
)


def test_scenario_parsing():
    assert Scenario.parse("balanced") == Scenario()
    assert Scenario.parse(" 95:1 ") == Scenario(0.95, 1)
    assert Scenario(0.3, 16).name == "30%/16hot" and Scenario().name == "balanced"
    assert len(PAPER_SCENARIOS) == 13
    for bad in ("95", "x:1", "120:1", "50:0"):
        with pytest.raises(ValueError):
            Scenario.parse(bad)


def test_routing_counts_follow_the_paper_generator():
    shape = MODEL_PRESETS["gpt-oss-120b"]
    counts = routing_counts(shape, 8, 1000, Scenario(0.95, 1))
    assert counts.shape == (8, 128)
    np.testing.assert_array_equal(counts.sum(1), 1000 * 4)  # tokens x top-k rows per rank
    np.testing.assert_array_equal(counts[:, 0], 950 * 4)  # the hot tokens put all k slots on it
    cold = counts[:, 1:]
    assert cold.max() - cold.min() <= 1
    balanced = routing_counts(shape, 8, 1000, Scenario())
    assert balanced.max() - balanced.min() <= 1 and balanced.sum() == 8 * 4000
    spread = routing_counts(shape, 8, 1000, Scenario(0.8, 4), hot_placement="spread")
    hot = hot_experts(128, 4, "spread")
    assert hot.tolist() == [0, 32, 64, 96]
    np.testing.assert_array_equal(spread[:, hot].sum(1), 800 * 4)
    assert sorted(set((hot // 16).tolist())) == [0, 2, 4, 6]  # on four different devices
    with pytest.raises(ValueError):
        hot_experts(8, 9)


def test_hardware_profiles():
    assert set(PROFILES) == {"h100-sxm", "h200-sxm"} and get_profile("h200-sxm") is H200_SXM
    with pytest.raises(ValueError, match="unknown hardware"):
        get_profile("tpu")
    rows = np.array([1, 16, 128, 1024, 16384, 10**6])
    throughput = H100_SXM.gemm_throughput(rows)
    assert (np.diff(throughput) > 0).all()
    assert throughput[-1] < H100_SXM.bf16_flops * H100_SXM.gemm_efficiency
    assert throughput[2] == pytest.approx(H100_SXM.bf16_flops * H100_SXM.gemm_efficiency / 2)
    times = H100_SXM.gemm_seconds(rows, 2880, 2880)
    assert (np.diff(times) > 0).all() and H100_SXM.gemm_seconds(0, 2880, 2880) == 0.0
    # Tiny GEMMs are memory-bound: H200's faster HBM makes them faster; big ones are the same.
    assert H200_SXM.gemm_seconds(16, 2880, 2880) < H100_SXM.gemm_seconds(16, 2880, 2880)
    assert H200_SXM.gemm_seconds(10**6, 2880, 2880) == pytest.approx(H100_SXM.gemm_seconds(10**6, 2880, 2880))
    assert H200_SXM.link_bandwidth(0, 7) > 5 * H200_SXM.link_bandwidth(0, 8)


def _bare_profile():
    """No latencies or overheads, ideal efficiencies: easy numbers to check by hand."""
    return dataclasses.replace(
        H100_SXM,
        name="bare",
        gemm_efficiency=1.0,
        hbm_efficiency=1.0,
        intra_node_efficiency=1.0,
        inter_node_efficiency=1.0,
        kernel_launch_s=0.0,
        collective_latency_s=0.0,
        p2p_latency_s=0.0,
        plan_overhead_s=0.0,
    )


def test_cost_model_by_hand():
    hw = _bare_profile()
    shape = MoEShape(num_experts=2, top_k=1, hidden=1024, expert_hidden=512)
    # Two ranks on one node; each routes 3000 rows to expert 0 (device 0), 1000 to expert 1.
    counts = np.array([[3000, 1000], [3000, 1000]])
    plan = plan_ep(counts.sum(0), 2)
    sends, compute_rows = plan_traffic(plan, counts)
    np.testing.assert_array_equal(sends, [[3000, 1000], [3000, 1000]])
    np.testing.assert_array_equal(compute_rows, [[6000, 0], [0, 2000]])
    est = estimate_layer(plan, counts, shape, hw, devices_per_node=2, llep=False)
    # Device 0 receives 3000 rows from rank 1 (sends 1000): 3000 * 1024 * 2 bytes over NVLink.
    dispatch = 3000 * 1024 * 2 / hw.intra_node_bandwidth
    assert est.phases["dispatch"] == pytest.approx(dispatch)
    gemm = 2 * hw.gemm_seconds(6000, 1024, 512) + hw.gemm_seconds(6000, 512, 1024)
    elementwise = 6000 * 2 * (4 * 1024 + 3 * 512) / hw.hbm_bandwidth
    assert est.phases["compute"] == pytest.approx(float(gemm + elementwise))
    assert est.latency_s == pytest.approx(2 * dispatch + float(gemm + elementwise))
    assert est.token_bytes_intra == pytest.approx(4000 * 1024 * 2) and est.token_bytes_inter == 0
    # Peak memory on device 0: 1 expert + local buffers (4000 tokens) + 6000 received rows.
    expected = 3 * 1024 * 512 * 2 + 4000 * 2 * (2 * 1024 + 2 * 1024) + 6000 * 2 * (2 * 1024 + 3 * 512)
    assert est.peak_memory[0] == pytest.approx(expected)
    # LLEP moves 2000 of expert 0's rows (rank 1's share) and expert 0's weights to device 1.
    llep = plan_llep(counts.sum(0), 2, min_tokens=1)
    assert llep.transfers == ((0, 0, 1),)
    est_llep = estimate_layer(llep, counts, shape, hw, devices_per_node=2)
    assert est_llep.weight_bytes_intra == 3 * 1024 * 512 * 2 and est_llep.num_transfers == 1
    np.testing.assert_array_equal(est_llep.device_tokens, [4000, 4000])
    assert est_llep.latency_s < est.latency_s
    slower = estimate_layer(llep, counts, shape, hw, devices_per_node=2, overlap_weights=False)
    assert slower.phases["phase1"] == pytest.approx(est_llep.phases["dispatch"] + est_llep.phases["weights"])


def test_inter_node_traffic_uses_the_nic():
    hw = _bare_profile()
    shape = MoEShape(num_experts=4, top_k=1, hidden=1024, expert_hidden=512)
    counts = np.array([[1000, 0, 0, 0]] * 4)
    est = estimate_layer(plan_ep(counts.sum(0), 4), counts, shape, hw, devices_per_node=2, llep=False)
    # Device 0 receives 1000 rows over NVLink (rank 1) and 2000 over the NIC (ranks 2, 3).
    nic = 2000 * 1024 * 2 / hw.inter_node_bandwidth
    assert est.phases["dispatch"] == pytest.approx(nic)
    assert est.token_bytes_inter == pytest.approx(2000 * 1024 * 2)


def test_balanced_routing_falls_back_to_ep():
    for shape in MODEL_PRESETS.values():
        result = simulate(shape, Scenario(), 8, 32768, H200_SXM)
        ep, llep = result["EP"], result["LLEP"]
        assert llep.is_plain_ep and llep.num_transfers == 0
        assert llep.latency_s - ep.latency_s == pytest.approx(H200_SXM.plan_overhead_s)
        assert 0.9 < ep.latency_s / llep.latency_s <= 1.0


def test_paper_trends_on_8_h200():
    for name, shape in MODEL_PRESETS.items():
        speedups = []
        for fraction in (0.3, 0.5, 0.8, 0.95):
            result = simulate(shape, Scenario(fraction, 1), 8, 32768, H200_SXM)
            speedups.append(result["EP"].latency_s / result["LLEP"].latency_s)
        assert all(np.diff(speedups) > 0), (name, speedups)  # more imbalance, more speedup
        assert 4.0 < speedups[-1] < 10.0, (name, speedups)  # the paper: 5.0-6.1x
        result = simulate(shape, Scenario(0.95, 1), 8, 32768, H200_SXM)
        assert result["EP"].peak_memory.max() > 3 * result["LLEP"].peak_memory.max()
        assert result["LLEP"].imbalance < 1.01


def test_every_variant_conserves_tokens_and_backward_costs_more():
    shape = MODEL_PRESETS["deepseek-v3"]
    for placement in ("first", "spread"):
        result = simulate(
            shape, Scenario(0.8, 4), 32, 1024, H100_SXM, variants=tuple(VARIANTS), hot_placement=placement
        )
        for est in result.values():
            assert est.device_tokens.sum() == 32 * 1024 * 8
    forward = simulate(shape, Scenario(0.8, 4), 16, 2048, H100_SXM)
    both = simulate(shape, Scenario(0.8, 4), 16, 2048, H100_SXM, backward=True)
    for name in forward:
        assert both[name].latency_s > 2 * forward[name].latency_s
        np.testing.assert_allclose(both[name].peak_memory, 2 * forward[name].peak_memory)
    with pytest.raises(ValueError, match="divide"):
        simulate(MODEL_PRESETS["kimi-k2"], Scenario(), 256, 1024, H100_SXM)
    with pytest.raises(ValueError, match="unknown variant"):
        simulate(shape, Scenario(), 8, 1024, H100_SXM, variants=("LLEP+magic",))


def test_transfer_aware_pays_off_at_small_batches_across_nodes():
    # 64 GPUs (8 nodes), 256 tokens per GPU, DeepSeek-V3 shape, 80% of tokens on 4 hot experts on
    # device 0: the paper's rule ships each hot expert to ~60 devices, mostly over InfiniBand, and
    # is slower than EP; the transfer-aware rule keeps most of them at home.
    result = simulate(MODEL_PRESETS["deepseek-v3"], Scenario(0.8, 4), 64, 256, H200_SXM, variants=tuple(VARIANTS))
    ep, llep, aware = result["EP"], result["LLEP"], result["LLEP+transfer-aware"]
    assert llep.latency_s > ep.latency_s
    assert aware.latency_s < 0.5 * ep.latency_s
    assert aware.weight_bytes_inter < 0.2 * llep.weight_bytes_inter


def test_intra_node_first_cuts_inter_node_traffic():
    result = simulate(MODEL_PRESETS["deepseek-v3"], Scenario(0.95, 1), 16, 32768, H200_SXM, variants=tuple(VARIANTS))
    llep, local = result["LLEP"], result["LLEP+intra-node-first"]
    assert local.inter_node_bytes < 0.2 * llep.inter_node_bytes
    assert local.latency_s < llep.latency_s


def test_transfer_cost_for_uses_the_links():
    cost = transfer_cost_for(MODEL_PRESETS["gpt-oss-120b"], H200_SXM, 16, 8)
    weights = 3 * 2880 * 2880 * 2
    assert cost.expert_weight_bytes == weights
    assert cost.seconds(0, 1) < cost.seconds(0, 8)
    assert cost.seconds(0, 8) == pytest.approx(cost.latency + weights / H200_SXM.link_bandwidth(0, 8))
