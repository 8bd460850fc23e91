"""Name -> factory registry so several env families can share ``sim_envs.make``.

Names are ``"<family>/<task>"`` (e.g. ``"tabletop/lift_red"``).  Names of the
default family (``tabletop``) may also be given bare (``"lift_red"``).  Other
families (LIBERO, RoboTwin, ...) call :func:`register` from their own module.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym

EnvFactory = Callable[..., gym.Env]

DEFAULT_FAMILY = "tabletop"
_REGISTRY: dict[str, EnvFactory] = {}


def register(name: str, factory: EnvFactory, *, overwrite: bool = False) -> None:
    """Register ``factory(**kwargs) -> gym.Env`` under ``"<family>/<task>"``."""
    if "/" not in name:
        raise ValueError(f"env name must look like '<family>/<task>', got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"env {name!r} is already registered")
    _REGISTRY[name] = factory


def resolve(name: str) -> str:
    """Canonical registered name for ``name`` (bare names map to the default family)."""
    if name in _REGISTRY:
        return name
    prefixed = f"{DEFAULT_FAMILY}/{name}"
    if "/" not in name and prefixed in _REGISTRY:
        return prefixed
    raise ValueError(f"unknown task {name!r}; accepted: {', '.join(_REGISTRY)}")


def make(task_name: str, **kwargs) -> gym.Env:
    """Build the env registered as ``task_name``; kwargs go to its factory."""
    return _REGISTRY[resolve(task_name)](**kwargs)


def list_tasks(family: str | None = None) -> list[str]:
    """Registered names (``"<family>/<task>"``), optionally for one family only."""
    return [n for n in _REGISTRY if family is None or n.split("/", 1)[0] == family]
