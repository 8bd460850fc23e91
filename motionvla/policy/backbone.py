"""VLM backbones: the in-process ``tiny`` one and builders for real-size presets.

The tiny backbone reads ``[text tokens, image tokens (per camera), state token]`` and returns the language
model's hidden states ``(B, L, D)`` with a validity mask ``(B, L)``. Everything is built from configs in
process: no weights or tokenizer files are downloaded. Its parts (vision encoder, tokenizers, decoder
config) live in :mod:`motionvla.vlm`, shared with the flow forecaster; this module adds the state token.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel, Qwen2Config, Qwen2Model

from motionvla.policy.backbone_moe import upcycle_language_model
from motionvla.policy.configuration_motionvla import TINY_BACKBONE, MotionVLAConfig
from motionvla.vlm import TinyVisionEncoder, build_tokenizer, tiny_decoder_config


def tiny_lm_config(config: MotionVLAConfig, vocab_size: int) -> Qwen2Config:
    """The tiny backbone's Qwen2-style decoder config, shaped by ``config`` (see :func:`tiny_decoder_config`)."""
    return tiny_decoder_config(config.hidden_size, config.num_layers, config.num_heads, config.num_kv_heads, vocab_size)


class TinyVLMBackbone(nn.Module):
    """Tiny vision-language backbone: char text tokens + conv image tokens + a state token → Qwen2 decoder.

    ``forward(images: list[(B, 3, H, W)], input_ids (B, T), text_mask (B, T), state (B, S))`` →
    ``(hidden (B, L, D), mask (B, L) bool)`` with ``L = T + n_cams·(grid² + 4) + 1`` (in that order).
    """

    def __init__(self, config: MotionVLAConfig, vocab_size: int | None = None) -> None:
        super().__init__()
        # The tokenizer is built in-process from code (nothing to download or save).
        self.tokenizer = build_tokenizer(config.tokenizer)
        self.max_text_tokens = config.max_text_tokens
        vocab_size = vocab_size or len(self.tokenizer)
        d = config.hidden_size
        self.vision = TinyVisionEncoder(d, config.image_token_grid)
        self.state_proj = nn.Linear(config.state_dim, d)
        self.lm = Qwen2Model(tiny_lm_config(config, vocab_size))
        self.moe_layers = upcycle_language_model(self.lm, config)

    @property
    def hidden_size(self) -> int:
        return self.lm.config.hidden_size

    def image_grid(self, hidden: Tensor, camera_index: int) -> Tensor:
        """The output hidden states of camera ``camera_index``'s grid tokens laid out on their grid:
        ``hidden (B, L, D)`` (this backbone's layout, see the class docstring) → ``(B, D, grid, grid)``."""
        grid = self.vision.pos.shape[1] - self.vision.keypoint_tokens
        side = int(round(grid ** 0.5))
        start = self.max_text_tokens + camera_index * (grid + self.vision.keypoint_tokens)
        tokens = hidden[:, start : start + grid]  # (B, g², D), row-major as the encoder flattened them
        return tokens.transpose(1, 2).reshape(hidden.shape[0], hidden.shape[2], side, side)

    def encode(self, images: list[Tensor], tasks: list[str], state: Tensor) -> tuple[Tensor, Tensor]:
        """Tokenize ``tasks`` (B strings) and run :meth:`forward`; the interface every backbone shares."""
        tok = self.tokenizer(list(tasks), padding="max_length", max_length=self.max_text_tokens, truncation=True,
                             return_tensors="pt")
        return self(images, tok.input_ids.to(state.device), tok.attention_mask.to(state.device), state)

    def forward(self, images: list[Tensor], input_ids: Tensor, text_mask: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        b = input_ids.shape[0]
        img = torch.cat([self.vision(x) for x in images], dim=1)  # (B, n·g², D)
        txt = self.lm.get_input_embeddings()(input_ids)  # (B, T, D)
        st = self.state_proj(state).unsqueeze(1)  # (B, 1, D)
        # Text first: the decoder is causal, so image tokens placed after the instruction can attend to it
        # and pick out what it names (with images first, only the text tokens could see both).
        embeds = torch.cat([txt, img, st], dim=1)
        mask = torch.cat(
            [
                text_mask.bool(),
                torch.ones(b, img.shape[1], dtype=torch.bool, device=img.device),
                torch.ones(b, 1, dtype=torch.bool, device=img.device),
            ],
            dim=1,
        )
        out = self.lm(inputs_embeds=embeds, attention_mask=mask.long(), use_cache=False)
        return out.last_hidden_state, mask


def build_backbone(config: MotionVLAConfig, model_config: PretrainedConfig | None = None) -> nn.Module:
    """The backbone named by ``config.backbone``: ``tiny`` (built in-process) or a transformers VLM loaded
    with ``from_pretrained`` (or built from ``model_config`` without weights, e.g. on ``meta``)."""
    if config.backbone == TINY_BACKBONE:
        return TinyVLMBackbone(config)
    from motionvla.policy.pretrained_backbone import PretrainedVLMBackbone

    return PretrainedVLMBackbone(config, model_config)


def build_backbone_on_meta(model_config: PretrainedConfig) -> tuple[PreTrainedModel, int]:
    """Build a real-size backbone from an explicit transformers config on the ``meta`` device.

    No memory is allocated and nothing is downloaded. Returns ``(model, parameter_count)``.
    """
    with torch.device("meta"):
        model = AutoModel.from_config(model_config)
    n = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__} ({getattr(model_config, 'model_type', '?')}): {n / 1e9:.2f}B parameters on meta")
    return model, n
