"""The motion-image codec's scale, measured from flows: the one function every trainer uses.

A motion image saturates at the scale M (``|flow| >= M`` is full colour), so M must fit the data: a fixed M of a
few pixels leaves a slow tabletop's motion images almost white, a too small one saturates every moving pixel.
Every trainer (``motionvla train`` on its flow cache, the policies under ``lerobot-train`` on a few episodes'
flows, the forecaster on its shards) sets M to a high percentile of the per-pixel flow magnitudes, here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from motionvla.errors import UserError

# Below this many pixels the data does not move: a codec scaled to it would turn sensor noise into motion.
NOTHING_MOVES_PX = 1e-3


def round_scale(scale: float) -> float:
    """A scale as it is recorded in configs: 3 significant digits (what the user reads is what the codec uses)."""
    return float(f"{float(scale):.3g}")


def flow_magnitudes(flows: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel magnitudes (pixels), flattened, of flows ``(..., 2, h, w)``; with ``valid`` (bool, the leading
    shape ``...``) only those flows count."""
    flows = np.asarray(flows, dtype=np.float32)
    if valid is not None:
        flows = flows[np.asarray(valid, dtype=bool)]
    return np.linalg.norm(flows, axis=-3).ravel()


def codec_scale(magnitudes: Iterable[np.ndarray], percentile: float, source: str, option: str) -> float:
    """The ``percentile``-th percentile (0..100] of per-pixel flow magnitudes, rounded to 3 significant digits.

    Args:
        magnitudes: 1-D arrays of magnitudes in pixels at the motion resolution (:func:`flow_magnitudes`).
        source: what was measured (a dataset, a cache folder), named in the error.
        option: the option that sets the scale by hand (e.g. ``--policy.flow_max_magnitude``), named in the error.

    Raises:
        UserError: there is no flow, or nothing moves (the percentile is below :data:`NOTHING_MOVES_PX`).
    """
    if not 0 < percentile <= 100:
        raise UserError(f"the flow-scale percentile must be in (0, 100], got {percentile}")
    values = [np.asarray(m, dtype=np.float32).ravel() for m in magnitudes]
    values = [v for v in values if v.size]
    if not values:
        raise UserError(f"cannot measure the motion codec's scale: {source} has no valid flow (every episode shorter "
                        f"than the flow horizon?); set {option} (pixels at the motion resolution)")
    scale = float(np.percentile(np.concatenate(values), percentile))
    if not scale >= NOTHING_MOVES_PX:
        raise UserError(f"nothing moves in {source}: the {percentile}th percentile of its flow magnitudes is {scale:.2g} "
                        f"px, so the motion codec's scale cannot be measured; set {option} (pixels at the motion "
                        "resolution), or train without a motion head")
    return round_scale(scale)
