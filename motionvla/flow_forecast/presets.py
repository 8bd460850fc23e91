"""Named forecaster configurations.

- ``tiny``: trains on a laptop CPU in minutes; the VLM is built in-process (hashed word tokenizer), pixel codec.
- ``fofpred-3b``: FOFPred's shape (REFERENCE §1): a frozen Qwen2.5-VL-3B-Instruct reads the frames and the
  caption; a multi-billion-parameter DiT (the only trained part) generates the 4 future motion images as
  latents of a 16-channel VAE (FLUX.1's layout) at 256². Users with the weights pass ``--model.vlm`` (hub id or
  folder) and ``--model.vae_path``; here it is built on the ``meta`` device for sizing only.
"""

from __future__ import annotations

import dataclasses

from motionvla.errors import UserError
from motionvla.flow_forecast.configuration import ForecasterConfig

FOFPRED_VLM = "Qwen/Qwen2.5-VL-3B-Instruct"

PRESETS: dict[str, ForecasterConfig] = {
    "tiny": ForecasterConfig(),
    "fofpred-3b": ForecasterConfig(
        vlm=FOFPRED_VLM, train_vlm=False, frames_in=2, num_frames=4, resolution=256, image_size=256,
        codec="vae", vae_latent_channels=16, vae_block_channels=(128, 256, 512, 512),
        patch_size=2, dit_layers=28, dit_heads=24, dit_head_dim=128, num_inference_steps=1,
    ),
}


def preset(name: str, **overrides) -> ForecasterConfig:
    if name not in PRESETS:
        raise UserError(f"unknown forecaster preset {name!r}; accepted: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


# Display names of FlowForecaster's parts; a part not listed here is counted under its attribute name.
_PART_NAMES = {"encoder": "vlm", "dit": "dit", "codec": "vae", "grounding": "grounding maps"}


def describe_preset(name: str, **overrides) -> dict[str, int]:
    """Builds the preset (with ``overrides`` of its ForecasterConfig fields) on the ``meta`` device (no memory,
    nothing downloaded); parameters per part, "total" (every parameter) and "trained" (those not frozen)."""
    from motionvla.flow_forecast.modeling import FlowForecaster
    from motionvla.vlm import qwen2_5_vl_3b_config

    cfg = preset(name, **overrides)
    model_config = qwen2_5_vl_3b_config() if cfg.vlm == FOFPRED_VLM else None
    model = FlowForecaster.on_meta(cfg, model_config)
    counts: dict[str, int] = {}
    for attr, part in model.named_children():
        params = list(part.parameters())
        if params:
            frozen = not any(p.requires_grad for p in params)
            counts[_PART_NAMES.get(attr, attr) + (" (frozen)" if frozen else "")] = sum(p.numel() for p in params)
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["trained"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts
