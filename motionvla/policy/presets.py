"""Named policy configurations: ``tiny`` (trains on a CPU in minutes) and real-size ones.

A real-size preset names a hub backbone; ``describe_on_meta`` builds the whole policy on the ``meta``
device from an explicit transformers config of that backbone, so its parameter counts can be printed
here without weights, memory or network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from transformers import PretrainedConfig

from motionvla.vlm import qwen2_5_vl_3b_config
from motionvla.policy.configuration_motionvla import MotionVLAConfig


def tiny(**overrides: Any) -> MotionVLAConfig:
    """The in-process tiny policy (what ``make demo`` trains)."""
    return MotionVLAConfig(**overrides)


def qwen2_5_vl_3b(**overrides: Any) -> MotionVLAConfig:
    """Qwen2.5-VL-3B backbone + a ~300M action expert (π0's width 1024 × 18 layers) + a PixArt-sized
    motion head over 64×64 motion images. Images 224², chunks of 50 (openpi's defaults)."""
    base = dict(
        backbone="Qwen/Qwen2.5-VL-3B-Instruct", image_size=224, max_text_tokens=48, chunk_size=50, n_action_steps=50,
        action_hidden_size=1024, action_layers=18, action_heads=8,
        motion_resolution=64, motion_patch_size=4, motion_layers=12, motion_heads=16, motion_head_dim=72,
    )
    return MotionVLAConfig(**{**base, **overrides})


# name -> (policy config factory, explicit backbone config for meta builds or None for in-process)
PRESETS: dict[str, tuple[Callable[..., MotionVLAConfig], Callable[[], PretrainedConfig] | None]] = {
    "tiny": (tiny, None),
    "qwen2.5-vl-3b": (qwen2_5_vl_3b, qwen2_5_vl_3b_config),
}


def parameter_counts(policy: torch.nn.Module) -> dict[str, int]:
    """Parameters per top-level part (``backbone``, ``action_head``, ``motion_head``) and ``total``."""
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in policy.named_children()}
    counts["total"] = sum(counts.values())
    return counts


def describe_on_meta(name: str, **overrides: Any) -> dict[str, Any]:
    """Build preset ``name`` on the ``meta`` device (no weights, no download); its parameter counts."""
    from motionvla.policy.modeling_motionvla import MotionVLAPolicy

    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    make_config, make_backbone_config = PRESETS[name]
    config = make_config(device="cpu", state_dim=8, action_dim=7, flow_max_magnitude=1.0, **overrides)
    with torch.device("meta"):
        backbone_config = make_backbone_config() if make_backbone_config else None
        policy = MotionVLAPolicy(config, backbone_config=backbone_config)
    return {"preset": name, "backbone": config.backbone, "parameters": parameter_counts(policy),
            "config": {k: v for k, v in dataclasses.asdict(config).items() if k.startswith(("action_", "motion_", "chunk"))}}
