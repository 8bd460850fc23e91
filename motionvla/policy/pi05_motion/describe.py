"""Parameter counts of the full-size pi05_motion, built on the ``meta`` device (no weights, memory or network).

``python -m motionvla.policy.pi05_motion.describe [--json]`` prints them. (``motionvla describe-policy`` lists
the motionvla presets; this policy is lerobot's π0.5 and has no preset there.)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch
from lerobot.configs import FeatureType, PolicyFeature
from torch import nn

from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig

# LIBERO's features (two 256² cameras, 8-D state, 7-D action); the counts do not depend on them.
CAMERAS = ("observation.images.image", "observation.images.image2")


def count(module: nn.Module | None) -> int:
    """Parameters of ``module`` (shared tensors once); 0 for None."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_counts(policy: nn.Module) -> dict[str, int]:
    """Parameters per part of a :class:`~.modeling_pi05_motion.PI05MotionPolicy`, each tensor counted once:

    ``paligemma`` (SigLIP vision tower + projector + Gemma-2B with its 257152-token embedding), of which
    ``vision`` (tower + projector); ``action_expert`` (Gemma-300M layers with π0.5's adaRMS norms + the action and
    time projections); ``lm_heads`` (the vocabulary heads lerobot builds for both Gemmas and π0.5 never uses);
    ``motion_head``; ``total``.
    """
    pwe = policy.model.paligemma_with_expert
    core = policy.model
    pal = pwe.paligemma.model
    expert = [pwe.gemma_expert.model, core.action_in_proj, core.action_out_proj, core.time_mlp_in, core.time_mlp_out]
    counted = {id(p) for m in [pal, *expert, policy.motion_head] if m is not None for p in m.parameters()}
    heads = {id(p): p.numel() for m in (pwe.paligemma.lm_head, pwe.gemma_expert.lm_head) for p in m.parameters()
             if id(p) not in counted}  # a head tied to its embedding is not counted twice
    return {
        "paligemma": count(pal),
        "vision": count(pal.vision_tower) + count(pal.multi_modal_projector),
        "action_expert": sum(count(m) for m in expert),
        "lm_heads": sum(heads.values()),
        "motion_head": count(policy.motion_head),
        "total": count(policy),
    }


def meta_config(**overrides: Any) -> PI05MotionConfig:
    """The full-size config with LIBERO's features, ready for a meta build (``device="meta"``)."""
    config = PI05MotionConfig(flow_max_magnitude=1.0, **overrides)
    config.input_features = {k: PolicyFeature(FeatureType.VISUAL, (3, 256, 256)) for k in CAMERAS}
    config.input_features["observation.state"] = PolicyFeature(FeatureType.STATE, (8,))
    config.output_features = {"action": PolicyFeature(FeatureType.ACTION, (7,))}
    # After __post_init__, which would replace an unavailable device by the CPU: PI05Policy moves its model to
    # config.device, and a meta tensor cannot be copied anywhere.
    config.device = "meta"
    return config


def describe_on_meta(**overrides: Any) -> dict[str, Any]:
    """Build pi05_motion on the meta device; its parameter counts and the sizes that set them."""
    from motionvla.policy.pi05_motion.modeling_pi05_motion import PI05MotionPolicy

    config = meta_config(**overrides)
    with torch.device("meta"):
        policy = PI05MotionPolicy(config)
    sizes = ("paligemma_variant", "action_expert_variant", "image_resolution", "chunk_size", "motion_frames",
             "motion_resolution", "motion_patch_size", "motion_layers", "motion_heads", "motion_head_dim")
    return {"policy": "pi05_motion", "parameters": parameter_counts(policy),
            "config": {k: getattr(config, k) for k in sizes}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    info = describe_on_meta()
    if args.json:
        print(json.dumps(info, indent=2, default=list))
        return info
    print("pi05_motion (lerobot π0.5 + motion head), built on the meta device:")
    for part, n in info["parameters"].items():
        print(f"  {part:<15} {n / 1e6:>10.1f} M")
    return info


if __name__ == "__main__":
    main()
