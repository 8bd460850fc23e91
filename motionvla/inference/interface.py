"""The env-free inference interface every consumer of a policy uses (evaluation, the server, the ROS bridge).

A :class:`Policy` has ``infer(obs) -> {"actions": ..., "policy_timing": {...}}``, ``reset()`` and
``metadata``. Observations use the keys of :mod:`sim_envs.adapters`:

- one env: ``observation.images.<cam>`` uint8 ``(H, W, 3)``, ``observation.state`` float32 ``(S,)``,
  ``task`` str → ``actions`` float32 ``(chunk, A)``;
- N envs stacked: ``(N, H, W, 3)``, ``(N, S)``, ``task`` a list of N strings → ``(N, chunk, A)``, from one
  forward pass.

``chunk`` is the policy's ``n_action_steps`` (the actions it means to be executed before it is asked
again); actions are in the dataset's (env's) units, already un-normalized.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from motionvla.errors import UserError
from sim_envs.adapters import EnvFeatures
from motionvla.keys import IMAGE_KEY_PREFIX, STATE_KEY, TASK_KEY


@dataclass
class PolicyMetadata:
    """What a policy takes and gives; sent as the first frame by the policy server.

    ``cameras``: policy image key -> (H, W, 3) it was trained on ({} when it declares none);
    ``state_dim`` / ``action_dim`` (None: takes any); ``chunk_size`` (actions predicted per call) and
    ``n_action_steps`` (actions returned per call); ``fps`` of its training data (None if unknown).
    """

    policy_type: str
    cameras: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    state_dim: int | None = None
    action_dim: int | None = None
    chunk_size: int = 1
    n_action_steps: int = 1
    fps: float | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cameras"] = {k: list(v) for k, v in self.cameras.items()}
        return out


class Policy(Protocol):
    """The inference interface (see the module docstring)."""

    metadata: PolicyMetadata

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]: ...

    def reset(self, seed: int | None = None) -> None: ...


def is_batched(obs: dict[str, Any]) -> bool:
    """True when ``obs`` stacks several envs (state ``(N, S)``)."""
    return np.ndim(obs[STATE_KEY]) == 2


def stack_observations(observations: list[dict[str, Any]]) -> dict[str, Any]:
    """N single-env observations as one batched observation (same keys in each)."""
    if not observations:
        raise ValueError("stack_observations needs at least one observation")
    keys = observations[0].keys()
    out: dict[str, Any] = {}
    for key in keys:
        values = [o[key] for o in observations]
        out[key] = list(values) if key == TASK_KEY else np.stack([np.asarray(v) for v in values])
    return out


def check_fits(metadata: PolicyMetadata, features: EnvFeatures, env_name: str) -> None:
    """Refuse a policy whose action/state sizes or cameras do not fit the env; the message names both sides."""
    source = metadata.source or metadata.policy_type
    if metadata.action_dim is not None and metadata.action_dim != features.action_dim:
        raise UserError(
            f"policy {source} outputs {metadata.action_dim}-dim actions but {env_name} takes {features.action_dim}-dim actions"
        )
    if metadata.state_dim is not None and metadata.state_dim != features.state_dim:
        raise UserError(
            f"policy {source} expects a {metadata.state_dim}-dim {STATE_KEY} but {env_name} gives {features.state_dim}-dim"
        )
    env_cameras = {IMAGE_KEY_PREFIX + cam: shape for cam, shape in features.cameras.items()}
    missing = [key for key in metadata.cameras if key not in env_cameras]
    if missing:
        raise UserError(
            f"policy {source} needs camera(s) {', '.join(missing)} but {env_name} gives {', '.join(env_cameras) or 'none'}"
            " (choose the env's cameras with --cameras=..., or map names with --rename_map)"
        )


def parse_rename_map(text: str) -> dict[str, str]:
    """``--rename_map`` as a dict: JSON (``{"observation.images.front": "observation.images.image"}``) or
    ``a=b,c=d``; env observation key -> policy key."""
    import json

    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"--rename_map: not valid JSON ({exc})") from exc
    else:
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        if any(len(p) != 2 for p in pairs):
            raise UserError(f"--rename_map={text!r}: expected JSON or env_key=policy_key pairs separated by commas")
        mapping = {a.strip(): b.strip() for a, b in pairs}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise UserError("--rename_map must map observation keys (strings) to observation keys")
    return mapping


def renamed_features(features: EnvFeatures, rename: dict[str, str]) -> EnvFeatures:
    """The env's features as the policy sees them after ``rename`` (env key -> policy key)."""
    if not rename:
        return features
    cameras = {}
    for cam, shape in features.cameras.items():
        key = rename.get(IMAGE_KEY_PREFIX + cam, IMAGE_KEY_PREFIX + cam)
        cameras[key.removeprefix(IMAGE_KEY_PREFIX)] = shape
    return replace(features, cameras=cameras)


def rtc_delay(value: Any, prefix_len: int, chunk: int) -> tuple[int | None, int]:
    """A real-time-chunking delay checked: ``(value as an int, or None when it is not an int in 0..top; top)`` with
    ``top = min(prefix_len, chunk - 1)`` (at most the prefix's actions, and fewer than the chunk). Callers word the
    refusal (the server as a reply, ``infer`` as an error)."""
    top = min(prefix_len, chunk - 1)
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and 0 <= int(value) <= top
    return (int(value) if ok else None), top

