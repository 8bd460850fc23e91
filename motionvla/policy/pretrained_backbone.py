"""A real vision-language model from transformers as the policy's backbone.

``config.backbone`` names a hub id or a local folder (``Qwen/Qwen2.5-VL-3B-Instruct``, ...); the model
and its own processor are loaded with ``from_pretrained``. The processor turns the policy batch's
camera images (float ``[0, 1]``) and instructions into the VLM's inputs; the VLM's last hidden states
plus one projected proprioceptive-state token are the context both heads attend to (as π0 feeds state
beside the VLM prefix rather than as text).

Tested with Qwen2.5-VL (a tiny one the tests build and save); other VLMs whose processor takes
``images=`` and ``text=`` with an ``image_token`` placeholder follow the same path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoModel, AutoProcessor, PretrainedConfig

from motionvla.policy.backbone_moe import upcycle_language_model
from motionvla.policy.configuration_motionvla import MotionVLAConfig
from motionvla.vlm import text_hidden_size, text_model_of

# Qwen-VL wraps each image's placeholder in vision start/end markers (its chat format).
_QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


class PretrainedVLMBackbone(nn.Module):
    """``encode(images, tasks, state)`` with a transformers VLM → ``(hidden (B, L, D), mask (B, L) bool)``.

    Args:
        config: the policy config; ``config.backbone`` is what ``from_pretrained`` loads.
        model_config: build the VLM from this transformers config instead, with random weights and no
            processor (for sizing on the ``meta`` device: such a backbone cannot ``encode``).
    """

    def __init__(self, config: MotionVLAConfig, model_config: PretrainedConfig | None = None) -> None:
        super().__init__()
        if model_config is None:
            self.vlm = AutoModel.from_pretrained(config.backbone)
            self.processor: Any = AutoProcessor.from_pretrained(config.backbone)
        else:
            self.vlm = AutoModel.from_config(model_config)
            self.processor = None
        self._hidden_size = text_hidden_size(self.vlm.config)
        self._image_placeholder = self._placeholder_for(self.processor) if self.processor is not None else ""
        self.state_proj = nn.Linear(config.state_dim, self._hidden_size)
        self.max_text_tokens = config.max_text_tokens
        self.moe_layers = upcycle_language_model(text_model_of(self.vlm), config)

    @property
    def hidden_size(self) -> int:
        return self._hidden_size

    @staticmethod
    def _placeholder_for(processor: Any) -> str:
        # Once, at construction: get_vocab() builds a dict of the whole vocabulary (~150k entries for Qwen).
        if "<|vision_start|>" in processor.tokenizer.get_vocab():
            return _QWEN_IMAGE
        return processor.image_token

    def encode(self, images: list[Tensor], tasks: list[str], state: Tensor) -> tuple[Tensor, Tensor]:
        """``images``: one ``(B, 3, H, W)`` float tensor in [0, 1] per camera; ``tasks``: B instructions;
        ``state``: ``(B, S)``. Returns hidden ``(B, T + 1, D)`` (the VLM's tokens, then the state token)
        and its mask ``(B, T + 1)``."""
        if self.processor is None:
            raise RuntimeError("this backbone was built from a config only (no processor); load it with from_pretrained")
        b = state.shape[0]
        placeholder = self._image_placeholder * len(images)
        inputs = self.processor(
            images=[[cam[i] for cam in images] for i in range(b)],
            text=[placeholder + task for task in tasks],
            return_tensors="pt",
            padding=True,
            do_rescale=False,  # the batch's images are already floats in [0, 1]
        )
        inputs = {k: v.to(state.device) if isinstance(v, Tensor) else v for k, v in inputs.items()}
        dtype = next(self.vlm.parameters()).dtype
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        hidden = self.vlm(**inputs, use_cache=False).last_hidden_state
        state_token = self.state_proj(state.to(self.state_proj.weight.dtype)).unsqueeze(1).to(hidden.dtype)
        mask = torch.cat([inputs["attention_mask"].bool(), torch.ones(b, 1, dtype=torch.bool, device=state.device)], 1)
        return torch.cat([hidden, state_token], dim=1), mask
