"""The motion-image codec's scale of a LeRobotDataset when there is no flow cache (``lerobot-train``).

The measurement is :func:`motionvla.flow.codec_scale` (the one every trainer uses); ``motionvla train`` feeds it
its flow cache (:meth:`motionvla.datasets.flow_targets.FlowTargets.magnitudes`), and here
:func:`sample_flow_scale` computes the flows of a few episodes spread over the dataset, the same way the cache
would, and feeds it those.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motionvla.flow import codec_scale, flow_magnitudes
from motionvla.flow.scale import round_scale


def spread_episodes(total: int, count: int) -> list[int]:
    """Up to ``count`` episode indices spread evenly over ``0..total-1`` (deterministic: every process of a
    distributed run measures the same episodes)."""
    if total <= count:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, max(count, 1)).round()})


def sample_flow_scale(repo_id: str, root: Any, camera_key: str, cfg: Any, q: float, max_episodes: int = 8,
                      total_episodes: int | None = None, video_backend: str = "pyav") -> float:
    """The ``q``-th percentile of flow magnitudes over up to ``max_episodes`` episodes of a LeRobotDataset.

    Args:
        camera_key: the dataset key of the flow camera (``observation.images.<cam>``).
        cfg: a :class:`~motionvla.datasets.flow_targets.FlowTargetConfig` (K, stride, size, method).

    Raises:
        UserError: nothing moves in the sampled episodes (the scale would be ~0).
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from motionvla.datasets.flow_targets import future_flows  # here: flow_targets imports this module
    from motionvla.flow import FlowEstimator
    from motionvla.utils.images import to_uint8_hwc

    if total_episodes is None:
        total_episodes = LeRobotDataset(repo_id, root=root, video_backend=video_backend).meta.total_episodes
    estimator = FlowEstimator(cfg.method, **cfg.estimator_kwargs)
    results = []
    for episode in spread_episodes(int(total_episodes), max_episodes):
        # One episode at a time: only its files are read, and a partly downloaded dataset is not fetched whole.
        dataset = LeRobotDataset(repo_id, root=root, episodes=[episode], video_backend=video_backend)
        frames = np.stack([to_uint8_hwc(dataset[i][camera_key]) for i in range(len(dataset))])
        results.append(future_flows(frames, estimator, cfg))
    return codec_scale((flow_magnitudes(flows, mask) for flows, mask in results), q, f"{camera_key} of {repo_id}",
                       "--policy.flow_max_magnitude")


# Episodes whose flows set a policy's codec scale under lerobot-train: enough for a stable 99.5th percentile of
# per-pixel magnitudes, few enough to decode in seconds at start-up (motionvla train reads up to 64 from its cache).
SCALE_EPISODES = 8


def measure_config_flow_scale(config: Any, dataset_meta: Any, camera: str, policy_name: str) -> float:
    """Sets ``config.flow_max_magnitude`` from the flows of ``camera`` in :data:`SCALE_EPISODES` episodes of a
    LeRobotDataset (its metadata ``dataset_meta``) and returns it.

    ``config`` is a policy config with the motion fields both dual-head policies share: ``motion_frames``,
    ``flow_stride``, ``motion_resolution``, ``flow_method``, ``flow_scale_percentile`` (pixels at
    ``motion_resolution``). The caller has checked that ``camera`` is one of the dataset's features.
    """
    import logging

    from motionvla.datasets.flow_targets import FlowTargetConfig

    source = str(getattr(dataset_meta, "repo_id", "?"))
    flow = FlowTargetConfig.for_motion_head(config, camera)
    scale = sample_flow_scale(source, dataset_meta.root, camera, flow, config.flow_scale_percentile,
                              max_episodes=SCALE_EPISODES, total_episodes=dataset_meta.total_episodes)
    config.flow_max_magnitude = round_scale(scale)
    logging.info(f"{policy_name}: motion codec scale flow_max_magnitude={config.flow_max_magnitude} px "
                 f"({config.flow_scale_percentile}th percentile of {camera}'s flows)")
    return config.flow_max_magnitude
