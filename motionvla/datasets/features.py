"""LeRobotDataset feature specs for environments that follow lerobot's gym conventions.

Observations are ``{"pixels": {camera: uint8 (H, W, 3)}, "agent_pos": float32 (S,)}`` and actions a
float32 ``(A,)`` box; the dataset keys are LeRobot's: ``observation.images.<camera>``,
``observation.state``, ``action``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

IMAGE_KEY_PREFIX = "observation.images."
STATE_KEY = "observation.state"
ACTION_KEY = "action"


def _names(env: gym.Env, attribute: str, prefix: str, size: int) -> list[str]:
    names = getattr(env.unwrapped, attribute, None)
    if names is not None and len(names) == size:
        return list(names)
    return [f"{prefix}_{i}" for i in range(size)]


def dataset_features(env: gym.Env, use_videos: bool) -> dict[str, dict[str, Any]]:
    """The ``features`` dict that ``LeRobotDataset.create`` takes for ``env``'s observations and actions."""
    pixels = env.observation_space["pixels"]
    features: dict[str, dict[str, Any]] = {}
    for camera, space in pixels.spaces.items():
        features[IMAGE_KEY_PREFIX + camera] = {
            "dtype": "video" if use_videos else "image",
            "shape": tuple(space.shape),
            "names": ["height", "width", "channels"],
        }
    state_dim = env.observation_space["agent_pos"].shape[0]
    action_dim = env.action_space.shape[0]
    features[STATE_KEY] = {
        "dtype": "float32",
        "shape": (state_dim,),
        "names": _names(env, "state_names", "state", state_dim),
    }
    features[ACTION_KEY] = {
        "dtype": "float32",
        "shape": (action_dim,),
        "names": _names(env, "action_names", "action", action_dim),
    }
    return features


def frame_from_step(obs: dict[str, Any], action: np.ndarray, instruction: str) -> dict[str, Any]:
    """One dataset frame: the observation the policy saw, the action taken, the task string."""
    frame: dict[str, Any] = {IMAGE_KEY_PREFIX + cam: img for cam, img in obs["pixels"].items()}
    frame[STATE_KEY] = np.asarray(obs["agent_pos"], dtype=np.float32)
    frame[ACTION_KEY] = np.asarray(action, dtype=np.float32)
    frame["task"] = instruction
    return frame
