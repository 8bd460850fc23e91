"""``train()``: the shared training loop (the VLA policy now, the flow forecaster later).

One to many processes through accelerate (DDP, gloo on CPU; FSDP is refused until its checkpoints go through
accelerate's save_state, see the README),
gradient accumulation, mixed precision, EMA, warmup + cosine schedule, atomic checkpoints every N steps
and an exact ``resume``: model, optimizer, schedule, data position and every process's RNG states
are restored, so a resumed run computes the same losses as an uninterrupted one (CPU, same seed,
same number of processes).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from motionvla.errors import UserError
from motionvla.moe import expert_parallel_parameter_names, full_state_dict, load_full_state_dict
from motionvla.train import checkpoint as ckpt
from motionvla.train.config import TrainConfig
from motionvla.train.data import BatchStream, EpochBatchSampler
from motionvla.train.metrics import MetricsLogger, start_wandb
from motionvla.train.optim import EMA, make_optimizer, make_scheduler
from motionvla.train.rng_state import restore_rng_state
from motionvla.train.step import train_step

PRETRAINED_DIR = ckpt.PRETRAINED_MODEL_DIR

Batch = Any


def make_accelerator(cfg: TrainConfig) -> Accelerator:
    """An Accelerator for ``cfg``: CPU when there is no GPU; DDP across processes."""
    return Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=cfg.mixed_precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.find_unused_parameters)],
    )


def _window_means(window: list[dict[str, float]]) -> dict[str, float]:
    keys = window[0].keys()
    return {k: sum(row[k] for row in window) / len(window) for k in keys}


def _model_state(model: nn.Module, sharded: bool) -> dict[str, torch.Tensor]:
    return full_state_dict(model) if sharded else model.state_dict()


def train(
    model: nn.Module,
    dataset: Dataset,
    cfg: TrainConfig,
    *,
    collate_fn: Callable[[list[Any]], Batch] | None = None,
    preprocess: Callable[[Batch], Batch] | None = None,
    save_extra: Callable[[Path], None] | None = None,
    on_step_end: Callable[[int, dict[str, float]], None] | None = None,
    accelerator: Accelerator | None = None,
    run_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (``model(batch) -> (loss, info)``) on ``dataset`` for ``cfg.steps`` optimizer steps.

    Args:
        model: built identically on every process (seed first); expert-parallel MoE slices are allowed.
        dataset: map-style; items are collated by ``collate_fn`` (default: torch's).
        preprocess: applied to each collated micro-batch (e.g. lerobot's normalizing pre-processor).
        save_extra: writes what makes a checkpoint folder a loadable model besides its weights
            (config.json, processors...); called by the main process for every checkpoint.
        on_step_end: called on every process after each step with ``(step, metrics)`` (1-based step).
        run_config: stored with the wandb run.

    Writes under ``cfg.output_dir``: ``checkpoints/<step>/`` (+ ``checkpoints/last``), ``metrics.jsonl``,
    ``metrics.csv`` and ``pretrained_model/`` (the final weights, EMA weights if EMA is on).

    Returns:
        ``{"step", "resumed_from", "final_loss", "seconds", "pretrained_dir", "output_dir"}``.
    """
    acc = accelerator or make_accelerator(cfg)
    out = Path(cfg.output_dir)
    rank, world = acc.process_index, acc.num_processes

    resume_from = ckpt.find_last_checkpoint(out) if cfg.resume else None
    ckpt.refuse_taken_output(out, cfg.resume)
    state = ckpt.load_checkpoint(resume_from, rank) if resume_from is not None else None
    if acc.is_main_process:
        if state is not None:
            by = "" if state["written_by"] == "motionvla" else f", written by {state['written_by']}"
            print(f"resumed from step {state['step']} (checkpoint {resume_from}{by})", flush=True)
        elif cfg.resume:
            print(f"--resume: no checkpoint in {out} yet, starting from step 0", flush=True)
    if state is not None and state["world_size"] not in (None, world):
        raise UserError(
            f"checkpoint {resume_from} was written by {state['world_size']} process(es), this run has {world}; "
            "an exact resume needs the same number (the data order depends on it)"
        )

    sharded_names = expert_parallel_parameter_names(model)
    sharded = bool(sharded_names) and world > 1
    if sharded and cfg.ema_decay > 0:
        raise UserError("train.ema_decay > 0 with an expert-parallel MoE (ep/llep) is not supported yet; use ema_decay=0")
    if state is not None:
        load_full_state_dict(model, state["model"])
    if sharded:
        # DDP must not average rank-local expert slices; train_step rescales their gradients instead.
        model._ddp_params_and_buffers_to_ignore = sharded_names  # read by DistributedDataParallel
    named = dict(model.named_parameters())
    sharded_params = [named[n] for n in sharded_names] if sharded else []

    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    model, optimizer = acc.prepare(model, optimizer)
    unwrapped = acc.unwrap_model(model)
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            if state["ema"] is None:
                raise UserError(f"checkpoint {resume_from} has no EMA weights but train.ema_decay > 0")
            ema.load_state_dict(state["ema"])
        start = state["step"]
        restore_rng_state(state["rng"])
    else:
        set_seed(cfg.seed + rank)  # different flow-matching noise on each process

    stream = BatchStream(dataset, cfg.batch_size, seed=cfg.seed, rank=rank, world_size=world,
                         num_workers=cfg.num_workers, collate_fn=collate_fn,
                         **(_data_position(state, dataset, cfg, world, acc.is_main_process) if state else {}))
    wandb_run = None
    if cfg.wandb and acc.is_main_process:
        wandb_run = start_wandb(cfg.wandb_project, cfg.wandb_mode, out, {**(run_config or {}), "train": dataclasses.asdict(cfg)},
                                resume_id=_wandb_id(out))
    logger = MetricsLogger(out, enabled=acc.is_main_process, resume_step=start if state is not None else None,
                           wandb_run=wandb_run)

    def save(step: int) -> Path | None:
        model_state = _model_state(unwrapped, sharded)  # collective when sharded
        tmp = ckpt.checkpoint_root(out) / f"{ckpt.step_dir_name(step)}.tmp"
        if acc.is_main_process:
            tmp = ckpt.begin_checkpoint(out, step)
            ckpt.write_main_state(tmp, step=step, model_state=model_state,
                                  ema_state=ema.state_dict() if ema is not None else None,
                                  optimizer_state=optimizer.state_dict(), scheduler_state=scheduler.state_dict(),
                                  data_state=stream.state_dict(), world_size=world, batch_size=cfg.batch_size)
            if save_extra is not None:
                save_extra(tmp / PRETRAINED_DIR)
        acc.wait_for_everyone()
        ckpt.write_rank_state(tmp, rank, optimizer.state_dict() if sharded else None)
        acc.wait_for_everyone()
        final = ckpt.finish_checkpoint(out, tmp, step, world) if acc.is_main_process else None
        acc.wait_for_everyone()
        return final

    bar = tqdm(total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True,
               disable=not (cfg.progress and acc.is_main_process))
    window: list[dict[str, float]] = []
    t0, window_t0, last = time.perf_counter(), time.perf_counter(), None
    step = start
    try:
        for step in range(start + 1, cfg.steps + 1):
            micro = [stream.next() for _ in range(cfg.grad_accumulation_steps)]
            if preprocess is not None:
                micro = [preprocess(b) for b in micro]
            metrics = train_step(model, micro, optimizer, scheduler, acc, max_grad_norm=cfg.max_grad_norm,
                                 ema=ema, sharded_params=sharded_params)
            last = metrics
            window.append(metrics)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                samples = len(window) * cfg.batch_size * cfg.grad_accumulation_steps * world
                row = {"step": step, **_window_means(window), "samples_per_s": samples / max(now - window_t0, 1e-9),
                       "epoch": stream.epoch}
                logger.log(row)
                window, window_t0 = [], now
                bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{metrics['lr']:.2e}")
            bar.update(1)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
                save(step)
            if on_step_end is not None:
                on_step_end(step, metrics)
        if step > start:
            save(step)
        pretrained = _export(acc, unwrapped, ema, sharded, out, save_extra)
    finally:
        bar.close()
        logger.close()
        stream.close()
    return {"step": step, "resumed_from": str(resume_from) if resume_from else None,
            "final_loss": last["loss"] if last else None, "seconds": time.perf_counter() - t0,
            "pretrained_dir": str(pretrained), "output_dir": str(out)}


