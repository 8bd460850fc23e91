"""The policy side of an evaluation: a small interface and adapters for the expert, random actions and
trained checkpoints.

An :class:`EvalPolicy` has ``reset(seed=None)`` (called after every ``env.reset``; the seed makes any
sampling inside the policy reproducible per episode) and ``act(obs, env) -> np.ndarray (A,)`` taking the
env's raw observation (lerobot gym conventions: ``{"pixels": {cam: uint8 (H, W, 3)}, "agent_pos": (S,)}``).

Policies are built *inside* the worker processes from a picklable :class:`PolicySpec`, so a checkpoint
is loaded once per worker and never pickled.
"""

from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from motionvla.datasets.features import IMAGE_KEY_PREFIX, STATE_KEY
from motionvla.errors import UserError

BUILTIN_POLICIES = ("expert", "random")
CHECKPOINT_FILES = ("config.json", "model.safetensors")


class EvalPolicy(Protocol):
    """What the rollout loop needs from a policy."""

    name: str

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: dict[str, Any], env: gym.Env) -> np.ndarray: ...


@dataclass(frozen=True)
class PolicySpec:
    """Picklable description of a policy: ``expert``, ``random`` or a checkpoint directory."""

    policy: str
    device: str = "cpu"
    # Checkpoints only: execute this many actions of each predicted chunk before predicting the next
    # (0 = the checkpoint's own n_action_steps).
    n_action_steps: int = 0

    @property
    def kind(self) -> str:
        return self.policy if self.policy in BUILTIN_POLICIES else "checkpoint"

    @property
    def tag(self) -> str:
        """Short name for output folders and tables."""
        return self.policy if self.kind != "checkpoint" else Path(self.policy).resolve().name


# --------------------------------------------------------------------------------------- adapters
class ExpertPolicy:
    """The tabletop's scripted expert (reads privileged sim state; ``obs`` is unused)."""

    name = "expert"

    def __init__(self) -> None:
        self._experts: dict[int, Any] = {}
        self._env: gym.Env | None = None

    def reset(self, seed: int | None = None) -> None:
        for expert in self._experts.values():
            expert.reset()

    def act(self, obs: dict[str, Any], env: gym.Env) -> np.ndarray:
        from sim_envs.tabletop.expert import ScriptedExpert

        key = id(env.unwrapped)
        if key not in self._experts:
            if not hasattr(env.unwrapped, "gripper_position"):
                raise UserError(f"--policy=expert needs the built-in tabletop env, not {type(env.unwrapped).__name__}")
            self._experts[key] = ScriptedExpert(env)
        return self._experts[key].act(obs)


class RandomPolicy:
    """Uniform random actions within the env's action box, reseeded every episode."""

    name = "random"

    def __init__(self) -> None:
        self._rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def act(self, obs: dict[str, Any], env: gym.Env) -> np.ndarray:
        space = env.action_space
        low, high = np.asarray(space.low, dtype=np.float64), np.asarray(space.high, dtype=np.float64)
        return self._rng.uniform(low, high).astype(np.float32)


def obs_to_batch(obs: dict[str, Any], instruction: str) -> dict[str, Any]:
    """An env observation as a batch of one in the policy's keys (LeRobot conventions).

    ``observation.images.<cam>``: float32 (1, 3, H, W) in [0, 1]; ``observation.state``: float32 (1, S);
    ``task``: [instruction].
    """
    import torch

    batch: dict[str, Any] = {}
    for cam, image in obs["pixels"].items():
        array = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
        batch[IMAGE_KEY_PREFIX + cam] = torch.from_numpy(array).float().div_(255.0).unsqueeze(0)
    state = np.asarray(obs["agent_pos"], dtype=np.float32)
    batch[STATE_KEY] = torch.from_numpy(state.copy()).unsqueeze(0)
    batch["task"] = [instruction]
    return batch


