"""VLM backbones: the in-process ``tiny`` one and builders for real-size presets.

The tiny backbone reads ``[image tokens (per camera), text tokens, state token]`` and returns the language
model's hidden states ``(B, L, D)`` with a validity mask ``(B, L)``. Everything is built from configs in
process: no weights or tokenizer files are downloaded.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel, Qwen2Config, Qwen2Model

from motionvla.moe import upcycle_to_moe
from motionvla.policy.configuration_motionvla import TINY_BACKBONE, MotionVLAConfig
from motionvla.policy.tokenizers import build_tokenizer

class TinyVisionEncoder(nn.Module):
    """Conv stem → ``grid × grid`` image tokens. A few convs are the cheapest stand-in for a ViT on CPU.

    ``images (B, 3, H, W)`` in [0, 1] → ``tokens (B, grid² + keypoint_tokens, dim)``; any H, W (adaptive pooling).
    Two coordinate channels (x, y in [-1, 1]) join the RGB input (CoordConv): pooled conv features
    otherwise lose where in the image an object is, which is what a manipulation policy needs most.
    """

    def __init__(self, dim: int, grid: int, keypoint_tokens: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(5, dim // 2, kernel_size=4, stride=4),
            nn.GELU(),
            nn.Conv2d(dim // 2, dim, kernel_size=3, padding=1),
            nn.GELU(),
        )
        self.to_grid = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(grid),
        )
        # Spatial-softmax keypoints (as in robomimic / Diffusion Policy): each channel's expected (x, y),
        # a direct, sample-efficient read-out of where things are.
        self.keypoint_tokens = keypoint_tokens
        self.keypoints = nn.Linear(2 * dim, keypoint_tokens * dim) if keypoint_tokens else None
        self.pos = nn.Parameter(torch.zeros(1, grid * grid + keypoint_tokens, dim))
        nn.init.normal_(self.pos, std=0.02)

    @staticmethod
    def spatial_softmax(features: Tensor) -> Tensor:
        """``(B, C, H, W)`` → expected coordinates ``(B, C, 2)`` (x, y in [-1, 1]) under a softmax per channel."""
        b, c, h, w = features.shape
        weights = features.flatten(2).softmax(dim=-1).view(b, c, h, w)
        ys = torch.linspace(-1, 1, h, device=features.device, dtype=features.dtype)
        xs = torch.linspace(-1, 1, w, device=features.device, dtype=features.dtype)
        return torch.stack([(weights.sum(2) * xs).sum(-1), (weights.sum(3) * ys).sum(-1)], dim=-1)

    def forward(self, images: Tensor) -> Tensor:
        b, _, h, w = images.shape
        ys = torch.linspace(-1, 1, h, device=images.device, dtype=images.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=images.device, dtype=images.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        feats = self.features(torch.cat([images * 2 - 1, xs, ys], dim=1))  # (B, dim, H/4, W/4)
        tokens = self.to_grid(feats).flatten(2).transpose(1, 2)  # (B, grid², dim)
        if self.keypoints is not None:
            points = self.keypoints(self.spatial_softmax(feats).flatten(1)).view(b, self.keypoint_tokens, -1)
            tokens = torch.cat([tokens, points], dim=1)
        return tokens + self.pos


def tiny_lm_config(config: MotionVLAConfig, vocab_size: int) -> Qwen2Config:
    """A 2-layer Qwen2-style decoder config (SwiGLU MLPs without bias, so MoE upcycling applies)."""
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.hidden_size * 2,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )


def upcycle_language_model(lm: nn.Module, config: MotionVLAConfig) -> list[str]:
    """Turn ``lm``'s gated MLPs into MoE layers as ``config.moe`` says (none if ``num_experts == 0``);
    returns the replaced modules' names."""
    moe = config.moe
    if moe.num_experts == 0:
        return []
    planner = (dict(min_tokens=moe.min_tokens, imbalance_threshold=moe.imbalance_threshold, alpha=moe.alpha)
               if moe.dispatcher == "llep" else {})
    return upcycle_to_moe(lm, moe.num_experts, moe.top_k, dispatcher=moe.dispatcher, **planner)


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


def qwen2_5_vl_3b_config() -> PretrainedConfig:
    """An explicit config with the published shapes of ``Qwen/Qwen2.5-VL-3B-Instruct`` (no download).

    For sizing and meta-device tests; real use loads the hub's own config with the model.
    """
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        text_config=dict(
            hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
            num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
        ),
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048),
    )
