"""Dual-head motion-aware VLA policy: VLM backbone + flow-matching action expert + training-only motion DiT.

- :mod:`~motionvla.policy.configuration_motionvla`: ``MotionVLAConfig`` (lerobot type ``motionvla``), ``fake_batch``.
- :mod:`~motionvla.policy.backbone`: tiny in-process VLM (parts from :mod:`motionvla.vlm`), meta-device builder.
- :mod:`~motionvla.policy.pretrained_backbone`: real VLMs (model + processor) via from_pretrained.
- :mod:`~motionvla.policy.action_head`: π0-style action expert.
- the motion head is :class:`motionvla.flow_forecast.motion_dit.MotionDiT`, the forecaster's DiT; both heads use
  :mod:`motionvla.flow_forecast.flow_matching`, the one flow-matching schedule.
- :mod:`~motionvla.policy.modeling_motionvla`: ``MotionVLAPolicy``.
- :mod:`~motionvla.policy.processor_motionvla`: lerobot pre/post-processors (normalization statistics).
- :mod:`~motionvla.policy.pi05_motion`: lerobot's π0.5 + this motion head (lerobot type ``pi05_motion``).
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

# Registers lerobot policy type ``pi05_motion`` (lerobot's π0.5 + our motion head); its model and processors
# are imported by lerobot's factory when the type is used.
import motionvla.policy.pi05_motion  # noqa: E402,F401
