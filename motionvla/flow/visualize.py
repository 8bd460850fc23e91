"""Pictures of flow for reports: frames above their motion images, and a colour-wheel legend (numpy only)."""

from __future__ import annotations

import numpy as np
import torch

from motionvla.flow.codec import flow_to_motion_image

_EMPTY = 96  # grey for empty cells: white would read as "zero motion", black as a dark frame


def _to_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _frames_hwc(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) or (T, 3, H, W) uint8 (or float in [0, 1]) -> (T, H, W, 3) uint8."""
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or 3 not in (frames.shape[1], frames.shape[-1]):
        raise ValueError(f"frames must be (T, H, W, 3) or (T, 3, H, W), got {frames.shape}")
    if frames.shape[-1] != 3:  # channel-first, as in flow samples
        frames = frames.transpose(0, 2, 3, 1)
    if frames.dtype != np.uint8:
        frames = np.clip(np.rint(frames.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return frames


def motion_strip(
    frames: np.ndarray | torch.Tensor,
    flows: np.ndarray | torch.Tensor,
    max_magnitude: float,
    gap: int = 2,
) -> np.ndarray:
    """A two-row image: the frames on top, the motion images of the flows below, left-aligned.

    Args:
        frames: ``(T, H, W, 3)`` or ``(T, 3, H, W)``, uint8 (or float in [0, 1]); numpy or torch.
        flows: float ``(K, 2, H', W')`` in pixels (K need not equal T: e.g. T-1 consecutive flows, or K
            forecast future flows).
        max_magnitude: the motion-image scale ``M`` (pixels); print it with the figure.
        gap: grey pixels between cells.

    Returns:
        uint8 ``(2 * h + gap, n * w + (n - 1) * gap, 3)`` with ``h, w`` the largest tile size and
        ``n = max(T, K)``; cells without content are grey.
    """
    tiles_top = _frames_hwc(_to_numpy(frames))
    fl = _to_numpy(flows)
    if fl.ndim == 3:
        fl = fl[None]
    if fl.ndim != 4 or fl.shape[1] != 2:
        raise ValueError(f"flows must be (K, 2, H, W), got {fl.shape}")
    tiles_bottom = flow_to_motion_image(np.asarray(fl, dtype=np.float32), max_magnitude).transpose(0, 2, 3, 1)
    h = max(tiles_top.shape[1], tiles_bottom.shape[1])
    w = max(tiles_top.shape[2], tiles_bottom.shape[2])
    n = max(len(tiles_top), len(tiles_bottom))
    out = np.full((2 * h + gap, n * w + (n - 1) * gap, 3), _EMPTY, dtype=np.uint8)
    for row, tiles in enumerate((tiles_top, tiles_bottom)):
        for i, tile in enumerate(tiles):
            y, x = row * (h + gap), i * (w + gap)
            out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return out


def color_wheel(size: int = 64, max_magnitude: float = 1.0) -> np.ndarray:
    """Legend of the motion-image colours: pixel (x, y) shows the flow pointing from the centre to it.

    The disc's rim is flow of length ``max_magnitude`` (full saturation); the centre is zero motion
    (white); outside the disc is grey. +x (right) is red, +y (down, image convention) is chartreuse.

    Returns:
        uint8 ``(size, size, 3)``.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    c = (size - 1) / 2.0
    radius = max(size / 2.0, 1e-9)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.stack(((xs - c) / radius, (ys - c) / radius)) * np.float32(max_magnitude)
    img = flow_to_motion_image(flow, max_magnitude).transpose(1, 2, 0).copy()
    outside = np.hypot(xs - c, ys - c) > radius
    img[outside] = _EMPTY
    return img
