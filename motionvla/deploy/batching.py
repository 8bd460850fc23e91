"""Inference off the event loop, with concurrent requests stacked into one forward pass.

Every request goes into one asyncio queue; a single worker task takes the first one, waits up to
``window_s`` for more (0: takes only those already queued, i.e. the ones that arrived while the previous
forward ran), groups those that stack (same keys and shapes, same flags) and runs each group as one batched
``Policy.infer`` in a one-thread executor. One thread, because a model is not safe to call from several
threads at once and a second forward on the same device would only compete with the first; the event loop
stays free for handshakes, ``/healthz`` and decoding the next frames while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from motionvla.deploy.requests import Request, RequestError
from motionvla.inference import Policy, stack_observations
from motionvla.keys import RTC_DELAY_KEY

logger = logging.getLogger(__name__)


@dataclass
class _Item:
    request: Request
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class InferenceBatcher:
    """``await submit(request)`` → the reply map for that request (``actions (n, A)``, extras, timings in ms).

    Args:
        policy: an inference-interface policy (``ServingPolicy`` for the request flags).
        max_batch: the most requests stacked into one forward (1: no batching).
        window_s: how long the first request of a batch waits for others (seconds).
    """

    def __init__(self, policy: Policy, *, max_batch: int = 16, window_s: float = 0.0) -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError(f"need max_batch >= 1 and window_s >= 0, got {max_batch}, {window_s}")
        self.policy, self.max_batch, self.window_s = policy, max_batch, window_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-infer")
        self._worker: asyncio.Task | None = None
        #: Forward passes run and requests answered (for logs and benchmarks).
        self.forwards = 0
        self.answered = 0

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="inference-batcher")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, request: Request) -> dict[str, Any]:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(request, future))
        return await future

    # ------------------------------------------------------------------ worker
    async def _collect(self) -> list[_Item]:
        items = [await self._queue.get()]
        deadline = time.perf_counter() + self.window_s
        while len(items) < self.max_batch:
            left = deadline - time.perf_counter()
            try:
                items.append(self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(self._queue.get(), left))
            except (asyncio.QueueEmpty, TimeoutError):
                break
        return [item for item in items if not item.future.done()]  # a client that left cancelled its future

    async def _run(self) -> None:
        while True:
            items = await self._collect()
            groups: dict[tuple, list[_Item]] = {}
            for item in items:
                groups.setdefault(item.request.group_key(), []).append(item)
            for group in groups.values():
                await self._run_group(group)

    async def _run_group(self, group: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            result = await loop.run_in_executor(self._executor, self._forward, [i.request for i in group])
        except Exception as exc:  # noqa: BLE001 -- any policy failure becomes an error reply, never a dead server
            if len(group) > 1:  # one odd request must not fail the others: run them one by one
                for item in group:
                    await self._run_group([item])
                return
            logger.warning("inference failed: %s: %s", type(exc).__name__, exc)
            _resolve(group[0].future, exc=RequestError(f"inference failed: {type(exc).__name__}: {str(exc)[:300]}"))
            return
        self.forwards += 1
        infer_ms = result.pop("_forward_ms")
        for index, item in enumerate(group):
            reply = {key: _row(value, index) for key, value in result.items()}
            reply["server_timing"] = {"infer_ms": infer_ms, "queue_ms": round(1000.0 * (started - item.enqueued), 3),
                                      "batch_size": len(group)}
            _resolve(item.future, reply)
            self.answered += 1

    def _forward(self, requests: list[Request]) -> dict[str, Any]:
        """Runs in the executor thread: stack, infer, check the shape of what came back."""
        start = time.perf_counter()
        obs = stack_observations([r.obs for r in requests])
        first = requests[0]
        if first.rtc_delay is not None:  # one delay per group (group_key), the prefixes stacked (N, P, A)
            obs[RTC_DELAY_KEY] = first.rtc_delay
        if first.num_samples or first.motion_preview:
            result = self.policy.infer_extras(obs, first.num_samples, first.motion_preview)  # type: ignore[attr-defined]
        else:
            result = self.policy.infer(obs)
        actions = np.asarray(result["actions"], dtype=np.float32)
        if actions.ndim != 3 or actions.shape[0] != len(requests):
            raise RuntimeError(f"the policy returned actions of shape {actions.shape} for {len(requests)} observations")
        if not np.all(np.isfinite(actions)):
            raise RuntimeError("the policy produced NaN or inf actions")
        result = {**result, "actions": actions}
        result["_forward_ms"] = round(1000.0 * (time.perf_counter() - start), 3)
        return result


def _row(value: Any, index: int) -> Any:
    """Request ``index``'s part of a batched result; numpy scalars as Python numbers (plain msgpack)."""
    if not isinstance(value, np.ndarray):
        return value
    row = value[index]
    return row.item() if isinstance(row, np.generic) else row


def _resolve(future: asyncio.Future, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
