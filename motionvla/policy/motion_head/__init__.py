"""The motion head every dual-head policy composes: one config section and one module.

- :class:`MotionHeadConfig` (:mod:`.config`): the ``motion_*`` / ``flow_*`` options, their checks, the frames the
  dataset loads for the targets, the motion camera.
- :class:`MotionHead` (:mod:`.head`): the motion DiT with ``batch_loss`` / ``batch_sample`` on backbone features.
- :mod:`.flow_step`: the pre-processor step that makes the targets under ``lerobot-train`` (``motionvla train``
  reads them from its flow cache, :mod:`motionvla.datasets.flow_targets`); the codec scale both measure with
  :func:`motionvla.flow.codec_scale`.
"""

import importlib
from typing import Any

from motionvla.policy.motion_head.config import EMPTY_CAMERA_MARK, MotionHeadConfig

__all__ = ["EMPTY_CAMERA_MARK", "MotionHead", "MotionHeadConfig"]


# The module is imported on first use: the config (read by every command-line parser) must not pull in the DiT's
# diffusers models, which take seconds to import.
def __getattr__(name: str) -> Any:
    if name == "MotionHead":
        return importlib.import_module("motionvla.policy.motion_head.head").MotionHead
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
