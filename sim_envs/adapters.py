"""How an env family meets the env-free policy interface: one :class:`EnvAdapter` per family.

A policy only ever sees *policy observations* (LeRobot's keys, one env, no batch axis)::

    {"observation.images.<cam>": uint8 (H, W, 3), "observation.state": float32 (S,), "task": str}

and answers with an action chunk ``(chunk, A)`` float32 in the dataset's action space. The adapter is
the one place that knows how its family's raw observations, instruction, episode protocol (initial
states, settle steps, step limits) and actions map to and from that. Evaluation, recording, the policy
server and the ROS bridge use adapters and never look inside an env.

Adapters are registered with their family (:func:`register_family`) and found by task name
(:func:`adapter_for`), never guessed from attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from motionvla.keys import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY, TASK_KEY  # noqa: F401 -- the one vocabulary, also spelled adapters.*


@dataclass(frozen=True)
class EnvFeatures:
    """What an env gives a policy and takes from it.

    ``cameras``: camera name -> (H, W, 3); ``state_dim``, ``action_dim``; ``fps`` (control rate, Hz);
    ``state_names`` / ``action_names`` (for datasets); ``action_low`` / ``action_high`` (the action box).
    """

    cameras: dict[str, tuple[int, int, int]]
    state_dim: int
    action_dim: int
    fps: float
    state_names: list[str] = field(default_factory=list)
    action_names: list[str] = field(default_factory=list)
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()

    @property
    def image_keys(self) -> list[str]:
        return [IMAGE_KEY_PREFIX + cam for cam in self.cameras]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cameras": {k: list(v) for k, v in self.cameras.items()},
            "state_dim": self.state_dim,
            "action_dim": self.action_dim,
            "fps": self.fps,
        }


class EnvAdapter:
    """Base adapter for envs following lerobot's gym conventions.

    Raw observations ``{"pixels": {cam: uint8 (H, W, 3)}, "agent_pos": (S,)}``, a float32 ``(A,)`` action
    box, ``info["is_success"]``, the step limit in ``env.unwrapped.max_episode_steps``. Families whose
    envs differ override the methods that differ.
    """

    family: str = ""
    #: Episodes per task when ``motionvla eval`` is not told (a benchmark's protocol sets its own).
    default_episodes: int = 10
    #: Factory keyword arguments ``motionvla eval`` passes unless told otherwise (None: the factory's own).
    default_image_size: int | None = None
    default_cameras: tuple[str, ...] | None = None
    #: Whether :meth:`expert` gives a scripted policy.
    has_expert: bool = False
    #: Cameras the family's envs always render (None: the env factory takes a ``cameras`` option).
    fixed_cameras: tuple[str, ...] | None = None
    #: How episode ``i`` is seeded (:meth:`episode_seed`): the protocols this family offers, its default first.
    seed_protocols: tuple[str, ...] = ("per_episode",)

    def episode_seed(self, protocol: str, base_seed: int, episode_index: int) -> int:
        """The env seed of episode ``episode_index`` under ``protocol``; ``per_episode``: ``base_seed + i``."""
        if protocol not in self.seed_protocols:
            raise ValueError(f"unknown seed protocol {protocol!r} for {self.family or 'this family'}; accepted: "
                             f"{', '.join(self.seed_protocols)}")
        return base_seed + episode_index

    def check_available(self) -> None:
        """Raise ImportError (saying how to install it) when this family cannot make envs here."""

    # ---------------------------------------------------------------- episode protocol
    def reset(self, env: gym.Env, *, episode_index: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start episode ``episode_index`` (seeded with ``seed``); returns the raw ``(obs, info)``."""
        return env.reset(seed=seed)

    def episode_record(self, env: gym.Env, episode_index: int) -> dict[str, Any]:
        """Protocol facts recorded with each episode (e.g. LIBERO's init-state id)."""
        return {}

    def max_steps(self, env: gym.Env) -> int | None:
        """Policy steps allowed per episode."""
        steps = getattr(env.unwrapped, "max_episode_steps", None)
        if steps is None and env.spec is not None:
            steps = env.spec.max_episode_steps
        return int(steps) if steps else None

    def step(self, env: gym.Env, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply one policy action (``(A,)``) to the env; gymnasium's 5-tuple."""
        return env.step(self.env_action(env, action))

    def success(self, info: dict[str, Any], terminated: bool) -> bool:
        return bool(info.get("is_success", False))

    # ---------------------------------------------------------------- observation / action
    def instruction(self, env: gym.Env) -> str:
        """The episode's language instruction."""
        raise NotImplementedError

    def observation(self, env: gym.Env, raw_obs: dict[str, Any]) -> dict[str, Any]:
        """The policy observation for ``raw_obs`` (see the module docstring)."""
        obs: dict[str, Any] = {IMAGE_KEY_PREFIX + cam: np.asarray(img, dtype=np.uint8) for cam, img in raw_obs["pixels"].items()}
        obs[STATE_KEY] = np.asarray(raw_obs["agent_pos"], dtype=np.float32)
        obs[TASK_KEY] = self.instruction(env)
        return obs

    def env_action(self, env: gym.Env, action: np.ndarray) -> np.ndarray:
        """A policy action ``(A,)`` as the env takes it."""
        return np.asarray(action, dtype=np.float32).reshape(-1)

    def frame(self, raw_obs: dict[str, Any]) -> np.ndarray:
        """The picture a rollout video shows for ``raw_obs`` (first camera, upright)."""
        pixels = raw_obs["pixels"]
        return np.asarray(next(iter(pixels.values())), dtype=np.uint8).copy()

    def features(self, env: gym.Env) -> EnvFeatures:
        pixels = env.observation_space["pixels"]
        state_dim = int(env.observation_space["agent_pos"].shape[0])
        space = env.action_space
        action_dim = int(space.shape[0])
        inner = env.unwrapped
        return EnvFeatures(
            cameras={cam: tuple(int(s) for s in sp.shape) for cam, sp in pixels.spaces.items()},
            state_dim=state_dim,
            action_dim=action_dim,
            fps=float(env.metadata.get("render_fps", 10.0)),
            state_names=_names(inner, "state_names", "state", state_dim),
            action_names=_names(inner, "action_names", "action", action_dim),
            action_low=tuple(float(x) for x in np.asarray(space.low).reshape(-1)),
            action_high=tuple(float(x) for x in np.asarray(space.high).reshape(-1)),
        )

    # ---------------------------------------------------------------- baselines
    def expert(self, envs: list[gym.Env]) -> Any | None:
        """A privileged scripted policy for these envs (one per batch slot), or None if the family has none."""
        return None


def _names(inner: Any, attribute: str, prefix: str, size: int) -> list[str]:
    names = getattr(inner, attribute, None)
    if names is not None and len(names) == size:
        return list(names)
    return [f"{prefix}_{i}" for i in range(size)]


_ADAPTERS: dict[str, EnvAdapter] = {}


def register_family(family: str, adapter: EnvAdapter, *, overwrite: bool = False) -> None:
    """Register the adapter of env family ``family`` (its tasks are ``"<family>/<task>"``)."""
    if family in _ADAPTERS and not overwrite:
        raise ValueError(f"env family {family!r} already has an adapter")
    adapter.family = family
    _ADAPTERS[family] = adapter


def adapter_for(task_or_family: str) -> EnvAdapter:
    """The adapter registered for ``"<family>/<task>"`` (or a bare family name)."""
    from sim_envs.registry import DEFAULT_FAMILY

    family = task_or_family.split("/", 1)[0] if "/" in task_or_family else task_or_family
    if family not in _ADAPTERS and "/" not in task_or_family:
        family = DEFAULT_FAMILY if family not in _ADAPTERS else family
    if family not in _ADAPTERS:
        raise ValueError(f"no adapter registered for env family {family!r}; registered: {', '.join(_ADAPTERS)}")
    return _ADAPTERS[family]


def families() -> list[str]:
    return list(_ADAPTERS)
