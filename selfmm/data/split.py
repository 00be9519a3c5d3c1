"""Validation and normalisation of one split of an MMSA file (:func:`selfmm.data.load_mmsa` documents what is
refused and what is only warned about); every error is a :class:`DataError` naming the file, split and key."""

from __future__ import annotations

import numpy as np

from selfmm.data import checks
from selfmm.data.checks import Ctx as _Ctx
from selfmm.data.containers import SplitData

_LABEL_TOL = 1e-4  # labels are stored as float32/float64 multiples of 0.2 or 1/3: allow rounding slack


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
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range -> inf: replaced and counted below
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
    checks.nonempty_axes(ctx, split, key, a)
    return a


def _vector(ctx: _Ctx, split: str, key: str, value, n: int, what: str) -> np.ndarray:
    """``value`` as an ``(n,)`` array (an ``(n, 1)`` column is flattened); ``what``: "one label per sample"."""
    a = _as_array(ctx, split, key, value)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ctx.err(split, key, f"has shape {a.shape}", f"expected ({n},): {what}")
    if len(a) != n:
        raise ctx.err(split, key, f"has {len(a)} rows but the split has {n} samples", "rebuild the file")
    return a


def _int_vector(ctx: _Ctx, split: str, key: str, value, n: int) -> np.ndarray:
    a = _vector(ctx, split, key, value, n, "one length per sample")
    whole = np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() and (a == np.round(a)).all()
    if not (np.issubdtype(a.dtype, np.integer) or whole):
        raise ctx.err(split, key, f"holds non-integer values (dtype {a.dtype})", "lengths must be whole frame counts")
    huge = np.abs(a.astype(np.float64)) >= 2.0**62  # int64 would wrap (uint64) or be undefined (float)
    if huge.any():
        i = int(np.flatnonzero(huge)[0])
        raise ctx.err(split, key, f"row {i} has length {a[i]:g}", "lengths must not exceed the padded length")
    return a.astype(np.int64, copy=False)


def _labels(ctx: _Ctx, split: str, key: str, value, n: int, label_range: float, dataset: str) -> np.ndarray:
    a = _vector(ctx, split, key, value, n, "one label per sample")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ctx.err(split, key, f"has dtype {a.dtype}", "expected float labels")
    bad = ~np.isfinite(a)  # checked before the float32 cast, which would turn a huge label into inf
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
    return a.astype(np.float32, copy=False)


def _text_bert(ctx: _Ctx, split: str, value, segments: bool, notes: list[str]) -> np.ndarray:
    """(N, 3, L) float32 of non-negative integers: ids, 0/1 mask, (``segments``) 0/1 segment ids."""
    tb = _as_array(ctx, split, "text_bert", value)
    if tb.ndim != 3 or tb.shape[1] != 3:
        raise ctx.err(split, "text_bert", f"has shape {tb.shape}", "expected (N, 3, L): ids, mask, segments")
    if not (np.issubdtype(tb.dtype, np.floating) or np.issubdtype(tb.dtype, np.integer)):
        raise ctx.err(split, "text_bert", f"has dtype {tb.dtype}", "expected float or int token ids")
    with np.errstate(over="ignore", invalid="ignore"):  # a huge id becomes inf, refused just below
        tb = np.ascontiguousarray(tb, dtype=np.float32)
    if not (np.isfinite(tb).all() and (tb == np.round(tb)).all() and (tb >= 0).all()):
        raise ctx.err(
            split,
            "text_bert",
            "holds values that are not non-negative integers",
            "rows must be WordPiece ids, a 0/1 attention mask and segment ids (re-tokenise the text)",
        )
    checks.text_bert_values(ctx, split, tb, segments, notes)
    return tb


def _lengths_from_mask(text_bert: np.ndarray, T: int) -> np.ndarray:
    """Aligned files: every modality's length is the attention-mask sum (reference SELF_MM aligned branch)."""
    return np.clip(text_bert[:, 1, :].sum(axis=1).round().astype(np.int64), 1, T)


def _require_keys(ctx: _Ctx, name: str, d: dict, text_mode: str, aligned: bool) -> None:
    text_key = "text_bert" if text_mode == "bert" else "text"
    required = ["id", "regression_labels", "audio", "vision", text_key]
    if not aligned:
        required += ["audio_lengths", "vision_lengths"]
    for key in required:
        if key not in d:
            if key == text_key:
                other = "text_mode='precomputed'" if text_mode == "bert" else "text_mode='bert'"
                fix = f"this file has keys {checks.keys_of(d)}; add {key!r} or use {other}"
            elif key.endswith("_lengths"):
                fix = "an unaligned file needs both audio_lengths and vision_lengths (an aligned one neither)"
            else:
                fix = f"this file has keys {checks.keys_of(d)}; regenerate it in the MMSA layout"
            raise ctx.err(name, key, "is missing", fix)


def _split_lengths(ctx: _Ctx, name: str, d: dict, n: int, aligned: bool, text_bert, audio, vision):
    """(audio_lengths, vision_lengths), each (n,) int64 in 1..T: attention-mask sums (aligned) or the file's."""
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
    return audio_lengths, vision_lengths


def _human_labels(ctx: _Ctx, name: str, d: dict, n: int, label_range: float, dataset: str) -> dict[str, np.ndarray]:
    """{"T", "A", "V"} -> (n,) float32 human unimodal labels, or {} when the split has none."""
    y_human: dict[str, np.ndarray] = {}
    present = [m for m in "TAV" if f"regression_labels_{m}" in d]
    if present and len(present) < 3:
        missing = [f"regression_labels_{m}" for m in "TAV" if m not in present]
        raise ctx.err(name, missing[0], "is missing while other unimodal labels are present", "add all of T, A, V")
    for m in present:
        key = f"regression_labels_{m}"
        y_human[m] = _labels(ctx, name, key, d[key], n, label_range, dataset)
    return y_human


def _load_split(
    ctx: _Ctx, name: str, d, text_mode: str, aligned: bool, label_range: float, dataset: str, counts, notes
):
    if not isinstance(d, dict):
        raise ctx.err(name, "*", f"is a {type(d).__name__}, not a dict", "expected {key: array} per split")
    _require_keys(ctx, name, d, text_mode, aligned)

    y_m_raw = _as_array(ctx, name, "regression_labels", d["regression_labels"])
    n = len(y_m_raw) if y_m_raw.ndim >= 1 else 0
    if n == 0:
        raise ctx.err(name, "regression_labels", "the split has no samples", "every split needs at least one row")
    y_m = _labels(ctx, name, "regression_labels", y_m_raw, n, label_range, dataset)
    ids = checks.ids(ctx, name, d["id"], n)
    raw_text = checks.raw_text(ctx, name, d["raw_text"], n, notes) if "raw_text" in d else [""] * n

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
        text_bert = rows_ok("text_bert", _text_bert(ctx, name, d["text_bert"], text_mode == "bert", notes))

    audio_lengths, vision_lengths = _split_lengths(ctx, name, d, n, aligned, text_bert, audio, vision)
    y_human = _human_labels(ctx, name, d, n, label_range, dataset)

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
