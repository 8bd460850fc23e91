"""Upcycling a transformers model's dense MLPs into MoE layers keeps its outputs."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from motionvla.moe import MoEFeedForward, upcycle_to_moe


@pytest.mark.parametrize(
    "model_cls, config_cls",
    [(LlamaForCausalLM, LlamaConfig), (Qwen2ForCausalLM, Qwen2Config)],
)
def test_upcycled_model_computes_what_the_dense_one_did(model_cls, config_cls):
    torch.manual_seed(0)
    config = config_cls(
        vocab_size=64, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    model = model_cls(config).eval()
    tokens = torch.randint(0, 64, (2, 9))
    with torch.no_grad():
        dense = model(tokens).logits
    replaced = upcycle_to_moe(model, num_experts=4, top_k=2)
    assert replaced == ["model.layers.0.mlp", "model.layers.1.mlp"]
    assert all(isinstance(model.get_submodule(name), MoEFeedForward) for name in replaced)
    with torch.no_grad():
        moe = model(tokens).logits
    assert torch.allclose(moe, dense, atol=1e-5)
    # The experts are separate parameters that training can move apart.
    model(tokens).logits.sum().backward()
    grads = model.get_submodule(replaced[0]).experts.w_up.grad
    assert grads is not None and grads.shape == (4, 32, 40)


def test_upcycle_refuses_non_silu_mlps():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=16, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, hidden_act="gelu",
    )
    with pytest.raises(ValueError, match="not SiLU"):
        upcycle_to_moe(LlamaForCausalLM(config), num_experts=2, top_k=1)
