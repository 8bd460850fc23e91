"""Atomic, resumable training checkpoints.

Layout under ``output_dir/checkpoints/``::

    000010/                  one complete checkpoint (written as 000010.tmp/, then renamed)
        model.safetensors    model weights
        ema.safetensors      EMA weights (when EMA is on)
        training_state.pt    optimizer, scheduler, step, data order (epoch, position)
        rng_state_<rank>.pt  python / numpy / torch RNG states of each process
        optimizer_<rank>.pt  each process's optimizer state, only when ranks hold different (expert) slices
        meta.json            step, world size, the files above; written last
        (whatever save_fn(model, dir) writes: config.json, normalization stats...)
    last                     pointer file holding the newest complete checkpoint's name

Everything loads with ``torch.load(weights_only=True)`` or safetensors: no arbitrary pickle.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from motionvla.errors import CheckpointError, UserError
from motionvla.utils.atomic import atomic_write_json, atomic_write_text

MODEL_FILE, EMA_FILE, STATE_FILE, META_FILE, LAST_FILE = (
    "model.safetensors", "ema.safetensors", "training_state.pt", "meta.json", "last")


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def step_dir_name(step: int) -> str:
    return f"{step:06d}"


def rng_file(rank: int) -> str:
    return f"rng_state_{rank}.pt"


# --- RNG states as tensors / lists (weights_only-loadable) ---------------------------------------

def get_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (and CUDA, if present) RNG states as tensors and plain lists."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, torch.tensor(py_state, dtype=torch.int64), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in py_state.tolist()), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- saving --------------------------------------------------------------------------------------

def _state_dict_for_save(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage; cloning makes each tensor its own.
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def begin_checkpoint(output_dir: str | Path, step: int) -> Path:
    """Create an empty ``<step>.tmp/`` (removing a leftover one). Main process only."""
    tmp = checkpoint_root(output_dir) / f"{step_dir_name(step)}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def optimizer_file(rank: int) -> str:
    return f"optimizer_{rank}.pt"


def write_rank_state(tmp: Path, rank: int, optimizer_state: dict[str, Any] | None = None) -> None:
    """Every process writes its own RNG states into the temporary checkpoint folder, and its own
    optimizer state when it differs between ranks (expert-parallel slices)."""
    torch.save(get_rng_state(), tmp / rng_file(rank))
    if optimizer_state is not None:
        torch.save(optimizer_state, tmp / optimizer_file(rank))


def write_main_state(tmp: Path, *, step: int, model_state: dict[str, torch.Tensor],
                     ema_state: dict[str, torch.Tensor] | None, optimizer_state: dict[str, Any],
                     scheduler_state: dict[str, Any], data_state: dict[str, int]) -> None:
    """Weights and training state, written by the main process into the temporary folder."""
    save_file(_state_dict_for_save(model_state), str(tmp / MODEL_FILE))
    if ema_state is not None:
        save_file(_state_dict_for_save(ema_state), str(tmp / EMA_FILE))
    torch.save({"step": step, "optimizer": optimizer_state, "scheduler": scheduler_state, "data": data_state},
               tmp / STATE_FILE)


def finish_checkpoint(output_dir: str | Path, tmp: Path, step: int, world_size: int) -> Path:
    """Write meta.json, rename ``<step>.tmp/`` to ``<step>/`` and point ``last`` at it. Main process only."""
    files = sorted(p.name for p in tmp.iterdir() if p.is_file())
    missing = [rng_file(r) for r in range(world_size) if rng_file(r) not in files]
    if missing:
        raise RuntimeError(f"checkpoint {tmp} lacks {missing}: not all processes wrote their RNG state")
    atomic_write_json(tmp / META_FILE, {"step": step, "world_size": world_size, "files": files})
    final = checkpoint_root(output_dir) / step_dir_name(step)
    if final.exists():  # a checkpoint of the same step from an earlier attempt: replace it
        shutil.rmtree(final)
    tmp.rename(final)
    atomic_write_text(checkpoint_root(output_dir) / LAST_FILE, final.name + "\n")
    return final


# --- finding and loading -------------------------------------------------------------------------

def find_last_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint ``last`` points to; without a pointer, the newest ``<step>/`` folder (``.tmp``
    folders are never considered). None if there is no checkpoint at all."""
    root = checkpoint_root(output_dir)
    pointer = root / LAST_FILE
    if pointer.is_file():
        name = pointer.read_text().strip()
        if not name.isdigit():
            raise CheckpointError(f"{pointer} should hold a checkpoint folder name like 000010, got {name!r}")
        return root / name
    steps = sorted((p for p in root.glob("*") if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    return steps[-1] if steps else None


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

    Returns ``{"step", "model", "ema" (or None), "optimizer", "scheduler", "data", "rng", "world_size"}``.

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
    try:
        meta = json.loads((path / META_FILE).read_text())
    except FileNotFoundError:
        raise refuse(f"no {META_FILE} (incomplete write)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise refuse(f"{META_FILE} is not valid JSON ({exc})") from None
    absent = [f for f in meta.get("files", []) if not (path / f).is_file()]
    for required in (MODEL_FILE, STATE_FILE, rng_file(0)):
        if required not in meta.get("files", []) and required not in absent:
            absent.append(required)
    if absent:
        raise refuse(f"missing {', '.join(absent)}")
    try:
        model = load_file(str(path / MODEL_FILE))
        ema = load_file(str(path / EMA_FILE)) if EMA_FILE in meta["files"] else None
        state = torch.load(path / STATE_FILE, weights_only=True, map_location="cpu")
        own = path / rng_file(rank)
        rng = torch.load(own if own.is_file() else path / rng_file(0), weights_only=True)
        own_optimizer = path / optimizer_file(rank)
        if own_optimizer.is_file():
            state["optimizer"] = torch.load(own_optimizer, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a corrupt file
        raise refuse(f"a file does not load ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if state.get("step") != meta.get("step"):
        raise refuse(f"{STATE_FILE} is for step {state.get('step')} but {META_FILE} says {meta.get('step')}")
    return {"step": int(meta["step"]), "model": model, "ema": ema, "optimizer": state["optimizer"],
            "scheduler": state["scheduler"], "data": state["data"], "rng": rng,
            "world_size": int(meta.get("world_size", 1))}
