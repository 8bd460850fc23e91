"""Atomic, resumable training checkpoints in lerobot-train's layout, so lerobot's tools and ours read each other's.

Layout under ``output_dir/checkpoints/`` (lerobot's names from ``lerobot.utils.constants``)::

    000010/                          one complete checkpoint (written as 000010.tmp/, then renamed)
        pretrained_model/            a loadable model: model.safetensors (the training weights) + what
                                     save_fn(model, dir) writes (config.json, processors, train_config.json)
        training_state/              lerobot's files:
            training_step.json           {"step", "num_processes", "batch_size"}
            optimizer_state.safetensors  the optimizer's state, flattened; optimizer_param_groups.json beside it
            scheduler_state.json
            rng_state.safetensors        rank 0's RNG states (lerobot's keys + two it drops, see rng_state.py)
                                     and ours, which lerobot ignores:
            rng_state_<rank>.safetensors each further process's RNG states
            data_state.json              the data order's position (epoch, batches consumed)
            ema.safetensors              EMA weights (when EMA is on)
            optimizer_rank<rank>/        each process's optimizer state, when ranks hold different (expert) slices
        meta.json                    step, world size, every file above; written last (lerobot ignores it)
    last -> 000010                   relative symlink to the newest complete checkpoint

Read back: our checkpoints, lerobot-train's (no data position, no meta.json: the data order continues from the
step count) and the layout before this one (flat files, a ``last`` text file). Everything loads with safetensors,
JSON or ``torch.load(weights_only=True)``: no arbitrary pickle.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lerobot.utils.constants import (
    LAST_CHECKPOINT_LINK,
    OPTIMIZER_PARAM_GROUPS,
    OPTIMIZER_STATE,
    PRETRAINED_MODEL_DIR,
    RNG_STATE,
    SCHEDULER_STATE,
    TRAINING_STATE_DIR,
    TRAINING_STEP,
)
from lerobot.optim.optimizers import load_optimizer_state_dict as lerobot_load_optimizer_state_dict
from lerobot.utils.utils import flatten_dict
from safetensors.torch import load_file, save_file

from motionvla.errors import CheckpointError, UserError
from motionvla.train.rng_state import rng_state_tensors
from motionvla.utils.atomic import atomic_write_json

MODEL_FILE, EMA_FILE, META_FILE, DATA_STATE = "model.safetensors", "ema.safetensors", "meta.json", "data_state.json"
LAST_FILE = LAST_CHECKPOINT_LINK
# The layout before lerobot's: everything flat in the step folder, training state in one torch file.
LEGACY_STATE_FILE = "training_state.pt"


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def step_dir_name(step: int) -> str:
    return f"{step:06d}"


def rng_file(rank: int) -> str:
    """Rank 0's file is lerobot's ``rng_state.safetensors``; the others' are ours."""
    return RNG_STATE if rank == 0 else f"rng_state_{rank}.safetensors"


def rank_optimizer_dir(rank: int) -> str:
    return f"optimizer_rank{rank}"


def _state_dict_for_save(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage; cloning makes each tensor its own.
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


# --- the optimizer's state in lerobot's files -----------------------------------------------------

def save_optimizer_state_dict(state: dict[str, Any], folder: Path) -> None:
    """``optimizer.state_dict()`` as lerobot's ``save_optimizer_state`` writes it (tensors flattened into
    safetensors, param groups as JSON); written here from the dict because a checkpoint also holds per-rank
    slices that no optimizer object on this process owns."""
    state = dict(state)
    groups = state.pop("param_groups")
    folder.mkdir(parents=True, exist_ok=True)
    save_file(_state_dict_for_save(flatten_dict(state)), str(folder / OPTIMIZER_STATE))
    atomic_write_json(folder / OPTIMIZER_PARAM_GROUPS, groups)


def load_optimizer_state_dict(folder: Path) -> dict[str, Any]:
    """The dict ``optimizer.load_state_dict`` takes, from :func:`save_optimizer_state_dict`'s (or lerobot's)
    files, read by lerobot's own reader; parameter ids back to ints, JSON lists in the groups (betas) to tuples."""
    raw = lerobot_load_optimizer_state_dict(folder)
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
              for g in raw["param_groups"]]
    return {"state": {int(k): v for k, v in raw["state"].items()}, "param_groups": groups}


# --- saving --------------------------------------------------------------------------------------

def begin_checkpoint(output_dir: str | Path, step: int) -> Path:
    """Create an empty ``<step>.tmp/`` with its two sub-folders (removing a leftover one). Main process only."""
    tmp = checkpoint_root(output_dir) / f"{step_dir_name(step)}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / PRETRAINED_MODEL_DIR).mkdir(parents=True)
    (tmp / TRAINING_STATE_DIR).mkdir()
    return tmp


