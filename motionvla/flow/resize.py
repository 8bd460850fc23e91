"""Resampling a flow field to another resolution, with its vectors rescaled (numpy with OpenCV for data prep,
torch for batches), and future flow as the stacked motion images a motion DiT generates."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from motionvla.flow.codec import flow_to_motion_image_float


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample flow ``(..., 2, H, W)`` to ``(..., 2, height, width)``, rescaling the vectors.

    Area averaging (cv2.INTER_AREA) when shrinking, so each target pixel is the mean motion of the
    source pixels it covers; x is scaled by ``width / W`` and y by ``height / H`` so the vectors are
    in pixels of the new resolution.
    """
    flow = np.asarray(flow, dtype=np.float32)
    *lead, two, src_h, src_w = flow.shape
    if two != 2:
        raise ValueError(f"flow must have shape (..., 2, H, W), got {flow.shape}")
    if (src_h, src_w) == (height, width):
        return flow.copy()
    flat = flow.reshape(-1, 2, src_h, src_w)
    shrinking = height <= src_h and width <= src_w
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = np.empty((flat.shape[0], 2, height, width), dtype=np.float32)
    for n, f in enumerate(flat):
        hw2 = cv2.resize(np.ascontiguousarray(f.transpose(1, 2, 0)), (width, height), interpolation=interp)
        out[n] = hw2.transpose(2, 0, 1)
    out[:, 0] *= width / src_w
    out[:, 1] *= height / src_h
    return out.reshape(*lead, 2, height, width)


def resize_flows(flow: Tensor, size: int) -> Tensor:
    """``(B, N, 2, H, W)`` -> ``(B, N, 2, size, size)``, vectors rescaled with the image (x by size/W, y by
    size/H); area averaging when shrinking, bilinear when growing."""
    b, n, _, h, w = flow.shape
    if n == 0:
        return flow.new_zeros(b, 0, 2, size, size)
    x = flow.float().reshape(b * n, 2, h, w)
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="area" if h >= size else "bilinear")
        x = x * torch.tensor([size / w, size / h], device=x.device, dtype=x.dtype).view(1, 2, 1, 1)
    return x.reshape(b, n, 2, size, size)


def motion_targets(flow: Tensor, resolution: int, max_magnitude: float) -> Tensor:
    """Future flow → stacked motion images in [0, 1].

    Args:
        flow: ``(B, K, 2, H, W)`` float, pixels at the input resolution, x then y.
        resolution: r, the motion resolution; vectors are rescaled with the image (x by r/W, y by r/H).
        max_magnitude: the codec's fixed scale in pixels *at resolution r*.

    Returns:
        ``(B, 3K, r, r)`` float32 in [0, 1].
    """
    if flow.dim() != 5 or flow.shape[2] != 2:
        raise ValueError(f"motion flow must be (B, K, 2, H, W), got {tuple(flow.shape)}")
    b, k = flow.shape[:2]
    x = resize_flows(flow, resolution).reshape(b * k, 2, resolution, resolution)
    img = flow_to_motion_image_float(x, max_magnitude)  # (B·K, 3, r, r)
    return img.reshape(b, 3 * k, resolution, resolution)
