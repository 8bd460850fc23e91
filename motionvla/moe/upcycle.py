"""Upcycling: turn a transformers model's dense gated MLPs into MoE layers of copies of them."""

from __future__ import annotations

import torch
from torch import nn

from motionvla.moe.layer import MoEFeedForward


def _is_silu(module: nn.Module) -> bool:
    act = getattr(module, "act_fn", None)
    return isinstance(act, nn.SiLU) or type(act).__name__ in ("SiLU", "SiLUActivation")


def upcycle_to_moe(model: nn.Module, num_experts: int, top_k: int, dispatcher: str = "local", **moe_kwargs) -> list[str]:
    """Replace every gated MLP (a module with ``gate_proj``, ``up_proj``, ``down_proj`` linears and a
    SiLU ``act_fn``, as in Llama, Qwen2, Gemma-with-SiLU) by a :class:`MoEFeedForward` whose experts all
    start as copies of it. With the router's renormalized top-k weights, the model computes exactly
    what it did before until training moves the experts apart.

    Returns the names of the replaced modules. Raises ValueError if a gated MLP has biases or a
    different activation (the experts are SwiGLU without bias).
    """
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if all(isinstance(getattr(module, p, None), nn.Linear) for p in ("gate_proj", "up_proj", "down_proj"))
    ]
    replaced = []
    for name, module in targets:
        if not _is_silu(module):
            raise ValueError(f"{name}: activation {type(getattr(module, 'act_fn', None)).__name__} is not SiLU; experts are SwiGLU")
        if any(getattr(module, p).bias is not None for p in ("gate_proj", "up_proj", "down_proj")):
            raise ValueError(f"{name}: MLP projections with bias are not supported (experts have no bias)")
        gate, up, down = module.gate_proj.weight, module.up_proj.weight, module.down_proj.weight
        moe = MoEFeedForward(gate.shape[1], gate.shape[0], num_experts, top_k, dispatcher, **moe_kwargs)
        moe.to(device=gate.device, dtype=gate.dtype)
        with torch.no_grad():
            moe.experts.w_gate.copy_(gate.T.expand_as(moe.experts.w_gate))
            moe.experts.w_up.copy_(up.T.expand_as(moe.experts.w_up))
            moe.experts.w_down.copy_(down.T.expand_as(moe.experts.w_down))
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, moe)
        replaced.append(name)
    return replaced
