"""The per-epoch tables of a run folder as :class:`RunWriter` stores them: typed, checked against samples.parquet
(``ids``: split -> sample_id by index) and sorted. Each function returns what is written; the writer writes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from selfmm.runs.io import typed_table, write_safetensors_atomic
from selfmm.runs.layout import LABEL_COLUMNS, PREDICTION_COLUMNS, SCHEMA_VERSION, SPLIT_ORDER
from selfmm.runs.reader import RunError

Ids = dict[str, np.ndarray]  # split -> sample_id by index (object array)
_KEYS = {"epoch": pa.int32(), "split": pa.string(), "sample_id": pa.string(), "index": pa.int32()}


def check_alignment(ids: Ids, df: pd.DataFrame, split: str, what: str) -> None:
    """Raise :class:`RunError` unless ``df``'s (index, sample_id) rows of ``split`` match samples.parquet."""
    split_ids = ids.get(split)
    if split_ids is None:
        raise RunError(f"{what}: split {split!r} has no samples in samples.parquet")
    idx = df["index"].to_numpy()
    if len(idx) and (idx.min() < 0 or idx.max() >= len(split_ids)):
        raise RunError(f"{what}: {split} index out of range 0..{len(split_ids) - 1}")
    if len(np.unique(idx)) != len(idx):
        raise RunError(f"{what}: duplicate {split} index values")
    given = df["sample_id"].to_numpy(dtype=object)
    if not np.array_equal(split_ids[idx], given):
        k = int(np.flatnonzero(split_ids[idx] != given)[0])
        raise RunError(
            f"{what}: {split} row with index {idx[k]} has sample_id {given[k]!r} but samples.parquet says "
            f"{split_ids[idx[k]]!r}; labels/predictions are misaligned with ids"
        )


def labels_table(ids: Ids, epoch: int, labels: pd.DataFrame, where: str) -> pa.Table:
    """labels/epoch_NNNN.parquet: train rows sorted by index."""
    labels = labels.assign(epoch=epoch)
    check_alignment(ids, labels, "train", where)
    typ = {c: pa.float32() for c in LABEL_COLUMNS[3:]}
    table = typed_table(labels, {"epoch": pa.int32(), "sample_id": pa.string(), "index": pa.int32(), **typ}, where)
    return table.take(pa.array(np.argsort(labels["index"].to_numpy(), kind="stable")))


def _split_sorted(ids: Ids, df: pd.DataFrame, cols: dict[str, pa.DataType], where: str) -> pa.Table:
    """Typed table of a multi-split frame, checked against samples.parquet, sorted by (split, index)."""
    if "split" not in df:
        raise RunError(f"{where}: missing column 'split'")
    splits = df["split"].astype(str).to_numpy()
    for s in np.unique(splits):
        check_alignment(ids, df[splits == s], str(s), where)
    table = typed_table(df, cols, where)
    rank = np.array([SPLIT_ORDER[s] for s in splits])
    return table.take(pa.array(np.lexsort((df["index"].to_numpy(), rank))))


def predictions_table(ids: Ids, epoch: int, predictions: pd.DataFrame, where: str) -> pa.Table:
    """predictions/epoch_NNNN.parquet: every split's rows sorted by (split, index)."""
    cols = {**_KEYS, **{c: pa.float32() for c in PREDICTION_COLUMNS[4:]}}
    return _split_sorted(ids, predictions.assign(epoch=epoch), cols, where)


def labels_extra_table(ids: Ids, epoch: int, extra: pd.DataFrame, where: str) -> pa.Table:
    """labels_extra/epoch_NNNN.parquet: ``split`` defaults to train, ``sample_id`` is filled from samples.parquet;
    numeric generator columns only (floats stored as float32)."""
    if "index" not in extra:
        raise RunError(f"{where}: labels_extra needs an 'index' column (train-split rows)")
    extra = extra.assign(epoch=epoch)
    if "split" not in extra:
        extra = extra.assign(split="train")
    if "sample_id" not in extra:
        train_ids = ids.get("train", np.empty(0, dtype=object))
        idx = extra["index"].to_numpy()
        if len(idx) and (idx.min() < 0 or idx.max() >= len(train_ids)):
            raise RunError(f"{where}: train index out of range 0..{len(train_ids) - 1}")
        extra = extra.assign(sample_id=train_ids[idx])
    cols = dict(_KEYS)
    for c in extra.columns:
        if c in cols:
            continue
        if not isinstance(c, str):
            raise RunError(f"{where}: column name {c!r} is not a string")
        kind = extra[c].dtype.kind
        if kind not in "biuf":
            raise RunError(f"{where}: column {c!r} has dtype {extra[c].dtype}; store numbers only")
        cols[c] = pa.float32() if kind == "f" else pa.from_numpy_dtype(extra[c].dtype)
    return _split_sorted(ids, extra, cols, where)


def write_representations(ids: Ids, epoch: int, representations: dict[str, np.ndarray], where: Path) -> None:
    """representations/epoch_NNNN.safetensors: {"<split>/<name>": (N_split, d)}, float16 unless that overflows."""
    arrays = {}
    for key, arr in representations.items():
        split, _, name = key.partition("/")
        arr = np.asarray(arr)
        if split not in ids or not name or arr.ndim != 2 or arr.shape[0] != len(ids[split]):
            n = len(ids.get(split, ()))
            raise RunError(f"{where}: key {key!r} shape {arr.shape}: expected '<split>/<name>' -> ({n}, d)")
        arrays[key] = _half_unless_overflow(arr)
    meta = {"epoch": str(epoch), "schema_version": str(SCHEMA_VERSION), "sample_order": "samples.parquet:index"}
    write_safetensors_atomic(where, arrays, meta)


def _half_unless_overflow(arr: np.ndarray) -> np.ndarray:
    """``arr`` as float16, or as float32 when a finite value would overflow float16 (|x| > 65504) and become inf;
    readers return float32 either way, so huge features are kept instead of silently turned into inf."""
    with np.errstate(over="ignore"):  # the overflow is what is checked next
        half = arr.astype(np.float16)
    if (np.isfinite(arr) & ~np.isfinite(half)).any():
        return arr.astype(np.float32)
    return half
