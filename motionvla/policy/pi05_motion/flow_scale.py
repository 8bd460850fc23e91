"""The motion codec's scale measured from a dataset, when lerobot's ``make_policy`` builds pi05_motion for it.

The measurement itself is :func:`motionvla.datasets.flow_scale.sample_flow_scale` (the one both of our trainers
use); this module only maps the pi05_motion config onto it.
"""

from __future__ import annotations

import logging
from typing import Any

from motionvla.datasets.features import IMAGE_KEY_PREFIX
from motionvla.datasets.flow_scale import sample_flow_scale
from motionvla.datasets.flow_targets import FlowTargetConfig
from motionvla.errors import UserError
from motionvla.policy.pi05_motion.configuration_pi05_motion import PI05MotionConfig

# Episodes spread over the dataset whose flows set the scale: the number `motionvla.policy.from_dataset` uses
# for the motionvla policy under lerobot-train (a stable 99.5th percentile, seconds of decoding at start-up).
SCALE_EPISODES = 8


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
    flow = FlowTargetConfig(camera=camera.removeprefix(IMAGE_KEY_PREFIX), num_flows=config.motion_frames,
                            stride=config.flow_stride, height=config.motion_resolution,
                            width=config.motion_resolution, method=config.flow_method)
    scale = sample_flow_scale(source, dataset_meta.root, camera, flow, config.flow_scale_percentile,
                              max_episodes=SCALE_EPISODES, total_episodes=dataset_meta.total_episodes)
    config.flow_max_magnitude = float(f"{scale:.3g}")
    logging.info(f"pi05_motion: motion codec scale flow_max_magnitude={config.flow_max_magnitude} px "
                 f"({config.flow_scale_percentile}th percentile of {camera}'s flows)")
    return config.flow_max_magnitude
