"""Optical-flow estimation between RGB frames: OpenCV DIS (CPU default), Farneback, or torchvision RAFT.

All methods return float32 flow ``(2, H, W)`` in pixels, x then y, from ``frame0`` to ``frame1``
(``frame1[y + v, x + u] ~ frame0[y, x]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from motionvla.flow.errors import FlowConfigError

METHODS = ("dis", "farneback", "raft")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# OpenCV's documented example settings (samples/python/opt_flow.py); any of them can be overridden.
FARNEBACK_DEFAULTS: dict[str, Any] = dict(
    pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
)


def _as_frames(x: Any, name: str, ndim: int) -> np.ndarray:
    """Checks uint8 RGB frames, channel-last: ``(H, W, 3)`` (ndim 3) or ``(T, H, W, 3)`` (ndim 4)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    elif isinstance(x, Sequence) and ndim == 4 and len(x) and isinstance(x[0], np.ndarray):
        x = np.stack(x)
    expected = "(H, W, 3)" if ndim == 3 else "(T, H, W, 3)"
    if not isinstance(x, np.ndarray):
        raise FlowConfigError(f"{name} must be a uint8 RGB numpy array {expected}, got {type(x).__name__}")
    if x.dtype != np.uint8:
        raise FlowConfigError(f"{name} must be uint8 RGB {expected}, got dtype {x.dtype}")
    if x.ndim != ndim or x.shape[-1] != 3 or x.shape[-3] < 2 or x.shape[-2] < 2:
        raise FlowConfigError(f"{name} must have shape {expected} (RGB, channel-last), got {x.shape}")
    return x


