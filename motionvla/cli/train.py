"""`motionvla train`: train the dual-head policy on a LeRobotDataset v3 (tabletop demos, a benchmark's
dataset such as LIBERO's, or any dataset with camera images, state, action and a task per frame).

Single process: ``motionvla train --dataset.root=...`` (a local folder) or ``motionvla train
--dataset.repo_id=lerobot/libero`` (a hub dataset: lerobot downloads it to ``$HF_LEROBOT_HOME/<repo_id>`` on first
use). The options are lerobot-train's where both have one (``--steps``, ``--batch_size``, ``--output_dir``,
``--policy.path``, ...); the names this command used before still work for one release, with a note. Many: ``accelerate launch --multi_gpu --num_processes N -m motionvla.cli.train ...`` or ``torchrun
--nproc_per_node N -m motionvla.cli.train ...`` (DDP; gloo on CPU). Everything before the loop is
:func:`motionvla.train.prepare.prepare`; this module only wires it to the loop.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from motionvla.configs import format_config, save_config
from motionvla.configs.parsing import given_keys
from motionvla.errors import UserError
from motionvla.reports.model_card import COMMAND_FILE
from motionvla.train.config import OLD_LOOP_NAMES
from motionvla.utils.atomic import atomic_write_text
from motionvla.train.prepare import (
    POLICY_OPTIMIZER_FIELDS,
    QUICKSTART_REPO_ID,
    QUICKSTART_ROOT,
    PolicyTrainConfig,
    apply_tiny_recipe,
    dataset_location,
)

__all__ = ["ALIASES", "FLOW_ALIASES", "SPELLINGS", "Config", "QUICKSTART_REPO_ID", "QUICKSTART_ROOT", "dataset_location", "run"]

Config = PolicyTrainConfig

# Old names -> new (a note each; refused when given with the new name too). The flow targets' options were a
# `--flow.*` group that silently overrode the policy's own; the loop's and the dataset's took lerobot's names.
FLOW_ALIASES = {"flow.stride": "policy.flow_stride", "flow.method": "policy.flow_method",
                "flow.camera": ("policy.motion_camera", lambda v: v if v.startswith("observation.images.")
                                or v in ("", '""') else f"observation.images.{v}")}
ALIASES = {**FLOW_ALIASES, "repo_id": "dataset.repo_id", "dataset_root": "dataset.root", "episodes": "dataset.episodes",
           "init_from": "policy.path", **OLD_LOOP_NAMES,
           # the optimizer and schedule are the policy's lerobot presets now (one source for both trainers)
           **{f"train.{ours}": f"policy.{theirs}" for theirs, ours in POLICY_OPTIMIZER_FIELDS.items()}}

# lerobot's spelling of a field that its parser handles itself: rewritten without a note.
SPELLINGS = {"policy.path": "policy.pretrained_path"}

# lerobot-train's --policy.type: a habitual lerobot command line names it; this command trains one type.
FIXED_OPTIONS = {"policy.type": ("motionvla", "train other lerobot policies with lerobot-train")}

# `--config_path` replays a saved config.json but not what the dataset settles again (its features).
REPLAY_SKIP = ("policy.input_features", "policy.output_features")

# Options the policy config carries for lerobot-train that this trainer does not read: refused, never ignored.
NOT_HONOURED = {"policy.use_amp": "--train.mixed_precision=bf16", "policy.use_peft": None}


def refuse_not_honoured(keys: frozenset[str] | None) -> None:
    """One line naming a given option this trainer would ignore, and what to use instead."""
    for key in sorted(set(keys or ()) & set(NOT_HONOURED)):
        instead = NOT_HONOURED[key]
        hint = f"; use {instead}" if instead else ""
        raise UserError(f"--{key} is read by lerobot-train only; `motionvla train` would ignore it{hint}")


def _command_line(cfg: Config) -> str:
    """``motionvla train`` with the options the command line gave (for the model card); "" for a config built in
    code."""
    keys = given_keys(cfg)
    if keys is None:
        return ""

    def value(key: str) -> Any:
        obj = cfg
        for name in key.split("."):
            obj = getattr(obj, name)
        return obj

    typed = {new: old for old, new in SPELLINGS.items()}  # --policy.path, as the user typed it
    return " ".join(["motionvla train", *(shlex.quote(f"--{typed.get(k, k)}={value(k)}") for k in sorted(keys))])


def refuse_single_process_expert_parallel(cfg: Config) -> None:
    """``ep`` / ``llep`` spread the experts over the processes of a launch; a single process has none to spread them
    over (and no process group), so say how to launch before any data is read instead of failing in the model build.
    ``WORLD_SIZE`` is what ``torchrun`` and ``accelerate launch`` set for every process they start."""
    moe = cfg.policy.moe
    if moe.num_experts and moe.dispatcher != "local" and int(os.environ.get("WORLD_SIZE", "1")) < 2:
        raise UserError(f"--policy.moe.dispatcher={moe.dispatcher} spreads the {moe.num_experts} experts over several "
                        "processes, and this is one: launch it with `accelerate launch --multi_gpu --num_processes N -m "
                        "motionvla.cli.train ...` or `torchrun --nproc_per_node N -m motionvla.cli.train ...`, or keep "
                        "every expert in this process with --policy.moe.dispatcher=local")


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.train.checkpoint import refuse_taken_output

    refuse_not_honoured(given_keys(cfg))
    refuse_taken_output(cfg.output_dir, cfg.resume)  # before the dataset is opened
    refuse_single_process_expert_parallel(cfg)
    # after the checks above, so that a mistake is answered at once: the model and data modules import
    # transformers, diffusers and lerobot's policies (seconds)
    from motionvla.train import make_accelerator, train
    from motionvla.train.lerobot_config import lerobot_train_config
    from motionvla.train.policy_data import make_preprocess, make_save_extra
    from motionvla.train.prepare import prepare

    command = _command_line(cfg)  # before any dataclasses.replace, which drops the record of given options
    cfg, recipe_note = apply_tiny_recipe(cfg, given_keys(cfg))
    if cfg.policy.push_to_hub and not cfg.policy.repo_id:
        raise UserError("--policy.push_to_hub=true needs --policy.repo_id=OWNER/NAME (where to upload the policy)")
    loop = cfg.loop_config()
    accelerator = make_accelerator(loop)
    ready = prepare(cfg, accelerator)
    cfg, policy = ready.cfg, ready.policy
    main = accelerator.is_main_process
    if main:
        print(format_config(cfg))
        for note in ([recipe_note] if recipe_note else []) + ready.notes + [cfg.warmup_warning()]:
            if note:
                print(note)
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.output_dir)
        if command:
            atomic_write_text(Path(cfg.output_dir) / COMMAND_FILE, command + "\n")
    summary = train(policy, ready.dataset, loop, preprocess=make_preprocess(ready.preprocessor),
                    save_extra=make_save_extra(policy.config, ready.preprocessor, ready.postprocessor,
                                               lerobot_train_config(cfg, ready.meta.total_episodes)),
                    accelerator=accelerator, run_config={"policy": dataclasses.asdict(policy.config)})
    if main:
        final = summary.get("final_loss")  # None when a resumed run had nothing left to train
        loss = f", final loss {final:.4f}" if final is not None else " (nothing left to train: resumed at the end)"
        print(f"trained {summary['step']} steps in {summary['seconds']:.0f} s{loss}")
        print(f"policy: {summary['pretrained_dir']}  (evaluate: motionvla eval --policy={summary['pretrained_dir']})")
        if cfg.policy.push_to_hub:
            from motionvla.cli import push

            push.run(push.Config(checkpoint=summary["pretrained_dir"], repo_id=cfg.policy.repo_id,
                                 private=bool(cfg.policy.private)))
    return summary


if __name__ == "__main__":  # torchrun / accelerate launch -m motionvla.cli.train
    from motionvla.cli.main import main as cli_main

    sys.exit(cli_main(["train", *sys.argv[1:]]))