def write_rank_state(tmp: Path, rank: int, optimizer_state: dict[str, Any] | None = None) -> None:
    """Every process writes its own RNG states into the temporary checkpoint folder, and its own
    optimizer state when it differs between ranks (expert-parallel slices)."""
    state_dir = tmp / TRAINING_STATE_DIR
    save_file(rng_state_tensors(), str(state_dir / rng_file(rank)))
    if optimizer_state is not None:
        save_optimizer_state_dict(optimizer_state, state_dir / rank_optimizer_dir(rank))


def write_main_state(tmp: Path, *, step: int, model_state: dict[str, torch.Tensor],
                     ema_state: dict[str, torch.Tensor] | None, optimizer_state: dict[str, Any],
                     scheduler_state: dict[str, Any], data_state: dict[str, int], world_size: int = 1,
                     batch_size: int | None = None) -> None:
    """Weights and training state, written by the main process into the temporary folder."""
    save_file(_state_dict_for_save(model_state), str(tmp / PRETRAINED_MODEL_DIR / MODEL_FILE))
    state_dir = tmp / TRAINING_STATE_DIR
    step_info: dict[str, int] = {"step": step, "num_processes": world_size}
    if batch_size is not None:
        step_info["batch_size"] = batch_size
    atomic_write_json(state_dir / TRAINING_STEP, step_info)
    save_optimizer_state_dict(optimizer_state, state_dir)
    atomic_write_json(state_dir / SCHEDULER_STATE, scheduler_state)
    atomic_write_json(state_dir / DATA_STATE, data_state)
    if ema_state is not None:
        save_file(_state_dict_for_save(ema_state), str(state_dir / EMA_FILE))


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def point_last_at(root: Path, name: str) -> None:
    """``root/last`` -> ``name``, a relative symlink as lerobot makes it, replaced atomically (a symlink made
    beside it, then renamed over it; an old ``last`` text file is replaced the same way)."""
    tmp = root / f"{LAST_FILE}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(name)
    last = root / LAST_FILE
    if last.is_dir() and not last.is_symlink():  # a copy that followed the link (shutil.copytree's default)
        shutil.rmtree(last)
    os.replace(tmp, last)


def finish_checkpoint(output_dir: str | Path, tmp: Path, step: int, world_size: int) -> Path:
    """Write meta.json, rename ``<step>.tmp/`` to ``<step>/`` and point ``last`` at it. Main process only."""
    files = _files(tmp)
    missing = [f"{TRAINING_STATE_DIR}/{rng_file(r)}" for r in range(world_size)
               if f"{TRAINING_STATE_DIR}/{rng_file(r)}" not in files]
    if missing:
        raise RuntimeError(f"checkpoint {tmp} lacks {missing}: not all processes wrote their RNG state")
    atomic_write_json(tmp / META_FILE, {"step": step, "world_size": world_size, "files": files})
    root = checkpoint_root(output_dir)
    final = root / step_dir_name(step)
    if final.exists():  # a checkpoint of the same step from an earlier attempt: replace it
        shutil.rmtree(final)
    tmp.rename(final)
    point_last_at(root, final.name)
    return final


# --- finding and loading -------------------------------------------------------------------------

