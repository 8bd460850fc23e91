"""Dual-head motion-aware VLA policy: VLM backbone + flow-matching action expert + training-only motion DiT.

- :mod:`~motionvla.policy.configuration_motionvla`: ``MotionVLAConfig`` (lerobot type ``motionvla``), ``fake_batch``.
- :mod:`~motionvla.policy.backbone`: tiny in-process VLM (parts from :mod:`motionvla.vlm`), meta-device builder.
- :mod:`~motionvla.policy.pretrained_backbone`: real VLMs (model + processor) via from_pretrained.
- :mod:`~motionvla.policy.action_head`: π0-style action expert.
- the motion head is :class:`motionvla.flow_forecast.motion_dit.MotionDiT`, the forecaster's DiT; both heads use
  :mod:`motionvla.flow_forecast.flow_matching`, the one flow-matching schedule.
- :mod:`~motionvla.policy.modeling_motionvla`: ``MotionVLAPolicy``.
- :mod:`~motionvla.policy.processor_motionvla`: lerobot pre/post-processors (normalization statistics).
- :mod:`~motionvla.policy.pi05_motion`: lerobot's π0.5 + this motion head (lerobot type ``pi05_motion``); importing
  it registers the type (the lerobot plugin and the checkpoint loader do; this package does not, since lerobot's
  π0.5 config imports every lerobot policy: seconds that a command line's checks should not wait for).
"""

import importlib
from typing import Any

from motionvla.policy.configuration_motionvla import MoEConfig, MotionVLAConfig

# The modeling and processor modules are imported on first use: a command line is parsed and checked (an unknown
# option, a taken output folder) without the models' imports (transformers, diffusers: seconds).
_EXPORTS = {
    "CheckpointError": "motionvla.policy.modeling_motionvla",
    "MotionVLAPolicy": "motionvla.policy.modeling_motionvla",
    "load_processors": "motionvla.policy.processor_motionvla",
    "make_motionvla_pre_post_processors": "motionvla.policy.processor_motionvla",
}

__all__ = ["CheckpointError", "MoEConfig", "MotionVLAConfig", "MotionVLAPolicy", "load_processors",
           "make_motionvla_pre_post_processors"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
