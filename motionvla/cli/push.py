"""`motionvla push CHECKPOINT REPO_ID`: upload a trained policy to the Hugging Face Hub with a model card.

The checkpoint folder's files (``config.json``, ``model.safetensors``, the processors) and a ``README.md`` model
card (motionvla.reports.model_card: lerobot's tags, the training command, the success table of ``--eval``, the
``--figures``) go up in one commit through ``huggingface_hub`` (log in first: ``hf auth login``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motionvla.errors import UserError

# `motionvla push CKPT REPO_ID`: the leading bare arguments fill these options, in order.
POSITIONAL = ("checkpoint", "repo_id")


@dataclass
class Config:
    """Upload a policy checkpoint (a pretrained_model folder or a training run folder) to the Hub."""

    checkpoint: str = ""
    repo_id: str = ""  # owner/name on the Hub
    # An eval_info.json of `motionvla eval` (its success table goes into the card).
    eval: str = ""
    # Comma-separated pictures to upload beside the card and show in it (e.g. the motion head's figure).
    figures: str = ""
    private: bool = False
    commit_message: str = "Upload policy trained with motionvla"


def push_operations(checkpoint: str | Path, card_text: str, figures: list[str] = ()) -> list[Any]:
    """``huggingface_hub.CommitOperationAdd`` for every file of the checkpoint folder, the figures (by file name)
    and the card (``README.md``): what one commit uploads."""
    from huggingface_hub import CommitOperationAdd

    folder = Path(checkpoint)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "README.md")
    ops = [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in files]
    for figure in figures:
        if not Path(figure).is_file():
            raise UserError(f"--figures: no such file {figure}")
        ops.append(CommitOperationAdd(path_in_repo=Path(figure).name, path_or_fileobj=str(figure)))
    ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card_text.encode()))
    return ops


def prepare(cfg: Config) -> tuple[Path, Any, list[Any]]:
    """Checks the options and builds (checkpoint folder, card, operations) without touching the network."""
    from motionvla.inference.checkpoint import resolve_checkpoint_dir
    from motionvla.reports.model_card import model_card
    from motionvla.utils.hub import HUB_ID

    if not cfg.checkpoint or not cfg.repo_id:
        raise UserError("usage: motionvla push CHECKPOINT REPO_ID (a checkpoint folder and an owner/name Hub id)")
    if not HUB_ID.match(cfg.repo_id) or "@" in cfg.repo_id:
        raise UserError(f"REPO_ID={cfg.repo_id!r}: expected owner/name (letters, digits, '-', '_', '.')")
    folder = resolve_checkpoint_dir(cfg.checkpoint, "--checkpoint")
    figures = [f for f in cfg.figures.split(",") if f]
    card = model_card(folder, cfg.repo_id, eval_info=cfg.eval, figures=[Path(f).name for f in figures])
    return folder, card, push_operations(folder, str(card), figures)


def run(cfg: Config) -> dict[str, Any]:
    from huggingface_hub import HfApi

    folder, _, ops = prepare(cfg)
    api = HfApi()
    api.create_repo(cfg.repo_id, private=cfg.private, exist_ok=True)
    info = api.create_commit(cfg.repo_id, ops, commit_message=cfg.commit_message)
    print(f"uploaded {len(ops)} files of {folder} to https://huggingface.co/{cfg.repo_id} ({info.oid[:8]})")
    return {"repo_id": cfg.repo_id, "files": [op.path_in_repo for op in ops]}
