"""Backbones: the tiny in-process VLM and a real-size preset built on meta."""

import torch
from transformers import Qwen2_5_VLConfig

from motionvla.policy.backbone import TinyVLMBackbone, build_backbone_on_meta
from motionvla.vlm import build_char_tokenizer, qwen2_5_vl_3b_config


def test_tiny_backbone_output_shape(make_config):
    cfg = make_config(image_keys=["observation.images.front", "observation.images.wrist"])
    tok = build_char_tokenizer()
    bb = TinyVLMBackbone(cfg, len(tok))
    batch = cfg.fake_batch(2)
    t = tok(batch["task"], padding="max_length", max_length=cfg.max_text_tokens, truncation=True, return_tensors="pt")
    hidden, mask = bb([batch[k] for k in cfg.image_keys], t.input_ids, t.attention_mask, batch["observation.state"])
    length = 2 * (cfg.image_token_grid**2 + 4) + cfg.max_text_tokens + 1
    assert hidden.shape == (2, length, cfg.hidden_size) and mask.shape == (2, length)
    assert torch.isfinite(hidden).all()


def test_real_preset_builds_on_meta_with_billions_of_params():
    cfg = qwen2_5_vl_3b_config()
    assert isinstance(cfg, Qwen2_5_VLConfig)
    model, n = build_backbone_on_meta(cfg)
    assert all(p.device.type == "meta" for p in model.parameters())
    assert 3.0e9 < n < 4.5e9
