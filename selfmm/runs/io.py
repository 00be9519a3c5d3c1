"""Atomic writes (``*.tmp``, fsync, ``os.replace``), the fsync'd metrics append and file hashes.

A reader (or a crash) sees a file either complete or absent, never half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from selfmm.runs.layout import TMP_SUFFIX
from selfmm.runs.reader import RunError


def json_default(obj):
    """``json.dump(default=...)``: numpy scalars and arrays become numbers and lists, paths strings."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def tmp_path(path: Path) -> Path:
    """``path`` with :data:`TMP_SUFFIX` appended (the resume cleanup deletes every such file)."""
    return path.with_name(path.name + TMP_SUFFIX)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path.tmp``, fsync, then ``os.replace`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON atomically (see :func:`write_text_atomic`).

    NaN is written as the JavaScript literal ``NaN`` (Python's json reads it back); numpy scalars become numbers.
    """
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default))


def write_parquet_atomic(path: str | Path, df: pd.DataFrame | pa.Table) -> None:
    """Write a DataFrame (no index) or Arrow table as Parquet to ``path.tmp`` then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    tmp = tmp_path(path)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_safetensors_atomic(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Save numpy arrays with ``safetensors.numpy.save_file`` to ``path.tmp`` then ``os.replace``."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def append_metrics(path: str | Path, rows: list[dict]) -> None:
    """Append one JSON line per row to ``metrics.jsonl``; flush and fsync so a crash loses at most this call."""
    if not rows:
        return
    text = "".join(json.dumps(r, sort_keys=False, default=json_default) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def typed_table(df: pd.DataFrame, columns: dict[str, pa.DataType], what: str) -> pa.Table:
    """Typed Arrow table with exactly the given columns in order; missing columns raise RunError."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RunError(f"{what}: missing columns {missing}; expected {list(columns)}")
    arrays = []
    for name, typ in columns.items():
        values = df[name].to_numpy()
        if pa.types.is_string(typ):
            values = values.astype(str) if values.dtype != object else values
            arrays.append(pa.array(values, type=typ))
        else:
            arrays.append(pa.array(np.asarray(values, dtype=typ.to_pandas_dtype()), type=typ))
    return pa.Table.from_arrays(arrays, names=list(columns))
