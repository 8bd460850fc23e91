"""Flow error metrics: end-point error and Barron et al. angular error.

Both take numpy arrays or torch tensors (any device) of shape ``(..., 2, H, W)`` and return a Python float.
They are computed in float64 in torch (numpy inputs are wrapped, not copied) so both kinds give the same
numbers from one implementation.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from motionvla.flow.codec import _as_tensor


def _pair(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, _ = _as_tensor(pred, "pred")
    t, _ = _as_tensor(target, "target")
    if p.ndim < 3 or p.shape[-3] != 2 or p.shape != t.shape:
        raise ValueError(
            f"pred and target must both have shape (..., 2, H, W) and match, got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    return p.to(torch.float64), t.to(device=p.device, dtype=torch.float64)


def _masked_mean(per_pixel: torch.Tensor, mask: np.ndarray | torch.Tensor | None) -> float:
    """Mean of a ``(..., H, W)`` map over the pixels where ``mask`` (broadcastable bool) is True.

    An all-False mask gives NaN (no pixels, no error), like ``numpy.mean`` of an empty selection, rather
    than an exception, so that batch statistics can skip such samples with ``nanmean``.
    """
    if mask is None:
        return float(per_pixel.mean())
    m, _ = _as_tensor(mask, "mask")
    m = m.to(device=per_pixel.device, dtype=torch.bool)
    try:
        m = torch.broadcast_to(m, per_pixel.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mask of shape {tuple(m.shape)} does not broadcast to the per-pixel shape {tuple(per_pixel.shape)}"
        ) from err
    count = int(m.sum())
    if count == 0:
        return math.nan
    return float(per_pixel[m].sum()) / count


def end_point_error(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None = None,
) -> float:
    """Mean end-point error ``mean ||pred - target||_2`` in pixels.

    Args:
        pred, target: flows ``(..., 2, H, W)``, pixels, x then y (numpy or torch; same shape).
        mask: optional bool ``(..., H, W)`` (broadcastable), True where the pixel counts.

    Returns:
        The mean over all (masked) pixels of all batch elements, in pixels; NaN for an all-False mask.
    """
    p, t = _pair(pred, target)
    per_pixel = torch.linalg.vector_norm(p - t, dim=-3)
    return _masked_mean(per_pixel, mask)


def angular_error_map(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Per-pixel angular error in degrees, ``(..., H, W)`` float32 tensor (see :func:`angular_error`)."""
    p, t = _pair(pred, target)
    up, vp = p[..., 0, :, :], p[..., 1, :, :]
    ut, vt = t[..., 0, :, :], t[..., 1, :, :]
    # atan2(|a x b|, a . b) rather than arccos of the normalised dot product: same angle, but accurate
    # for the near-zero angles of good estimates (arccos loses half the digits near 1).
    dot = up * ut + vp * vt + 1.0
    cross = torch.stack((vp - vt, ut - up, up * vt - vp * ut), dim=-1)
    return torch.rad2deg(torch.atan2(torch.linalg.vector_norm(cross, dim=-1), dot))


def angular_error(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None = None,
) -> float:
    """Mean angular error in degrees (Barron, Fleet & Beauchemin 1994).

    The angle between the space-time vectors ``(u_p, v_p, 1)`` and ``(u_t, v_t, 1)``:
    ``arccos((u_p u_t + v_p v_t + 1) / (sqrt(u_p^2 + v_p^2 + 1) sqrt(u_t^2 + v_t^2 + 1)))``.

    Args:
        pred, target: flows ``(..., 2, H, W)`` in pixels (numpy or torch; same shape).
        mask: optional bool ``(..., H, W)`` (broadcastable), True where the pixel counts.

    Returns:
        Mean angle in degrees over the (masked) pixels; NaN for an all-False mask.
    """
    return _masked_mean(angular_error_map(pred, target), mask)