def find_last_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint ``last`` points to (a symlink, or the text file of the layout before lerobot's); without
    one, the newest ``<step>/`` folder (``.tmp`` folders are never considered). None if there is none."""
    root = checkpoint_root(output_dir)
    pointer = root / LAST_FILE
    if pointer.is_symlink():
        name = Path(os.readlink(pointer)).name
    elif pointer.is_file():
        name = pointer.read_text().strip()
    else:
        steps = sorted((p for p in root.glob("*") if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
        return steps[-1] if steps else None
    if not name.isdigit():
        raise CheckpointError(f"{pointer} should point to a checkpoint folder like 000010, got {name!r}")
    return root / name


def has_checkpoints(output_dir: str | Path) -> bool:
    root = checkpoint_root(output_dir)
    return root.is_dir() and any(p.is_dir() and p.name.isdigit() for p in root.iterdir())


def refuse_taken_output(output_dir: str | Path, resume: bool, folder_option: str = "--output_dir") -> None:
    """Refuse an output folder that holds another run's checkpoints unless resuming: called before any data is
    loaded, so the mistake costs nothing. ``folder_option`` is the option the user typed for the folder."""
    if not resume and has_checkpoints(output_dir):
        raise UserError(f"{output_dir} already holds a run's checkpoints: pass --resume=true to continue it, "
                        f"or give another {folder_option} (or delete the folder to start over)")


def load_checkpoint(path: str | Path, rank: int = 0) -> dict[str, Any]:
    """Read a whole checkpoint into memory, or refuse it; nothing is applied here.

    Returns ``{"step", "model", "ema" (or None), "optimizer", "scheduler", "data" (None for lerobot-train's),
    "rng", "world_size" (None when not recorded), "batch_size" (None when not recorded), "written_by"}``;
    ``written_by`` is "motionvla", "lerobot" or "motionvla (old layout)".

    Raises:
        CheckpointError: the folder is missing, incomplete (no meta.json, a listed file absent) or a file
            does not load; the message names the folder and what was wrong.
    """
    path = Path(path)
    hint = "delete it (and fix checkpoints/last) to resume from an earlier one, or start with resume=False"

    def refuse(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path} is unusable: {what}; {hint}")

    if not path.is_dir():
        raise refuse("folder not found")
    state_dir = path / TRAINING_STATE_DIR
    if not state_dir.is_dir():
        return _load_legacy(path, rank, refuse)
    meta = _read_meta(path, refuse) if (path / META_FILE).exists() else None
    required = [f"{PRETRAINED_MODEL_DIR}/{MODEL_FILE}"] + [
        f"{TRAINING_STATE_DIR}/{f}" for f in (TRAINING_STEP, OPTIMIZER_STATE, OPTIMIZER_PARAM_GROUPS, SCHEDULER_STATE,
                                              RNG_STATE)]
    listed = meta["files"] if meta is not None else []
    absent = [f for f in dict.fromkeys(required + listed) if not (path / f).is_file()]
    if absent:
        raise refuse(f"missing {', '.join(absent)}")
    try:
        step_info = json.loads((state_dir / TRAINING_STEP).read_text())
        own_optimizer = state_dir / rank_optimizer_dir(rank)
        loaded = {
            "model": load_file(str(path / PRETRAINED_MODEL_DIR / MODEL_FILE)),
            "ema": load_file(str(state_dir / EMA_FILE)) if (state_dir / EMA_FILE).is_file() else None,
            "optimizer": load_optimizer_state_dict(own_optimizer if own_optimizer.is_dir() else state_dir),
            "scheduler": json.loads((state_dir / SCHEDULER_STATE).read_text()),
            "data": json.loads((state_dir / DATA_STATE).read_text()) if (state_dir / DATA_STATE).is_file() else None,
            "rng": load_file(str(state_dir / (rng_file(rank) if (state_dir / rng_file(rank)).is_file()
                                              else RNG_STATE))),
        }
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a corrupt file
        raise refuse(_first_line(exc)) from None
    if meta is not None and step_info.get("step") != meta.get("step"):
        raise refuse(f"{TRAINING_STEP} is for step {step_info.get('step')} but {META_FILE} says {meta.get('step')}")
    world = step_info.get("num_processes", meta.get("world_size") if meta else None)
    return {**loaded, "step": int(step_info["step"]), "world_size": None if world is None else int(world),
            "batch_size": step_info.get("batch_size"), "written_by": "motionvla" if meta is not None else "lerobot"}


def _first_line(exc: Exception) -> str:
    return f"a file does not load ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def _read_meta(path: Path, refuse) -> dict[str, Any]:
    try:
        return json.loads((path / META_FILE).read_text())
    except FileNotFoundError:
        raise refuse(f"no {META_FILE} (incomplete write)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise refuse(f"{META_FILE} is not valid JSON ({exc})") from None


def _load_legacy(path: Path, rank: int, refuse) -> dict[str, Any]:
    """A checkpoint of the layout before lerobot's (model.safetensors, training_state.pt, rng_state_<rank>.pt and
    meta.json side by side)."""
    meta = _read_meta(path, refuse)
    absent = [f for f in meta.get("files", []) if not (path / f).is_file()]
    for required in (MODEL_FILE, LEGACY_STATE_FILE, "rng_state_0.pt"):
        if required not in meta.get("files", []) and required not in absent:
            absent.append(required)
    if absent:
        raise refuse(f"missing {', '.join(absent)}")
    try:
        model = load_file(str(path / MODEL_FILE))
        ema = load_file(str(path / EMA_FILE)) if EMA_FILE in meta["files"] else None
        state = torch.load(path / LEGACY_STATE_FILE, weights_only=True, map_location="cpu")
        own = path / f"rng_state_{rank}.pt"
        rng = torch.load(own if own.is_file() else path / "rng_state_0.pt", weights_only=True)
        own_optimizer = path / f"optimizer_{rank}.pt"
        if own_optimizer.is_file():
            state["optimizer"] = torch.load(own_optimizer, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a corrupt file
        raise refuse(_first_line(exc)) from None
    if state.get("step") != meta.get("step"):
        raise refuse(f"{LEGACY_STATE_FILE} is for step {state.get('step')} but {META_FILE} says {meta.get('step')}")
    return {"step": int(meta["step"]), "model": model, "ema": ema, "optimizer": state["optimizer"],
            "scheduler": state["scheduler"], "data": state["data"], "rng": rng,
            "world_size": int(meta.get("world_size", 1)), "batch_size": None, "written_by": "motionvla (old layout)"}
