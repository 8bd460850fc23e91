"""The forecaster's vision-language encoder: frames + caption -> hidden states ``(B, L, D)`` and a mask.

``tiny`` is built in-process (hashed word tokenizer, conv image tokens, a small Qwen2 decoder; nothing is
downloaded). Any other name is a transformers VLM loaded with ``from_pretrained`` together with its processor
(FOFPred: Qwen2.5-VL-3B-Instruct, frozen).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoModel, AutoProcessor, PretrainedConfig, Qwen2Model

from motionvla.flow_forecast.configuration import TINY_VLM, ForecasterConfig
from motionvla.vlm import TinyVisionEncoder, build_tokenizer, text_hidden_size, tiny_decoder_config

_QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


class TinyCaptionFrameEncoder(nn.Module):
    """``[caption tokens, image tokens of each input frame]`` through a tiny causal decoder (text first, so
    the image tokens attend to the caption and can pick out what it names)."""

    def __init__(self, cfg: ForecasterConfig) -> None:
        super().__init__()
        self.tokenizer = build_tokenizer(cfg.tokenizer)
        self.max_text_tokens = cfg.max_text_tokens
        self.vision = TinyVisionEncoder(cfg.hidden_size, cfg.image_token_grid)
        self.frame_embed = nn.Parameter(torch.zeros(cfg.frames_in, cfg.hidden_size))
        self.lm = Qwen2Model(tiny_decoder_config(cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads,
                                                 len(self.tokenizer)))

    @property
    def hidden_size(self) -> int:
        return self.lm.config.hidden_size

    def forward(self, frames: Tensor, captions: list[str]) -> tuple[Tensor, Tensor]:
        """``frames (B, T_in, 3, H, W)`` float in [0, 1] -> ``(hidden (B, L, D), mask (B, L) bool)``."""
        b, t = frames.shape[:2]
        tok = self.tokenizer(list(captions), padding="max_length", max_length=self.max_text_tokens, truncation=True,
                             return_tensors="pt")
        ids, text_mask = tok.input_ids.to(frames.device), tok.attention_mask.to(frames.device).bool()
        images = self.vision(frames.reshape(b * t, *frames.shape[2:]))  # (B·T, g²+k, D)
        images = (images.reshape(b, t, -1, images.shape[-1]) + self.frame_embed[None, :, None]).flatten(1, 2)
        embeds = torch.cat([self.lm.get_input_embeddings()(ids), images], dim=1)
        mask = torch.cat([text_mask, torch.ones(b, images.shape[1], dtype=torch.bool, device=frames.device)], dim=1)
        return self.lm(inputs_embeds=embeds, attention_mask=mask.long(), use_cache=False).last_hidden_state, mask


class PretrainedCaptionFrameEncoder(nn.Module):
    """A transformers VLM and its processor: the input frames as images, the caption as text."""

    def __init__(self, cfg: ForecasterConfig, model_config: PretrainedConfig | None = None) -> None:
        super().__init__()
        if model_config is None:
            self.vlm = AutoModel.from_pretrained(cfg.vlm)
            self.processor: Any = AutoProcessor.from_pretrained(cfg.vlm)
            vocab = self.processor.tokenizer.get_vocab()
            self.placeholder = _QWEN_IMAGE if "<|vision_start|>" in vocab else self.processor.image_token
        else:  # sizing on the meta device: no weights, no processor
            self.vlm = AutoModel.from_config(model_config)
            self.processor, self.placeholder = None, ""

    @property
    def hidden_size(self) -> int:
        return text_hidden_size(self.vlm.config)

    def forward(self, frames: Tensor, captions: list[str]) -> tuple[Tensor, Tensor]:
        if self.processor is None:
            raise RuntimeError("this encoder was built from a config only (no processor); load it with from_pretrained")
        b, t = frames.shape[:2]
        inputs = self.processor(images=[[frames[i, j] for j in range(t)] for i in range(b)],
                                text=[self.placeholder * t + c for c in captions], return_tensors="pt", padding=True,
                                do_rescale=False)
        inputs = {k: v.to(frames.device) if isinstance(v, Tensor) else v for k, v in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(next(self.vlm.parameters()).dtype)
        hidden = self.vlm(**inputs, use_cache=False).last_hidden_state
        return hidden, inputs["attention_mask"].bool()


def build_encoder(cfg: ForecasterConfig, model_config: PretrainedConfig | None = None) -> nn.Module:
    if cfg.vlm == TINY_VLM:
        return TinyCaptionFrameEncoder(cfg)
    return PretrainedCaptionFrameEncoder(cfg, model_config)
