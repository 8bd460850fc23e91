"""A trained checkpoint behind the inference interface: ours or any lerobot policy (ACT, Diffusion, SmolVLA, π0 …).

Loading goes through lerobot's own registry and processor factory (``PreTrainedConfig.from_pretrained``,
``get_policy_class``, ``make_pre_post_processors``), so a baseline runs through exactly the code its
authors ship; motionvla registers itself with that registry (type ``motionvla``) and takes the same path.
"""

from __future__ import annotations

import inspect
import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from motionvla.errors import UserError
from motionvla.inference.interface import PolicyMetadata, is_batched, rtc_delay
from motionvla.utils.hub import local_or_hub
from motionvla.keys import ACTION_KEY, IMAGE_KEY_PREFIX, RTC_DELAY_KEY, RTC_PREFIX_KEY, STATE_KEY, TASK_KEY

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# lerobot's POLICY_PREPROCESSOR_DEFAULT_NAME / POLICY_POSTPROCESSOR_DEFAULT_NAME, as saved next to the weights.
PROCESSOR_FILES = ("policy_preprocessor.json", "policy_postprocessor.json")


def resolve_checkpoint_dir(path: str | Path, option: str = "--policy") -> Path:
    """The folder holding ``config.json`` + ``model.safetensors``: ``path`` itself, or (a lerobot-train run
    or a motionvla run) its last checkpoint's ``pretrained_model`` folder; a Hub id (``owner/name``) is
    resolved to its local snapshot (downloaded, or from the cache under ``HF_HUB_OFFLINE=1``). ``option``: the
    option the user gave the path with, named in messages."""
    path = local_or_hub(path, "policy checkpoint", option)
    if not path.is_dir():
        raise UserError(f"{option}={path}: not a built-in policy (expert, random), not a checkpoint folder and not "
                        f"a Hub id (owner/name)")
    if (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
        candidate = path
    else:  # a run folder: motionvla train's pretrained_model/, lerobot-train's checkpoints/last/pretrained_model/
        runs = [path / "pretrained_model", path / "checkpoints" / "last" / "pretrained_model"]
        candidate = next((p for p in runs if (p / WEIGHTS_FILE).is_file()), path)
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (candidate / name).is_file()]
    if missing:
        raise UserError(f"{candidate} is not a policy checkpoint: expected {CONFIG_FILE} + {WEIGHTS_FILE}, missing {', '.join(missing)}")
    return candidate


def _policy_type(folder: Path) -> str:
    try:
        kind = json.loads((folder / CONFIG_FILE).read_text()).get("type")
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{folder / CONFIG_FILE}: unreadable policy config ({exc})") from exc
    if not kind:
        raise UserError(f"{folder / CONFIG_FILE} names no policy \"type\" (expected e.g. motionvla, act, diffusion)")
    return str(kind)


def load_lerobot_policy(folder: Path, device: str) -> tuple[Any, Any, Any]:
    """(policy, preprocessor, postprocessor) of a checkpoint folder, through lerobot's factory."""
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    kind = _policy_type(folder)
    if kind == "motionvla":
        import motionvla.policy  # noqa: F401 -- registers the type with lerobot
    elif kind == "pi05_motion":
        import motionvla.policy.pi05_motion  # noqa: F401 -- registers the type with lerobot

    try:
        config = PreTrainedConfig.from_pretrained(folder)
        config.device = device
        policy = get_policy_class(kind).from_pretrained(folder, config=config)
    except UserError:
        raise
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise UserError(f"cannot load checkpoint {folder} (type {kind}): {type(exc).__name__}: {exc}") from exc
    if not all((folder / name).is_file() for name in PROCESSOR_FILES):
        return policy, None, None  # a bare checkpoint (tests): inputs are used as they come
    try:
        pre, post = make_pre_post_processors(
            config, pretrained_path=str(folder), preprocessor_overrides={"device_processor": {"device": device}}
        )
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot load the processors saved in {folder}: {type(exc).__name__}: {exc}") from exc
    return policy, pre, post


