"""Camera-motion removal ("relative optical flow", FOFPred): fit a homography to the background's flow with
RANSAC and subtract the flow it induces, leaving the motion of things that move relative to the scene.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch

MIN_POINTS = 8  # findHomography needs 4; ask for a little more so one bad grid cell cannot dictate the fit


@functools.lru_cache(maxsize=16)
def _pixel_grid(height: int, width: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Read-only pixel coordinates ``(xs, ys)``; cached because every frame pair of a video needs them."""
    ys, xs = np.mgrid[0:height, 0:width].astype(dtype)
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


@functools.lru_cache(maxsize=16)
def _sample_grid(height: int, width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    off = step // 2  # sample cell centres, away from the image's first row/column
    ys, xs = np.mgrid[off:height:step, off:width:step]
    ys, xs = ys.ravel(), xs.ravel()
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def homography_flow(homography: np.ndarray, height: int, width: int, dtype: type = np.float64) -> np.ndarray:
    """The flow ``H(p) - p`` a homography induces on every pixel ``p = (x, y)`` of an ``height x width`` image.

    Returns:
        ``(2, H, W)`` in pixels, x then y, of ``dtype`` (float64 by default; float32 is ~1e-5 px coarser at
        4096 px and twice as fast).
    """
    xs, ys = _pixel_grid(int(height), int(width), dtype)
    h = np.asarray(homography, dtype=np.float64).astype(dtype)
    w = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    u = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / w - xs
    v = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / w - ys
    return np.stack((u, v))


@dataclass(frozen=True)
class CameraFit:
    """A fitted camera motion between two frames.

    Attributes:
        homography: float64 ``(3, 3)``, ``H[2, 2] = 1``, frame-0 pixel coords (x, y, 1) -> frame 1; the
            identity when the fit failed.
        ok: False when the input was degenerate (too few points, failed or folding fit).
        inlier_ratio: share of the sampled points RANSAC kept as background (0 when not ok).
        residual_px: median end-point distance, in pixels, between the inliers' flow and the flow the
            homography predicts for them (how well the camera model explains the background).
        points: how many grid points were used.
    """

    homography: np.ndarray
    ok: bool
    inlier_ratio: float
    residual_px: float
    points: int


def fit_camera_motion(
    flow: np.ndarray | torch.Tensor,
    *,
    mask: np.ndarray | None = None,
    ransac_reproj_threshold: float = 1.0,
    grid_step: int = 4,
) -> CameraFit:
    """Fits the dominant (background) motion of a flow field with a homography and RANSAC.

    Grid points ``p`` (every ``grid_step`` pixels, where ``mask`` allows) are matched to ``p + flow(p)``;
    ``cv2.findHomography(..., cv2.RANSAC, ransac_reproj_threshold)`` treats independently moving objects as
    outliers. A homography is exact for a rotating camera or a planar scene, and a good approximation for the
    small baselines between consecutive video frames.

    Args:
        flow: float ``(2, H, W)``, pixels, x then y (numpy, or a torch tensor, moved to CPU).
        mask: optional bool ``(H, W)``: True where a pixel may be used as background (e.g. not a hand or
            a detected object). None = every pixel is a candidate.
        ransac_reproj_threshold: RANSAC inlier distance in pixels.
        grid_step: sampling stride in pixels (4 -> 1/16 of the pixels, plenty for 8 degrees of freedom).

    Returns:
        A :class:`CameraFit`. Degenerate input -- fewer than 8 usable (finite, unmasked) points, a failed fit,
        or a homography that sends part of the image to infinity (not a camera motion between nearby frames)
        -- gives ``ok=False`` and the identity, without raising, so a batch job can carry on.
    """
    f = _as_flow(flow)
    if grid_step < 1:
        raise ValueError(f"grid_step must be >= 1, got {grid_step}")
    _, height, width = f.shape
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f"mask must be bool (H, W) = {(height, width)}, got shape {mask.shape}")

    ys, xs = _sample_grid(height, width, int(grid_step))
    uv = f[:, ys, xs].T  # (N, 2)
    keep = np.isfinite(uv).all(axis=1)
    if mask is not None:
        keep &= mask[ys, xs]
    points = int(keep.sum())
    failed = CameraFit(np.eye(3, dtype=np.float64), False, 0.0, float("nan"), points)
    if points < MIN_POINTS:
        return failed

    src = np.stack((xs[keep], ys[keep]), axis=1).astype(np.float32)
    dst = src + uv[keep]
    hom, inliers = cv2.findHomography(src, dst, cv2.RANSAC, float(ransac_reproj_threshold))
    if hom is None or not np.isfinite(hom).all() or abs(hom[2, 2]) < 1e-12:
        return failed
    hom = hom / hom[2, 2]
    # The projective denominator must stay positive over the image: where it crosses zero the "camera
    # motion" would fold the image through infinity, which means the fit is garbage (e.g. collinear points).
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float)
    if (corners @ hom[2]).min() <= 1e-6:
        return failed
    inlier = inliers.ravel().astype(bool)
    predicted = cv2.perspectiveTransform(src[inlier][None].astype(np.float64), hom)[0]
    residual = float(np.median(np.linalg.norm(predicted - dst[inlier], axis=1))) if inlier.any() else float("nan")
    return CameraFit(hom, True, float(inlier.mean()), residual, points)


def remove_camera_motion(
    flow: np.ndarray | torch.Tensor,
    *,
    mask: np.ndarray | None = None,
    ransac_reproj_threshold: float = 1.0,
    grid_step: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Removes the camera's motion from a flow field: :func:`fit_camera_motion`, then subtracts the flow the
    fitted homography induces everywhere.

    Args: as :func:`fit_camera_motion`.

    Returns:
        ``(relative_flow, homography)``: float32 ``(2, H, W)`` and float64 ``(3, 3)`` (normalised so
        ``H[2, 2] = 1``), mapping frame-0 pixel coordinates (x, y, 1) to frame 1. Degenerate input returns the
        flow unchanged (as float32) and the identity, without raising; use :func:`fit_camera_motion` for the
        fit's quality (inlier ratio, residual).
    """
    fit = fit_camera_motion(flow, mask=mask, ransac_reproj_threshold=ransac_reproj_threshold, grid_step=grid_step)
    return subtract_camera_motion(flow, fit), fit.homography


def subtract_camera_motion(flow: np.ndarray | torch.Tensor, fit: CameraFit) -> np.ndarray:
    """``flow`` minus the flow ``fit.homography`` induces: float32 ``(2, H, W)`` (a copy when not ``fit.ok``)."""
    f = _as_flow(flow)
    if not fit.ok:
        return f.copy()
    return f - homography_flow(fit.homography, f.shape[1], f.shape[2], np.float32)


def _as_flow(flow: np.ndarray | torch.Tensor) -> np.ndarray:
    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    if f.ndim != 3 or f.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W), got {f.shape}")
    return f.astype(np.float32, copy=False)
