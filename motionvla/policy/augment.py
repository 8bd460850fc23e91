"""Random-shift image augmentation for training (DrQ, Kostrikov et al. 2020; diffusion policy's crops).

Each training image is padded by ``p`` pixels (edge values repeated) and cropped back to its size at a random
offset, independently per sample and camera. The motion camera's flow targets (``motion``, ``motion_past``,
``(B, K, 2, H, W)`` pixels) move with that camera's image, so the head still forecasts motion where the shifted
image shows it. A pure translation leaves flow vectors unchanged; only where they sit moves.

torchvision's ``RandomCrop(padding=...)`` draws one crop for a whole batch tensor; one offset per sample needs
a gather, done here in one indexing call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from motionvla.keys import MOTION_KEY, MOTION_PAST_KEY


def shift_images(images: Tensor, shifts: Tensor, pad: int) -> Tensor:
    """Translate each sample of ``images (B, C, H, W)`` by ``shifts (B, 2)`` integer pixels ``(dy, dx)``.

    Content moves by ``(dy, dx)`` (positive = down / right); uncovered border pixels repeat the edge.
    ``|shifts| <= pad`` is required. Any leading layout works if flattened to ``(B, C, H, W)`` first.
    """
    if images.ndim != 4:
        raise ValueError(f"shift_images expects (B, C, H, W), got shape {tuple(images.shape)}")
    if shifts.abs().max() > pad:
        raise ValueError(f"shifts must be within ±{pad} pixels, got up to {int(shifts.abs().max())}")
    b, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    rows = torch.arange(h, device=images.device)[None, :] + (pad - shifts[:, 0:1].to(images.device))  # (B, H)
    cols = torch.arange(w, device=images.device)[None, :] + (pad - shifts[:, 1:2].to(images.device))  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_shift_batch(batch: dict, image_keys: list[str], motion_camera: str | None, pad: int,
                       generator: torch.Generator | None = None) -> dict:
    """A copy of ``batch`` with every image in ``image_keys`` shifted by its own random offset in ``[-pad, pad]``.

    The flow targets (if present) take the motion camera's offsets, scaled to their own resolution (rounded:
    exact when the flow's size is the image's, as ``motionvla train``'s cache and the flow step produce).
    """
    if pad <= 0:
        return batch
    out = dict(batch)
    for key in image_keys:
        images = batch[key]
        b = images.shape[0]
        shifts = torch.randint(-pad, pad + 1, (b, 2), generator=generator)
        out[key] = shift_images(images.float(), shifts, pad)
        if key != motion_camera:
            continue
        for flow_key in (MOTION_KEY, MOTION_PAST_KEY):
            flow = batch.get(flow_key)
            if flow is None:
                continue
            size = flow.shape[-1]
            scaled = torch.round(shifts.float() * size / images.shape[-1]).long()
            flat = flow.float().reshape(b, -1, flow.shape[-2], size)
            flow_pad = max(1, int(scaled.abs().max()))
            out[flow_key] = shift_images(flat, scaled, flow_pad).reshape(flow.shape)
    return out
