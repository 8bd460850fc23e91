"""The training loop's config, validated on construction.

:class:`LoopOptions` holds what only our loop has (precision, EMA, accumulation): the ``--train.*`` group of
`motionvla train` and `motionvla forecast train`. :class:`OptimizerOptions` holds the optimizer and schedule: the
forecaster's ``--train.*``, the policy's own lerobot presets for `motionvla train`. :class:`TrainConfig` adds what
lerobot-train also has (steps, batch size, workers, seed, logging and checkpoint frequency, output folder,
resume, wandb), which those commands take under lerobot's names (``--steps``, ``--output_dir``, ...; see
:class:`RunOptions`) and hand to the loop through :meth:`RunOptions.loop_config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from motionvla.errors import UserError
from motionvla.utils.lr_schedule import SCHEDULES

MIXED_PRECISION = ("no", "bf16", "fp16")
WANDB_MODES = ("auto", "online", "offline", "disabled")


def check_counts(obj: object, positive: tuple[str, ...], non_negative: tuple[str, ...], prefix: str) -> None:
    """Refuse a count below its floor, naming it as the user spells it (``prefix`` + field name)."""
    for names, floor in ((positive, 1), (non_negative, 0)):
        for name in names:
            if int(getattr(obj, name)) < floor:
                raise UserError(f"{prefix}{name} must be >= {floor}, got {getattr(obj, name)}")


@dataclass
class OptimizerOptions:
    """AdamW and the learning-rate schedule (:mod:`motionvla.utils.lr_schedule`). The forecaster takes them as
    ``--train.*``; the motionvla policy carries them as its lerobot presets (``--policy.optimizer_*``,
    ``--policy.scheduler_*``), so `motionvla train` and `lerobot-train` read one set."""

    lr: float = 1e-4
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0  # linear warmup from lr / warmup_steps to lr
    schedule: str = "cosine"  # "cosine" (decays to lr * min_lr_ratio at the last step) or "constant"
    min_lr_ratio: float = 0.0
    max_grad_norm: float = 1.0  # <= 0: no clipping (the norm is still logged)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if int(self.warmup_steps) < 0:
            raise UserError(f"train.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise UserError(f"train.betas must be two numbers in [0, 1), got {self.betas}")
        if self.lr <= 0:
            raise UserError(f"train.lr must be > 0, got {self.lr}")


@dataclass
class LoopOptions:
    """Options of our loop that lerobot-train has no name for (``--train.*``)."""

    grad_accumulation_steps: int = 1
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16", passed to accelerate
    ema_decay: float = 0.0  # 0 = no EMA weights; else e.g. 0.999
    progress: bool = True  # tqdm bar on the main process
    fsdp: bool = False  # refused: FSDP checkpoints are not written through accelerate yet (README, "Training")
    find_unused_parameters: bool = False  # DDP option, for models with branches some steps skip

    def __post_init__(self) -> None:
        if int(self.grad_accumulation_steps) < 1:
            raise UserError(f"train.grad_accumulation_steps must be >= 1, got {self.grad_accumulation_steps}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise UserError(
                f"train.mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"train.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if self.fsdp:
            raise UserError("--train.fsdp is not available: FSDP checkpoints are not saved through accelerate's "
                            "save_state yet, so a resumed run would lose its sharded optimizer state; train with "
                            "DDP (the default: accelerate launch --multi_gpu) instead")


@dataclass
class OptimizerLoopOptions(OptimizerOptions, LoopOptions):
    """``--train.*`` of a trainer whose model has no optimizer presets of its own (the forecaster)."""

    def __post_init__(self) -> None:
        OptimizerOptions.__post_init__(self)
        LoopOptions.__post_init__(self)


@dataclass
class LoopRunConfig(LoopOptions):
    """The loop's options but the optimizer's: what a command whose model carries optimizer presets (the policy)
    takes for the loop (e.g. the quickstart's ``--train.*``)."""

    steps: int = 1000  # optimizer steps in total (a resumed run continues up to this number)
    batch_size: int = 8  # per process, per micro-batch
    num_workers: int = 0  # DataLoader worker processes
    seed: int = 0
    log_every: int = 10  # steps between rows of metrics.jsonl / metrics.csv (window means)
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end
    output_dir: str = "outputs/train"
    resume: bool = False  # continue from output_dir/checkpoints/last (a fresh start if there is none)
    wandb: bool = False  # log to Weights & Biases too (never required)
    wandb_project: str = "motionvla"
    wandb_mode: str = "auto"  # "auto": $WANDB_MODE, else online if logged in, else offline

    def __post_init__(self) -> None:
        LoopOptions.__post_init__(self)
        check_counts(self, ("steps", "batch_size", "log_every"), ("num_workers", "checkpoint_every"), "train.")
        if self.wandb_mode not in WANDB_MODES:
            raise UserError(f"train.wandb_mode must be one of {', '.join(WANDB_MODES)}, got {self.wandb_mode!r}")


@dataclass
class TrainConfig(OptimizerOptions, LoopRunConfig):
    """Options of :func:`motionvla.train.train` (shared by the VLA policy and the flow forecaster).

    Distributed training: run the script under ``accelerate launch`` or ``torchrun``; the loop uses DDP through
    accelerate (gloo on CPU). ``batch_size`` is per process and per micro-batch: one optimizer step sees
    ``batch_size * grad_accumulation_steps * num_processes`` samples.
    """

    def __post_init__(self) -> None:
        OptimizerOptions.__post_init__(self)
        LoopRunConfig.__post_init__(self)


@dataclass
class WandbOptions:
    """lerobot's ``--wandb.*``: log to Weights & Biases too (never required)."""

    enable: bool = False
    project: str = "motionvla"
    mode: str = "auto"  # "auto": $WANDB_MODE, else online if logged in, else offline

    def __post_init__(self) -> None:
        if self.mode not in WANDB_MODES:
            raise UserError(f"--wandb.mode must be one of {', '.join(WANDB_MODES)}, got {self.mode!r}")


# lerobot-train's name -> the loop's (TrainConfig) name, for what both have.
LEROBOT_LOOP_NAMES = {"steps": "steps", "batch_size": "batch_size", "num_workers": "num_workers", "seed": "seed",
                      "log_freq": "log_every", "save_freq": "checkpoint_every", "output_dir": "output_dir",
                      "resume": "resume"}


@dataclass
class RunOptions:
    """The options a training command shares with lerobot-train, under lerobot's names, plus our loop's own
    (``--train.*``). A command's config inherits this and gives the loop :meth:`loop_config`."""

    output_dir: str = "outputs/train"
    resume: bool = False  # continue from output_dir/checkpoints/last (a fresh start if there is none)
    seed: int = 0
    steps: int = 1000  # optimizer steps in total (a resumed run continues up to this number)
    batch_size: int = 8  # per process, per micro-batch
    num_workers: int = 0  # DataLoader worker processes
    log_freq: int = 10  # steps between rows of metrics.jsonl / metrics.csv (window means)
    save_freq: int = 0  # steps between checkpoints; 0 = only at the end
    wandb: WandbOptions = field(default_factory=WandbOptions)
    train: LoopOptions = field(default_factory=LoopOptions)
    # (--config_path=FILE replays a saved run's config.json, the command line's options winning: the CLI reads it
    # before parsing, as lerobot's parser does; draccus reserves the name, so it is not a field here.)

    def __post_init__(self) -> None:
        check_counts(self, ("steps", "batch_size", "log_freq"), ("num_workers", "save_freq"), "--")

    def optimizer_options(self) -> OptimizerOptions:
        """Where this command's optimizer and schedule come from: its ``--train.*`` (a subclass whose model has
        presets, the policy's, overrides this)."""
        if not isinstance(self.train, OptimizerOptions):
            raise TypeError(f"{type(self).__name__}.train has no optimizer options: override optimizer_options()")
        return self.train

    def optimizer_option(self, name: str) -> str:
        """The option a user types for the :class:`OptimizerOptions` field ``name``."""
        return f"--train.{name}"

    def warmup_warning(self) -> str:
        """One line when warm-up does not end before the run does ("" otherwise)."""
        optim = self.optimizer_options()
        if optim.warmup_steps < self.steps:
            return ""
        return (f"warning: {self.optimizer_option('warmup_steps')}={optim.warmup_steps} >= --steps={self.steps}: "
                f"the learning rate never reaches {self.optimizer_option('lr')}={optim.lr}")

    def loop_config(self) -> TrainConfig:
        """The loop's config: lerobot-named options + ``train``'s + :meth:`optimizer_options`."""
        loop = {f.name: getattr(self.train, f.name) for f in dataclasses.fields(LoopOptions)}
        optim = self.optimizer_options()
        optimizer = {f.name: getattr(optim, f.name) for f in dataclasses.fields(OptimizerOptions)}
        shared = {ours: getattr(self, theirs) for theirs, ours in LEROBOT_LOOP_NAMES.items()}
        return TrainConfig(**loop, **optimizer, **shared, wandb=self.wandb.enable, wandb_project=self.wandb.project,
                           wandb_mode=self.wandb.mode)

    @staticmethod
    def split_loop(train: LoopRunConfig) -> dict:
        """The keyword arguments of a RunOptions subclass whose optimizer comes from its model's presets (the
        policy's) that :meth:`loop_config` turns back into ``train`` (e.g. the quickstart's loop options)."""
        group = LoopOptions(**{f.name: getattr(train, f.name) for f in dataclasses.fields(LoopOptions)})
        shared = {theirs: getattr(train, ours) for theirs, ours in LEROBOT_LOOP_NAMES.items()}
        return {**shared, "train": group,
                "wandb": WandbOptions(enable=train.wandb, project=train.wandb_project, mode=train.wandb_mode)}


# The old names of `motionvla train` / `forecast train` (before lerobot's): accepted for one release with a note.
def loop_group_spellings(exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """lerobot-train's loop names -> a ``--train.*`` group of :class:`LoopRunConfig` (the quickstart's, the
    ablation's), for the commands whose loop options sit in that group: ``--steps`` there is ``--train.steps``.
    ``exclude``: names the command gives another meaning (the ablation's runs take their seeds from ``--seeds``;
    its ``--output_dir`` is the grid's folder)."""
    names = {theirs: f"train.{ours}" for theirs, ours in LEROBOT_LOOP_NAMES.items() if theirs not in exclude}
    return names | {"wandb.enable": "train.wandb", "wandb.project": "train.wandb_project", "wandb.mode": "train.wandb_mode"}


OLD_LOOP_NAMES = {f"train.{ours}": theirs for theirs, ours in LEROBOT_LOOP_NAMES.items()} | {
    "train.wandb": "wandb.enable", "train.wandb_project": "wandb.project", "train.wandb_mode": "wandb.mode"}
