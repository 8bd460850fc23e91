"""What the server accepts in one request frame, checked before anything reaches the policy.

A request is one msgpack map (openpi-client's array encoding) holding one robot's observation in the
policy's keys (:mod:`sim_envs.adapters`):

- ``observation.images.<cam>``: uint8 ``(H, W, 3)`` (``(3, H, W)`` is transposed), the size in the metadata;
- ``observation.state``: real numbers ``(S,)``, finite (sent as float64 by many openpi robots: cast to float32);
- ``task``: the instruction, a str;
- optional flags: ``num_samples`` (int, 2..max: draw that many extra action chunks and return their spread),
  ``motion_preview`` (bool: return the motion head's forecast);
- optional real-time chunking (motionvla checkpoints): ``rtc.prefix_actions`` float ``(P, A)``, the previous chunk's
  actions still to execute (robot units, 1 <= P <= chunk), and ``rtc.delay`` int ``d`` (0..min(P, chunk - 1)): the
  first ``d`` actions of the reply are those ``d`` prefix actions, the rest of the overlap follows the prefix softly.

Nested maps are flattened with ``/`` (openpi robots send ``{"images": {"cam_high": ...}}``) and then renamed
with the server's ``--rename_map``, so a robot keeps its own key names. Keys the policy does not use are
ignored. Anything else raises :class:`RequestError`, whose one-line message goes back to the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from motionvla_client import msgpack_numpy

from motionvla.inference import PolicyMetadata
from motionvla.inference.interface import rtc_delay
from motionvla.keys import IMAGE_KEY_PREFIX, RTC_DELAY_KEY, RTC_PREFIX_KEY, STATE_KEY, TASK_KEY

NUM_SAMPLES_KEY = "num_samples"
MOTION_PREVIEW_KEY = "motion_preview"
MAX_TASK_CHARS = 2000


class RequestError(ValueError):
    """A request the server refuses; ``str(error)`` is the reply the client sees."""


@dataclass
class Request:
    """One validated observation: ``obs`` in the policy's keys (uint8 ``(H, W, 3)`` images, float32 ``(S,)``
    state, str task) and the request's flags."""

    obs: dict[str, Any]
    num_samples: int = 0
    motion_preview: bool = False
    rtc_delay: int | None = None  # with obs[RTC_PREFIX_KEY]: a real-time-chunking request

    def group_key(self) -> tuple:
        """Requests with equal keys stack into one forward pass."""
        shapes = tuple(sorted((k, np.shape(v)) for k, v in self.obs.items() if k != TASK_KEY))
        return (self.num_samples, self.motion_preview, self.rtc_delay, shapes)