def metadata_of(policy: Any, source: str) -> PolicyMetadata:
    """What a lerobot-style policy declares: its config's input/output features, chunk, n_action_steps."""
    config = policy.config
    cameras: dict[str, tuple[int, int, int]] = {}
    state_dim = action_dim = None
    for key, feature in (getattr(config, "input_features", None) or {}).items():
        shape = tuple(int(s) for s in feature.shape)
        if key.startswith(IMAGE_KEY_PREFIX + "empty_camera_"):
            continue  # π0/π0.5's `empty_cameras` padding: the model fills these itself, no env provides them
        if key.startswith(IMAGE_KEY_PREFIX):
            c, h, w = shape if shape[0] in (1, 3) else (shape[2], shape[0], shape[1])
            cameras[key] = (h, w, c)
        elif key == STATE_KEY:
            state_dim = shape[-1]
    outputs = getattr(config, "output_features", None) or {}
    if "action" in outputs:
        action_dim = int(outputs["action"].shape[-1])
    # A config saved without lerobot features (built in code, not from a dataset) declares plain fields.
    if not cameras and getattr(config, "image_keys", None) and isinstance(getattr(config, "image_size", None), int):
        cameras = {key: (config.image_size, config.image_size, 3) for key in config.image_keys}
    state_dim = state_dim or getattr(config, "state_dim", None)
    action_dim = action_dim or getattr(config, "action_dim", None)
    chunk = int(getattr(config, "chunk_size", None) or getattr(config, "horizon", None) or 1)
    steps = int(getattr(config, "n_action_steps", None) or chunk)
    return PolicyMetadata(
        policy_type=str(getattr(config, "type", type(policy).__name__)),
        cameras=cameras,
        state_dim=state_dim,
        action_dim=action_dim,
        chunk_size=chunk,
        n_action_steps=steps,
        source=source,
    )


