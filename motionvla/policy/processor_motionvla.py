"""Pre/post-processors of the ``motionvla`` policy (lerobot's ``make_<type>_pre_post_processors`` convention).

The pre-processor renames observation keys (a dataset's names → the policy's, when a rename map is
given), adds a batch dimension where missing, turns future frames into flow targets when the batch has
them (:mod:`~motionvla.policy.motion_head.flow_step`; how ``lerobot-train`` trains the motion head), moves tensors to
the policy's device and normalizes state/action with the dataset statistics; the post-processor
unnormalizes predicted actions and moves them to the CPU. Both are lerobot ``PolicyProcessorPipeline`` objects: ``save_pretrained(dir)``
writes their JSON + safetensors (the statistics) next to the policy weights, and
:func:`load_processors` reads them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lerobot.processor import PolicyProcessorPipeline
from lerobot.processor.factory import make_default_policy_processor_steps, make_policy_processor_pipelines
from lerobot.processor.converters import (
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)

from motionvla.keys import MOTION_KEY, MOTION_MASK_KEY, MOTION_PAST_KEY
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.policy.motion_head.flow_step import FlowTargetsStep

PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"


def make_motionvla_pre_post_processors(
    config: MotionVLAConfig, dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
    rename_map: dict[str, str] | None = None,
) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    """lerobot's standard pair (rename → batch → device → normalize; unnormalize → cpu) for this config,
    with the flow-target step after batching when the policy has a motion head.

    ``rename_map``: dataset observation key → policy key, saved with the pre-processor (lerobot's
    ``rename_observations_processor``), so observations named like the dataset are renamed when acting too.
    """
    s = make_default_policy_processor_steps(config, dataset_stats, normalizer_device=config.device)
    s.rename_observations.rename_map = dict(rename_map or {})
    steps = [s.rename_observations, s.add_batch_dim]
    if config.motion_weight > 0:
        # Before the device step: flows are estimated on the CPU (OpenCV), and only the current frame
        # of each observation travels to the device.
        steps.append(FlowTargetsStep(camera=config.flow_camera(), num_flows=config.motion_frames,
                                     height=config.motion_resolution, width=config.motion_resolution,
                                     method=config.flow_method, past_flow=config.motion_past_flows > 0))
    return make_policy_processor_pipelines(
        input_steps=[*steps, s.to_device, s.normalize], output_steps=[s.unnormalize, s.to_cpu]
    )


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
PASSTHROUGH_KEYS = (MOTION_KEY, MOTION_MASK_KEY, MOTION_PAST_KEY)


def preprocess_training_batch(preprocessor: PolicyProcessorPipeline, batch: dict[str, Any]) -> dict[str, Any]:
    """Run the pre-processor on a training batch and carry the motion targets through unchanged."""
    processed = preprocessor(batch)
    processed.update({k: batch[k] for k in PASSTHROUGH_KEYS if k in batch})
    return processed
