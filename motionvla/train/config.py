"""The training loop's config: one dataclass, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from motionvla.errors import UserError

SCHEDULES = ("cosine", "constant")
MIXED_PRECISION = ("no", "bf16", "fp16")
WANDB_MODES = ("auto", "online", "offline", "disabled")


@dataclass
class TrainConfig:
    """Options of :func:`motionvla.train.train` (shared by the VLA policy and the flow forecaster).

    Distributed training: run the script under ``accelerate launch`` or ``torchrun``; the loop uses
    DDP through accelerate by default (gloo on CPU), or accelerate's FSDP plugin with ``fsdp=True``.
    ``batch_size`` is per process and per micro-batch: one optimizer step sees
    ``batch_size * grad_accumulation_steps * num_processes`` samples.
    """

    steps: int = 1000  # optimizer steps in total (a resumed run continues up to this number)
    batch_size: int = 8  # per process, per micro-batch
    num_workers: int = 0  # DataLoader worker processes
    lr: float = 1e-4
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0  # linear warmup from lr / warmup_steps to lr
    schedule: str = "cosine"  # "cosine" (decays to lr * min_lr_ratio at the last step) or "constant"
    min_lr_ratio: float = 0.0
    grad_accumulation_steps: int = 1
    max_grad_norm: float = 1.0  # <= 0: no clipping (the norm is still logged)
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16", passed to accelerate
    ema_decay: float = 0.0  # 0 = no EMA weights; else e.g. 0.999
    seed: int = 0
    log_every: int = 10  # steps between rows of metrics.jsonl / metrics.csv (window means)
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end
    output_dir: str = "outputs/train"
    resume: bool = False  # continue from output_dir/checkpoints/last (a fresh start if there is none)
    progress: bool = True  # tqdm bar on the main process
    wandb: bool = False  # log to Weights & Biases too (never required)
    wandb_project: str = "motionvla"
    wandb_mode: str = "auto"  # "auto": $WANDB_MODE, else online if logged in, else offline
    fsdp: bool = False  # shard with accelerate's FullyShardedDataParallelPlugin (GPU only; untested here)
    find_unused_parameters: bool = False  # DDP option, for models with branches some steps skip

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        positive = ("steps", "batch_size", "grad_accumulation_steps", "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise UserError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_workers", "warmup_steps", "checkpoint_every"):
            if int(getattr(self, name)) < 0:
                raise UserError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise UserError(
                f"train.mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}"
            )
        if self.wandb_mode not in WANDB_MODES:
            raise UserError(f"train.wandb_mode must be one of {', '.join(WANDB_MODES)}, got {self.wandb_mode!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"train.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise UserError(f"train.betas must be two numbers in [0, 1), got {self.betas}")
        if self.lr <= 0:
            raise UserError(f"train.lr must be > 0, got {self.lr}")
