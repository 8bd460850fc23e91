"""Router, experts and the single-process layer."""

import pytest
import torch

from motionvla.moe import MoEFeedForward, Routing, TopKRouter
from motionvla.moe.experts import SwiGLUExperts


def test_router_picks_top_k_and_normalizes():
    torch.manual_seed(0)
    router = TopKRouter(8, 6, 2)
    x = torch.randn(10, 8)
    routing = router(x)
    probs = torch.softmax(routing.logits, dim=-1)
    assert routing.indices.shape == (10, 2) and routing.weights.shape == (10, 2)
    assert torch.equal(routing.indices, probs.topk(2).indices)
    assert torch.allclose(routing.weights.sum(-1), torch.ones(10))
    raw = TopKRouter(8, 6, 2, normalize=False)
    raw.load_state_dict(router.state_dict(), strict=False)
    assert torch.allclose(raw(x).weights, probs.topk(2).values)


def test_aux_free_bias_changes_selection_not_weight_source():
    torch.manual_seed(0)
    router = TopKRouter(8, 4, 1, aux_free_bias=True, normalize=False)
    x = torch.randn(32, 8)
    before = router(x)
    router.selection_bias[3] = 10.0  # expert 3 now always wins the selection
    after = router(x)
    assert (after.indices == 3).all() and not (before.indices == 3).all()
    probs = torch.softmax(after.logits, dim=-1)
    assert torch.allclose(after.weights[:, 0], probs[:, 3])  # weight is the softmax prob, bias-free
    router.update_bias(torch.tensor([10.0, 10.0, 10.0, 50.0]), rate=0.5)
    assert router.selection_bias[3] == 9.5 and router.selection_bias[0] == 0.5


def test_local_layer_matches_a_per_token_loop():
    torch.manual_seed(0)
    layer = MoEFeedForward(13, 7, 5, 3)
    x = torch.randn(2, 6, 13)
    y = layer(x)
    routing = layer.last_routing
    flat = x.reshape(-1, 13)
    expected = torch.zeros_like(flat)
    for t in range(flat.shape[0]):
        for slot in range(3):
            e = int(routing.indices[t, slot])
            gate, up, down = layer.experts.weights(e)
            h = torch.nn.functional.silu(flat[t] @ gate) * (flat[t] @ up)
            expected[t] += routing.weights[t, slot] * (h @ down)
    assert y.shape == x.shape
    assert torch.allclose(y.reshape(-1, 13), expected, atol=1e-6)
    assert layer.last_stats["tokens_computed"] == 12 * 3


def test_forced_routing_with_duplicates_and_empty_batch():
    torch.manual_seed(0)
    layer = MoEFeedForward(8, 4, 4, 2)
    x = torch.randn(3, 8)
    routing = Routing(torch.tensor([[1, 1], [0, 3], [2, 2]]), torch.full((3, 2), 0.5))
    y = layer(x, routing=routing)
    gate, up, down = layer.experts.weights(1)
    assert torch.allclose(y[0], (torch.nn.functional.silu(x[0] @ gate) * (x[0] @ up)) @ down, atol=1e-6)
    empty = layer(torch.zeros(0, 8, requires_grad=True))
    assert empty.shape == (0, 8)
    with pytest.raises(ValueError, match=r"routing indices must be in \[0, 4\)"):
        layer(x, routing=Routing(torch.tensor([[0, 4]] * 3), torch.ones(3, 2)))


def test_bad_configuration_errors():
    with pytest.raises(ValueError, match="unknown dispatcher 'fast'; accepted: local, ep, llep"):
        MoEFeedForward(8, 4, 4, 2, dispatcher="fast")
    with pytest.raises(ValueError, match="top_k"):
        MoEFeedForward(8, 4, 4, 5)
    with pytest.raises(ValueError, match="planner_options only apply to dispatcher='llep'"):
        MoEFeedForward(8, 4, 4, 2, dispatcher="ep", planner_options={"align_ranges": True})
    with pytest.raises(RuntimeError, match="torch.distributed"):
        MoEFeedForward(8, 4, 4, 2, dispatcher="llep")


def test_flat_weights_round_trip():
    experts = SwiGLUExperts(3, 5, 7)
    flat = experts.flat_weights(1)
    assert flat.shape == (3 * 5 * 7,)
    for a, b in zip(experts.unflatten(flat), experts.weights(1)):
        assert torch.equal(a, b)


def test_stats_time_forward_and_backward_and_count_loads():
    torch.manual_seed(0)
    layer = MoEFeedForward(8, 6, 4, 2)
    x = torch.randn(5, 8)  # inputs without grad: the backward is still timed (weights need grad)
    y = layer(x)
    stats = layer.last_stats
    assert stats["expert_compute_thread_s"] >= 0 and "expert_compute_bwd_thread_s" not in stats
    assert int(stats["expert_loads"].sum()) == 5 * 2 == stats["tokens_computed"]
    y.sum().backward()
    assert stats["expert_compute_bwd_thread_s"] >= 0
    with torch.no_grad():
        layer(x)  # no graph: nothing to time in backward, and no error
    assert "expert_compute_bwd_thread_s" not in layer.last_stats


def test_gather_full_of_a_local_layer_is_a_copy():
    torch.manual_seed(0)
    layer = MoEFeedForward(8, 6, 4, 2, aux_free_bias=True)
    layer.router.selection_bias[1] = 0.5
    copy = layer.gather_full()
    assert copy is not layer and copy.dispatcher == "local"
    for (name, a), b in zip(layer.state_dict().items(), copy.state_dict().values()):
        assert torch.equal(a, b), name
    x = torch.randn(3, 8)
    assert torch.equal(layer(x), copy(x))
