"""Camera-motion removal ("relative optical flow", FOFPred): fit a homography to the background's flow with
RANSAC and subtract the flow it induces, leaving the motion of things that move relative to the scene.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

MIN_POINTS = 8  # findHomography needs 4; ask for a little more so one bad grid cell cannot dictate the fit


def homography_flow(homography: np.ndarray, height: int, width: int) -> np.ndarray:
    """The flow ``H(p) - p`` a homography induces on every pixel ``p = (x, y)`` of an ``height x width`` image.

    Returns:
        float64 ``(2, H, W)`` in pixels, x then y.
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    h = np.asarray(homography, dtype=np.float64)
    w = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    u = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / w - xs
    v = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / w - ys
    return np.stack((u, v))


def remove_camera_motion(
    flow: np.ndarray | torch.Tensor,
    *,
    mask: np.ndarray | None = None,
    ransac_reproj_threshold: float = 1.0,
    grid_step: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Removes the camera's motion from a flow field.

    Grid points ``p`` (every ``grid_step`` pixels, where ``mask`` allows) are matched to ``p + flow(p)``;
    ``cv2.findHomography(..., cv2.RANSAC, ransac_reproj_threshold)`` fits the dominant (background) motion,
    treating independently moving objects as outliers, and its induced flow ``H(p) - p`` is subtracted
    everywhere. A homography is exact for a rotating camera or a planar scene, and a good approximation
    for the small baselines between consecutive video frames.

    Args:
        flow: float ``(2, H, W)``, pixels, x then y (numpy, or a torch tensor, moved to CPU).
        mask: optional bool ``(H, W)``: True where a pixel may be used as background (e.g. not a hand or
            a detected object). None = every pixel is a candidate.
        ransac_reproj_threshold: RANSAC inlier distance in pixels.
        grid_step: sampling stride in pixels (4 -> 1/16 of the pixels, plenty for 8 degrees of freedom).

    Returns:
        ``(relative_flow, homography)``: float32 ``(2, H, W)`` and float64 ``(3, 3)`` (normalised so
        ``H[2, 2] = 1``), mapping frame-0 pixel coordinates (x, y, 1) to frame 1.

        Degenerate input -- fewer than 8 usable (finite, unmasked) points, a failed fit, or a homography
        that sends part of the image to infinity (not a camera motion between nearby frames) -- returns the
        flow unchanged (as float32) and the identity, without raising, so a batch job can carry on; compare
        the homography with ``np.eye(3)`` to detect it.
    """
    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    if f.ndim != 3 or f.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W), got {f.shape}")
    if grid_step < 1:
        raise ValueError(f"grid_step must be >= 1, got {grid_step}")
    f = f.astype(np.float32, copy=False)
    _, height, width = f.shape
    identity = np.eye(3, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f"mask must be bool (H, W) = {(height, width)}, got shape {mask.shape}")

    off = grid_step // 2  # sample cell centres, away from the image's first row/column
    ys, xs = np.mgrid[off:height:grid_step, off:width:grid_step]
    ys, xs = ys.ravel(), xs.ravel()
    uv = f[:, ys, xs].T  # (N, 2)
    keep = np.isfinite(uv).all(axis=1)
    if mask is not None:
        keep &= mask[ys, xs]
    if keep.sum() < MIN_POINTS:
        return f.copy(), identity

    src = np.stack((xs[keep], ys[keep]), axis=1).astype(np.float32)
    dst = src + uv[keep]
    hom, _inliers = cv2.findHomography(src, dst, cv2.RANSAC, float(ransac_reproj_threshold))
    if hom is None or not np.isfinite(hom).all() or abs(hom[2, 2]) < 1e-12:
        return f.copy(), identity
    hom = hom / hom[2, 2]
    # The projective denominator must stay positive over the image: where it crosses zero the "camera
    # motion" would fold the image through infinity, which means the fit is garbage (e.g. collinear points).
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float)
    if (corners @ hom[2]).min() <= 1e-6:
        return f.copy(), identity
    relative = f - homography_flow(hom, height, width)
    return relative.astype(np.float32), hom
