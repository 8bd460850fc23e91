"""Download-free tokenizers for tiny backbones (real-size VLMs use their own processor).

``char``: one token per printable ASCII character (a BPE model with no merges, built in process).
``word``: one token per lower-cased word, its id a CRC32 hash into a fixed table. Word units let a
2-layer model ground "red" vs "blue" directly, and hashing needs no vocabulary file: any instruction
tokenizes the same way in every process and every checkpoint, with no tokenizer state to save.
"""

from __future__ import annotations

import re
import string
import zlib

import torch
from tokenizers import Tokenizer, models
from transformers import BatchEncoding, PreTrainedTokenizerFast

PAD, UNK = "[PAD]", "[UNK]"
TOKENIZERS = ("char", "word")
WORD_HASH_BUCKETS = 4096
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer over printable ASCII (``[PAD]``=0, ``[UNK]``=1), built with no download.

    A BPE model with an empty merge list splits text into single characters; any non-ASCII character is
    ``[UNK]``.
    """
    vocab = {PAD: 0, UNK: 1}
    for ch in string.printable:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, unk_token=UNK)


class HashedWordTokenizer:
    """Words (lower-cased; punctuation marks are words too) → ids ``2 + crc32(word) % buckets``; 0 = pad.

    Called like a transformers tokenizer with ``padding="max_length"``, ``max_length``, ``truncation``,
    ``return_tensors="pt"``; returns ``input_ids`` and ``attention_mask`` ``(B, max_length)``.
    """

    pad_token_id = 0

    def __init__(self, buckets: int = WORD_HASH_BUCKETS) -> None:
        self.buckets = buckets

    def __len__(self) -> int:
        return self.buckets + 2

    def encode(self, text: str) -> list[int]:
        return [2 + zlib.crc32(w.encode()) % self.buckets for w in _WORD.findall(text.lower())]

    def __call__(self, texts: list[str], *, max_length: int, padding: str = "max_length", truncation: bool = True,
                 return_tensors: str = "pt") -> BatchEncoding:
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        mask = torch.zeros(len(texts), max_length, dtype=torch.long)
        for row, text in enumerate(texts):
            tokens = self.encode(text)[:max_length]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, : len(tokens)] = 1
        return BatchEncoding({"input_ids": ids, "attention_mask": mask})


def build_tokenizer(kind: str) -> PreTrainedTokenizerFast | HashedWordTokenizer:
    """The tiny backbone's tokenizer: ``char`` or ``word`` (see the module docstring)."""
    if kind == "char":
        return build_char_tokenizer()
    if kind == "word":
        return HashedWordTokenizer()
    raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {kind!r}")
