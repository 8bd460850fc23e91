"""The motion codec's scale measured from a dataset, when lerobot's ``make_policy`` builds pi05_motion for it.

The measurement itself is :func:`motionvla.datasets.flow_scale.measure_config_flow_scale` (the one both dual-head
policies use); this module only picks pi05_motion's flow camera and checks the dataset has it.
"""

from __future__ import annotations

from typing import Any

from motionvla.datasets.flow_scale import SCALE_EPISODES, measure_config_flow_scale
from motionvla.errors import UserError
from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig

__all__ = ["SCALE_EPISODES", "measure_flow_scale"]


def measure_flow_scale(config: PI05MotionConfig, dataset_meta: Any) -> float:
    """Set ``config.flow_max_magnitude`` to the ``flow_scale_percentile``-th percentile of the flow magnitudes
    (pixels at ``motion_resolution``) of :data:`SCALE_EPISODES` episodes of the dataset; returns it.

    Raises:
        UserError: the dataset has no such camera, or nothing moves in it.
    """
    camera = config.flow_camera()
    source = str(getattr(dataset_meta, "repo_id", "?"))
    if camera not in dataset_meta.features:
        raise UserError(f"cannot measure the motion codec's scale: dataset {source} has no {camera}; set "
                        "--policy.motion_camera to one of its cameras or --policy.flow_max_magnitude (pixels)")
    return measure_config_flow_scale(config, dataset_meta, camera, "pi05_motion")
