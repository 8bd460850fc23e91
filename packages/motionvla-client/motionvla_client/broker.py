"""``ActionChunkBroker``: execute action chunks one action per control step, fetch the next chunk early and
in the background, and cross-fade overlapping chunks so the seam between two chunks is smooth.

Timeline (one ``act`` call = one control step ``t``). The plan holds the actions for steps
``plan_start .. plan_start + len(plan) - 1``. Once at most ``refill_fraction`` of a chunk is left, the
observation of that step ``t_req`` is sent in a background thread; its chunk ``new`` covers steps
``t_req .. t_req + n - 1``. When it arrives at step ``t`` (``k = t - t_req`` actions were executed while
it was in flight) its first ``k`` actions are already in the past and are dropped; the rest overlaps the
old plan's remaining actions for ``m`` steps. Over the overlap the executed action is
``(1 - w_i) * old_i + w_i * new_i`` with ``w_i`` rising from near 0 to near 1 (linear ``(i + 1) / (m + 1)``,
or exponential), then the new chunk continues alone. Naive switching (``blend="none"``) jumps straight to
``new[k]``, so any disagreement between the two chunks shows up as one large step; blending spreads it
over ``m`` steps. ``boundary_jumps`` records ``max |a_t - a_{t-1}|`` at every seam, to measure exactly that.

This is neither openpi's broker (run a chunk out, then ask and wait) nor lerobot's async client (fixed
weights over the overlap). ``blend="rtc"`` is real-time chunking (Black et al. 2025): each request also sends the
plan's actions from the request's step on (``rtc.prefix_actions``) and how many of them will execute before the
reply lands (``rtc.delay``, the latency in control steps measured at the last seam; 1 before any is measured,
the request's own step), and the server inpaints the new chunk onto them, so the chunk needs no cross-fade.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

BLEND_MODES = ("linear", "exp", "none", "rtc")
# The request keys of real-time chunking (motionvla.keys on the server side; this package imports nothing of ours).
RTC_PREFIX_KEY, RTC_DELAY_KEY = "rtc.prefix_actions", "rtc.delay"


class InferClient(Protocol):
    """Anything with ``infer(obs) -> {"actions": (n, A), ...}``: a PolicyClient, openpi's WebsocketClientPolicy."""

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class Seam:
    """One chunk switch: at control ``step``, after ``latency_steps`` steps in flight, ``overlap`` steps blended;
    ``jump`` = max |a_step - a_{step-1}| over action dims (action units)."""

    step: int
    latency_steps: int
    overlap: int
    jump: float = math.nan


def blend_weights(overlap: int, mode: str, exp_rate: float = 3.0) -> np.ndarray:
    """Weights of the new chunk over an overlap of ``overlap`` steps, ``(overlap,)`` in (0, 1).

    ``linear``: ``(i + 1) / (overlap + 1)``; ``exp``: ``1 - exp(-exp_rate (i + 1) / overlap)``, normalised so
    the last weight is ``overlap / (overlap + 1)`` like the linear ramp's; ``none`` and ``rtc``: all ones (switch
    at once; with ``rtc`` the server already made the new chunk continue the old one).
    """
    if mode not in BLEND_MODES:
        raise ValueError(f"blend={mode!r}; accepted: {', '.join(BLEND_MODES)}")
    i = np.arange(1, overlap + 1, dtype=np.float64)
    if mode in ("none", "rtc") or overlap == 0:
        return np.ones(overlap)
    if mode == "linear":
        return i / (overlap + 1)
    raw = 1.0 - np.exp(-exp_rate * i / overlap)
    return raw / raw[-1] * overlap / (overlap + 1)


