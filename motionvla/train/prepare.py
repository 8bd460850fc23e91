"""``prepare(cfg)``: everything a policy training needs before the loop, settled once.

It opens the dataset once per process (the main process first, so a hub dataset downloads once), fills the policy
config from the dataset's features, takes a forecaster's shapes for the motion head, builds the flow-target cache
and measures the codec scale (main process first; the others read its cache), builds the policy (fresh, seeded, or
fine-tuned from a checkpoint; the motion head seeded from a forecaster) and its processors. ``motionvla train``
only wires this to :func:`motionvla.train.train`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from motionvla.errors import UserError
from motionvla.policy.configuration_motionvla import TINY_BACKBONE, MotionVLAConfig
from motionvla.train.config import LoopRunConfig, OptimizerOptions, RunOptions

QUICKSTART_REPO_ID, QUICKSTART_ROOT = "local/quickstart", "outputs/quickstart/demos"


# The tiny policy's recipe (the quickstart's; docs/experiments/policy_recipe.md): `motionvla train` takes each of
# these for the tiny backbone unless the command line sets it, and the quickstart and `ablate` build on it, so a
# user training the tiny policy on their own demos gets the recipe the quickstart measured.
# Executing 5 of each 10-action chunk: +9.7 points [+6.5, +13.2] over executing all 10 (5 training seeds, 600
# paired episodes on env seeds never used to choose it).
TINY_RECIPE: dict[str, Any] = {"steps": 3000, "batch_size": 32, "policy.optimizer_lr": 1e-3,
                               "policy.scheduler_warmup_steps": 200, "policy.inference_noise_scale": 0.0,
                               "policy.n_action_steps": 5}


def tiny_recipe_train(**overrides: Any) -> LoopRunConfig:
    """The recipe's loop options (the loop's names; its optimizer and schedule are the policy's presets, see
    :func:`tiny_recipe_policy`), with ``overrides`` (e.g. ``log_every``)."""
    recipe = {k.removeprefix("train."): v for k, v in TINY_RECIPE.items() if not k.startswith("policy.")}
    return LoopRunConfig(**{**recipe, **overrides})


# MotionVLAConfig preset -> OptimizerOptions field: the one place the two spellings meet.
POLICY_OPTIMIZER_FIELDS = {"optimizer_lr": "lr", "optimizer_betas": "betas", "optimizer_eps": "eps",
                           "optimizer_weight_decay": "weight_decay", "optimizer_grad_clip_norm": "max_grad_norm",
                           "scheduler_warmup_steps": "warmup_steps", "scheduler_schedule": "schedule",
                           "scheduler_min_lr_ratio": "min_lr_ratio"}


def policy_optimizer_options(policy: MotionVLAConfig) -> OptimizerOptions:
    """The loop's optimizer and schedule from the policy's lerobot presets (what lerobot-train builds too)."""
    return OptimizerOptions(**{ours: getattr(policy, theirs) for theirs, ours in POLICY_OPTIMIZER_FIELDS.items()})


def tiny_recipe_policy(**overrides: Any) -> MotionVLAConfig:
    """The tiny policy's config with the recipe's policy options (the quickstart's and ``ablate``'s default)."""
    recipe = {k.removeprefix("policy."): v for k, v in TINY_RECIPE.items() if k.startswith("policy.")}
    return MotionVLAConfig(**{"device": "cpu", **recipe, **overrides})


def apply_tiny_recipe(cfg: PolicyTrainConfig, explicit: frozenset[str] | None) -> tuple[PolicyTrainConfig, str]:
    """``cfg`` with :data:`TINY_RECIPE` where the command line (``explicit``: its dotted keys) did not set the
    option, for the tiny backbone; and one line saying what was taken ("" when nothing)."""
    if explicit is None or cfg.policy.backbone != TINY_BACKBONE:
        return cfg, ""
    take = {k: v for k, v in TINY_RECIPE.items() if k not in explicit}
    if not take:
        return cfg, ""
    group = lambda prefix: {k.removeprefix(prefix): v for k, v in take.items() if k.startswith(prefix)}  # noqa: E731
    top = {k: v for k, v in take.items() if "." not in k}
    note = ("tiny policy: the quickstart's recipe for what no option set: "
            + " ".join(f"--{k}={v}" for k, v in take.items()))
    return dataclasses.replace(cfg, **top, train=dataclasses.replace(cfg.train, **group("train.")),
                               policy=dataclasses.replace(cfg.policy, **group("policy."))), note


def _tiny_policy() -> MotionVLAConfig:
    return MotionVLAConfig(device="cpu")


@dataclass
class DatasetOptions:
    """lerobot's ``--dataset.*``: which LeRobotDataset v3 to train on."""

    # Its repo id: a hub dataset (e.g. lerobot/libero) or a name for a local folder.
    repo_id: str = QUICKSTART_REPO_ID
    # The dataset folder (with meta/info.json). Empty: lerobot's copy of the hub dataset --dataset.repo_id
    # ($HF_LEROBOT_HOME/<repo_id>, downloaded on first use), or the quickstart's demos for local/quickstart.
    root: str = ""
    # Train on these episodes only: comma-separated indices or ranges ('0:10,30:40'); empty = all.
    episodes: str = ""


