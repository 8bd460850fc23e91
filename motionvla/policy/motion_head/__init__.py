"""The motion head every dual-head policy composes: one config section and one module.

- :class:`MotionHeadConfig` (:mod:`.config`): the ``motion_*`` / ``flow_*`` options, their checks, the frames the
  dataset loads for the targets, the motion camera.
- :class:`MotionHead` (:mod:`.head`): the motion DiT with ``batch_loss`` / ``batch_sample`` on backbone features.
"""

from motionvla.policy.motion_head.config import EMPTY_CAMERA_MARK, MotionHeadConfig
from motionvla.policy.motion_head.head import MotionHead

__all__ = ["EMPTY_CAMERA_MARK", "MotionHead", "MotionHeadConfig"]
