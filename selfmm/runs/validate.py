"""Checks of what a run folder holds against the schema of :mod:`selfmm.runs.layout` (the one home of the rules).

:class:`~selfmm.runs.reader.RunReader` passes everything it returns through here, so a reader's caller (the
dashboard, the comparison, the label-health figures) gets values of the documented types or a
:class:`~selfmm.runs.reader.RunError`, never a value that fails later. Each violation is either

- fatal: a :class:`RunError` naming the file, what is wrong and the fix (nothing sensible can be shown), or
- a warning sentence naming the file and the value, where the rest is usable: the bad value is dropped (a
  manifest field becomes null, a metric key or a table row is left out, a missing value column reads as NaN).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selfmm.config import SPLITS
from selfmm.runs.layout import MANIFEST_FIELDS, MANIFEST_OBJECTS, STATUSES

CORRUPT = "the manifest is corrupt: restore run.json from a backup, or delete the run folder and retrain"
FIX_TABLE = "the file is corrupt: delete the run folder and retrain (or copy the run again)"

# per-epoch table kinds: key columns (required, of the given type) and value columns (numeric; missing -> NaN)
_KEYS = {
    "labels": {"epoch": "int", "index": "int", "sample_id": "str"},
    "predictions": {"epoch": "int", "split": "str", "index": "int", "sample_id": "str"},
    "labels_extra": {"epoch": "int", "split": "str", "index": "int", "sample_id": "str"},
    "projections": {"epoch": "int", "split": "str", "index": "int", "sample_id": "str", "modality": "str",
                    "method": "str", "x": "number", "y": "number"},
}  # fmt: skip
_VALUES = {
    "labels": tuple(f"{k}_{m}" for k in ("label", "weight") for m in "TAV"),
    "predictions": tuple(f"pred_{m}" for m in "MTAV"),
    "labels_extra": (),
    "projections": (),
}
_SAMPLE_KEYS = {"sample_id": "str", "split": "str", "index": "int", "y_m": "number"}
_SAMPLE_VALUES = {"raw_text": "str", "y_T": "number", "y_A": "number", "y_V": "number"}


def _is(kind: str, v: object) -> bool:
    if kind == "str":
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    if kind == "int":
        return isinstance(v, int)
    return kind == "number" or (math.isfinite(v) and v > 0)  # "positive"


_WORDS = {"str": "a string", "bool": "true or false", "int": "an integer", "number": "a number",
          "positive": "a positive number"}  # fmt: skip
_COLUMN_WORDS = {"str": "strings", "int": "integers", "number": "numbers"}


def _numbers(block: dict, where: str, warnings: list[str]) -> dict:
    """``block`` with only numbers, or objects of numbers, kept (test metrics, best.valid_metrics)."""
    out = {}
    for k, v in block.items():
        if isinstance(v, dict):
            inner = {kk: vv for kk, vv in v.items() if _is("number", vv)}
            if len(inner) < len(v):
                warnings.append(f"{where}.{k}: non-numeric values ignored ({sorted(set(v) - set(inner))})")
            out[k] = inner
        elif _is("number", v):
            out[k] = v
        else:
            warnings.append(f"{where}.{k}={v!r:.40} is not a number; ignored")
    return out


def check_manifest(manifest: dict, path: Path) -> tuple[dict, list[str]]:
    """A copy of run.json ``manifest`` that satisfies :data:`~selfmm.runs.layout.MANIFEST_FIELDS`, and the
    warnings (one sentence each, naming ``path`` and the field) for the values dropped on the way.

    Raises RunError when an object of :data:`~selfmm.runs.layout.MANIFEST_OBJECTS` is not an object, or
    ``status``, ``epochs_completed`` or ``representation_epochs`` has the wrong type: every page depends on them.
    """
    from selfmm.runs.reader import RunError

    m = copy.deepcopy(manifest)
    for key in MANIFEST_OBJECTS:
        v = m.get(key)
        if v is not None and not isinstance(v, dict):
            raise RunError(f"{path}: {key} is a {type(v).__name__}, expected a JSON object or null; {CORRUPT}.")
    status = m.get("status", "running")
    if status not in STATUSES:
        raise RunError(f"{path}: status={status!r:.40} is not one of {', '.join(STATUSES)}; {CORRUPT}.")
    done = m.get("epochs_completed", 0)
    if not _is("int", done) or not 0 <= done < 2**31:
        raise RunError(f"{path}: epochs_completed={done!r:.40} is not a count of epochs; {CORRUPT}.")
    reps = m.get("representation_epochs")
    if reps is not None and not (isinstance(reps, list) and all(_is("int", e) for e in reps)):
        raise RunError(f"{path}: representation_epochs={reps!r:.60} is not a list of epochs; {CORRUPT}.")
    warnings: list[str] = []
    for field, kind in MANIFEST_FIELDS.items():
        block, _, key = field.rpartition(".")
        holder = m.get(block) if block else m
        if not isinstance(holder, dict) or holder.get(key) is None or _is(kind, holder[key]):
            continue
        warnings.append(f"{path}: {field}={holder[key]!r:.40} is not {_WORDS[kind]}; ignored")
        holder[key] = None
    if isinstance(m.get("test"), dict):
        m["test"] = _numbers(m["test"], f"{path}: test", warnings)
    best = m.get("best")
    if isinstance(best, dict) and best.get("valid_metrics") is not None:
        vm = best["valid_metrics"]
        if not isinstance(vm, dict):
            warnings.append(f"{path}: best.valid_metrics is a {type(vm).__name__}, not an object; ignored")
        best["valid_metrics"] = _numbers(vm, f"{path}: best.valid_metrics", warnings) if isinstance(vm, dict) else None
    return m, warnings


def _arrow_is(kind: str, typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if kind == "str":
        return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ)
    if kind == "int":
        return pa.types.is_integer(typ)
    return pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_null(typ)  # "number"


def _check_columns(table: pa.Table, keys: dict, values: dict, path: Path, warnings: list[str]) -> pa.Table:
    """Keys must be present with their type (RunError); values must have theirs (RunError) and read as null when
    absent (warning)."""
    from selfmm.runs.reader import RunError

    missing = [c for c in keys if c not in table.column_names]
    if missing:
        raise RunError(f"{path}: lacks column(s) {missing} (expected {list(keys)}); {FIX_TABLE}.")
    for c, kind in {**keys, **values}.items():
        if c in table.column_names and not _arrow_is(kind, table.schema.field(c).type):
            raise RunError(
                f"{path}: column {c} holds {table.schema.field(c).type} values, expected {_COLUMN_WORDS[kind]}; {FIX_TABLE}."
            )
    absent = [c for c in values if c not in table.column_names]
    if absent:
        # one sentence per folder, whichever of its files it was (the reader keeps each sentence once)
        warnings.append(f"{path.parent}: file(s) without column(s) {absent}; shown as missing values")
        for c in absent:
            table = table.append_column(c, pa.nulls(len(table), pa.string() if values[c] == "str" else pa.float32()))
    return table


def check_samples(table: pa.Table, path: Path) -> pa.Table:
    """samples.parquet: the key columns with their types, at least one row, and per split the indices 0..n-1
    (the row of the split's per-epoch arrays). RunError otherwise."""
    from selfmm.runs.reader import RunError

    table = _check_columns(table, _SAMPLE_KEYS, {}, path, [])
    for c, kind in _SAMPLE_VALUES.items():
        if c in table.column_names and not _arrow_is(kind, table.schema.field(c).type):
            raise RunError(f"{path}: column {c} holds {table.schema.field(c).type} values, expected "
                           f"{_COLUMN_WORDS[kind]}; {FIX_TABLE}.")  # fmt: skip
    if len(table) == 0:
        raise RunError(f"{path}: samples.parquet has no rows; {FIX_TABLE}.")
    split = table.column("split").to_numpy(zero_copy_only=False).astype(object)
    index = table.column("index").to_numpy(zero_copy_only=False)
    unknown = sorted({str(s) for s in split} - set(SPLITS))
    if unknown:
        raise RunError(f"{path}: unknown split(s) {unknown[:3]} (expected {', '.join(SPLITS)}); {FIX_TABLE}.")
    for s in SPLITS:
        idx = index[split == s]
        if not np.array_equal(np.sort(idx), np.arange(len(idx))):
            raise RunError(f"{path}: the {s} split's index column is not 0..{len(idx) - 1}; {FIX_TABLE}.")
    return table


def split_sizes(table: pa.Table) -> dict[str, int]:
    """Rows per split of a checked samples table."""
    split = table.column("split").to_numpy(zero_copy_only=False).astype(object)
    return {s: int((split == s).sum()) for s in SPLITS}


def check_epoch_table(
    table: pa.Table, kind: str, path: Path, sizes: dict[str, int], warnings: list[str], columns=None
) -> pa.Table:
    """One per-epoch (or projection) table of ``kind`` (labels | predictions | labels_extra | projections), read
    with ``columns`` (None: all): key columns of the right type (RunError; epoch and index always, every key of a
    projection), value columns numeric (RunError) or null when absent (warning), and only rows whose ``index``
    lies in their split (``sizes``: rows per split of samples.parquet; other rows are dropped with a warning)."""
    wanted = set(_KEYS[kind]) | set(_VALUES[kind]) if columns is None else set(columns)
    keys = {c: k for c, k in _KEYS[kind].items() if c in wanted or c in ("epoch", "index") or kind == "projections"}
    values = {c: "number" for c in _VALUES[kind] if c in wanted}
    table = _check_columns(table, keys, values, path, warnings)
    index = pc.cast(table.column("index"), pa.int64())
    if "split" in table.column_names:
        split = table.column("split")
        ok = pc.and_(pc.equal(split, SPLITS[0]), pc.less(index, sizes.get(SPLITS[0], 0)))
        for s in SPLITS[1:]:
            ok = pc.or_(ok, pc.and_(pc.equal(split, s), pc.less(index, sizes.get(s, 0))))
    else:
        ok = pc.less(index, sizes.get("train", 0))
    ok = pc.fill_null(pc.and_(ok, pc.greater_equal(index, 0)), False)
    n_bad = len(table) - pc.sum(ok).as_py() if len(table) else 0
    if n_bad:
        bad = pc.filter(index, pc.invert(ok))
        warnings.append(
            f"{path}: {n_bad} row(s) whose index lies outside their split (e.g. index {bad[0].as_py()}) ignored"
        )
        table = table.filter(ok)
    return table
