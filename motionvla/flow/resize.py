"""Resampling a flow field to another resolution, with its vectors rescaled (the one implementation)."""

from __future__ import annotations

import cv2
import numpy as np


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
