"""`motionvla describe-policy`: build a policy preset on the meta device and print its parameter counts.

Nothing is downloaded and no memory is allocated, so real-size presets can be sized on any machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from motionvla.errors import UserError


@dataclass
class Config:
    """Build a policy preset (tiny | qwen2.5-vl-3b) on the meta device and print its parameters per part."""

    preset: str = "qwen2.5-vl-3b"
    # Print the counts as JSON instead of a table.
    json: bool = False


def run(cfg: Config) -> dict:
    from motionvla.policy.presets import PRESETS, describe_on_meta

    if cfg.preset not in PRESETS:
        raise UserError(f"unknown --preset={cfg.preset!r}; known: {', '.join(PRESETS)}")
    info = describe_on_meta(cfg.preset)
    if cfg.json:
        print(json.dumps(info, indent=2))
        return info
    print(f"preset {info['preset']} (backbone {info['backbone']}), built on the meta device:")
    for part, count in info["parameters"].items():
        print(f"  {part:<12} {count / 1e6:>10.1f} M")
    return info
