"""Pre/post-processors of the ``motionvla`` policy (lerobot's ``make_<type>_pre_post_processors`` convention).

The pre-processor adds a batch dimension where missing, moves tensors to the policy's device and
normalizes state/action with the dataset statistics; the post-processor unnormalizes predicted actions
and moves them to the CPU. Both are lerobot ``PolicyProcessorPipeline`` objects: ``save_pretrained(dir)``
writes their JSON + safetensors (the statistics) next to the policy weights, and
:func:`load_processors` reads them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lerobot.processor import PolicyProcessorPipeline, make_default_pre_post_processors
from lerobot.processor.converters import (
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)

from motionvla.policy.configuration_motionvla import MotionVLAConfig

PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"


def make_motionvla_pre_post_processors(
    config: MotionVLAConfig, dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None
) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    """lerobot's standard pair (rename → batch → device → normalize; unnormalize → cpu) for this config."""
    return make_default_pre_post_processors(config, dataset_stats, normalizer_device=config.device)


def load_processors(path: str | Path, device: str = "cpu") -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline] | None:
    """The processors saved in a checkpoint folder, or None if it has none (e.g. a bare test checkpoint)."""
    path = Path(path)
    if not (path / PREPROCESSOR_FILE).is_file() or not (path / POSTPROCESSOR_FILE).is_file():
        return None
    overrides: dict[str, Any] = {"device_processor": {"device": device}}
    pre = PolicyProcessorPipeline.from_pretrained(
        path, config_filename=PREPROCESSOR_FILE, overrides=overrides,
        to_transition=batch_to_transition, to_output=transition_to_batch,
    )
    post = PolicyProcessorPipeline.from_pretrained(
        path, config_filename=POSTPROCESSOR_FILE,
        to_transition=policy_action_to_transition, to_output=transition_to_policy_action,
    )
    return pre, post


# Training targets the processor pipeline does not know about (it keeps only LeRobot's standard keys).
PASSTHROUGH_KEYS = ("motion", "motion_mask")


def preprocess_training_batch(preprocessor: PolicyProcessorPipeline, batch: dict[str, Any]) -> dict[str, Any]:
    """Run the pre-processor on a training batch and carry the motion targets through unchanged."""
    processed = preprocessor(batch)
    processed.update({k: batch[k] for k in PASSTHROUGH_KEYS if k in batch})
    return processed
