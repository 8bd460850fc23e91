"""RAFT (torchvision) from a local weights file, and batched inference on uint8 RGB frames.

Weights are never downloaded: the model is built with ``weights=None`` and its state dict is read from a
file the user gives (``.safetensors`` via safetensors, ``.pth``/``.pt`` via ``torch.load(weights_only=True)``).
To get a file on a machine with network access, e.g.::

    from torchvision.models.optical_flow import raft_large, Raft_Large_Weights
    from safetensors.torch import save_file
    save_file(raft_large(weights=Raft_Large_Weights.DEFAULT).state_dict(), "raft_large.safetensors")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from motionvla.flow.errors import FlowConfigError

RAFT_VARIANTS = ("large", "small")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")
MIN_RAFT_SIZE = 128  # smallest input side torchvision's RAFT accepts (16 px feature maps at 1/8 scale)


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    # Training checkpoints often wrap the weights; accept the two usual wrappings and DDP's "module." prefix.
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise FlowConfigError(f"RAFT weights file {path} does not hold a state dict (got {type(state).__name__})")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def load_raft(
    weights: str | Path | None, variant: str = "large", device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Builds torchvision's ``raft_large``/``raft_small`` with ``weights=None`` and loads a local state dict.

    Args:
        weights: path to a ``.safetensors``, ``.pth`` or ``.pt`` file holding the model's state dict.
        variant: ``"large"`` or ``"small"``; must match the file.
        device: where to put the model.

    Returns:
        The model in eval mode on ``device``.

    Raises:
        FlowConfigError (a ValueError): no path, missing file, unknown suffix or variant, or mismatched keys.
    """
    if weights is None:
        raise FlowConfigError(
            "RAFT needs a local weights file (raft_weights=path to .safetensors/.pth/.pt): weights cannot be "
            "downloaded here, so save torchvision's RAFT state dict to a file on a networked machine first"
        )
    if variant not in RAFT_VARIANTS:
        raise FlowConfigError(f"raft_variant must be one of {RAFT_VARIANTS}, got {variant!r}")
    path = Path(weights).expanduser()
    if path.suffix not in WEIGHT_SUFFIXES:
        raise FlowConfigError(f"RAFT weights must be a {'/'.join(WEIGHT_SUFFIXES)} file, got {path.name!r}")
    if not path.is_file():
        raise FlowConfigError(f"RAFT weights file not found: {path}")

    from torchvision.models.optical_flow import raft_large, raft_small

    model = (raft_large if variant == "large" else raft_small)(weights=None, progress=False)
    state = _read_state_dict(path)
    missing = sorted(set(model.state_dict()) - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise FlowConfigError(
            f"{path.name} is not a raft_{variant} state dict ({len(missing)} missing keys, e.g. "
            f"{missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]}); check raft_variant"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # same keys, wrong shapes
        detail = " ".join(str(err).split())[:300]
        raise FlowConfigError(f"{path.name} does not fit raft_{variant}: {detail}") from err
    return model.eval().to(device)


def _pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pads (B, C, H, W) so H and W are multiples of ``multiple`` (RAFT works at 1/8 resolution).

    Padding is split between both sides, as in RAFT's own ``InputPadder``; returns the top/left offsets.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    top, left = ph // 2, pw // 2
    if ph or pw:
        x = F.pad(x, (left, pw - left, top, ph - top), mode="replicate")
    return x, (top, left)


def _to_model_input(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    # (B, H, W, 3) uint8 -> (B, 3, H, W) float in [-1, 1], the normalisation of torchvision's
    # OpticalFlow preset (what the released RAFT weights were trained with).
    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    return t / 127.5 - 1.0


@torch.inference_mode()
def raft_flow(
    model: torch.nn.Module,
    frames0: np.ndarray,
    frames1: np.ndarray,
    num_flow_updates: int = 6,
    batch_size: int = 8,
) -> np.ndarray:
    """Flow from ``frames0[i]`` to ``frames1[i]`` with a loaded RAFT model.

    Args:
        model: from :func:`load_raft`.
        frames0, frames1: uint8 RGB ``(B, H, W, 3)``.
        num_flow_updates: recurrent refinement steps (6, as in FOFPred's precursor; torchvision's default is 12).
        batch_size: pairs per forward pass, to bound memory on long sequences.

    Returns:
        float32 ``(B, 2, H, W)`` flow in pixels, x then y. Inputs are replicate-padded to multiples of 8
        and cropped back; sides under 128 px are upsampled first (RAFT's minimum) and the flow rescaled.
    """
    device = next(model.parameters()).device
    out = []
    for start in range(0, frames0.shape[0], batch_size):
        a = _to_model_input(frames0[start : start + batch_size], device)
        b = _to_model_input(frames1[start : start + batch_size], device)
        flow = _raft_padded(model, a, b, num_flow_updates)
        out.append(flow.float().cpu())
    return torch.cat(out).numpy()


def _raft_padded(model: torch.nn.Module, a: torch.Tensor, b: torch.Tensor, num_flow_updates: int) -> torch.Tensor:
    """RAFT on (B, 3, H, W) inputs of any size >= 1 px; returns (B, 2, H, W)."""
    h, w = a.shape[-2:]
    # torchvision's correlation pyramid needs feature maps >= 16 px, i.e. inputs >= 128 px. Smaller frames
    # are upsampled (keeping the aspect ratio) rather than padded: a mostly-padding input would leave
    # little real texture to match. The flow is resized back and its vectors rescaled to input pixels.
    scale = max(1.0, MIN_RAFT_SIZE / min(h, w))
    if scale > 1.0:
        size = (max(MIN_RAFT_SIZE, round(h * scale)), max(MIN_RAFT_SIZE, round(w * scale)))
        a = F.interpolate(a, size=size, mode="bilinear", align_corners=False, antialias=False)
        b = F.interpolate(b, size=size, mode="bilinear", align_corners=False, antialias=False)
    sh, sw = a.shape[-2:]
    a, (top, left) = _pad_to_multiple(a)
    b, _ = _pad_to_multiple(b)
    flow = model(a, b, num_flow_updates=num_flow_updates)[-1]  # list of iterates; the last is the best
    flow = flow[..., top : top + sh, left : left + sw]
    if scale > 1.0:
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        flow = flow * torch.tensor([w / sw, h / sh], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return flow
