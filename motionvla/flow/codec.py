"""Motion-image codec: optical flow <-> RGB on the HSV colour wheel, with a fixed, caller-given scale.

Encoding of a flow vector ``(u, v)`` (pixels, x then y) with scale ``M = max_magnitude``:

- hue        = direction ``atan2(v, u)`` (0 = +x / red, 90 deg = +y (image down) / chartreuse, ...);
- saturation = ``min(|(u, v)| / M, 1)`` -- magnitudes above ``M`` are **clipped** to ``M`` along the same
  direction, so they decode to length ``M``;
- value      = 1, so zero motion is exactly white ``(255, 255, 255)``.

The scale is fixed by the caller (never a per-image percentile as in LangToMo), which is what makes the
image decode back to flow. Record it next to the images (e.g. ``meta["flow_scale"]``).

uint8 round-trip bound
----------------------
With ``V = 1`` the HSV->RGB map gives channels ``max = 1``, ``min = 1 - s`` and ``mid = min + s * f``, where
``f in [0, 1]`` is the position inside the hue's 60-degree sector. Rounding to uint8 leaves ``max`` exact
(255) and moves ``min`` and ``mid`` by at most ``e = 1/510`` each; rounding is monotonic, so the channel
order (and hence the sector formula used to decode) is preserved up to ties, which decode to the same
angle. Hence

- magnitude:  ``|s' - s| <= e``                              -> radial error ``<= M e``;
- direction:  ``s' (f' - f) = e_mid - (1 - f) e_min``       -> ``|s'(f' - f)| <= 2 e``; an error ``df`` is an
  angle of ``(pi/3) df``, so the tangential (arc) error ``r' |dtheta| <= M (pi/3) 2 e``.

Since ``|r e^{i t} - r' e^{i t'}| <= |r - r'| + r' |t - t'|``, the end-point error of one pixel is bounded by

    EPE <= M * (1 + 2*pi/3) / 510  ~=  0.00607 * M        (:data:`UINT8_EPE_BOUND` = 0.00607)

relative to the (clipped) input flow, plus float32 rounding (~1e-6 M). E.g. ``M = 20`` px -> <= 0.12 px.
The float codec (:func:`flow_to_motion_image_float` / :func:`motion_image_float_to_flow`) is exact up to
float32 rounding for magnitudes <= M.

Both numpy arrays and torch tensors are accepted; torch stays on its device (and is differentiable, with
zero-motion pixels given finite gradients). numpy inputs are wrapped as tensors (zero-copy when possible)
so that there is one implementation of the codec; the result is returned as numpy again.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

#: Max end-point error of the uint8 round trip, as a fraction of ``max_magnitude`` (derivation above).
UINT8_EPE_BOUND: float = (1.0 + 2.0 * math.pi / 3.0) / 510.0

_SECTOR = math.pi / 3.0  # one hue sector (60 degrees) in radians
# Offsets n of the closed-form HSV->RGB map  c_n = V - V*S*clamp(min(k, 4 - k), 0, 1), k = (n + H/60) mod 6,
# for R, G, B. Written out (not cv2.cvtColor) because it must run on torch tensors, batched, on any device,
# and stay differentiable.
_RGB_OFFSETS = (5.0, 3.0, 1.0)


def _check_scale(max_magnitude: float) -> float:
    m = float(max_magnitude)
    if not (math.isfinite(m) and m > 0):
        raise ValueError(f"max_magnitude must be a finite number > 0 (pixels), got {max_magnitude!r}")
    return m


def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """Returns ``(tensor, was_numpy)``; numpy arrays are wrapped without a copy when they allow it."""
    if isinstance(x, torch.Tensor):
        return x, False
    if isinstance(x, np.ndarray):
        # from_numpy refuses negative strides and warns on read-only arrays: copy only in those cases.
        return torch.from_numpy(np.require(x, requirements=["C", "W"])), True
    raise ValueError(f"{name} must be a numpy.ndarray or torch.Tensor, got {type(x).__name__}")


def _check_channels(t: torch.Tensor, channels: int, name: str) -> None:
    if t.ndim < 3 or t.shape[-3] != channels:
        raise ValueError(f"{name} must have shape (..., {channels}, H, W), got {tuple(t.shape)}")


def _work_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _encode(flow: torch.Tensor, m: float) -> torch.Tensor:
    """(..., 2, H, W) float flow -> (..., 3, H, W) RGB in [0, 1] (same dtype as the work dtype)."""
    if not flow.is_floating_point():
        raise ValueError(f"flow must be a floating-point array, got dtype {flow.dtype}")
    f = flow.to(_work_dtype(flow))
    if not bool(torch.isfinite(f).all()):
        raise ValueError("flow contains NaN or infinite values; the motion-image codec needs finite flow")
    u, v = f[..., 0, :, :], f[..., 1, :, :]
    sq = u * u + v * v
    moving = sq > 0
    one, zero = torch.ones_like(sq), torch.zeros_like(sq)
    # sqrt and atan2 have NaN gradients at 0: feed them safe values there (the "double where" trick),
    # so that zero motion encodes to exactly white and back-propagates finite (zero) gradients.
    mag = torch.where(moving, torch.sqrt(torch.where(moving, sq, one)), zero)
    ang = torch.atan2(torch.where(moving, v, zero), torch.where(moving, u, one))
    sat = torch.clamp(mag / m, max=1.0)  # clipping: |flow| > M is drawn (and decodes) as |flow| = M
    hue = torch.remainder(ang / _SECTOR, 6.0)  # in sectors, [0, 6)
    offsets = torch.tensor(_RGB_OFFSETS, dtype=f.dtype, device=f.device).view(3, 1, 1)
    k = torch.remainder(offsets + hue.unsqueeze(-3), 6.0)
    weight = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return 1.0 - sat.unsqueeze(-3) * weight  # value V = 1


def _decode(rgb: torch.Tensor, m: float) -> torch.Tensor:
    """(..., 3, H, W) RGB in [0, 1] -> (..., 2, H, W) flow in pixels (standard RGB->HSV, then polar)."""
    img = torch.clamp(rgb.to(_work_dtype(rgb)), 0.0, 1.0)
    r, g, b = img.unbind(-3)
    mx = torch.maximum(torch.maximum(r, g), b)
    mn = torch.minimum(torch.minimum(r, g), b)
    delta = mx - mn
    chroma = delta > 0
    one, zero = torch.ones_like(delta), torch.zeros_like(delta)
    safe_delta = torch.where(chroma, delta, one)
    # Standard HSV saturation (max - min) / max: equal to max - min for our V = 1 images, and for a model's
    # slightly darkened prediction it reads the colour rather than its brightness.
    sat = torch.where(chroma, delta / torch.where(mx > 0, mx, one), zero)
    hue = torch.where(
        mx == r,
        torch.remainder((g - b) / safe_delta, 6.0),
        torch.where(mx == g, (b - r) / safe_delta + 2.0, (r - g) / safe_delta + 4.0),
    )
    ang = hue * _SECTOR
    mag = sat * m
    return torch.stack((mag * torch.cos(ang), mag * torch.sin(ang)), dim=-3)


def flow_to_motion_image_float(flow: ArrayOrTensor, max_magnitude: float) -> ArrayOrTensor:
    """Flow -> motion image, float RGB in [0, 1].

    Args:
        flow: float ``(..., 2, H, W)``, displacement in pixels, x then y (numpy or torch).
        max_magnitude: the fixed scale ``M`` in pixels; ``|flow| >= M`` is fully saturated (clipped to ``M``).

    Returns:
        float32 ``(..., 3, H, W)`` in [0, 1] (float64 for float64 input), same kind and device as ``flow``.
        Zero motion is exactly ``(1, 1, 1)``. Differentiable for torch input.

    Raises:
        ValueError: wrong shape/dtype, non-finite flow, or ``max_magnitude <= 0``.
    """
    m = _check_scale(max_magnitude)
    t, was_numpy = _as_tensor(flow, "flow")
    _check_channels(t, 2, "flow")
    out = _encode(t, m)
    return out.numpy() if was_numpy else out


def motion_image_float_to_flow(image: ArrayOrTensor, max_magnitude: float) -> ArrayOrTensor:
    """Motion image (float RGB in [0, 1]) -> flow; the inverse of :func:`flow_to_motion_image_float`.

    Args:
        image: float ``(..., 3, H, W)``; values outside [0, 1] are clamped. Greys (incl. white) decode to 0.
        max_magnitude: the scale ``M`` (pixels) the image was encoded with.

    Returns:
        float32 ``(..., 2, H, W)`` flow in pixels (float64 for float64 input), same kind/device as ``image``.
    """
    m = _check_scale(max_magnitude)
    t, was_numpy = _as_tensor(image, "image")
    _check_channels(t, 3, "image")
    if not t.is_floating_point():
        raise ValueError(
            f"image must be float in [0, 1], got dtype {t.dtype}; use motion_image_to_flow for uint8 images"
        )
    out = _decode(t, m)
    return out.numpy() if was_numpy else out


def flow_to_motion_image(flow: ArrayOrTensor, max_magnitude: float) -> ArrayOrTensor:
    """Flow -> uint8 motion image ``(..., 3, H, W)``; a rounding wrapper over the float codec.

    Args:
        flow: float ``(..., 2, H, W)``, pixels, x then y (numpy or torch; torch stays on its device).
        max_magnitude: fixed scale ``M`` in pixels; larger magnitudes are clipped to ``M`` (same direction).

    Returns:
        uint8 ``(..., 3, H, W)``, same kind as ``flow``; zero motion is exactly ``(255, 255, 255)``.
        Decoding with :func:`motion_image_to_flow` recovers the (clipped) flow within
        ``UINT8_EPE_BOUND * M ~= 0.00607 * M`` pixels of end-point error per pixel.
    """
    m = _check_scale(max_magnitude)
    t, was_numpy = _as_tensor(flow, "flow")
    _check_channels(t, 2, "flow")
    out = torch.round(_encode(t, m) * 255.0).clamp_(0, 255).to(torch.uint8)
    return out.numpy() if was_numpy else out


def motion_image_to_flow(image: ArrayOrTensor, max_magnitude: float) -> ArrayOrTensor:
    """uint8 motion image ``(..., 3, H, W)`` -> float32 flow ``(..., 2, H, W)`` in pixels.

    The inverse of :func:`flow_to_motion_image` up to quantization: per-pixel end-point error
    ``<= UINT8_EPE_BOUND * max_magnitude = (1 + 2*pi/3) / 510 * M ~= 0.00607 * M`` (see module docstring).
    Exactly white decodes to exactly zero flow.
    """
    m = _check_scale(max_magnitude)
    t, was_numpy = _as_tensor(image, "image")
    _check_channels(t, 3, "image")
    if t.dtype != torch.uint8:
        raise ValueError(
            f"image must be uint8, got dtype {t.dtype}; use motion_image_float_to_flow for float images"
        )
    out = _decode(t.to(torch.float32) / 255.0, m)
    return out.numpy() if was_numpy else out
