"""The MMSA feature-pickle reader and a fast tensor batch loader.

MMSA ships its processed datasets as pickles (reference §5.1)::

    {"train" | "valid" | "test": {
        "raw_text": (N,) str,  "id": (N,) str "video_0001$_$3",
        "text_bert": (N, 3, L) float (input ids, attention mask, segment ids),
        "text": (N, L, Dt) float (precomputed BERT features),
        "audio": (N, Ta, Da) float, "vision": (N, Tv, Dv) float,
        "audio_lengths", "vision_lengths": (N,) int        # unaligned files only
        "regression_labels": (N,) float,                   # y_m
        "regression_labels_T" | "_A" | "_V": (N,) float,   # SIMS / SIMS v2 human unimodal labels
        "annotations", "classification_labels": ...}}     # not used

:func:`safe_load_pickle` reads such a file with a restricted unpickler (numpy arrays and builtins only, so a hostile
file cannot run code), :func:`load_mmsa` validates and normalises it into :class:`MMSAData`, and
:class:`BatchLoader` turns one split into torch tensors once and yields batches by index slicing.

Usage::

    data = load_mmsa("data/SIMS/unaligned_39.pkl", dataset="sims")
    gen = torch.Generator().manual_seed(1111)
    for batch in BatchLoader(data.splits["train"], batch_size=32, shuffle=True, generator=gen):
        batch["index"], batch["text"], batch["audio"], batch["audio_lengths"], batch["y_m"], ...
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from selfmm.data.unpickle import DataError, Limits, safe_load_pickle

__all__ = ["BatchLoader", "DataError", "Limits", "MMSAData", "SplitData", "load_mmsa", "safe_load_pickle"]

SPLITS = ("train", "valid", "test")
DATASETS = ("mosi", "mosei", "sims", "simsv2")
TEXT_MODES = ("bert", "precomputed")
LABEL_RANGES = {"mosi": 3.0, "mosei": 3.0, "sims": 1.0, "simsv2": 1.0}
BERT_HIDDEN = 768  # feature_dims["text"] in bert mode, as the MMSA loader reports it (reference §5.1)
_LABEL_TOL = 1e-4  # labels are stored as float32/float64 multiples of 0.2 or 1/3: allow rounding slack


# ----------------------------------------------------------------------------------------------------------------
# Containers
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class SplitData:
    """One split of an MMSA file, validated. ``N`` samples, rows in the pickle's order (row = ``index``)."""

    name: str  # train | valid | test
    ids: np.ndarray  # (N,) object array of str, the pickle's `id`
    raw_text: list[str]  # (N,)
    text_bert: np.ndarray | None  # (N, 3, L) float32: input ids, attention mask, segment ids
    text: np.ndarray | None  # (N, L, Dt) float32 precomputed features (None in bert mode: not needed)
    audio: np.ndarray  # (N, Ta, Da) float32, non-finite replaced by 0
    vision: np.ndarray  # (N, Tv, Dv) float32, non-finite replaced by 0
    audio_lengths: np.ndarray  # (N,) int64, 1 <= len <= Ta (aligned files: attention-mask sums)
    vision_lengths: np.ndarray  # (N,) int64, 1 <= len <= Tv
    y_m: np.ndarray  # (N,) float32 regression_labels
    y_human: dict[str, np.ndarray] = field(default_factory=dict)  # "T","A","V" -> (N,) float32, or {}

    def __len__(self) -> int:
        return len(self.y_m)


@dataclass
class MMSAData:
    """A validated MMSA file: three :class:`SplitData` plus the facts the model and the run manifest need."""

    path: Path
    splits: dict[str, SplitData]  # train, valid, test
    aligned: bool  # True when the file has no *_lengths keys
    label_range: float  # 1.0 (sims, simsv2) or 3.0 (mosi, mosei)
    text_mode: str = "bert"  # bert | precomputed: which text input feature_dims/seq_lens describe
    dataset: str = "sims"

    @property
    def has_human_unimodal(self) -> bool:
        """True when every split carries regression_labels_T/A/V."""
        return all(bool(s.y_human) for s in self.splits.values())

    @property
    def feature_dims(self) -> dict:
        """{"text": 768 (bert mode) or Dt, "audio": Da, "vision": Dv}."""
        tr = self.splits["train"]
        text = BERT_HIDDEN if self.text_mode == "bert" else int(tr.text.shape[2])
        return {"text": text, "audio": int(tr.audio.shape[2]), "vision": int(tr.vision.shape[2])}

    @property
    def seq_lens(self) -> dict:
        """Padded lengths of the train arrays: {"text": L, "audio": Ta, "vision": Tv}."""
        tr = self.splits["train"]
        L = tr.text_bert.shape[2] if self.text_mode == "bert" else tr.text.shape[1]
        return {"text": int(L), "audio": int(tr.audio.shape[1]), "vision": int(tr.vision.shape[1])}

    def summary(self) -> dict:
        """The manifest's ``dataset`` facts (without path hashing): sizes, dims, lengths, flags."""
        return {
            "name": self.dataset,
            **{f"n_{s}": len(self.splits[s]) for s in SPLITS},
            "feature_dims": self.feature_dims,
            "seq_lens": self.seq_lens,
            "has_human_unimodal": self.has_human_unimodal,
            "label_range": self.label_range,
            "aligned": self.aligned,
        }


