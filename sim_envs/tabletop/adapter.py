"""The tabletop family's adapter and its scripted expert as an env-free-looking policy."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np

from sim_envs.adapters import EnvAdapter

from motionvla.keys import STATE_KEY


class TabletopAdapter(EnvAdapter):
    """Tabletop envs already follow lerobot's gym conventions; the instruction is the task's."""

    default_image_size = 128
    default_cameras = ("front",)
    has_expert = True

    def instruction(self, env: gym.Env) -> str:
        return env.unwrapped.instruction

    def expert(self, envs: list[gym.Env]) -> "TabletopExpertPolicy":
        return TabletopExpertPolicy(envs)


class TabletopExpertPolicy:
    """The scripted expert behind the policy interface: ``infer(obs)`` returns a one-step chunk.

    It reads privileged sim state, so it is bound to its envs (one per batch slot, in order) rather than
    env-free; a batched observation (leading axis N) must come from exactly those N envs.
    """

    def __init__(self, envs: list[gym.Env]) -> None:
        from sim_envs.tabletop.expert import ScriptedExpert

        self._experts = [ScriptedExpert(env) for env in envs]
        # The fields of motionvla.inference.PolicyMetadata (sim_envs does not import motionvla).
        self.metadata = SimpleNamespace(policy_type="expert", cameras={}, state_dim=None, action_dim=None,
                                        chunk_size=1, n_action_steps=1, fps=None, source="expert")

    def reset(self, seed: int | None = None) -> None:
        """New episodes in every slot (the expert is deterministic: ``seed`` is unused)."""
        for expert in self._experts:
            expert.reset()

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        batched = np.ndim(obs[STATE_KEY]) == 2
        n = len(obs[STATE_KEY]) if batched else 1
        if n != len(self._experts):
            raise ValueError(f"the expert is bound to {len(self._experts)} env(s) but got {n} observation(s)")
        actions = np.stack([expert.act(None) for expert in self._experts]).astype(np.float32)[:, None, :]
        return {"actions": actions if batched else actions[0], "policy_timing": {"infer_ms": 0.0}}