def _feature_dim(config: Any, group: str, key: str) -> int | None:
    """Last dimension of ``config.<group>[key]`` (lerobot PolicyFeature or dict), if declared."""
    features = getattr(config, group, None)
    if not features or key not in features:
        return None
    feature = features[key]
    shape = feature.get("shape") if isinstance(feature, dict) else getattr(feature, "shape", None)
    return int(shape[-1]) if shape else None


def policy_io(policy: Any) -> dict[str, Any]:
    """What a loaded policy declares about its inputs/outputs: ``state_dim``, ``action_dim``,
    ``image_keys``, ``image_size`` (None where it declares nothing).

    Read from lerobot's ``config.input_features`` / ``output_features`` when filled in, else from the
    plain ``state_dim`` / ``action_dim`` / ``image_keys`` / ``image_size`` config fields.
    """
    config = getattr(policy, "config", None)
    state = _feature_dim(config, "input_features", STATE_KEY) or getattr(config, "state_dim", None)
    action = _feature_dim(config, "output_features", "action") or getattr(config, "action_dim", None)
    features = getattr(config, "input_features", None) or {}
    image_keys = [k for k in features if k.startswith(IMAGE_KEY_PREFIX)] or list(getattr(config, "image_keys", None) or [])
    image_size = getattr(config, "image_size", None)
    return {
        "state_dim": int(state) if state else None,
        "action_dim": int(action) if action else None,
        "image_keys": image_keys,
        "image_size": int(image_size) if isinstance(image_size, int) else None,
    }


def check_policy_matches_env(policy: Any, env: gym.Env, source: str) -> None:
    """Refuse a checkpoint whose declared state/action sizes or cameras differ from the env's."""
    io = policy_io(policy)
    env_action = int(env.action_space.shape[0])
    env_state = int(env.observation_space["agent_pos"].shape[0])
    if io["action_dim"] is not None and io["action_dim"] != env_action:
        raise UserError(f"checkpoint {source} outputs {io['action_dim']}-dim actions but the env takes {env_action}-dim actions")
    if io["state_dim"] is not None and io["state_dim"] != env_state:
        raise UserError(f"checkpoint {source} expects a {io['state_dim']}-dim observation.state but the env gives {env_state}-dim")
    env_keys = [IMAGE_KEY_PREFIX + cam for cam in env.observation_space["pixels"].spaces]
    missing = [key for key in io["image_keys"] if key not in env_keys]
    if missing:
        cams = ", ".join(k.removeprefix(IMAGE_KEY_PREFIX) for k in missing)
        raise UserError(
            f"checkpoint {source} needs camera(s) {cams} but the env gives {', '.join(env_keys)}; pass --cameras=..."
        )


