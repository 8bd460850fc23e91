"""``run_prep``: list the inputs, resume from the books, run the groups on a process pool or Ray, keep books.

The same :func:`data_prep.process.process_group` runs everywhere. Inputs are split into fixed groups of
``videos_per_shard`` (in listing order), each group one shard: a group's output depends only on its inputs, so
work redone after a crash or on another machine gives the same bytes, and no two workers write one file.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tqdm import tqdm

from data_prep.config import PrepConfig
from data_prep.decode import die_with_parent
from data_prep.process import close_processor, process_group, warm_up
from data_prep.records import OutputLock, append_records, compute_stats, prepare_output, read_records
from data_prep.sources import VideoInput, list_inputs
from motionvla.errors import UserError

Group = tuple[int, list[VideoInput]]
MAX_GROUP_ATTEMPTS = 2  # a group that kills its worker twice is recorded as failed, not retried forever


def _base_record(item: VideoInput, status: str, reason: str, detail: str = "") -> dict:
    return {"input": item.index, "id": item.id, "path": item.path, "source": item.source, "status": status,
            "reason": reason, "detail": detail, "samples": 0}


def _failed_group(group: Group, reason: str, detail: str) -> dict:
    return {"group": group[0], "records": [_base_record(i, "failed", reason, detail) for i in group[1]],
            "shard": None, "timing": {}}


_START_BARRIER = None  # set in each pool worker: warm-up tasks meet there, so each worker warms up once


def _worker_init(barrier=None) -> None:
    global _START_BARRIER
    import torch

    die_with_parent()
    torch.set_num_threads(1)  # parallelism comes from the workers (Ray sets OMP_NUM_THREADS=1 for its tasks)
    _START_BARRIER = barrier


def _warm_up_pool_worker(cfg: PrepConfig) -> int:
    pid = warm_up(cfg)
    _START_BARRIER.wait(timeout=600)  # hold this worker until every worker has warmed up
    return pid


def _run_local(cfg: PrepConfig, groups: list[Group], on_done: Callable[[dict], None],
               on_started: Callable[[], None]) -> None:
    if cfg.workers == 1:
        try:
            warm_up(cfg)
            on_started()
            for group, items in groups:
                on_done(process_group(cfg, group, items))
        finally:
            close_processor()
        return
    queue = [(g, 1) for g in groups]
    started = False
    ctx = mp.get_context("spawn")  # the parent holds threads (tqdm, torch): forking it can deadlock the child
    while queue:
        broken: list[tuple[Group, int]] = []
        barrier = ctx.Barrier(cfg.workers)
        with ProcessPoolExecutor(cfg.workers, mp_context=ctx, initializer=_worker_init, initargs=(barrier,)) as pool:
            if not started:  # start-up (spawning, imports, decoder processes) is timed apart from the work
                warm = [pool.submit(_warm_up_pool_worker, cfg) for _ in range(cfg.workers)]
                wait(warm)
                errors = [f.exception() for f in warm if f.exception() is not None]
                if errors:
                    raise UserError(f"the {cfg.workers} worker processes could not start ({errors[0]!r}); a script "
                                    "that calls run_prep needs an `if __name__ == '__main__':` guard")
                on_started()
                started = True
            running = {}
            try:
                while queue or running:
                    while queue and len(running) < 2 * cfg.workers:
                        group, attempt = queue[0]
                        suspect_running = any(a > 1 for _, a in running.values())
                        if suspect_running or (attempt > 1 and running):
                            break  # a group that was in flight when a worker died is retried alone
                        running[pool.submit(process_group, cfg, group[0], group[1])] = (group, attempt)
                        queue.pop(0)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        group, attempt = running.pop(future)
                        try:
                            on_done(future.result())
                        except BrokenProcessPool:
                            broken.append((group, attempt))
                        except Exception as err:  # noqa: BLE001 -- recorded per input; the run goes on
                            on_done(_failed_group(group, "worker_error", f"{type(err).__name__}: {err}"))
                    if broken:
                        break
            except BrokenProcessPool:  # raised by submit once a worker has died
                pass
            broken += list(running.values())
        for group, attempt in broken:
            if attempt >= MAX_GROUP_ATTEMPTS:
                on_done(_failed_group(group, "worker_crashed", "the worker process died on this group twice"))
            else:
                queue.append((group, attempt + 1))
        queue.sort(key=lambda entry: entry[0][0])


def _run_ray(cfg: PrepConfig, groups: list[Group], on_done: Callable[[dict], None],
             on_started: Callable[[], None]) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("--engine=ray needs Ray: pip install 'motionvla[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = {"address": cfg.ray_address} if cfg.ray_address else {"num_cpus": cfg.workers}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
    try:
        remote = ray.remote(num_cpus=1, max_retries=MAX_GROUP_ATTEMPTS - 1)(process_group)
        cfg_ref = ray.put(cfg)
        warm = ray.remote(num_cpus=1)(warm_up)
        ray.get([warm.remote(cfg_ref) for _ in range(cfg.workers)])
        on_started()
        pending = list(groups)
        running = {}
        in_flight = max(2 * cfg.workers, int(ray.cluster_resources().get("CPU", 1)) * 2)
        while pending or running:
            while pending and len(running) < in_flight:
                group = pending.pop(0)
                running[remote.remote(cfg_ref, group[0], group[1])] = group
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                group = running.pop(ref)
                try:
                    on_done(ray.get(ref))
                except ray.exceptions.RayError as err:  # a dead worker or a task error: recorded, never fatal
                    on_done(_failed_group(group, "worker_error", " ".join(str(err).split())[:500]))
    finally:
        if started_here:
            ray.shutdown()


def plan_groups(items: Iterable[VideoInput], videos_per_shard: int) -> list[Group]:
    """Fixed groups of the inputs that need decoding, in listing order."""
    todo = [item for item in items if item.verdict is None]
    return [(n // videos_per_shard, todo[n:n + videos_per_shard]) for n in range(0, len(todo), videos_per_shard)]


def run_prep(cfg: PrepConfig) -> dict:
    """Runs (or resumes) a prep job; returns the stats (as written to ``stats.json``) plus run figures:
    ``startup_seconds`` (workers and decoders started), ``seconds`` (from then to the last result, which
    ``clips_per_s`` divides), ``wall_seconds`` (all, shut-down included), ``stage_seconds`` (summed over
    workers)."""
    cfg.validate()
    out = Path(cfg.out).expanduser()
    items = list_inputs(cfg.source, cfg.input, cfg.labels, cfg.min_caption_chars)
    resumed = prepare_output(out, cfg.identity(), dataclasses.asdict(cfg))
    with OutputLock(out):
        for stale in out.glob(".shard-*.tmp"):  # a killed run's unfinished shard; the lock says no one writes it
            stale.unlink()
        records = read_records(out)
        decided = [_base_record(i, *i.verdict, i.detail) for i in items if i.verdict and i.index not in records]
        append_records(out, decided)
        records.update({r["input"]: r for r in decided})
        groups = [g for g in plan_groups(items, cfg.videos_per_shard)
                  if any(i.index not in records for i in g[1])]
        todo = sum(len(g[1]) for g in groups)
        timing: Counter = Counter()
        new_samples = 0
        launched = started = last_result = time.perf_counter()

        def on_started() -> None:
            nonlocal started, last_result
            started = last_result = time.perf_counter()
        bar = tqdm(total=len(items), initial=len(items) - todo, unit="video", disable=not cfg.progress,
                   desc="prep", dynamic_ncols=True)

        def on_done(result: dict) -> None:
            nonlocal new_samples, last_result
            append_records(out, result["records"])
            records.update({r["input"]: r for r in result["records"]})
            timing.update(result.get("timing", {}))
            new_samples += sum(r.get("samples", 0) for r in result["records"])
            bar.update(len(result["records"]))
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(clips_per_s=f"{new_samples / elapsed:.1f}", refresh=False)
            last_result = time.perf_counter()

        try:
            if groups:
                (_run_ray if cfg.engine == "ray" else _run_local)(cfg, groups, on_done, on_started)
            else:
                on_started()
        finally:
            bar.close()
        finished = time.perf_counter()
        elapsed = last_result - started  # pool and Ray shut-down count in wall_seconds, like start-up
        stats = compute_stats(out, records, len(items))
    missing = len(items) - stats["accounted"]
    if missing:  # every engine path records every input; this guards the books themselves
        raise RuntimeError(f"{missing} inputs have no record in {out / 'manifest.jsonl'}")
    return {**stats, "resumed": resumed, "processed_inputs": todo, "new_samples": new_samples,
            "startup_seconds": round(started - launched, 3), "seconds": round(elapsed, 3),
            "wall_seconds": round(finished - launched, 3),
            "clips_per_s": round(new_samples / elapsed, 3) if elapsed else 0.0,
            "stage_seconds": {k: round(v, 3) for k, v in sorted(timing.items())}}
