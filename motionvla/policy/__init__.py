"""Dual-head motion-aware VLA policy: VLM backbone + flow-matching action expert + training-only motion DiT.

- :mod:`~motionvla.policy.configuration_motionvla`: ``MotionVLAConfig`` (lerobot type ``motionvla``), ``fake_batch``.
- :mod:`~motionvla.policy.backbone`: tiny in-process VLM, meta-device builder.
- :mod:`~motionvla.policy.pretrained_backbone`: real VLMs (model + processor) via from_pretrained.
- :mod:`~motionvla.policy.action_head`: π0-style action expert.
- :mod:`~motionvla.policy.motion_head`: diffusers DiT over stacked motion images (reusable by the forecaster).
- :mod:`~motionvla.policy.flow_matching`: the shared flow-matching schedule.
- :mod:`~motionvla.policy.modeling_motionvla`: ``MotionVLAPolicy``.
- :mod:`~motionvla.policy.processor_motionvla`: lerobot pre/post-processors (normalization statistics).
- :mod:`~motionvla.policy.training`: dataset checks, flow targets and processors for ``motionvla train``.
"""

from motionvla.policy.configuration_motionvla import MoEConfig, MotionVLAConfig
from motionvla.policy.modeling_motionvla import CheckpointError, MotionVLAPolicy
from motionvla.policy.processor_motionvla import load_processors, make_motionvla_pre_post_processors

__all__ = [
    "CheckpointError",
    "MoEConfig",
    "MotionVLAConfig",
    "MotionVLAPolicy",
    "load_processors",
    "make_motionvla_pre_post_processors",
]
