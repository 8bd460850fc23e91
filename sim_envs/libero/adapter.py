"""The LIBERO family's adapter: protocol resets, turned images, the 8-D state of the LIBERO datasets.

Imports neither LIBERO nor torch, so it can be registered when ``sim_envs`` is imported.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sim_envs.adapters import EnvAdapter, EnvFeatures

from motionvla.keys import IMAGE_KEY_PREFIX, STATE_KEY, TASK_KEY
from sim_envs.libero import protocol

_WRIST = protocol.CAMERAS["robot0_eye_in_hand_image"]
_AGENT = protocol.CAMERAS["agentview_image"]


def quat_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) rad of a unit quaternion ``(x, y, z, w)`` (robosuite's order), as openpi's state uses."""
    q = np.asarray(quat, dtype=np.float64)
    w = float(np.clip(q[3], -1.0, 1.0))
    den = np.sqrt(1.0 - w * w)
    if den < 1e-10:  # (close to) no rotation: the axis is undefined and the angle is 0
        return np.zeros(3)
    return q[:3] * (2.0 * np.arccos(w) / den)


def turn(image: np.ndarray) -> np.ndarray:
    """Rotate an (H, W, C) image by 180° (``img[::-1, ::-1]``), contiguous uint8 (LIBERO renders upside down)."""
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[::-1, ::-1])


def libero_state(robot_state: dict[str, Any]) -> np.ndarray:
    """float32 (8,): eef position (3, m), axis-angle of the eef quaternion (3, rad), gripper qpos (2, m)."""
    eef = robot_state["eef"]
    return np.concatenate(
        [np.asarray(eef["pos"], dtype=np.float64), quat_to_axis_angle(eef["quat"]),
         np.asarray(robot_state["gripper"]["qpos"], dtype=np.float64)]
    ).astype(np.float32)


class LiberoAdapter(EnvAdapter):
    """Maps :class:`~sim_envs.libero.env.LiberoTaskEnv` to policy observations under the LIBERO protocol.

    * ``reset(env, episode_index=i, seed=s)``: initial state ``i % 50``, then 10 no-op settle steps
      (inside the env, not counted in the step budget). 50 trials per task by default (one per initial state);
      the env seed of each trial per ``--seed_protocol`` (:data:`protocol.SEED_PROTOCOLS`, openpi's 7 by default).
    * ``observation``: ``observation.images.image`` (agentview) and ``observation.images.wrist_image``,
      uint8 (256, 256, 3) turned 180°; ``observation.state`` float32 (8,); ``task`` = the task's language.
    * ``env_action``: float32 (7,) clipped to [-1, 1]. ``max_steps``: the suite's limit (220 for spatial).
    * ``success``: LIBERO's ``done``.
    """

    default_episodes = protocol.TRIALS_PER_TASK  # one trial per fixed initial state
    fixed_cameras = tuple(protocol.CAMERAS.values())
    seed_protocols = protocol.SEED_PROTOCOLS

    def episode_seed(self, seed_protocol: str, base_seed: int, episode_index: int) -> int:
        """openpi: 7; openvla: 0 (the env's seed in each reference script); per_episode: ``base_seed + i``."""
        fixed = {"openpi": protocol.DEFAULT_SEED, "openvla": protocol.OPENVLA_ENV_SEED}
        if seed_protocol in fixed:
            return fixed[seed_protocol]
        return super().episode_seed(seed_protocol, base_seed, episode_index)

    def check_available(self) -> None:
        from sim_envs.libero.install import SETUP_HINT, LiberoNotInstalled, missing_parts

        missing = missing_parts()
        if missing:
            raise LiberoNotInstalled(f"LIBERO is not set up: missing {'; '.join(missing)}; {SETUP_HINT}")

    def __init__(self, suite: str) -> None:
        protocol.check_suite(suite)
        self.suite = suite

    # ---------------------------------------------------------------- episode protocol
    def reset(self, env: gym.Env, *, episode_index: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
        inner = env.unwrapped
        state_id = protocol.init_state_id(episode_index, getattr(inner, "num_init_states", protocol.NUM_INIT_STATES))
        return env.reset(seed=seed, options={"init_state_id": state_id})

    def episode_record(self, env: gym.Env, episode_index: int) -> dict[str, Any]:
        n = getattr(env.unwrapped, "num_init_states", protocol.NUM_INIT_STATES)
        return {"init_state_id": protocol.init_state_id(episode_index, n)}

    def max_steps(self, env: gym.Env) -> int | None:
        return int(getattr(env.unwrapped, "max_episode_steps", protocol.SUITE_MAX_STEPS[self.suite]))

    def success(self, info: dict[str, Any], terminated: bool) -> bool:
        # LIBERO's `done` is its goal predicate; lerobot's `is_success` re-evaluates the same predicate.
        return bool(info.get(protocol.SUCCESS_FROM, info.get("is_success", False)))

    # ---------------------------------------------------------------- observation / action
    def instruction(self, env: gym.Env) -> str:
        return str(env.unwrapped.task_description)

    def observation(self, env: gym.Env, raw_obs: dict[str, Any]) -> dict[str, Any]:
        pixels = raw_obs["pixels"]
        obs: dict[str, Any] = {IMAGE_KEY_PREFIX + cam: turn(img) for cam, img in pixels.items()}
        obs[STATE_KEY] = libero_state(raw_obs["robot_state"])
        obs[TASK_KEY] = self.instruction(env)
        return obs

    def env_action(self, env: gym.Env, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (len(protocol.ACTION_NAMES),):
            raise ValueError(f"LIBERO takes a 7-D action (dx, dy, dz, drx, dry, drz, gripper), got shape {a.shape}")
        return np.clip(a, protocol.ACTION_LOW, protocol.ACTION_HIGH)

    def frame(self, raw_obs: dict[str, Any]) -> np.ndarray:
        """The agentview camera upright (turned 180°), uint8 (H, W, 3)."""
        pixels = raw_obs["pixels"]
        return turn(pixels[_AGENT] if _AGENT in pixels else next(iter(pixels.values())))

    def features(self, env: gym.Env) -> EnvFeatures:
        size = int(getattr(env.unwrapped, "image_size", protocol.IMAGE_SIZE))
        cameras = list(env.observation_space["pixels"].spaces) if hasattr(env, "observation_space") else [_AGENT, _WRIST]
        n_act = len(protocol.ACTION_NAMES)
        return EnvFeatures(
            cameras={cam: (size, size, 3) for cam in cameras},
            state_dim=len(protocol.STATE_NAMES),
            action_dim=n_act,
            fps=protocol.CONTROL_HZ,
            state_names=list(protocol.STATE_NAMES),
            action_names=list(protocol.ACTION_NAMES),
            action_low=(protocol.ACTION_LOW,) * n_act,
            action_high=(protocol.ACTION_HIGH,) * n_act,
        )
