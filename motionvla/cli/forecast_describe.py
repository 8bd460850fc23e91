"""`motionvla forecast describe`: build a forecaster preset on the meta device and count its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Config:
    """Parameter counts per part (VLM, DiT, VAE) of a named forecaster preset, built without memory or weights."""

    preset: str = "fofpred-3b"
    # Language-grounding maps on top of the preset (--model.grounding_maps of forecast train); 0 = the preset's.
    grounding_maps: int = 0


def run(cfg: Config) -> dict[str, Any]:
    from motionvla.flow_forecast.presets import describe_preset

    counts = describe_preset(cfg.preset, **({"grounding_maps": cfg.grounding_maps} if cfg.grounding_maps else {}))
    width = max(len(k) for k in counts)
    for part, n in counts.items():
        print(f"  {part:<{width}}  {n:>15,d}  ({n / 1e6:.2f} M)")
    return counts