# ----------------------------------------------------------------------------------------------------------------
# Loading and validation
# ----------------------------------------------------------------------------------------------------------------


class _Ctx:
    """Formats error messages that name the file, split and key."""

    def __init__(self, path: Path):
        self.path = path

    def err(self, split: str, key: str, problem: str, fix: str) -> DataError:
        return DataError(f"{self.path}: split {split!r}, key {key!r}: {problem}; {fix}")


def _as_array(ctx: _Ctx, split: str, key: str, value) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as e:
        raise ctx.err(split, key, f"cannot be read as an array ({e})", "store a numpy array") from None


def _float32_finite(ctx: _Ctx, split: str, key: str, value, ndim: int, counts: dict) -> np.ndarray:
    """``value`` as a float32 array of ``ndim`` dims with -inf/inf/NaN set to 0 (counted into ``counts``).

    Float32 input is not copied unless it is read-only and has non-finite values. The finiteness check runs over
    row chunks so that MOSEI-sized arrays never need a full-size boolean mask.
    """
    a = _as_array(ctx, split, key, value)
    if a.ndim != ndim:
        raise ctx.err(split, key, f"has shape {a.shape} ({a.ndim}-D)", f"expected a {ndim}-D array")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ctx.err(split, key, f"has dtype {a.dtype}", "expected a float array")
    a = np.ascontiguousarray(a, dtype=np.float32)
    row_bytes = max(1, a[:1].nbytes)
    step = max(1, (64 << 20) // row_bytes)  # ~64 MB per chunk
    n_bad = 0
    for start in range(0, len(a), step):
        chunk = a[start : start + step]
        if np.isfinite(chunk).all():
            continue
        if not a.flags.writeable:  # e.g. a protocol-5 buffer; copy once, then fix in place
            a = a.copy()
            chunk = a[start : start + step]
        bad = ~np.isfinite(chunk)
        n_bad += int(bad.sum())
        chunk[bad] = 0.0
    if n_bad:
        counts[f"{split}/{key}"] = n_bad
    return a


def _int_vector(ctx: _Ctx, split: str, key: str, value, n: int) -> np.ndarray:
    a = _as_array(ctx, split, key, value)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ctx.err(split, key, f"has shape {a.shape}", f"expected ({n},): one length per sample")
    if len(a) != n:
        raise ctx.err(split, key, f"has {len(a)} rows but the split has {n} samples", "rebuild the file")
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.int64, copy=False)
    if np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() and (a == np.round(a)).all():
        return a.astype(np.int64)
    raise ctx.err(split, key, f"holds non-integer values (dtype {a.dtype})", "lengths must be whole frame counts")


def _labels(ctx: _Ctx, split: str, key: str, value, n: int, label_range: float, dataset: str) -> np.ndarray:
    a = _as_array(ctx, split, key, value)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ctx.err(split, key, f"has shape {a.shape}", f"expected ({n},): one label per sample")
    if len(a) != n:
        raise ctx.err(split, key, f"has {len(a)} rows but the split has {n} samples", "rebuild the file")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ctx.err(split, key, f"has dtype {a.dtype}", "expected float labels")
    a = a.astype(np.float32, copy=False)
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ctx.err(split, key, f"{int(bad.sum())} NaN/inf labels (first at row {i})", "fix or drop those rows")
    out = np.abs(a) > label_range + _LABEL_TOL
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ctx.err(
            split,
            key,
            f"{int(out.sum())} labels outside [-{label_range:g}, {label_range:g}] (row {i}: {a[i]:g})",
            f"is dataset={dataset!r} right? sims/simsv2 labels lie in [-1, 1], mosi/mosei in [-3, 3]",
        )
    return a


