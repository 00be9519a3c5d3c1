"""BERT WordPiece tokenisation of transcripts into the ``text_bert`` rows of an MMSA pickle.

A thin wrapper over Hugging Face ``tokenizers`` (the engine of ``BertTokenizerFast``) configured as BERT's
``tokenization.py``: clean control characters, spaces around CJK characters, lower case and accent stripping, split
on whitespace and punctuation, then greedy longest-match-first WordPiece (``##`` continuations, ``[UNK]`` for a
word with no segmentation or longer than 100 characters). Rows are ``[CLS] tokens [SEP]`` ids, the attention mask
and the segment ids, zero-padded to a fixed length.

The shipped vocabularies (``selfmm/vocab/<name>/vocab.txt``) are Google's ``bert-base-chinese`` and
``bert-base-uncased`` (Apache-2.0, see ``selfmm/vocab/NOTICE.md``); both are lower-cased.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
MAX_CHARS_PER_WORD = 100  # BERT's max_input_chars_per_word


def vocab_path(name: str) -> Path:
    """Path of a shipped vocabulary: ``bert-base-chinese`` or ``bert-base-uncased``."""
    path = VOCAB_DIR / name / "vocab.txt"
    if not path.is_file():
        shipped = sorted(p.parent.name for p in VOCAB_DIR.glob("*/vocab.txt"))
        raise FileNotFoundError(f"no shipped vocabulary {name!r} at {path}: expected one of {', '.join(shipped)}")
    return path


class WordPieceTokenizer:
    """BERT tokenizer over a vocabulary (a list of tokens; the position is the id)."""

    def __init__(self, vocab: list[str], source: str = "<vocab>"):
        self.source = source
        ids = {tok: i for i, tok in enumerate(vocab)}
        missing = [t for t in SPECIAL_TOKENS if t not in ids]
        if missing:
            raise ValueError(f"{source}: vocabulary lacks the special tokens {missing}; pass a BERT vocab.txt")
        self._size = len(vocab)
        self.cls_id, self.sep_id = ids["[CLS]"], ids["[SEP]"]
        self._tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=MAX_CHARS_PER_WORD))
        self._tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
        )
        self._tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()

    @classmethod
    def from_vocab(cls, path: str | Path) -> WordPieceTokenizer:
        """Read a BERT ``vocab.txt`` (one token per line, the line number is the id)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} not found: pass a BERT vocab.txt (one token per line)")
        vocab = path.read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()  # trailing newline
        return cls([t.rstrip("\r") for t in vocab], source=str(path))

    @classmethod
    def from_name(cls, name: str) -> WordPieceTokenizer:
        """A shipped vocabulary by name: ``bert-base-chinese`` or ``bert-base-uncased``."""
        return cls.from_vocab(vocab_path(name))

    def __len__(self) -> int:
        return self._size

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text``, without ``[CLS]``/``[SEP]``."""
        return self._tok.encode(text, add_special_tokens=False).tokens

    def encode(self, text: str, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``[CLS] tokens [SEP]`` truncated to ``max_len`` and zero-padded.

        Returns ``(ids, mask, segments)``, each ``(max_len,)`` int64; ``segments`` is all zeros (one sentence).
        """
        if max_len < 2:
            raise ValueError(f"max_len={max_len}: need room for [CLS] and [SEP]")
        toks = self._tok.encode(text, add_special_tokens=False).ids[: max_len - 2]
        row = [self.cls_id, *toks, self.sep_id]
        ids = np.zeros(max_len, dtype=np.int64)  # zero padding as in MMSA ([PAD] is id 0 in BERT vocabularies)
        ids[: len(row)] = row
        mask = np.zeros(max_len, dtype=np.int64)
        mask[: len(row)] = 1
        return ids, mask, np.zeros(max_len, dtype=np.int64)

    def encode_batch(self, texts: list[str], max_len: int) -> np.ndarray:
        """The MMSA ``text_bert`` array: ``(N, 3, max_len)`` float32, rows ids / attention mask / segment ids."""
        out = np.zeros((len(texts), 3, max_len), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = np.stack(self.encode(t, max_len))
        return out
