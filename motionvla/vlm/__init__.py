"""Tiny, download-free VLM parts shared by the policy's backbone and the flow forecaster.

Sits below ``flow_forecast`` and ``policy``; imports only torch, transformers and tokenizers.

- :mod:`~motionvla.vlm.vision`: ``TinyVisionEncoder`` (CoordConv stem → grid + keypoint tokens).
- :mod:`~motionvla.vlm.tokenizers`: the ``char`` and hashed ``word`` tokenizers, ``build_tokenizer``.
- :mod:`~motionvla.vlm.language_model`: ``tiny_decoder_config`` (a small Qwen2 decoder), and
  ``text_model_of`` / ``text_hidden_size`` for the language model inside a transformers VLM, and
  ``qwen2_5_vl_3b_config`` (Qwen2.5-VL-3B's published shapes, for meta-device sizing).
"""

from motionvla.vlm.language_model import qwen2_5_vl_3b_config, text_hidden_size, text_model_of, tiny_decoder_config
from motionvla.vlm.tokenizers import TOKENIZERS, HashedWordTokenizer, build_char_tokenizer, build_tokenizer
from motionvla.vlm.vision import TinyVisionEncoder

__all__ = [
    "TOKENIZERS",
    "HashedWordTokenizer",
    "TinyVisionEncoder",
    "build_char_tokenizer",
    "build_tokenizer",
    "qwen2_5_vl_3b_config",
    "text_hidden_size",
    "text_model_of",
    "tiny_decoder_config",
]