class FlowEstimator:
    """Holds an OpenCV flow object or a loaded RAFT model, so that repeated calls are cheap.

    Args:
        method: ``"dis"`` (cv2.DISOpticalFlow; fast CPU default), ``"farneback"`` or ``"raft"``.
        raft_weights: local ``.safetensors``/``.pth``/``.pt`` state dict; required for RAFT (no downloads).
        raft_variant: ``"large"`` or ``"small"``.
        num_flow_updates: RAFT refinement iterations.
        device: torch device for RAFT.
        dis_preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        dis_params: optional DIS setters, e.g. ``{"FinestScale": 1}`` calls ``setFinestScale(1)``.
        farneback_params: overrides of :data:`FARNEBACK_DEFAULTS` (cv2.calcOpticalFlowFarneback's arguments).
        raft_batch_size: frame pairs per RAFT forward pass in :meth:`estimate_sequence`.

    Raises:
        FlowConfigError (a ValueError): unknown method/preset/parameter or unusable RAFT weights.
    """

    def __init__(
        self,
        method: str = "dis",
        *,
        raft_weights: str | Path | None = None,
        raft_variant: str = "large",
        num_flow_updates: int = 6,
        device: str | torch.device = "cpu",
        dis_preset: str = "medium",
        dis_params: Mapping[str, Any] | None = None,
        farneback_params: Mapping[str, Any] | None = None,
        raft_batch_size: int = 8,
    ) -> None:
        if method not in METHODS:
            raise FlowConfigError(f"unknown flow method {method!r}; accepted methods: {', '.join(METHODS)}")
        self.method = method
        self.num_flow_updates = int(num_flow_updates)
        self.raft_batch_size = int(raft_batch_size)
        if method == "dis":
            if dis_preset not in DIS_PRESETS:
                raise FlowConfigError(f"dis_preset must be one of {', '.join(DIS_PRESETS)}, got {dis_preset!r}")
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[dis_preset])
            for key, value in (dis_params or {}).items():
                setter = getattr(self._dis, f"set{key}", None)
                if setter is None:
                    raise FlowConfigError(f"cv2.DISOpticalFlow has no parameter {key!r} (no set{key} method)")
                setter(value)
        elif method == "farneback":
            unknown = set(farneback_params or {}) - set(FARNEBACK_DEFAULTS)
            if unknown:
                raise FlowConfigError(
                    f"unknown farneback_params {sorted(unknown)}; accepted: {', '.join(FARNEBACK_DEFAULTS)}"
                )
            self._farneback = {**FARNEBACK_DEFAULTS, **(farneback_params or {})}
        else:
            from motionvla.flow.raft import load_raft  # torchvision's model zoo only when RAFT is asked for

            if self.num_flow_updates < 1:
                raise FlowConfigError(f"num_flow_updates must be >= 1, got {num_flow_updates}")
            self._raft = load_raft(raft_weights, raft_variant, device)

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)

    def _cv_pair(self, gray0: np.ndarray, gray1: np.ndarray) -> np.ndarray:
        try:
            if self.method == "dis":
                flow = self._dis.calc(gray0, gray1, None)
            else:
                flow = cv2.calcOpticalFlowFarneback(gray0, gray1, None, **self._farneback)
        except cv2.error as err:  # e.g. DIS needs a side >= its patch size; keep OpenCV's reason, one line
            reason = " ".join(str(err).split("error:")[-1].split())
            raise FlowConfigError(f"{self.method} failed on frames of shape {gray0.shape}: {reason}") from err
        return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)  # (H, W, 2) -> (2, H, W)

    def __call__(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        """Flow from ``frame0`` to ``frame1``.

        Args:
            frame0, frame1: uint8 RGB ``(H, W, 3)`` of the same shape (numpy, or a torch tensor).

        Returns:
            float32 ``(2, H, W)``, pixels, x then y.
        """
        f0 = _as_frames(frame0, "frame0", 3)
        f1 = _as_frames(frame1, "frame1", 3)
        if f0.shape != f1.shape:
            raise FlowConfigError(f"frame0 and frame1 must have the same shape, got {f0.shape} and {f1.shape}")
        if self.method == "raft":
            from motionvla.flow.raft import raft_flow

            return raft_flow(self._raft, f0[None], f1[None], self.num_flow_updates)[0]
        return self._cv_pair(self._gray(f0), self._gray(f1))

    def estimate_sequence(self, frames: np.ndarray) -> np.ndarray:
        """Flow between consecutive frames.

        Args:
            frames: uint8 RGB ``(T, H, W, 3)``, T >= 2 (numpy, a torch tensor, or a list of ``(H, W, 3)``).

        Returns:
            float32 ``(T - 1, 2, H, W)``; entry ``t`` is the flow from frame ``t`` to frame ``t + 1``.
            RAFT runs the pairs in batches of ``raft_batch_size``.
        """
        seq = _as_frames(frames, "frames", 4)
        if seq.shape[0] < 2:
            raise FlowConfigError(f"frames must hold at least 2 frames (T, H, W, 3), got {seq.shape}")
        if self.method == "raft":
            from motionvla.flow.raft import raft_flow

            return raft_flow(self._raft, seq[:-1], seq[1:], self.num_flow_updates, self.raft_batch_size)
        grays = [self._gray(f) for f in seq]  # each frame converted once, not twice
        return np.stack([self._cv_pair(a, b) for a, b in zip(grays[:-1], grays[1:])])


def estimate_flow(frame0: np.ndarray, frame1: np.ndarray, method: str = "dis", **kwargs: Any) -> np.ndarray:
    """One-off flow estimate from ``frame0`` to ``frame1``: ``FlowEstimator(method, **kwargs)(frame0, frame1)``.

    For many frames, build a :class:`FlowEstimator` once (RAFT loads its weights on construction).

    Args:
        frame0, frame1: uint8 RGB ``(H, W, 3)``.
        method: ``"dis"``, ``"farneback"`` or ``"raft"``.
        **kwargs: :class:`FlowEstimator` options (``raft_weights=...`` is required for RAFT).

    Returns:
        float32 ``(2, H, W)`` flow in pixels, x then y.
    """
    return FlowEstimator(method, **kwargs)(frame0, frame1)