def load_policy(path: str | Path) -> Any:
    """Load a trained policy from a checkpoint directory (``config.json`` + ``model.safetensors``).

    Uses ``motionvla.policy.load_policy(path)`` when the policy package provides one, else a
    ``from_pretrained`` it exports (a module-level function, or that of a policy class named in
    ``__all__``: one with ``select_action``).

    Raises:
        UserError: the path is not a checkpoint directory, or no policy loader is installed.
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(
            f"--policy={path} is neither a built-in policy ({', '.join(BUILTIN_POLICIES)}) nor a checkpoint directory"
        )
    missing = [name for name in CHECKPOINT_FILES if not (path / name).is_file()]
    if missing:
        raise UserError(f"{path} is not a policy checkpoint: expected {' + '.join(CHECKPOINT_FILES)}, missing {', '.join(missing)}")
    try:
        module = importlib.import_module("motionvla.policy")
    except ImportError as exc:
        raise UserError(f"cannot load checkpoint {path}: importing motionvla.policy failed ({exc})") from exc
    loader = getattr(module, "load_policy", None) or getattr(module, "from_pretrained", None)
    if loader is None:
        for name in getattr(module, "__all__", ()):
            candidate = getattr(module, name, None)
            # a policy class, not its config class (lerobot configs have from_pretrained too)
            if isinstance(candidate, type) and hasattr(candidate, "from_pretrained") and hasattr(candidate, "select_action"):
                loader = candidate.from_pretrained
                break
    if loader is None:
        raise UserError(
            f"cannot load checkpoint {path}: motionvla.policy provides no load_policy(path) or from_pretrained(path)"
        )
    try:
        return loader(str(path))
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot load checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def load_checkpoint_processors(path: str | Path, device: str) -> tuple[Any, Any] | None:
    """The pre/post-processors saved in a checkpoint folder (via ``motionvla.policy.load_processors``),
    or None when the folder has none or the policy package provides no loader."""
    module = importlib.import_module("motionvla.policy")
    loader = getattr(module, "load_processors", None)
    if loader is None:
        return None
    try:
        return loader(path, device)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot load the processors saved in {path}: {type(exc).__name__}: {exc}") from exc


class CheckpointPolicy:
    """A trained policy (LeRobot API: ``reset()``, ``select_action(batch) -> (B, A)``) driven from env obs."""

    def __init__(self, path: str, device: str = "cpu", policy: Any | None = None, n_action_steps: int = 0) -> None:
        import torch

        self.name = Path(path).name
        self.source = str(path)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.policy = policy if policy is not None else load_policy(path)
        # lerobot processors saved with the checkpoint (normalization statistics), when it has them.
        self.processors = load_checkpoint_processors(path, str(self.device)) if policy is None else None
        if hasattr(self.policy, "to"):
            self.policy.to(self.device)
        if hasattr(self.policy, "eval"):
            self.policy.eval()
        if n_action_steps:
            chunk = getattr(self.policy.config, "chunk_size", n_action_steps)
            if not 1 <= n_action_steps <= chunk:
                raise UserError(f"--n_action_steps={n_action_steps}: must be in 1..{chunk} (the chunk size of {path})")
            self.policy.config.n_action_steps = n_action_steps
        self._checked: set[int] = set()

    def reset(self, seed: int | None = None) -> None:
        import torch

        if seed is not None:  # flow-matching noise etc. is reproducible per episode
            torch.manual_seed(seed)
        self.policy.reset()

    def act(self, obs: dict[str, Any], env: gym.Env) -> np.ndarray:
        import torch

        if id(env.unwrapped) not in self._checked:
            check_policy_matches_env(self.policy, env, self.source)
            self._checked.add(id(env.unwrapped))
        batch = obs_to_batch(obs, instruction_of(env))
        batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        with torch.inference_mode():
            if self.processors is not None:
                preprocess, postprocess = self.processors
                action = postprocess(self.policy.select_action(preprocess(batch)))
            else:
                action = self.policy.select_action(batch)
        action = np.asarray(action.detach().float().cpu().numpy() if isinstance(action, torch.Tensor) else action)
        return action.reshape(-1).astype(np.float32) if action.ndim <= 1 else action[0].astype(np.float32)


def make_policy(spec: PolicySpec) -> EvalPolicy:
    """Build the policy a spec names (in the calling process)."""
    if spec.policy == "expert":
        return ExpertPolicy()
    if spec.policy == "random":
        return RandomPolicy()
    return CheckpointPolicy(spec.policy, spec.device, n_action_steps=spec.n_action_steps)


def instruction_of(env: gym.Env) -> str:
    """The env's language instruction (tabletop: ``instruction``; LIBERO-style: ``task_description``)."""
    inner = env.unwrapped
    for attribute in ("instruction", "task_description", "language_instruction"):
        value = getattr(inner, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(getattr(inner, "task_name", type(inner).__name__))


def policy_seed(task: str, seed: int) -> int:
    """The seed a policy's own sampling uses for (task, episode seed): differs across tasks."""
    return (seed * 1_000_003 + zlib.crc32(task.encode())) % (2**32)