def _str_list(ctx: _Ctx, split: str, key: str, value, n: int) -> list[str]:
    try:
        items = list(value)
    except TypeError:
        raise ctx.err(split, key, f"is a {type(value).__name__}", "expected a sequence of strings") from None
    if len(items) != n:
        raise ctx.err(split, key, f"has {len(items)} rows but the split has {n} samples", "rebuild the file")
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in items]


def _lengths_from_mask(text_bert: np.ndarray, T: int) -> np.ndarray:
    """Aligned files: every modality's length is the attention-mask sum (reference SELF_MM aligned branch)."""
    return np.clip(text_bert[:, 1, :].sum(axis=1).round().astype(np.int64), 1, T)


def _load_split(ctx: _Ctx, name: str, d, text_mode: str, aligned: bool, label_range: float, dataset: str, counts):
    if not isinstance(d, dict):
        raise ctx.err(name, "*", f"is a {type(d).__name__}, not a dict", "expected {key: array} per split")
    text_key = "text_bert" if text_mode == "bert" else "text"
    required = ["id", "regression_labels", "audio", "vision", text_key]
    if not aligned:
        required += ["audio_lengths", "vision_lengths"]
    for key in required:
        if key not in d:
            if key == text_key:
                other = "text_mode='precomputed'" if text_mode == "bert" else "text_mode='bert'"
                fix = f"this file has keys {sorted(d)}; add {key!r} or use {other}"
            elif key.endswith("_lengths"):
                fix = "an unaligned file needs both audio_lengths and vision_lengths (an aligned one neither)"
            else:
                fix = f"this file has keys {sorted(d)}; regenerate it in the MMSA layout"
            raise ctx.err(name, key, "is missing", fix)

    y_m_raw = _as_array(ctx, name, "regression_labels", d["regression_labels"])
    n = len(y_m_raw) if y_m_raw.ndim >= 1 else 0
    if n == 0:
        raise ctx.err(name, "regression_labels", "the split has no samples", "every split needs at least one row")
    y_m = _labels(ctx, name, "regression_labels", y_m_raw, n, label_range, dataset)
    ids = np.array(_str_list(ctx, name, "id", d["id"], n), dtype=object)
    raw_text = _str_list(ctx, name, "raw_text", d["raw_text"], n) if "raw_text" in d else [""] * n

    def rows_ok(key: str, a: np.ndarray) -> np.ndarray:
        if a.shape[0] != n:
            raise ctx.err(name, key, f"has {a.shape[0]} rows but 'regression_labels' has {n}", "rebuild the file")
        return a

    audio = rows_ok("audio", _float32_finite(ctx, name, "audio", d["audio"], 3, counts))
    vision = rows_ok("vision", _float32_finite(ctx, name, "vision", d["vision"], 3, counts))
    text = None
    if text_mode == "precomputed":
        text = rows_ok("text", _float32_finite(ctx, name, "text", d["text"], 3, counts))

    text_bert = None
    if "text_bert" in d and (text_mode == "bert" or aligned):
        tb = _as_array(ctx, name, "text_bert", d["text_bert"])
        if tb.ndim != 3 or tb.shape[1] != 3:
            raise ctx.err(name, "text_bert", f"has shape {tb.shape}", "expected (N, 3, L): ids, mask, segments")
        rows_ok("text_bert", tb)
        if not (np.issubdtype(tb.dtype, np.floating) or np.issubdtype(tb.dtype, np.integer)):
            raise ctx.err(name, "text_bert", f"has dtype {tb.dtype}", "expected float or int token ids")
        tb = np.ascontiguousarray(tb, dtype=np.float32)
        ok = np.isfinite(tb).all() and (tb == np.round(tb)).all() and (tb >= 0).all()
        if not ok:
            raise ctx.err(
                name,
                "text_bert",
                "holds values that are not non-negative integers",
                "rows must be WordPiece ids, a 0/1 attention mask and segment ids (re-tokenise the text)",
            )
        text_bert = tb

    if aligned:
        if text_bert is None:
            raise ctx.err(
                name,
                "text_bert",
                "is missing and the file is aligned (no *_lengths keys)",
                "aligned lengths are the text attention-mask sums: add text_bert or audio/vision_lengths",
            )
        audio_lengths = _lengths_from_mask(text_bert, audio.shape[1])
        vision_lengths = _lengths_from_mask(text_bert, vision.shape[1])
    else:
        audio_lengths = _int_vector(ctx, name, "audio_lengths", d["audio_lengths"], n)
        vision_lengths = _int_vector(ctx, name, "vision_lengths", d["vision_lengths"], n)
        for key, lens, T in (("audio_lengths", audio_lengths, audio.shape[1]), ("vision_lengths", vision_lengths, vision.shape[1])):  # fmt: skip
            if (lens < 1).any():
                i = int(np.flatnonzero(lens < 1)[0])
                raise ctx.err(
                    name, key, f"row {i} has length {lens[i]} (must be >= 1)",
                    "pack_padded_sequence needs at least one frame: set empty sequences to length 1",
                )  # fmt: skip
            if (lens > T).any():
                i = int(np.flatnonzero(lens > T)[0])
                raise ctx.err(
                    name, key, f"row {i} has length {lens[i]} but the padded sequence holds {T} frames",
                    "lengths must not exceed the padded length: clip them or re-pad the features",
                )  # fmt: skip

    y_human: dict[str, np.ndarray] = {}
    present = [m for m in "TAV" if f"regression_labels_{m}" in d]
    if present and len(present) < 3:
        missing = [f"regression_labels_{m}" for m in "TAV" if m not in present]
        raise ctx.err(name, missing[0], "is missing while other unimodal labels are present", "add all of T, A, V")
    for m in present:
        key = f"regression_labels_{m}"
        y_human[m] = _labels(ctx, name, key, d[key], n, label_range, dataset)

    return SplitData(
        name=name,
        ids=ids,
        raw_text=raw_text,
        text_bert=text_bert,
        text=text,
        audio=audio,
        vision=vision,
        audio_lengths=audio_lengths,
        vision_lengths=vision_lengths,
        y_m=y_m,
        y_human=y_human,
    )


