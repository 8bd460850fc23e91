"""Non-learned baselines behind the inference interface."""

from __future__ import annotations

from typing import Any

import numpy as np

from motionvla.inference.interface import PolicyMetadata, is_batched
from sim_envs.adapters import EnvFeatures
from motionvla.keys import STATE_KEY


class RandomPolicy:
    """Uniform random actions within the env's action box (one-step chunks), reseeded by ``reset(seed)``."""

    def __init__(self, features: EnvFeatures) -> None:
        self.low = np.asarray(features.action_low, dtype=np.float64)
        self.high = np.asarray(features.action_high, dtype=np.float64)
        if self.low.shape != (features.action_dim,) or self.high.shape != (features.action_dim,):
            raise ValueError(f"the env declares no {features.action_dim}-dim action box for random actions")
        self.metadata = PolicyMetadata(policy_type="random", action_dim=features.action_dim, source="random")
        self._rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        n = len(obs[STATE_KEY]) if is_batched(obs) else 1
        actions = self._rng.uniform(self.low, self.high, size=(n, 1, len(self.low))).astype(np.float32)
        return {"actions": actions if is_batched(obs) else actions[0], "policy_timing": {"infer_ms": 0.0}}
