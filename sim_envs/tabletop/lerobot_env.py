"""The tabletop as a lerobot environment: ``lerobot-eval --env.type=motionvla_tabletop --env.task=push_red_left
--policy.path=...`` runs our MuJoCo tabletop under lerobot's own evaluator.

Registered with lerobot's ``EnvConfig`` registry when this module is imported; the ``lerobot_policy_motionvla``
plugin imports it at lerobot's start-up. The env is :class:`~sim_envs.tabletop.env.TabletopEnv` itself (no gym
wrapper, so ``task_description`` and ``_max_episode_steps`` reach lerobot's ``env.call``); its observation is
lerobot's convention already (``pixels/<camera>`` HWC uint8, ``agent_pos``), mapped to ``observation.images.<camera>``
and ``observation.state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.envs.configs import EnvConfig

from sim_envs.tabletop.env import ACTION_DIM, STATE_DIM
from sim_envs.tabletop.tasks import TASKS

ENV_TYPE = "motionvla_tabletop"


@EnvConfig.register_subclass(ENV_TYPE)
@dataclass
class TabletopEnvConfig(EnvConfig):
    """``--env.task``: a tabletop task (``push_red_left``, ...); ``--env.cameras``: comma-separated (front, wrist);
    ``--env.image_size``: the policy's image side; ``--env.episode_length``: steps (default: the task's)."""

    task: str | None = "push_red_left"
    fps: int = 10
    image_size: int = 64
    cameras: str = "front,wrist"
    episode_length: int | None = None
    features: dict[str, PolicyFeature] = field(default_factory=dict)
    features_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = (self.task or "").removeprefix("tabletop/")
        if name not in TASKS:
            raise ValueError(f"--env.task={self.task!r} is not a tabletop task; accepted: {', '.join(TASKS)}")
        self.task = name
        cams = self.camera_names
        if not cams:
            raise ValueError("--env.cameras: give at least one camera (front, wrist)")
        self.features = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION_DIM,)),
                         "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=(STATE_DIM,))}
        self.features_map = {"action": "action", "agent_pos": "observation.state"}
        for cam in cams:
            self.features[f"pixels/{cam}"] = PolicyFeature(type=FeatureType.VISUAL,
                                                           shape=(self.image_size, self.image_size, 3))
            self.features_map[f"pixels/{cam}"] = f"observation.images.{cam}"

    @property
    def camera_names(self) -> tuple[str, ...]:
        """``--env.cameras`` as a tuple."""
        return tuple(c.strip() for c in self.cameras.split(",") if c.strip())

    @property
    def gym_kwargs(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "cameras": self.camera_names, "max_episode_steps": self.episode_length,
                "control_hz": float(self.fps)}

    def create_envs(self, n_envs: int, use_async_envs: bool = False) -> dict[str, dict[int, gym.vector.VectorEnv]]:
        """``{"motionvla_tabletop": {0: VectorEnv of n_envs TabletopEnv}}`` (lerobot's layout: suite -> task id)."""
        from sim_envs.tabletop.env import TabletopEnv  # deferred: builds GL contexts

        task, kwargs = self.task, self.gym_kwargs

        def make_one() -> gym.Env:
            return TabletopEnv(task, **kwargs)

        env_cls = gym.vector.AsyncVectorEnv if (use_async_envs and n_envs > 1) else gym.vector.SyncVectorEnv
        return {ENV_TYPE: {0: env_cls([make_one for _ in range(n_envs)])}}
