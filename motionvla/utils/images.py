"""Camera frames as the uint8 HWC arrays that pictures, videos and datasets take."""

from __future__ import annotations

import numpy as np


def to_uint8_hwc(image) -> np.ndarray:
    """A camera frame as uint8 (H, W, 3): accepts float [0, 1] or uint8, CHW or HWC, numpy or torch."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim != 3:
        raise ValueError(f"expected one image with 3 dimensions, got shape {array.shape}")
    if array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return array


