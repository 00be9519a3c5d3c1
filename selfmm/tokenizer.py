"""A dependency-free BERT WordPiece tokenizer (the algorithm of Google's ``tokenization.py``).

It turns transcripts into the ``text_bert`` rows of an MMSA pickle: ``[CLS] tokens [SEP]`` ids, the attention
mask and the segment ids, zero-padded to a fixed length. Two steps, as in BERT:

1. Basic tokenisation: drop control characters, normalise whitespace, put spaces around every CJK character,
   lower-case and strip accents (``do_lower_case``), split off punctuation.
2. WordPiece: greedy longest-match-first over the vocabulary, continuation pieces prefixed ``##``; a word with no
   complete segmentation (or longer than 100 characters) becomes ``[UNK]``.

The shipped vocabularies (``selfmm/vocab/<name>/vocab.txt``) are Google's ``bert-base-chinese`` and
``bert-base-uncased`` (Apache-2.0, see ``selfmm/vocab/NOTICE.md``). ``transformers.BertTokenizer`` gives the same
ids; the tests check that.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

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


# ---------------------------------------------------------------------------------------------------------------
# character classes (identical to BERT's tokenization.py)


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII character as punctuation ("$", "^", "`" are not Unicode "P*").
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    """CJK Unified Ideographs blocks (not Hangul or kana, which BERT tokenises like Latin text)."""
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


# ---------------------------------------------------------------------------------------------------------------


class WordPieceTokenizer:
    """BERT tokenizer over a ``vocab.txt`` (one token per line, the line number is the id)."""

    def __init__(self, vocab: list[str], do_lower_case: bool = True, source: str = "<vocab>"):
        self.source = source
        self.inv_vocab = list(vocab)
        self.vocab = {tok: i for i, tok in enumerate(vocab)}
        missing = [t for t in SPECIAL_TOKENS if t not in self.vocab]
        if missing:
            raise ValueError(f"{source}: vocabulary lacks the special tokens {missing}; pass a BERT vocab.txt")
        self.do_lower_case = do_lower_case
        self.pad_id, self.unk_id = self.vocab["[PAD]"], self.vocab["[UNK]"]
        self.cls_id, self.sep_id = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self._special_ids = {self.vocab[t] for t in SPECIAL_TOKENS}

    @classmethod
    def from_vocab(cls, path: str | Path, do_lower_case: bool = True) -> WordPieceTokenizer:
        """Read a BERT ``vocab.txt``. Both shipped vocabularies are lower-cased (Google's uncased/Chinese)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} not found: pass a BERT vocab.txt (one token per line)")
        vocab = path.read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()  # trailing newline
        return cls([t.rstrip("\r") for t in vocab], do_lower_case=do_lower_case, source=str(path))

    @classmethod
    def from_name(cls, name: str) -> WordPieceTokenizer:
        """A shipped vocabulary by name: ``bert-base-chinese`` or ``bert-base-uncased``."""
        return cls.from_vocab(vocab_path(name))

    def __len__(self) -> int:
        return len(self.inv_vocab)

    # --- basic tokenisation -------------------------------------------------------------------------------------
    def basic_tokenize(self, text: str) -> list[str]:
        """Whitespace/punctuation/CJK split, lower-cased and accent-stripped when ``do_lower_case``."""
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                chars.append(" ")
            elif _is_cjk(cp):
                chars.extend((" ", ch, " "))
            else:
                chars.append(ch)
        out: list[str] = []
        for word in "".join(chars).split():
            if self.do_lower_case:
                word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
            start = 0
            for i, ch in enumerate(word):
                if _is_punctuation(ch):
                    if i > start:
                        out.append(word[start:i])
                    out.append(ch)
                    start = i + 1
            if start < len(word):
                out.append(word[start:])
        return out

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first split of one basic token; ``[UNK]`` if no full segmentation exists."""
        if len(word) > MAX_CHARS_PER_WORD:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [p for w in self.basic_tokenize(text) for p in self.wordpiece(w)]

    # --- ids ------------------------------------------------------------------------------------------------------
    def encode(self, text: str, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``[CLS] tokens [SEP]`` truncated to ``max_len`` and zero-padded.

        Returns ``(ids, mask, segments)``, each ``(max_len,)`` int64; ``segments`` is all zeros (one sentence).
        """
        if max_len < 2:
            raise ValueError(f"max_len={max_len}: need room for [CLS] and [SEP]")
        toks = self.tokenize(text)[: max_len - 2]
        ids = np.zeros(max_len, dtype=np.int64)  # [PAD] is id 0 in BERT vocabularies; zero padding as in MMSA
        row = [self.cls_id, *(self.vocab[t] for t in toks), self.sep_id]
        ids[: len(row)] = row
        if self.pad_id != 0:
            ids[len(row) :] = self.pad_id
        mask = np.zeros(max_len, dtype=np.int64)
        mask[: len(row)] = 1
        return ids, mask, np.zeros(max_len, dtype=np.int64)

    def encode_batch(self, texts: list[str], max_len: int) -> np.ndarray:
        """The MMSA ``text_bert`` array: ``(N, 3, max_len)`` float32, rows ids / attention mask / segment ids."""
        out = np.zeros((len(texts), 3, max_len), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = np.stack(self.encode(t, max_len))
        return out

    def convert_ids_to_tokens(self, ids) -> list[str]:
        n = len(self.inv_vocab)
        bad = [int(i) for i in ids if not 0 <= int(i) < n]
        if bad:
            raise ValueError(f"token ids {bad[:5]} out of range for {self.source} (vocab size {n})")
        return [self.inv_vocab[int(i)] for i in ids]

    def decode(self, ids) -> str:
        """Text from ids: special tokens and padding dropped, ``##`` pieces joined, no spaces around CJK
        characters, none before closing punctuation or around an apostrophe.

        For text without [UNK] and without truncation, ``decode(encode(t))`` equals ``t`` after basic
        normalisation (lower case, accents stripped, single spaces).
        """
        toks = [t for i, t in zip(ids, self.convert_ids_to_tokens(ids)) if int(i) not in self._special_ids]
        out = ""
        prev = ""
        for tok in toks:
            if tok.startswith("##") and out:
                out += tok[2:]
            elif not out or _no_space_between(prev, tok):
                out += tok
            else:
                out += " " + tok
            prev = tok
        return out


_CLOSING = set(".,!?;:%)]}")
_OPENING = set("([{$#")


def _no_space_between(prev: str, tok: str) -> bool:
    def tight(t: str) -> bool:  # a CJK character or a full-width/CJK punctuation mark
        return len(t) == 1 and (_is_cjk(ord(t)) or (ord(t) > 127 and _is_punctuation(t)))

    last, first = prev[-1:], tok[:1]
    return tight(prev) or tight(tok) or first in _CLOSING or last in _OPENING or first in "'-/" or last in "'-/"
