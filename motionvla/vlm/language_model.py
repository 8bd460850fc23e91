"""The language-model side of a VLM: a tiny decoder config, and finding the decoder inside a transformers VLM."""

from __future__ import annotations

from torch import nn
from transformers import PretrainedConfig, Qwen2Config


def tiny_decoder_config(hidden_size: int, num_layers: int, num_heads: int, num_kv_heads: int,
                        vocab_size: int) -> Qwen2Config:
    """A small Qwen2-style decoder config, built in process (no download).

    SwiGLU MLPs of width ``2·hidden_size`` without bias (so MoE upcycling applies), 512 positions,
    untied embeddings, eager attention (deterministic on CPU).
    """
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )


def text_model_of(vlm: nn.Module) -> nn.Module:
    """The language model inside a transformers VLM (where the MoE layers go; vision towers keep theirs)."""
    for name in ("language_model", "text_model"):
        if isinstance(getattr(vlm, name, None), nn.Module):
            return getattr(vlm, name)
    raise ValueError(f"{type(vlm).__name__}: cannot find its language model (no .language_model / .text_model)")


def text_hidden_size(model_config: PretrainedConfig) -> int:
    """The hidden size D of a (VLM or text-only) transformers config's language model."""
    text = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    return int(text.hidden_size)


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