def _flatten(obj: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(key, bytes):
            key = key.decode("utf-8", errors="replace")
        if not isinstance(key, str):
            raise RequestError(f"bad request: observation keys must be strings, got {type(key).__name__} {key!r:.40}")
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


class RequestParser:
    """Frames → :class:`Request` for one policy.

    Args:
        metadata: the policy's; declared cameras, state and action sizes are enforced.
        rename: client key → policy key, applied after flattening.
        max_payload_bytes: frames above this are refused with a message (the transport's hard cap is larger).
        max_samples: the largest ``num_samples`` accepted (0: the flag is refused).
        motion_preview: whether the policy can return motion images.
    """

    def __init__(self, metadata: PolicyMetadata, *, rename: dict[str, str] | None = None,
                 max_payload_bytes: int = 10 * 2**20, max_samples: int = 0, motion_preview: bool = False,
                 rtc: bool = False) -> None:
        self.metadata = metadata
        self.rename = dict(rename or {})
        self.max_payload_bytes = max_payload_bytes
        self.max_samples = max_samples
        self.motion_preview = motion_preview
        self.rtc = rtc

    def spec(self) -> dict[str, dict[str, Any]]:
        """The keys a request must hold, for the metadata frame: key → {"shape", "dtype"}."""
        spec: dict[str, dict[str, Any]] = {key: {"shape": list(shape), "dtype": "uint8"} for key, shape in self.metadata.cameras.items()}
        spec[STATE_KEY] = {"shape": [self.metadata.state_dim] if self.metadata.state_dim else [-1], "dtype": "float32"}
        spec[TASK_KEY] = {"shape": [], "dtype": "str"}
        return spec

    def parse(self, frame: bytes | str) -> Request:
        """Validate one frame; raises :class:`RequestError` saying what was wrong and what is accepted."""
        if isinstance(frame, str):
            raise RequestError("bad request: send the observation as a binary msgpack frame, not a text frame")
        if len(frame) > self.max_payload_bytes:
            raise RequestError(f"bad request: payload of {len(frame) / 2**20:.2f} MiB exceeds the server's limit of "
                               f"{self.max_payload_bytes / 2**20:.2f} MiB (motionvla serve --max_payload_mb)")
        try:
            raw = msgpack_numpy.unpackb(frame)
        except msgpack_numpy.WireFormatError as exc:
            raise RequestError(f"bad request: {exc}") from exc
        if not isinstance(raw, dict):
            raise RequestError(f"bad request: expected a map of observation keys, got a msgpack {type(raw).__name__}")
        flat = _flatten(raw)
        num_samples = self._num_samples(flat.pop(NUM_SAMPLES_KEY, 0))
        motion = flat.pop(MOTION_PREVIEW_KEY, False)
        if not isinstance(motion, (bool, np.bool_)):
            raise RequestError(f"bad request: {MOTION_PREVIEW_KEY} must be true or false, got {motion!r:.40}")
        if motion and not self.motion_preview:
            raise RequestError("bad request: this checkpoint has no motion head, so motion_preview is not available")
        prefix, delay = flat.pop(RTC_PREFIX_KEY, None), flat.pop(RTC_DELAY_KEY, None)
        flat = {self.rename.get(k, k): v for k, v in flat.items()}
        obs = self._observation(flat)
        if prefix is None and delay is None:
            return Request(obs, num_samples, bool(motion))
        if num_samples or motion:
            raise RequestError(f"bad request: {RTC_PREFIX_KEY} cannot be combined with {NUM_SAMPLES_KEY} or "
                               f"{MOTION_PREVIEW_KEY}")
        obs[RTC_PREFIX_KEY], rtc_delay = self._rtc(prefix, delay)
        return Request(obs, rtc_delay=rtc_delay)

    # ------------------------------------------------------------------ checks
    def _num_samples(self, value: Any) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise RequestError(f"bad request: {NUM_SAMPLES_KEY} must be an int, got {value!r:.40}")
        value = int(value)
        if value == 0:
            return 0
        if not self.max_samples:
            raise RequestError(f"bad request: {NUM_SAMPLES_KEY} is not available for this policy (motionvla checkpoints only)")
        if not 2 <= value <= self.max_samples:
            raise RequestError(f"bad request: {NUM_SAMPLES_KEY}={value}: must be 0 or in 2..{self.max_samples}")
        return value

    def _rtc(self, prefix: Any, delay: Any) -> tuple[np.ndarray, int]:
        if not self.rtc:
            raise RequestError(f"bad request: {RTC_PREFIX_KEY} is not available for this policy (motionvla "
                               "checkpoints only)")
        if prefix is None:
            raise RequestError(f"bad request: {RTC_DELAY_KEY} without {RTC_PREFIX_KEY} (the previous chunk's actions "
                               "still to execute)")
        chunk, dim = self.metadata.chunk_size, self.metadata.action_dim
        if not isinstance(prefix, np.ndarray) or prefix.dtype.kind not in "fiu" or prefix.ndim != 2 \
                or not 1 <= prefix.shape[0] <= chunk or (dim is not None and prefix.shape[1] != dim):
            got = f"{prefix.dtype} {prefix.shape}" if isinstance(prefix, np.ndarray) else type(prefix).__name__
            raise RequestError(f"bad request: {RTC_PREFIX_KEY} must be a real (P, {dim}) array with 1 <= P <= {chunk}, "
                               f"got {got}")
        if not np.all(np.isfinite(prefix)):
            raise RequestError(f"bad request: {RTC_PREFIX_KEY} holds NaN or inf")
        checked, top = rtc_delay(0 if delay is None else delay, prefix.shape[0], chunk)
        if checked is None:
            raise RequestError(f"bad request: {RTC_DELAY_KEY} must be an int in 0..{top}, got {delay!r:.40}")
        return prefix.astype(np.float32), checked

    def _observation(self, flat: dict[str, Any]) -> dict[str, Any]:
        meta = self.metadata
        cameras = meta.cameras or {k: None for k in flat if k.startswith(IMAGE_KEY_PREFIX)}
        required = [*cameras, STATE_KEY, TASK_KEY]
        missing = [k for k in required if k not in flat]
        if missing:
            got = ", ".join(sorted(flat)) or "nothing"
            raise RequestError(f"bad request: missing {', '.join(missing)} (got {got:.300}); the policy expects "
                               f"{', '.join(required)} (map other names with motionvla serve --rename_map)")
        obs: dict[str, Any] = {key: self._image(key, flat[key], shape) for key, shape in cameras.items()}
        obs[STATE_KEY] = self._state(flat[STATE_KEY])
        obs[TASK_KEY] = self._task(flat[TASK_KEY])
        return obs

    @staticmethod
    def _image(key: str, value: Any, shape: tuple[int, int, int] | None) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise RequestError(f"bad request: {key} must be a uint8 image array (H, W, 3), got {type(value).__name__}")
        if value.ndim == 3 and value.shape[0] == 3 and value.shape[-1] != 3:
            value = value.transpose(1, 2, 0)  # (3, H, W) as some openpi robots send it
        if value.dtype != np.uint8:
            raise RequestError(f"bad request: {key} must be uint8 (0..255), got {value.dtype}")
        if value.ndim != 3 or value.shape[-1] != 3 or (shape is not None and tuple(value.shape) != tuple(shape)):
            want = tuple(shape) if shape is not None else "(H, W, 3)"
            raise RequestError(f"bad request: {key} has shape {tuple(value.shape)}, expected {want} "
                               "(one observation per request; resize on the robot)")
        return np.ascontiguousarray(value)

    def _state(self, value: Any) -> np.ndarray:
        if isinstance(value, (list, tuple)):
            try:
                value = np.asarray(value)
            except ValueError as exc:
                raise RequestError(f"bad request: {STATE_KEY} is not a flat list of numbers") from exc
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise RequestError(f"bad request: {STATE_KEY} must be an array of numbers, got {kind}")
        dim = self.metadata.state_dim
        if value.ndim != 1 or (dim is not None and value.shape[0] != dim):
            raise RequestError(f"bad request: {STATE_KEY} has shape {tuple(value.shape)}, expected ({dim if dim else 'S'},) "
                               "(one observation per request: the server batches concurrent requests itself)")
        state = value.astype(np.float32)
        if not np.all(np.isfinite(state)):
            raise RequestError(f"bad request: {STATE_KEY} holds NaN or inf")
        return state

    @staticmethod
    def _task(value: Any) -> str:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            raise RequestError(f"bad request: {TASK_KEY} must be the instruction as a string, got {type(value).__name__}")
        if len(value) > MAX_TASK_CHARS:
            raise RequestError(f"bad request: {TASK_KEY} is {len(value)} characters long; at most {MAX_TASK_CHARS} accepted")
        return value


def fake_observation(metadata: PolicyMetadata, task: str = "warm up") -> dict[str, Any]:
    """A valid observation for ``metadata`` (grey images, zero state): the server's warm-up, tests, benchmarks."""
    obs: dict[str, Any] = {key: np.full(shape, 127, np.uint8) for key, shape in metadata.cameras.items()}
    obs[STATE_KEY] = np.zeros(metadata.state_dim or 1, np.float32)
    obs[TASK_KEY] = task
    return obs
