"""Read episodes back from a LeRobotDataset (for reports, flow targets and checks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from motionvla.keys import IMAGE_KEY_PREFIX
from motionvla.utils.images import to_uint8_hwc


def episode_records(dataset: Any) -> list[dict[str, Any]]:
    """One dict per episode: ``episode_index``, ``task`` (its first task string), ``start``, ``end`` (frame rows)."""
    episodes = dataset.meta.episodes
    return [
        {
            "episode_index": int(row["episode_index"]),
            "task": row["tasks"][0] if isinstance(row["tasks"], list) else str(row["tasks"]),
            "start": int(row["dataset_from_index"]),
            "end": int(row["dataset_to_index"]),
        }
        for row in episodes
    ]


def episode_frames(dataset: Any, record: dict[str, Any], camera: str) -> np.ndarray:
    """The camera's frames of one episode as uint8 ``(T, H, W, 3)``."""
    key = IMAGE_KEY_PREFIX + camera
    if key not in dataset.meta.features:
        cameras = [k.removeprefix(IMAGE_KEY_PREFIX) for k in dataset.meta.camera_keys]
        raise ValueError(f"dataset has no camera {camera!r}; it has: {', '.join(cameras)}")
    return np.stack([to_uint8_hwc(dataset[i][key]) for i in range(record["start"], record["end"])])
