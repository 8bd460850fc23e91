"""Shared tiny policy fixtures."""

import pytest
import torch

from motionvla.policy import MotionVLAConfig


def tiny_config(**overrides) -> MotionVLAConfig:
    """A tiny CPU config: 32×32 images, 16 image tokens, 2-layer backbone, chunk 10."""
    base = dict(image_size=32, motion_resolution=16, flow_max_magnitude=1.0, device="cpu", num_inference_steps=3)
    base.update(overrides)
    return MotionVLAConfig(**base)


@pytest.fixture
def make_config():
    """The :func:`tiny_config` factory, for tests."""
    return tiny_config


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory):
    """A tiny Qwen2.5-VL (random weights) and its processor, saved like a hub model, built offline:
    a word-level tokenizer with Qwen's vision special tokens, 2 text layers, 1 vision block."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLModel,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    specials = ["<|endoftext|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "[UNK]"]
    words = "push pick put lift open the a red blue green yellow block cube cup drawer pad on to left right forward up".split()
    vocab = {token: i for i, token in enumerate(specials + words)}
    word_level = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<|endoftext|>", unk_token="[UNK]",
                                        additional_special_tokens=specials[1:5])
    # 56x56 after resizing: 4x4 patches of 14 px, merged 2x2 -> 4 tokens per image.
    images = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14, merge_size=2)
    processor = Qwen2_5_VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())
    config = Qwen2_5_VLConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(vocab), bos_token_id=0, eos_token_id=0,
                         rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]}),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           patch_size=14, spatial_merge_size=2, window_size=56, fullatt_block_indexes=[0]),
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
    )
    out = tmp_path_factory.mktemp("tiny_qwen2_5_vl")
    torch.manual_seed(0)
    Qwen2_5_VLModel(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out