def load_mmsa(path, dataset: str = "sims", text_mode: str = "bert") -> MMSAData:
    """Read, validate and normalise an MMSA feature pickle.

    Args:
        path: the ``*.pkl`` file (loaded with :func:`safe_load_pickle`).
        dataset: ``mosi | mosei | sims | simsv2``; sets the label range the labels are checked against.
        text_mode: ``bert`` needs ``text_bert``; ``precomputed`` needs ``text`` (then ``feature_dims["text"]`` is Dt).

    Returns:
        :class:`MMSAData`. Float features are float32 with ``-inf``/``inf``/``NaN`` replaced by 0 (one warning line
        for the whole file, with counts per split/key). Human unimodal labels (SIMS) land in ``y_human``.

    Raises:
        DataError: naming the file, split and key, for missing splits/keys, disagreeing row counts, wrong ndim,
            lengths < 1 or > the padded length, labels that are NaN or outside the dataset's range, and
            ``text_bert`` ids that are not integers.
    """
    if dataset not in DATASETS:
        raise DataError(f"{path}: dataset={dataset!r}: expected one of {', '.join(DATASETS)}")
    if text_mode not in TEXT_MODES:
        raise DataError(f"{path}: text_mode={text_mode!r}: expected one of {', '.join(TEXT_MODES)}")
    path = Path(path)
    ctx = _Ctx(path)
    raw = safe_load_pickle(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: holds a {type(raw).__name__}, expected a dict with train/valid/test splits")
    for s in SPLITS:
        if s not in raw:
            raise DataError(
                f"{path}: split {s!r} is missing (found {sorted(map(str, raw))}); expected train/valid/test"
            )
    label_range = LABEL_RANGES[dataset]

    train = raw["train"]
    has_len = [k for k in ("audio_lengths", "vision_lengths") if isinstance(train, dict) and k in train]
    aligned = not has_len  # one of the two present: the unaligned path reports the other as missing
    counts: dict[str, int] = {}
    splits = {}
    for s in SPLITS:
        splits[s] = _load_split(ctx, s, raw[s], text_mode, aligned, label_range, dataset, counts)
        raw[s] = None  # free the original arrays of this split as soon as possible (MOSEI is 1.2 GB)
    del raw

    for s in ("valid", "test"):
        for key in ("audio", "vision", "text"):
            a, b = getattr(splits["train"], key), getattr(splits[s], key)
            if a is not None and b is not None and a.shape[2] != b.shape[2]:
                raise DataError(
                    f"{path}: split {s!r}, key {key!r}: feature dim {b.shape[2]} differs from train's {a.shape[2]}; "
                    "all splits must come from the same feature extractor"
                )
    if counts:
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        warnings.warn(
            f"{path}: replaced {sum(counts.values())} non-finite feature values (-inf/inf/NaN) by 0: {detail}",
            RuntimeWarning,
            stacklevel=2,
        )
    return MMSAData(
        path=path, splits=splits, aligned=aligned, label_range=label_range, text_mode=text_mode, dataset=dataset
    )


# ----------------------------------------------------------------------------------------------------------------
# Batching
# ----------------------------------------------------------------------------------------------------------------


def _writable(a: np.ndarray) -> np.ndarray:
    """C-contiguous and writable (torch.from_numpy warns on read-only arrays); copies only when needed."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


class BatchLoader:
    """Yields dict batches of one split by gathering rows of arrays held once (no per-item collate).

    Each batch is ``{"index": (B,) long, "text": (B, 3, L) float (bert) or (B, L, Dt) float (precomputed),
    "audio": (B, Ta', Da) float, "audio_lengths": (B,) long CPU, "vision": (B, Tv', Dv), "vision_lengths",
    "y_m": (B,) float}`` plus ``"y_T", "y_A", "y_V"`` (B,) when the split has human unimodal labels.
    ``Ta'``/``Tv'`` are the batch's longest length (padding is at the end, so trimming loses nothing); with
    ``trim_text=True`` the text is likewise cut to the batch's longest attention mask (bert mode only).

    Shuffled order is ``torch.randperm(N, generator=generator)`` drawn at the start of each ``__iter__``, so saving
    and restoring the generator state reproduces the order exactly. The last batch may be smaller.
    """

    def __init__(
        self,
        split: SplitData,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        text_mode: str = "bert",
        trim_text: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if text_mode not in TEXT_MODES:
            raise ValueError(f"text_mode={text_mode!r}: expected one of {', '.join(TEXT_MODES)}")
        src = split.text_bert if text_mode == "bert" else split.text
        if src is None:
            key = "text_bert" if text_mode == "bert" else "text"
            raise DataError(
                f"split {split.name!r} has no {key!r}: load it with load_mmsa(..., text_mode={text_mode!r})"
            )
        self.split = split
        self.n = len(split)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.text_mode = text_mode
        self.trim_text = trim_text and text_mode == "bert"
        # Held once as C-contiguous writable arrays (no copy for what load_mmsa returns); each batch is one
        # gather per key whose result is wrapped by torch.from_numpy without another copy.
        self._text_np = _writable(src)
        self._audio_np = _writable(split.audio)
        self._vision_np = _writable(split.vision)
        self._audio_len = _writable(split.audio_lengths.astype(np.int64, copy=False))
        self._vision_len = _writable(split.vision_lengths.astype(np.int64, copy=False))
        self._labels = {"y_m": _writable(split.y_m.astype(np.float32, copy=False))}
        for m, y in split.y_human.items():
            self._labels[f"y_{m}"] = _writable(y.astype(np.float32, copy=False))
        if self.trim_text:
            self._text_len = np.rint(self._text_np[:, 1, :].sum(axis=1)).astype(np.int64)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[dict]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator)
        else:
            order = torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            idx = order[start : start + self.batch_size]
            rows = idx.numpy()
            a_len, v_len = self._audio_len[rows], self._vision_len[rows]
            ta, tv = int(a_len.max()), int(v_len.max())
            tl = max(1, int(self._text_len[rows].max())) if self.trim_text else self._text_np.shape[2]
            # The gathers run in numpy (advanced indexing on the row axis, then the time slice): a single-threaded
            # row memcpy of only the frames the batch needs. torch.index_select goes through the OpenMP pool,
            # which was 10-50x slower whenever the cores were busy (measured on the 2-core CI box).
            batch = {
                "index": idx,
                "text": torch.from_numpy(self._text_np[rows, :, :tl] if self.trim_text else self._text_np[rows]),
                "audio": torch.from_numpy(self._audio_np[rows, :ta]),
                "audio_lengths": torch.from_numpy(a_len),  # int64 on CPU, as pack_padded_sequence requires
                "vision": torch.from_numpy(self._vision_np[rows, :tv]),
                "vision_lengths": torch.from_numpy(v_len),
            }
            for k, y in self._labels.items():
                batch[k] = torch.from_numpy(y[rows])
            yield batch
