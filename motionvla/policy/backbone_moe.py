"""Mixture-of-experts layers in a backbone's language model, as ``config.moe`` asks (both backbones use it)."""

from __future__ import annotations

from torch import nn

from motionvla.moe import upcycle_to_moe
from motionvla.policy.configuration_motionvla import MotionVLAConfig


def upcycle_language_model(lm: nn.Module, config: MotionVLAConfig) -> list[str]:
    """Turn ``lm``'s gated MLPs into MoE layers as ``config.moe`` says (none if ``num_experts == 0``);
    returns the replaced modules' names."""
    moe = config.moe
    if moe.num_experts == 0:
        return []
    planner = (dict(min_tokens=moe.min_tokens, imbalance_threshold=moe.imbalance_threshold, alpha=moe.alpha)
               if moe.dispatcher == "llep" else {})
    return upcycle_to_moe(lm, moe.num_experts, moe.top_k, dispatcher=moe.dispatcher, **planner)
