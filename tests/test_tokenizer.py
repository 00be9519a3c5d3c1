"""WordPiece tokenizer: hand-computed splits and ids, encode layout, and agreement with transformers."""

import numpy as np
import pytest

from selfmm import synth
from selfmm.tokenizer import VOCAB_DIR, WordPieceTokenizer

ZH = WordPieceTokenizer.from_name("bert-base-chinese")
EN = WordPieceTokenizer.from_name("bert-base-uncased")


def test_tokenize_splits_cjk_punctuation_and_lowercases():
    assert ZH.tokenize("我很好，OK!") == ["我", "很", "好", "，", "ok", "!"]
    assert EN.tokenize("  Héllo,\tWORLD!\x00 ") == ["hello", ",", "world", "!"]


def test_ids_are_the_vocab_file_line_numbers():
    lines = (VOCAB_DIR / "bert-base-chinese" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    ids, mask, _ = ZH.encode("今天很好！", 9)
    expected = [lines.index(t) for t in ["[CLS]", "今", "天", "很", "好", "！", "[SEP]"]]
    assert ids.tolist() == expected + [0, 0] and mask.tolist() == [1] * 7 + [0, 0]


def test_wordpiece_greedy_longest_match_on_a_toy_vocab():
    tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "aff", "##aff", "##able", "##a"])
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("affa xyz") == ["aff", "##a", "[UNK]"]  # xyz has no segmentation
    assert len(tok.tokenize("aff" + "a" * 97)) == 98  # 100 characters: still segmented
    assert tok.tokenize("aff" + "a" * 98) == ["[UNK]"]  # longer than BERT's 100-character limit


def test_encode_layout_truncation_and_padding():
    ids, mask, seg = EN.encode("The movie was terrible.", 10)
    # [CLS]=101 the=1996 movie=3185 was=2001 terrible=6659 .=1012 [SEP]=102, then [PAD]=0
    assert ids.tolist() == [101, 1996, 3185, 2001, 6659, 1012, 102, 0, 0, 0]
    assert mask.tolist() == [1] * 7 + [0] * 3
    assert seg.tolist() == [0] * 10
    ids, mask, _ = EN.encode("one two three four five", 4)
    assert ids.tolist() == [101, 2028, 2048, 102] and mask.sum() == 4
    batch = ZH.encode_batch(["很好", "很差啊"], 6)
    assert batch.shape == (2, 3, 6) and batch.dtype == np.float32
    assert batch[1, 1].tolist() == [1, 1, 1, 1, 1, 0]


def test_ids_match_transformers_bert_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    sentences = {
        "bert-base-uncased": ["Honestly, it's an unbelievably boring movie (really).", "Café au lait?! 100% fine."],
        "bert-base-chinese": ["这部电影真的很好看，我非常喜欢！OK", "今天的安排有些无聊。"],
    }
    for name, texts in sentences.items():
        d = synth.generate("sims" if "chinese" in name else "mosi", scale=0.02, seed=1,
                           dims={"text": 2, "audio": 2, "vision": 2}, lengths={"audio": 4, "vision": 4})  # fmt: skip
        texts = texts + [str(t) for t in d["train"]["raw_text"]]
        ref = transformers.BertTokenizer.from_pretrained(str(VOCAB_DIR / name))
        ours = WordPieceTokenizer.from_name(name)
        for t in texts:
            assert ours.encode(t, 64)[0][ours.encode(t, 64)[1] == 1].tolist() == ref(t)["input_ids"], t


def test_bad_vocab_files_are_rejected_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        WordPieceTokenizer.from_vocab(tmp_path / "missing.txt")
    bad = tmp_path / "vocab.txt"
    bad.write_text("hello\nworld\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lacks the special tokens .*\[CLS\]"):
        WordPieceTokenizer.from_vocab(bad)
    with pytest.raises(FileNotFoundError, match="bert-base-chinese"):
        WordPieceTokenizer.from_name("roberta")
