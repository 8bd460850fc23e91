"""The policy side of the bridge, with a watchdog: an :class:`ActionChunkBroker` (chunks fetched early and
blended) over a :class:`WatchedClient` that times every request, run so that the control loop never waits
longer than it allows.

Why a wrapper around the client: the broker keeps executing its queued chunk while the next request is in
flight, so from ``act()`` alone a stalled server shows only once the queue runs dry. The wrapper sees the
request itself: one in flight for longer than ``timeout_s`` (server stalled, network gone) or one that
failed (server restarting) is a fault at once, and the broker's plan is dropped, so no action computed
before the fault is executed after it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Callable

import numpy as np

logger = logging.getLogger(__name__)


class WatchedClient:
    """``infer(obs)`` through ``client`` (a PolicyClient), recording when each request started and ended and
    how it went; ``on_reply(reply)`` sees every reply (spread, motion images). Thread-safe."""

    def __init__(self, client: Any, *, infer_kwargs: dict[str, Any] | None = None,
                 on_reply: Callable[[dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.infer_kwargs, self.on_reply, self.clock = client, dict(infer_kwargs or {}), on_reply, clock
        self._lock = threading.Lock()
        self.in_flight_since: float | None = None
        self.last_success: float | None = None
        self.last_error: tuple[float, str] | None = None
        self.last_reply: dict[str, Any] = {}

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Forward one request (the broker calls this from its background thread)."""
        with self._lock:
            self.in_flight_since = self.clock()
        try:
            reply = self.client.infer(obs, **self.infer_kwargs)
        except Exception as exc:
            with self._lock:
                self.in_flight_since = None
                self.last_error = (self.clock(), f"{type(exc).__name__}: {exc}")
            raise
        with self._lock:
            self.in_flight_since, self.last_success, self.last_reply = None, self.clock(), reply
        if self.on_reply is not None:
            try:
                self.on_reply(reply)
            except Exception:  # a preview that fails to publish must not fail the request
                logger.exception("reply handler failed")
        return reply

    def forget_errors(self) -> None:
        """A fresh start (new enable): failures from before it no longer count, the next request decides (a
        connection seen closed is dropped, so that request opens a new one)."""
        with self._lock:
            self.last_error = None
        if self._connection_problem() is not None:
            self.client.close()

    def _connection_problem(self) -> str | None:
        check = getattr(self.client, "connection_problem", None)
        return check() if check is not None else None

    def health(self, now: float, timeout_s: float) -> str | None:
        """Why the policy cannot be trusted now (a fault reason), or None. A closed connection counts at once,
        even while the broker still holds actions: they were planned by a server that is gone."""
        lost = self._connection_problem()
        if lost is not None:
            return f"policy server connection lost: {lost}"
        with self._lock:
            since, success, error = self.in_flight_since, self.last_success, self.last_error
        if since is not None and now - since > timeout_s:
            return f"policy late: request in flight for {now - since:.2f} s (> {timeout_s:g} s)"
        if error is not None and (success is None or error[0] > success):
            return f"policy failed: {error[1]}"
        return None


class PolicyRunner:
    """One action per control step from ``broker.act(obs)``, run in a worker thread so a blocked call (no
    chunk yet, server gone) costs the loop at most ``budget_s`` per step; faults per :meth:`step`.

    Args:
        broker: an ActionChunkBroker (or anything with ``act(obs) -> (A,)`` and ``reset()``).
        watched: the :class:`WatchedClient` the broker talks through.
        timeout_s: longest acceptable wait for an action or a reply.
    """

    def __init__(self, broker: Any, watched: WatchedClient, timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.broker, self.watched, self.timeout_s, self.clock = broker, watched, timeout_s, clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-act")
        self._future: Future | None = None
        self._submitted_at = 0.0
        self._needs_reset = True
        self._fault_since_reset = False

    def reset(self) -> None:
        """Drop the broker's plan before the next action (new enable, or after a fault)."""
        self._needs_reset = True

    def step(self, obs: dict[str, Any], budget_s: float) -> tuple[np.ndarray | None, str | None]:
        """``(action or None, fault reason or None)`` for this control step.

        ``(None, None)``: the action is still being computed (first chunk) and not late yet.
        """
        now = self.clock()
        if self._future is None:
            if self._needs_reset:
                self.broker.reset()
                self._needs_reset = False
            self._future = self._executor.submit(self.broker.act, obs)
            self._submitted_at = now
        if not self._future.done():
            wait_futures([self._future], timeout=max(0.0, budget_s))
        fault = self.watched.health(self.clock(), self.timeout_s)
        if not self._future.done():
            waited = self.clock() - self._submitted_at
            if waited > self.timeout_s:
                fault = fault or f"policy late: no action for {waited:.2f} s (> {self.timeout_s:g} s)"
            if fault is not None:
                self._needs_reset = True
            return None, fault
        future, self._future = self._future, None
        error = future.exception()
        if error is not None:
            self._needs_reset = True
            return None, fault or f"policy failed: {type(error).__name__}: {error}"
        if fault is not None:
            self._needs_reset = True
            return None, fault
        return np.asarray(future.result(), dtype=np.float64), None

    def close(self) -> None:
        """Stop the worker (an act in flight is abandoned) and the broker's thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.broker, "close", None)
        if close is not None:
            close()
