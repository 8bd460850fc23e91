"""Run a function on N local processes joined in a gloo process group (tests, CPU benchmarks).

Unlike ``torch.multiprocessing.spawn`` this returns each rank's result and never hangs: if any rank
fails or the whole run outlasts ``timeout``, every rank is killed and the error is raised.
"""

from __future__ import annotations

import datetime
import os
import queue as queue_module
import socket
import time
import traceback
from typing import Any, Callable

import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _entry(fn: Callable, rank: int, world_size: int, port: int, results, args: tuple, timeout: float) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)  # N ranks share the machine's cores
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=timeout))
        results.put((rank, True, fn(rank, world_size, *args)))
    except BaseException:  # report everything, including a collective's timeout, to the parent
        results.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_local_ranks(fn: Callable[..., Any], world_size: int, *args: Any, timeout: float = 120.0, env: dict | None = None) -> list[Any]:
    """Call ``fn(rank, world_size, *args)`` in ``world_size`` spawned processes; return the results by rank.

    ``fn`` must be importable by name (defined at module level) and return something picklable.
    ``env`` is added to the children's environment (read at their start, e.g. malloc settings).
    """
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    saved = {key: os.environ.get(key) for key in (env or {})}
    os.environ.update(env or {})
    try:
        processes = [
            context.Process(target=_entry, args=(fn, rank, world_size, port, results, args, timeout), daemon=True)
            for rank in range(world_size)
        ]
        for process in processes:
            process.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    deadline = time.monotonic() + timeout
    collected: dict[int, Any] = {}
    try:
        while len(collected) < world_size:
            try:
                rank, ok, value = results.get(timeout=1.0)
            except queue_module.Empty:
                dead = [r for r, p in enumerate(processes) if p.exitcode not in (None, 0) and r not in collected]
                if dead:
                    raise RuntimeError(f"rank(s) {dead} died without a result (exit codes {[processes[r].exitcode for r in dead]})") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{world_size} ranks did not finish within {timeout:.0f} s (deadlock?)") from None
                continue
            if not ok:
                raise RuntimeError(f"rank {rank} failed:\n{value}")
            collected[rank] = value
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    return [collected[rank] for rank in range(world_size)]
