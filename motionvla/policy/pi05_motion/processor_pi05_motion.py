"""Pre/post-processors of ``pi05_motion``: lerobot's π0.5 pipelines with our flow-target step inserted.

lerobot's π0.5 pre-processor: rename → batch → relative actions → normalize → state-into-prompt → PaliGemma
tokenizer → device. With a motion head the dataset yields frames t, t+s, ..., t+K*s of every observation key
(``observation_delta_indices``), and the π0.5 steps after batching expect single frames (the state is written
into the prompt, the relative-action step subtracts it), so :class:`~motionvla.policy.motion_head.flow_step.FlowTargetsStep`
goes right after batching: it makes ``motion (B, K, 2, h, w)`` / ``motion_mask (B, K)`` and cuts every
observation to frame t. Observations without a time axis (acting) pass through it unchanged. The
post-processor is π0.5's.
"""

from __future__ import annotations

from typing import Any

import torch
from lerobot.policies.pi05.processor_pi05 import make_pi05_pre_post_processors
from lerobot.processor import AddBatchDimensionProcessorStep, PolicyProcessorPipeline

from motionvla.policy.motion_head.flow_step import FlowTargetsStep
from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig


def flow_targets_step(config: PI05MotionConfig) -> FlowTargetsStep:
    """The flow-target step for ``config``: K flows of its flow camera at the motion resolution."""
    return FlowTargetsStep(camera=config.flow_camera(), num_flows=config.motion_frames,
                           height=config.motion_resolution, width=config.motion_resolution, method=config.flow_method)


def with_flow_targets(preprocessor: PolicyProcessorPipeline, step: FlowTargetsStep) -> PolicyProcessorPipeline:
    """A copy of a π0.5 pre-processor with ``step`` right after its batching step (a new pipeline object, so
    lerobot's bookkeeping of step files is rebuilt for the new order).

    Raises:
        ValueError: the pipeline has no batching step, or already has a flow-target step.
    """
    steps = list(preprocessor.steps)
    if any(isinstance(s, FlowTargetsStep) for s in steps):
        raise ValueError("this pre-processor already has a flow-target step")
    at = next((i for i, s in enumerate(steps) if isinstance(s, AddBatchDimensionProcessorStep)), None)
    if at is None:
        raise ValueError(f"no batching step ({AddBatchDimensionProcessorStep.__name__}) in the π0.5 pre-processor "
                         f"{[type(s).__name__ for s in steps]}: cannot place the flow-target step")
    steps.insert(at + 1, step)
    return PolicyProcessorPipeline(steps=steps, name=preprocessor.name, to_transition=preprocessor.to_transition,
                                   to_output=preprocessor.to_output)


def make_pi05_motion_pre_post_processors(
    config: PI05MotionConfig, dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
) -> tuple[PolicyProcessorPipeline[dict[str, Any], dict[str, Any]], PolicyProcessorPipeline]:
    """lerobot's ``make_pi05_pre_post_processors(config, dataset_stats)``, plus the flow-target step when
    ``config.motion_weight > 0`` (found by lerobot's factory by naming convention for type ``pi05_motion``).

    Needs the PaliGemma tokenizer (``google/paligemma-3b-pt-224``, gated: log in to the hub once), as π0.5 does.
    """
    pre, post = make_pi05_pre_post_processors(config, dataset_stats)
    if config.motion_weight > 0:
        pre = with_flow_targets(pre, flow_targets_step(config))
    return pre, post
