"""LeRobotDataset feature specs and frames for any registered env family, through its adapter.

The keys are LeRobot's (``observation.images.<camera>``, ``observation.state``, ``action``, ``task``),
defined once in :mod:`sim_envs.adapters`; what an env gives under them is its family's adapter's business.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim_envs.adapters import EnvFeatures

from motionvla.keys import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY, TASK_KEY


def dataset_features(features: EnvFeatures, use_videos: bool) -> dict[str, dict[str, Any]]:
    """The ``features`` dict that ``LeRobotDataset.create`` takes for an env's observations and actions."""
    out: dict[str, dict[str, Any]] = {}
    for camera, shape in features.cameras.items():
        out[IMAGE_KEY_PREFIX + camera] = {
            "dtype": "video" if use_videos else "image",
            "shape": tuple(shape),
            "names": ["height", "width", "channels"],
        }
    out[STATE_KEY] = {"dtype": "float32", "shape": (features.state_dim,), "names": list(features.state_names)}
    out[ACTION_KEY] = {"dtype": "float32", "shape": (features.action_dim,), "names": list(features.action_names)}
    return out


def frame_from_step(policy_obs: dict[str, Any], action: np.ndarray) -> dict[str, Any]:
    """One dataset frame: the policy observation (adapter output, one env) and the action taken."""
    frame: dict[str, Any] = {k: v for k, v in policy_obs.items() if k.startswith(IMAGE_KEY_PREFIX)}
    frame[STATE_KEY] = np.asarray(policy_obs[STATE_KEY], dtype=np.float32)
    frame[ACTION_KEY] = np.asarray(action, dtype=np.float32)
    frame[TASK_KEY] = policy_obs[TASK_KEY]
    return frame
