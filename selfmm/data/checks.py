"""Content checks of an MMSA file beyond keys, shapes and dtypes, and the token-id check against a text model.

Which inputs are refused and which are only warned about (the rest of what :func:`selfmm.data.load_mmsa` refuses
is in its docstring):

- refused with a :class:`DataError` naming the file, split, key and the fix: an id that is None, the same id twice
  in a split or in two splits (ids are a sample's identity in every run table and in the dashboard; one clip in two
  splits also leaks test data into training); attention-mask values other than 0/1; segment ids other than 0/1
  (BERT has two token types; bert mode only); a 3-D feature array with a time or feature axis of size 0; token ids
  at or above the text model's vocabulary size (:func:`check_token_ids`, once the model is built);
- warned about (one ``RuntimeWarning`` line per kind, naming the file), and the data used: all-zero attention
  masks (the text model sees only padding for those samples; in an aligned file their audio/vision length is 1);
  ``raw_text`` entries that are None (shown as empty text); human unimodal labels in some splits only (dropped
  everywhere, so that every split, the run's manifest and the label sources agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selfmm.data.unpickle import DataError, _short

TEXT_MODES = ("bert", "precomputed")  # bert: text_bert ids through BERT; precomputed: `text` features


class Ctx:
    """Formats error messages that name the file, split and key."""

    def __init__(self, path: Path):
        self.path = path

    def err(self, split: str, key: str, problem: str, fix: str) -> DataError:
        return DataError(f"{self.path}: split {split!r}, key {key!r}: {problem}; {fix}")


def keys_of(d: dict, limit: int = 20) -> str:
    """The keys of a split dict for a message: any key type, each cut short, in a stable order, at most ``limit``."""
    names = sorted((_short(k, 40) for k in d), key=str)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "[" + ", ".join(names[:limit]) + more + "]"


def str_list(ctx: Ctx, split: str, key: str, value, n: int) -> list:
    """``value`` as a list of ``n`` items (bytes decoded as UTF-8; other items left as they are)."""
    if isinstance(value, (str, bytes)):
        raise ctx.err(split, key, f"is a single {type(value).__name__}", "expected one string per sample")
    try:
        items = list(value)
    except TypeError:
        raise ctx.err(split, key, f"is a {type(value).__name__}", "expected a sequence of strings") from None
    if len(items) != n:
        raise ctx.err(split, key, f"has {len(items)} rows but the split has {n} samples", "rebuild the file")
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in items]


def ids(ctx: Ctx, split: str, value, n: int) -> np.ndarray:
    """The split's ids as an (n,) object array of str; a None id is refused (it would print as 'None')."""
    items = str_list(ctx, split, "id", value, n)
    for i, x in enumerate(items):
        if x is None:
            raise ctx.err(split, "id", f"row {i} is None", "every sample needs an id ('video$_$clip' in MMSA files)")
    return np.array([x if isinstance(x, str) else str(x) for x in items], dtype=object)


def raw_text(ctx: Ctx, split: str, value, n: int, notes: list[str]) -> list[str]:
    """The split's raw text; a None column or None entries become "" with a note (raw text is only displayed)."""
    if value is None:
        notes.append(f"split {split!r}, key 'raw_text' is None: the samples are shown without their text")
        return [""] * n
    items = str_list(ctx, split, "raw_text", value, n)
    n_none = sum(x is None for x in items)
    if n_none:
        first = next(i for i, x in enumerate(items) if x is None)
        notes.append(
            f"split {split!r}, key 'raw_text': None in {n_none} of {n} rows (first at row {first}); shown as empty text"
        )
    return ["" if x is None else x if isinstance(x, str) else str(x) for x in items]


