"""Shared fixtures for the tabletop simulator tests (software-GL friendly: small images)."""

from __future__ import annotations

import pytest

import sim_envs
from sim_envs.tabletop import TabletopEnv


@pytest.fixture
def make_env():
    """Factory for TabletopEnv that closes every env it built at teardown."""
    built: list[TabletopEnv] = []

    def _make(task: str = "lift_red", **kwargs) -> TabletopEnv:
        kwargs.setdefault("image_size", 64)
        env = sim_envs.make(task, **kwargs)
        built.append(env)
        return env

    yield _make
    for env in built:
        env.close()
