"""Backbones: the tiny in-process VLM, the char tokenizer, and a real-size preset built on meta."""

import torch
from transformers import Qwen2_5_VLConfig

from motionvla.policy.backbone import TinyVLMBackbone, build_backbone_on_meta
from motionvla.vlm import qwen2_5_vl_3b_config
from motionvla.vlm import HashedWordTokenizer, build_char_tokenizer


def test_char_tokenizer_builds_offline():
    tok = build_char_tokenizer()
    out = tok(["push the block", "é"], padding="max_length", max_length=8, truncation=True, return_tensors="pt")
    assert out.input_ids.shape == (2, 8)
    assert out.input_ids[1, 0] == tok.unk_token_id and out.attention_mask[1].sum() == 1


def test_word_tokenizer_is_deterministic_and_word_level():
    tok = HashedWordTokenizer()
    out = tok(["Push the RED block.", "push the blue block", ""], max_length=6)
    assert out["input_ids"].shape == (3, 6)
    assert out["attention_mask"].sum(1).tolist() == [5, 4, 0]  # "." is a word; padding is 0
    red, blue = out["input_ids"][0, 2], out["input_ids"][1, 2]
    assert red != blue and out["input_ids"][0, 0] == out["input_ids"][1, 0]  # case-insensitive, same word same id
    assert HashedWordTokenizer().encode("push the red block") == tok.encode("push the red block")


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