def unique_ids(ctx: Ctx, split_ids: dict[str, np.ndarray]) -> None:
    """Refuse an id that occurs twice, within one split or across splits (message names both places)."""
    seen: dict[str, tuple[str, int]] = {}
    for split, arr in split_ids.items():
        for i, x in enumerate(arr):
            where = seen.setdefault(x, (split, i))
            if where == (split, i):
                continue
            first = f"row {where[1]}" if where[0] == split else f"row {where[1]} of split {where[0]!r}"
            raise ctx.err(
                split, "id", f"id {_short(x)} at row {i} is also at {first}",
                "ids identify samples in run folders and the dashboard, and one clip in two splits leaks it between "
                "them: give every sample of train/valid/test its own id",
            )  # fmt: skip


def nonempty_axes(ctx: Ctx, split: str, key: str, a: np.ndarray) -> None:
    """Refuse a (N, T, D) array with T == 0 or D == 0: the encoders cannot take a modality without any values."""
    if a.ndim == 3 and 0 in a.shape[1:]:
        axis = "feature dimension" if a.shape[2] == 0 else "padded length"
        raise ctx.err(
            split, key, f"has shape {a.shape}: its {axis} is 0",
            "every modality needs at least one time step and one feature: re-extract the features",
        )  # fmt: skip


def text_bert_values(ctx: Ctx, split: str, tb: np.ndarray, segments: bool, notes: list[str]) -> None:
    """(N, 3, L) non-negative integer rows: the mask must be 0/1 and (``segments``) the segment ids 0/1.

    All-zero masks are noted, not refused: the sample still trains (its text is all padding).
    """
    if tb.shape[2] == 0:
        raise ctx.err(split, "text_bert", f"has shape {tb.shape}: no tokens", "re-tokenise the text ([CLS] ... [SEP])")
    for row, key, what in ((1, "attention-mask value", "1 for tokens, 0 for padding"), (2, "segment id", "0 or 1")):
        if row == 2 and not segments:
            continue  # precomputed text: the segment ids are never read
        v = tb[:, row]
        bad = (v != 0) & (v != 1)
        if bad.any():
            i, j = (int(k[0]) for k in np.nonzero(bad))
            raise ctx.err(
                split, "text_bert", f"{key} {v[i, j]:g} at row {i}, position {j} (must be {what})",
                "rows must be WordPiece ids, a 0/1 attention mask and 0/1 segment ids: re-tokenise the text",
            )  # fmt: skip
    empty = ~tb[:, 1].any(axis=1)
    if empty.any():
        notes.append(
            f"split {split!r}, key 'text_bert': all-zero attention mask in {int(empty.sum())} of {len(tb)} rows (first "
            f"at row {int(np.flatnonzero(empty)[0])}): the text model sees only padding for them (aligned files: "
            "audio/vision length 1)"
        )


def human_in_every_split(splits: dict, notes: list[str]) -> None:
    """Human unimodal labels in some splits only: noted and dropped from all, so every consumer sees one answer."""
    have = [s for s, sp in splits.items() if sp.y_human]
    if have and len(have) < len(splits):
        lack = [s for s in splits if s not in have]
        notes.append(
            f"human unimodal labels regression_labels_T/A/V are in {', '.join(have)} but not in {', '.join(lack)}: "
            "ignored (add them to every split to use label_source=human and the human-label comparisons)"
        )
        for sp in splits.values():
            sp.y_human = {}


def check_token_ids(data, vocab_size: int | None) -> None:
    """Refuse text_bert ids >= ``vocab_size`` (the text model's); None (precomputed text) checks nothing.

    Raises:
        DataError: naming the file, split, row and the largest id, and which vocabulary each dataset needs.
    """
    if vocab_size is None:
        return
    ctx = Ctx(data.path)
    for split, sp in data.splits.items():
        if sp.text_bert is None:
            continue
        over = (sp.text_bert[:, 0] >= vocab_size).any(axis=1)
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise ctx.err(
                split, "text_bert", f"token id {int(sp.text_bert[i, 0].max())} at row {i} does not fit the text "
                f"model's vocabulary of {vocab_size} entries",
                "the ids were made with another tokenizer: use a text model with that vocabulary (bert-base-chinese "
                "for SIMS, bert-base-uncased for MOSI/MOSEI) or set dataset= to match the data",
            )  # fmt: skip
