"""The model card (the Hub's README.md) of a trained policy: what it is, how it was trained, how well it does.

Built with ``huggingface_hub.ModelCard`` / ``ModelCardData``, whose YAML header the Hub reads; the tags are
lerobot's (``lerobot``, ``robotics``, the policy type), so the model is listed beside lerobot's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from motionvla.errors import UserError
from motionvla.reports.policy_report import success_table

COMMAND_FILE = "command.txt"  # the training command line, written by `motionvla train` into the run folder


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def model_card(checkpoint: str | Path, repo_id: str, *, eval_info: str | Path = "", figures: list[str] = (),
               notes: str = "") -> Any:
    """A ``huggingface_hub.ModelCard`` for the policy in ``checkpoint`` (a ``pretrained_model`` folder).

    Reads the policy's ``config.json``; from the run folder above it (if any) the training config and command;
    ``eval_info``: an ``eval_info.json`` of ``motionvla eval`` for the success table; ``figures``: pictures
    (paths relative to the repository, uploaded beside the card) shown under "Motion head".
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(checkpoint)
    config = _read_json(folder / "config.json")
    if config is None:
        raise UserError(f"{folder}: no readable config.json (not a policy checkpoint folder)")
    policy_type = str(config.get("type", "motionvla"))
    run_dir = folder.parent
    run_config = _read_json(run_dir / "config.json") or {}
    command = (run_dir / COMMAND_FILE).read_text().strip() if (run_dir / COMMAND_FILE).is_file() else ""
    # The run's config.json in either layout: lerobot's names (dataset.repo_id, steps, batch_size, seed at the top;
    # the optimizer and schedule in the policy's presets) or the layout before them (repo_id, dataset_root, train.*).
    data_options = run_config.get("dataset") if isinstance(run_config.get("dataset"), dict) else {}
    dataset = str(data_options.get("repo_id") or run_config.get("repo_id", ""))
    dataset_root = data_options.get("root") or run_config.get("dataset_root")
    data = ModelCardData(library_name="lerobot", pipeline_tag="robotics", license="apache-2.0",
                         tags=["lerobot", "robotics", "motionvla", policy_type],
                         datasets=[dataset] if dataset and not dataset.startswith("local/") else None)
    train = dict(run_config.get("train", {}))
    if "steps" in run_config:  # lerobot's layout
        train.update(steps=run_config["steps"], batch_size=run_config.get("batch_size"), seed=run_config.get("seed"),
                     lr=config.get("optimizer_lr"), warmup_steps=config.get("scheduler_warmup_steps"),
                     schedule=config.get("scheduler_schedule"))
    parts = [f"# {repo_id.split('/')[-1]}", "",
             f"A `{policy_type}` policy trained with motionvla: a VLA with "
             "an action head (flow matching over action chunks) and a training-only motion head that forecasts "
             "optical flow. Acting uses the backbone and the action head only.", ""]
    if notes:
        parts += [notes, ""]
    parts += ["## Use it", "", "```bash", f"motionvla eval --policy={repo_id} --env=tabletop",
              f"motionvla serve --checkpoint={repo_id}   # openpi's wire format, for a robot-side client", "```", "",
              "With lerobot: `lerobot-eval --policy.path=" + repo_id + "` (after `pip install motionvla`, which "
              "registers the policy type).", ""]
    parts += ["## Training", ""]
    if dataset:
        parts.append(f"- dataset: `{dataset}`" + (f" (`{dataset_root}`)" if dataset_root else ""))
    if "steps" in train:
        parts.append(f"- {train.get('steps')} steps × batch {train.get('batch_size')}, lr {train.get('lr')}, "
                     f"{train.get('warmup_steps')} warm-up steps, {train.get('schedule')} schedule, seed {train.get('seed')}")
    for key in ("backbone", "chunk_size", "n_action_steps", "motion_weight", "image_size"):
        if key in config:
            parts.append(f"- `{key}`: {config[key]}")
    if command:
        parts += ["", "```bash", command, "```"]
    parts.append("")
    if eval_info:
        info = _read_json(Path(eval_info))
        if info is None:
            raise UserError(f"--eval={eval_info}: not a readable eval_info.json")
        parts += ["## Results", "", success_table({"success": info}), ""]
    if figures:
        parts += ["## Motion head", ""] + [f"![{Path(f).stem.replace('_', ' ')}]({f})" for f in figures] + [""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(parts))
