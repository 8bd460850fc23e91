"""The offline tokenizers of motionvla.vlm: characters and hashed words."""

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