class CheckpointPolicy:
    """``infer(obs)`` = the saved pre-processor → ``predict_action_chunk`` → the saved post-processor.

    Args:
        path: a checkpoint folder (``config.json`` + ``model.safetensors`` + processors), or a training run
            folder (its last checkpoint is used).
        device: ``cpu``, ``cuda`` or ``auto``.
        n_action_steps: actions returned per call (0: the checkpoint's own ``n_action_steps``).
        policy, preprocessor, postprocessor: an already-built policy (tests, the server's warm pool).

    Policies with an observation history (``n_obs_steps > 1``, e.g. Diffusion Policy) get the last
    ``n_obs_steps`` observations stacked on axis 1, the way their ``select_action`` queues would; the
    history restarts at ``reset()`` and needs a constant batch size in between.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        device: str = "cpu",
        n_action_steps: int = 0,
        *,
        policy: Any | None = None,
        preprocessor: Any | None = None,
        postprocessor: Any | None = None,
        option: str = "--policy",
    ) -> None:
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if policy is None:
            if path is None:
                raise ValueError("CheckpointPolicy needs a checkpoint path or a policy")
            folder = resolve_checkpoint_dir(path, option)
            policy, preprocessor, postprocessor = load_lerobot_policy(folder, str(self.device))
        self.source = str(path) if path is not None else type(policy).__name__
        self.policy = policy.to(self.device).eval()
        self.preprocessor, self.postprocessor = preprocessor, postprocessor
        self.metadata = metadata_of(self.policy, self.source)
        if n_action_steps:
            if not 1 <= n_action_steps <= self.metadata.chunk_size:
                raise UserError(f"--n_action_steps={n_action_steps}: must be in 1..{self.metadata.chunk_size} (the chunk size of {self.source})")
            self.metadata.n_action_steps = n_action_steps
        self._n_obs_steps = int(getattr(self.policy.config, "n_obs_steps", 1) or 1)
        self._history: deque[dict[str, Any]] = deque(maxlen=self._n_obs_steps)

    def reset(self, seed: int | None = None) -> None:
        """New episode(s): clears observation history; ``seed`` makes the policy's sampling reproducible."""
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        self._history.clear()
        if hasattr(self.policy, "reset"):
            self.policy.reset()

    def _to_batch(self, obs: dict[str, Any]) -> dict[str, Any]:
        import torch

        batch: dict[str, Any] = {}
        for key, value in obs.items():
            if key.startswith(IMAGE_KEY_PREFIX):
                images = torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
                batch[key] = images.permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, H, W) in [0, 1]
            elif key == STATE_KEY:
                batch[key] = torch.as_tensor(np.asarray(value, dtype=np.float32), device=self.device)
        batch[TASK_KEY] = list(obs[TASK_KEY])
        return batch

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Actions ``(n_action_steps, A)`` for one env, ``(N, n_action_steps, A)`` for N stacked envs."""
        import torch

        start = time.perf_counter()
        rtc_fields = {k: obs[k] for k in (RTC_PREFIX_KEY, RTC_DELAY_KEY) if k in obs}
        obs = {k: v for k, v in obs.items() if k not in rtc_fields}
        batched = is_batched(obs)
        if not batched:
            obs = {k: ([v] if k == TASK_KEY else np.asarray(v)[None]) for k, v in obs.items()}
        rtc = self._rtc_request(rtc_fields, batched, len(obs[TASK_KEY]))
        batch = self._to_batch(obs)
        # RTC's guidance differentiates through the action head (torch.enable_grad inside the sampler), which
        # inference-mode tensors cannot take part in: no_grad for those requests.
        with torch.inference_mode() if rtc is None else torch.no_grad():
            if rtc is not None:
                batch[ACTION_KEY] = torch.as_tensor(rtc[0], device=self.device)  # normalized with the state below
            if self.preprocessor is not None:
                batch = self.preprocessor(batch)
            if self._n_obs_steps > 1:
                batch = self._with_history(batch)
            if rtc is not None:
                chunk = self._rtc_chunk(batch, batch.pop(ACTION_KEY), rtc[1])
            else:
                chunk = self.policy.predict_action_chunk(batch)
            chunk = chunk[:, : self.metadata.n_action_steps]
            if self.postprocessor is not None:
                chunk = self.postprocessor(chunk)
        actions = chunk.detach().float().cpu().numpy().astype(np.float32)
        timing = {"infer_ms": round(1000.0 * (time.perf_counter() - start), 3)}
        return {"actions": actions if batched else actions[0], "policy_timing": timing}

    @property
    def _own_rtc(self) -> bool:
        return "prefix_actions" in inspect.signature(self.policy.predict_action_chunk).parameters

    @property
    def supports_rtc(self) -> bool:
        """Whether the policy has a real-time-chunking sampler: ours (``predict_action_chunk`` takes a prefix) or
        lerobot's own, which its flow-matching policies have (π0, π0.5, SmolVLA: ``init_rtc_processor``)."""
        return self._own_rtc or callable(getattr(self.policy, "init_rtc_processor", None))

    def _rtc_chunk(self, batch: dict[str, Any], prefix: Any, delay: int) -> Any:
        """A chunk inpainted onto ``prefix`` (normalized, ``(N, P, A)``) whose first ``delay`` actions execute while it
        is computed: our sampler for motionvla policies; for lerobot's, lerobot's own RTC (enabled on the first
        such request, its soft mask running over the prefix: ``execution_horizon = P``), not a copy of it."""
        if self._own_rtc:
            return self.policy.predict_action_chunk(batch, prefix_actions=prefix, delay=delay)
        config = self.policy.config
        if config.rtc_config is None or not config.rtc_config.enabled:
            from lerobot.policies.rtc.configuration_rtc import RTCConfig

            config.rtc_config = RTCConfig(enabled=True, execution_horizon=self.metadata.chunk_size)
            self.policy.init_rtc_processor()
        return self.policy.predict_action_chunk(batch, inference_delay=delay, prev_chunk_left_over=prefix,
                                                execution_horizon=int(prefix.shape[1]))

    def _rtc_request(self, obs: dict[str, Any], batched: bool, n: int) -> tuple[np.ndarray, int] | None:
        """``(prefix (N, P, A) float32, delay)`` when ``obs`` (its RTC keys) asks for real-time chunking, else None.

        Raises:
            UserError: a policy without an RTC sampler, a prefix of the wrong shape, or a delay outside 0..P
                (and below the chunk length).
        """
        if RTC_PREFIX_KEY not in obs:
            if RTC_DELAY_KEY in obs:
                raise UserError(f"{RTC_DELAY_KEY} without {RTC_PREFIX_KEY}: send the previous chunk's remaining actions")
            return None
        if not self.supports_rtc:
            raise UserError(f"{self.source}: this policy has no real-time-chunking sampler; drop {RTC_PREFIX_KEY}")
        prefix = np.asarray(obs[RTC_PREFIX_KEY], dtype=np.float32)
        prefix = prefix if batched else prefix[None]
        chunk, dim = self.metadata.chunk_size, self.metadata.action_dim
        if prefix.ndim != 3 or prefix.shape[0] != n or not 1 <= prefix.shape[1] <= chunk or prefix.shape[2] != dim:
            want = f"(P, {dim})" if not batched else f"({n}, P, {dim})"
            raise UserError(f"{RTC_PREFIX_KEY}: expected {want} with 1 <= P <= {chunk}, got "
                            f"{tuple(prefix.shape[1:] if not batched else prefix.shape)}")
        delay, top = rtc_delay(obs.get(RTC_DELAY_KEY, 0), prefix.shape[1], chunk)
        if delay is None:
            raise UserError(f"{RTC_DELAY_KEY}: expected an int in 0..{top} (the actions that execute while this chunk "
                            f"is computed), got {obs.get(RTC_DELAY_KEY)!r}")
        return prefix, delay

    def _with_history(self, batch: dict[str, Any]) -> dict[str, Any]:
        import torch

        self._history.append({k: v for k, v in batch.items() if hasattr(v, "shape")})
        while len(self._history) < self._n_obs_steps:  # the first step repeats, as lerobot's queues do
            self._history.appendleft(self._history[0])
        stacked = {k: torch.stack([h[k] for h in self._history], dim=1) for k in self._history[-1]}
        return {**batch, **stacked}
