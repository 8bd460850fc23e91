"""Every random-number generator a training step draws from, as a flat dict of tensors for safetensors.

The keys are lerobot's (``lerobot.utils.random_utils.serialize_rng_state``), so lerobot-train reads our
``training_state/rng_state.safetensors`` and we read its. We write the tensors ourselves rather than call that
function because it drops two things an exact resume needs: Python's cached Gaussian (``random.gauss``) and
numpy's, which it stores as float32. Both go in extra keys (``py_rng_gauss``, ``np_rng_cached_gaussian_f64``)
that lerobot's reader ignores; a file without them (lerobot's) restores as lerobot restores it.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def rng_state_tensors() -> dict[str, torch.Tensor]:
    """This process's Python, numpy and torch (and CUDA, if present) RNG states; safetensors-ready."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    if np_name != "MT19937":
        raise RuntimeError(f"numpy's global generator is {np_name}, not MT19937: its state cannot be saved")
    state = {
        "py_rng_version": torch.tensor([version], dtype=torch.int64),
        "py_rng_state": torch.tensor(py_state, dtype=torch.int64),
        # [has a cached value, the value]; random.getstate() gives None for "no cached value".
        "py_rng_gauss": torch.tensor([0.0 if gauss is None else 1.0, gauss or 0.0], dtype=torch.float64),
        "np_rng_state_values": torch.from_numpy(np_keys.astype(np.int64)),
        "np_rng_state_index": torch.tensor([np_pos], dtype=torch.int64),
        "np_rng_has_gauss": torch.tensor([np_has_gauss], dtype=torch.int64),
        "np_rng_cached_gaussian": torch.tensor([np_gauss], dtype=torch.float32),  # lerobot's (float32)
        "np_rng_cached_gaussian_f64": torch.tensor([np_gauss], dtype=torch.float64),
        "torch_rng_state": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["torch_cuda_rng_state"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set the generators from :func:`rng_state_tensors`'s dict, lerobot's ``rng_state.safetensors`` (the same
    keys, fewer of them) or a checkpoint of the layout before lerobot's (``{"python", "numpy", "torch"}``)."""
    if "python" in state:  # motionvla's checkpoints before the lerobot layout
        version, py_state, gauss = state["python"]
        random.setstate((version, tuple(int(x) for x in py_state.tolist()), gauss))
        np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
        np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        return
    gauss = state.get("py_rng_gauss")
    cached = None if gauss is None or gauss[0].item() == 0.0 else float(gauss[1].item())
    random.setstate((int(state["py_rng_version"].item()), tuple(state["py_rng_state"].tolist()), cached))
    np_gauss = state.get("np_rng_cached_gaussian_f64", state["np_rng_cached_gaussian"])
    np.random.set_state(("MT19937", state["np_rng_state_values"].numpy().astype(np.uint32),
                         int(state["np_rng_state_index"].item()), int(state["np_rng_has_gauss"].item()),
                         float(np_gauss.item())))
    torch.set_rng_state(state["torch_rng_state"])
    if "torch_cuda_rng_state" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["torch_cuda_rng_state"])
