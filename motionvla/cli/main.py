"""The ``motionvla`` command: one entry point, one subcommand per job.

Every subcommand is a module with a config dataclass ``Config`` and a function ``run(cfg)``. Modules
are imported lazily so ``motionvla --help`` stays fast and heavy optional dependencies stay optional.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import typing
from typing import Any

from motionvla.configs import apply_aliases, config_fields, parse_config
from motionvla.configs.parsing import saved_config_options
from motionvla.errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "record-demos": ("motionvla.cli.record_demos", "Record scripted-expert episodes into a LeRobotDataset v3."),
    "quickstart": ("motionvla.cli.quickstart", "The end-to-end demo behind `make demo`: record, train, evaluate, report."),
    "moe-bench": ("motionvla.cli.moe_bench", "Measure EP vs LLEP MoE dispatch on N gloo processes (load, time, memory, exactness)."),
    "train": ("motionvla.cli.train", "Train the dual-head policy on a LeRobotDataset (accelerate; 1..N processes; exact resume)."),
    "ablate": ("motionvla.cli.ablate", "Action-only vs dual-head with equal budgets over N seeds: mean ± std success per task."),
    "eval": ("motionvla.cli.eval", "Roll a policy (expert, random or a checkpoint) out in sim tasks; success rates, videos."),
    "describe-policy": ("motionvla.cli.describe_policy", "Build a policy preset on the meta device and print its parameter counts."),
    "serve": ("motionvla.cli.serve", "Serve a checkpoint to robots over websocket (openpi's protocol; /healthz; token off loopback)."),
    "moe-sim": ("motionvla.cli.moe_sim", "Predict EP vs LLEP layer latency and memory at scale from the planner's real output."),
    "synth-videos": ("motionvla.cli.synth_videos", "Write synthetic captioned videos (MP4 + WebM) with their ground-truth optical flow."),
    "prep": ("motionvla.cli.prep", "Captioned videos -> relative optical flow -> WebDataset shards, every input accounted for."),
    "push": ("motionvla.cli.push", "Upload a policy checkpoint to the Hugging Face Hub with a model card (lerobot's tags)."),
    "forecast train": ("motionvla.cli.forecast_train", "Train a future-flow forecaster on prep shards (accelerate; exact resume)."),
    "forecast eval": ("motionvla.cli.forecast_eval", "Forecast error vs non-learned baselines and shuffled captions, per horizon."),
    "forecast predict": ("motionvla.cli.forecast_predict", "Draw a forecaster's predicted motion for an image and a prompt."),
    "forecast describe": ("motionvla.cli.forecast_describe", "Build a forecaster preset on the meta device; parameter counts per part."),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: motionvla COMMAND [--key=value ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`motionvla COMMAND --help` lists a command's options and their defaults."]
    return "\n".join(lines)


def _command_help(name: str, config_cls: type, spellings: dict[str, str] | None = None) -> str:
    defaults = config_cls()
    shown = {ours: theirs for theirs, ours in (spellings or {}).items()}  # lerobot's name where it has one
    lines = [f"usage: motionvla {name} [--key=value ...]", "", COMMANDS[name][1], "", "options:"]
    for key, field_type in config_fields(config_cls).items():
        if dataclasses.is_dataclass(field_type):
            continue
        value = defaults
        for part in key.split("."):
            value = getattr(value, part)
        type_name = getattr(field_type, "__name__", None) or str(field_type).replace("typing.", "")
        lines.append(f"  --{key}={value!s}  ({type_name})" + (f"  [lerobot name: --{shown[key]}]" if key in shown
                                                                     else ""))
    doc = typing.cast(str, config_cls.__doc__ or "").strip()
    if doc and not doc.startswith(config_cls.__name__ + "("):
        lines += ["", doc]
    return "\n".join(lines)


def _key(option: str) -> str:
    return option[2:].partition("=")[0].replace("-", "_") if option.startswith("--") else ""


def _resolve_options(module: Any, options: list[str]) -> tuple[list[str], list[str]]:
    """Old names renamed (with notes), lerobot's spellings (``--policy.path``) rewritten, and a ``--config_path``
    file's options put before the command line's (which win)."""
    aliases, spellings = getattr(module, "ALIASES", {}), getattr(module, "SPELLINGS", {})
    options, notes = apply_aliases(options, aliases)
    fixed = getattr(module, "FIXED_OPTIONS", {})  # e.g. lerobot's --policy.type=motionvla: the only value taken
    for option in (o for o in options if _key(o) in fixed):
        value, (expected, otherwise) = option.partition("=")[2], fixed[_key(option)]
        if value != expected:
            raise UserError(f"--{_key(option)}={value}: only {expected} is accepted here; {otherwise}")
    options = [o for o in options if _key(o) not in fixed]
    typed = {_key(o) for o in options}
    for theirs, ours in spellings.items():  # one option under both of its names: which one was meant is unclear
        if theirs in typed and ours in typed:
            raise UserError(f"--{theirs} and --{ours} name the same option: give it once, as --{theirs}")
    options = [f"--{spellings[_key(o)]}{o[2 + len(_key(o)):]}" if _key(o) in spellings else o for o in options]
    saved = [o.partition("=")[2] for o in options if _key(o) == "config_path"]
    if saved and hasattr(module, "REPLAY_SKIP"):  # commands that replay a saved config.json
        options = [o for o in options if _key(o) != "config_path"]
        given = frozenset(_key(o) for o in options)
        replay, replay_notes = saved_config_options(saved[-1], module.Config, aliases, spellings,
                                                    skip=module.REPLAY_SKIP, given=given)
        options, notes = replay + options, notes + replay_notes
    return options, notes


def main(argv: list[str] | None = None) -> int:
    """Run ``motionvla COMMAND [options]``; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, options = argv[0], argv[1:]
    if name == "forecast" and options and not options[0].startswith("-"):  # two-word commands
        name, options = f"{name} {options[0]}", options[1:]
    if name not in COMMANDS:
        print(f"motionvla: unknown command {name!r}; accepted: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    if any(opt in ("-h", "--help") for opt in options):
        print(_command_help(name, module.Config, getattr(module, "SPELLINGS", None)))
        return 0
    positional = getattr(module, "POSITIONAL", ())  # `motionvla push CKPT REPO_ID`: bare leading arguments
    bare = 0
    while bare < min(len(positional), len(options)) and not options[bare].startswith("-"):
        bare += 1
    options = [f"--{name}={value}" for name, value in zip(positional, options[:bare])] + options[bare:]
    try:
        options, notes = _resolve_options(module, options)
        for note in notes:
            print(f"motionvla {name}: {note}", file=sys.stderr)
        cfg = parse_config(module.Config, options)
        module.run(cfg)
    except UserError as exc:
        print(f"motionvla {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"motionvla {name}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