def _data_position(state: dict[str, Any], dataset: Dataset, cfg: TrainConfig, world: int,
                   main: bool) -> dict[str, int]:
    """Where the data order resumes: the checkpoint's own position, or (lerobot-train's checkpoints record none)
    the position this loop's order reaches after the checkpoint's step count."""
    if state["data"] is not None:
        return state["data"]
    per_epoch = EpochBatchSampler.batches_per_epoch(len(dataset), cfg.batch_size, world)  # type: ignore[arg-type]
    epoch, position = divmod(state["step"] * cfg.grad_accumulation_steps, per_epoch)
    if main:
        print(f"the checkpoint records no data position (written by {state['written_by']}): the data order "
              f"continues at epoch {epoch}, batch {position}, as if this loop had run its {state['step']} steps",
              flush=True)
    return {"epoch": epoch, "position": position}


def _export(acc: Accelerator, model: nn.Module, ema: EMA | None, sharded: bool, out: Path,
            save_extra: Callable[[Path], None] | None) -> Path:
    """Write ``out/pretrained_model/`` (weights for inference: EMA if on) atomically; returns its path."""
    from safetensors.torch import save_file

    weights = ema.state_dict() if ema is not None else _model_state(model, sharded)
    final = out / PRETRAINED_DIR
    if acc.is_main_process:
        tmp = out / f"{PRETRAINED_DIR}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_file(ckpt._state_dict_for_save(weights), str(tmp / ckpt.MODEL_FILE))
        if save_extra is not None:
            save_extra(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    acc.wait_for_everyone()
    return final


def _wandb_id(out: Path) -> str | None:
    """A stable wandb run id per output folder, so a resumed run continues the same wandb run."""
    path = out / "wandb_run_id.txt"
    if path.is_file():
        return path.read_text().strip() or None
    import secrets

    from motionvla.utils.atomic import atomic_write_text

    run_id = secrets.token_hex(4)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, run_id + "\n")
    return run_id
