"""The motion head measured where it counts: on episodes it never trained on.

A held-out LeRobotDataset (demos recorded with other env seeds) gets the same flow targets as training (the
policy's K, stride, resolution and camera; cached beside it), plus the observed flow for the "last flow goes on"
baseline; frames are taken at a fixed spacing from every episode, so every task and every phase of a motion
(start, middle, rest) is represented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motionvla.errors import UserError


def heldout_motion_items(root: str | Path, repo_id: str, config: Any, every: int = 4,
                         progress: bool = False) -> list[dict[str, Any]]:
    """Items of a held-out dataset for :func:`motionvla.reports.policy_report.motion_forecast_error`.

    Args:
        root, repo_id: the held-out LeRobotDataset v3.
        config: the trained policy's config (its motion fields decide the targets, as in training).
        every: one frame in ``every`` of each episode, from frame ``flow_stride`` on (so the observed flow exists).

    Returns:
        Dataset items with the policy's observation keys, ``motion (K, 2, r, r)``, ``motion_mask (K,)`` and
        ``motion_past (1, 2, r, r)``.
    """
    from motionvla.datasets.flow_targets import WithFlowTargets, build_flow_cache
    from motionvla.train.policy_data import flow_target_config, open_dataset

    if every < 1:
        raise UserError(f"every must be >= 1, got {every}")
    base = open_dataset(root, repo_id)
    missing = [k for k in config.image_keys if k not in base.meta.features]
    if missing:
        raise UserError(f"held-out dataset {root} lacks the policy's camera(s) {', '.join(missing)}")
    cache = build_flow_cache(base, flow_target_config(config), progress=progress)
    dataset = WithFlowTargets(base, cache, past_stride=config.flow_stride)
    picks = []
    for row in base.meta.episodes:
        start, end = int(row["dataset_from_index"]), int(row["dataset_to_index"])
        picks.extend(range(start + config.flow_stride, end, every))
    if not picks:
        raise UserError(f"held-out dataset {root} has no episode longer than flow_stride={config.flow_stride} frames")
    return [dataset[i] for i in picks]