class ActionChunkBroker:
    """One action per ``act(obs)`` call from chunks fetched early and asynchronously, blended at the seams.

    Call ``act`` once per control step from one thread; the alignment counts those calls as steps.

    Args:
        client: an :class:`InferClient` (its ``infer`` runs in one background thread, one request at a time).
        refill_fraction: ask for the next chunk once at most this fraction of the chunk is left (0: only when
            the plan is empty, i.e. synchronously, like openpi's broker; 1: after every step).
        blend: ``linear`` (default), ``exp``, ``none`` (naive switching) or ``rtc`` (real-time chunking: the
            server must offer it, ``capabilities.rtc`` in its metadata).
        max_blend_steps: blend over at most this many overlapping steps (None: the whole overlap).
        wait_timeout_s: how long ``act`` waits for a chunk when the plan ran out (then ``TimeoutError``).
        actions_key: the reply key holding the ``(n, A)`` chunk.
    """

    def __init__(
        self,
        client: InferClient,
        *,
        refill_fraction: float = 0.5,
        blend: str = "linear",
        max_blend_steps: int | None = None,
        exp_rate: float = 3.0,
        wait_timeout_s: float = 10.0,
        actions_key: str = "actions",
    ) -> None:
        if not 0.0 <= refill_fraction <= 1.0:
            raise ValueError(f"refill_fraction must be in [0, 1], got {refill_fraction}")
        blend_weights(1, blend)  # validates the mode
        self.client, self.refill_fraction, self.blend = client, refill_fraction, blend
        self.max_blend_steps, self.exp_rate = max_blend_steps, exp_rate
        self.wait_timeout_s, self.actions_key = wait_timeout_s, actions_key
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-request")
        self.reset()

    def reset(self) -> None:
        """Start a new episode: forget the plan; a reply still in flight is ignored when it lands."""
        self._plan: np.ndarray | None = None  # (L, A) actions for steps plan_start .. plan_start + L - 1
        self._plan_start = 0
        self._step = 0  # the control step the next act() call executes
        self._pending: Future | None = None
        self._pending_step = 0
        self._chunk_len = 0
        self._last_action: np.ndarray | None = None
        self._seam: Seam | None = None
        #: Every chunk switch so far, oldest first.
        self.seams: list[Seam] = []
        #: Replies that arrived after their whole chunk was already in the past, and failed requests.
        self.stale_chunks = 0
        self.failed_requests = 0
        #: The last reply (timings, spreads, ...), for logging.
        self.last_reply: dict[str, Any] = {}

    @property
    def boundary_jumps(self) -> list[float]:
        """``max |a_t - a_{t-1}|`` at each seam (the first chunk has none)."""
        return [s.jump for s in self.seams if not math.isnan(s.jump)]

    @property
    def remaining(self) -> int:
        """Actions left in the plan."""
        return 0 if self._plan is None else len(self._plan) - (self._step - self._plan_start)

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        """The action ``(A,)`` float32 for this control step; ``obs`` is this step's observation."""
        self._integrate_if_done(wait=False)
        while self.remaining <= 0:  # nothing to execute: wait for the chunk in flight, or ask now
            if self._pending is None:
                self._request(obs)
            self._integrate_if_done(wait=True)
        assert self._plan is not None
        action = np.asarray(self._plan[self._step - self._plan_start], dtype=np.float32)
        if self._seam is not None:
            if self._last_action is not None:
                self._seam.jump = float(np.max(np.abs(action - self._last_action)))
            self._seam = None
        self._last_action = action
        self._step += 1
        threshold = math.ceil(self.refill_fraction * self._chunk_len) if self.refill_fraction > 0 else 0
        if self._pending is None and self.remaining <= threshold and self.remaining > 0:
            self._request(obs, self._step - 1)  # this obs belongs to the step just executed
        return action

    @property
    def in_flight_step(self) -> int | None:
        """The control step whose observation is out for a chunk not yet merged (None: no request out)."""
        return None if self._pending is None else self._pending_step

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the request in flight (if any) has its reply; it is merged at the next ``act``.
        Returns False on timeout. (Episode start-up, tests: a control loop never needs it.)"""
        future = self._pending
        return future is None or wait_futures([future], timeout=timeout_s).done == {future}

    def close(self) -> None:
        """Stop the background thread (a request in flight is abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    def rtc_delay(self, prefix_len: int) -> int:
        """Actions that will execute before a request sent now is merged: the latency (control steps) measured at
        the last seam, at least 1 (the request's own step), at most ``prefix_len`` and below the chunk length. The
        first chunk of an episode, which pays the server's warm-up, makes no seam, so it is never the measure; before
        any seam the delay is 1."""
        measured = [s.latency_steps for s in self.seams] or [1]
        return int(max(0, min(max(1, measured[-1]), prefix_len, max(self._chunk_len - 1, 0))))

    def _request(self, obs: dict[str, Any], step: int | None = None) -> None:
        # Copy arrays: the caller may reuse its buffers while the request is still being encoded.
        snapshot = {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in obs.items()}
        self._pending_step = self._step if step is None else step
        if self.blend == "rtc" and self._plan is not None:
            prefix = self._plan[self._pending_step - self._plan_start:]
            if len(prefix):
                snapshot[RTC_PREFIX_KEY] = np.array(prefix, dtype=np.float32)
                snapshot[RTC_DELAY_KEY] = self.rtc_delay(len(prefix))
        self._pending = self._executor.submit(self.client.infer, snapshot)

    def _integrate_if_done(self, wait: bool) -> None:
        future = self._pending
        if future is None or (not wait and not future.done()):
            return
        if wait and not wait_futures([future], timeout=self.wait_timeout_s).done:
            raise TimeoutError(f"no action chunk within {self.wait_timeout_s:g} s and the plan is empty")
        self._pending = None
        error = future.exception()
        if error is not None:
            self.failed_requests += 1
            if wait:  # nothing left to execute: the caller decides (hold, stop)
                raise error
            return  # the plan still has actions: the next step asks again
        reply = future.result()
        chunk = np.asarray(reply[self.actions_key], dtype=np.float32)
        if chunk.ndim != 2 or len(chunk) == 0:
            raise ValueError(f"reply[{self.actions_key!r}] must be an (n, A) chunk, got shape {chunk.shape}")
        self.last_reply = reply
        self._merge(chunk, self._pending_step)

    def _merge(self, chunk: np.ndarray, request_step: int) -> None:
        self._chunk_len = max(self._chunk_len, len(chunk))
        latency = self._step - request_step  # actions executed while the request was in flight
        fresh = chunk[latency:]
        if len(fresh) == 0:
            self.stale_chunks += 1
            return
        old = None if self._plan is None else self._plan[self._step - self._plan_start:]
        overlap = 0 if old is None else min(len(old), len(fresh))
        if self.max_blend_steps is not None:
            overlap = min(overlap, self.max_blend_steps)
        plan = fresh.copy()
        if overlap and old is not None and self.blend not in ("none", "rtc"):
            w = blend_weights(overlap, self.blend, self.exp_rate)[:, None]
            plan[:overlap] = (1.0 - w) * old[:overlap] + w * fresh[:overlap]
        self._plan, self._plan_start = plan, self._step
        if self._last_action is not None:
            blended = overlap if self.blend not in ("none", "rtc") else 0
            self._seam = Seam(step=self._step, latency_steps=latency, overlap=blended)
            self.seams.append(self._seam)