@dataclass
class PolicyTrainConfig(RunOptions):
    """Train the motionvla policy on a LeRobotDataset (a local folder or a hub repo id), with lerobot-train's
    option names (--dataset.*, --policy.*, --steps, --batch_size, --output_dir, --save_freq, --log_freq, --seed,
    --resume, --wandb.*, --config_path; --policy.path=CKPT starts from a trained checkpoint). The optimizer and
    schedule are the policy's lerobot presets (--policy.optimizer_lr, --policy.scheduler_warmup_steps, ...), read by
    lerobot-train too; what only our loop has is --train.* (EMA, precision, accumulation)."""

    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    policy: MotionVLAConfig = field(default_factory=_tiny_policy)
    # Dataset observation key -> policy key, e.g. '{"observation.images.agentview": "observation.images.image"}'
    # (lerobot's --rename_map convention; saved in the checkpoint's pre-processor).
    rename_map: dict[str, str] = field(default_factory=dict)
    # Read the whole dataset into memory first (much faster for small datasets on CPU); datasets too big
    # for it (motionvla.train.policy_data.PRELOAD_MAX_BYTES) are read from disk.
    preload: bool = True

    @property
    def init_from(self) -> str:
        """The checkpoint whose weights start the run (``--policy.path``), or ""."""
        return self.policy.pretrained_path or ""

    def optimizer_options(self) -> OptimizerOptions:
        """The policy's presets (``--policy.optimizer_*``, ``--policy.scheduler_*``), as lerobot-train reads them."""
        return policy_optimizer_options(self.policy)

    def optimizer_option(self, name: str) -> str:
        return "--policy." + {ours: theirs for theirs, ours in POLICY_OPTIMIZER_FIELDS.items()}[name]


@dataclass
class Prepared:
    """What :func:`prepare` settled: the resolved config (the policy's with the measured codec scale), the
    training items, the dataset's metadata, the policy and its processors, and lines worth printing."""

    cfg: PolicyTrainConfig
    dataset: Any
    meta: Any
    policy: Any
    preprocessor: Any
    postprocessor: Any
    notes: list[str]


def dataset_location(cfg: PolicyTrainConfig) -> str | None:
    """The dataset folder to read, or None for lerobot's copy of the hub dataset ``cfg.dataset.repo_id``."""
    if cfg.dataset.root:
        return cfg.dataset.root
    if cfg.dataset.repo_id == QUICKSTART_REPO_ID:
        return QUICKSTART_ROOT
    if cfg.dataset.repo_id.startswith("local/"):
        raise UserError(f"--dataset.repo_id={cfg.dataset.repo_id} names a local dataset: give its folder with "
                        "--dataset.root=DIR")
    return None


def _main_first(accelerator: Any, fn):
    """``fn()`` on the main process, then (its files on disk) on the others: one download, one flow cache."""
    if accelerator.is_main_process:
        out = fn(True)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        out = fn(False)
    return out


def prepare(cfg: PolicyTrainConfig, accelerator: Any) -> Prepared:
    """Settle ``cfg`` against its dataset and build what the loop needs (see the module docstring)."""
    from motionvla.train.policy_data import (
        build_policy_for_training,
        configure_from_dataset,
        make_training_dataset,
        open_dataset,
        setup_processors,
    )

    root = dataset_location(cfg)
    meta = _main_first(accelerator, lambda main: open_dataset(root, cfg.dataset.repo_id).meta)
    policy_cfg = configure_from_dataset(cfg.policy, meta, root or cfg.dataset.repo_id, cfg.rename_map)
    notes = []
    if policy_cfg.motion_head_from:
        from motionvla.policy.motion_head_init import adopt_forecaster_shapes

        policy_cfg = adopt_forecaster_shapes(policy_cfg, policy_cfg.motion_head_from)
    episodes = None
    if cfg.dataset.episodes:
        from motionvla.flow_forecast.lerobot_data import parse_episodes

        episodes = sorted(parse_episodes(cfg.dataset.episodes, int(meta.total_episodes)))
        notes.append(f"training on {len(episodes)} of {meta.total_episodes} episodes "
                     f"(--dataset.episodes={cfg.dataset.episodes})")
    dataset, meta, policy_cfg = _main_first(accelerator, lambda main: make_training_dataset(
        root, cfg.dataset.repo_id, policy_cfg, preload=cfg.preload, progress=cfg.train.progress and main, episodes=episodes,
        rename_map=cfg.rename_map))
    cfg = dataclasses.replace(cfg, policy=policy_cfg)
    policy = build_policy_for_training(policy_cfg, cfg.init_from or None, cfg.seed)
    if cfg.init_from:
        notes.append(f"loaded checkpoint {cfg.init_from} (its weights start this run)")
    if policy_cfg.motion_head_from and not cfg.init_from:
        from motionvla.policy.motion_head_init import NOT_TAKEN, load_forecaster_dit

        copied = load_forecaster_dit(policy, policy_cfg.motion_head_from)
        notes.append(f"motion head: {copied} tensors from the forecaster {policy_cfg.motion_head_from}; "
                     f"not taken: {NOT_TAKEN}")
    preprocessor, postprocessor = setup_processors(policy.config, meta, cfg.rename_map)
    return Prepared(cfg, dataset, meta, policy, preprocessor, postprocessor, notes)
