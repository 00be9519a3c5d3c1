"""Writes to a run after its training loop: 2-D projections and annotations of a finished run's run.json."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from selfmm.runs.io import typed_table, write_json_atomic, write_parquet_atomic
from selfmm.runs.layout import RUN_JSON, projection_path
from selfmm.runs.provenance import now_iso
from selfmm.runs.reader import RunError, read_manifest


def write_projections(run_dir: str | Path, method: str, df: pd.DataFrame) -> Path:
    """Write ``RUN/projections/<method>.parquet`` atomically with typed columns; returns the path."""
    path = projection_path(run_dir, method)
    cols = {"epoch": pa.int32(), "split": pa.string(), "sample_id": pa.string(), "index": pa.int32()}
    cols.update({"modality": pa.string(), "method": pa.string(), "x": pa.float32(), "y": pa.float32()})
    write_parquet_atomic(path, typed_table(df, cols, str(path)))
    return path


# keys only the writer's lifecycle sets; annotate_run refuses them
PROTOCOL_KEYS = frozenset(
    {"schema_version", "run_id", "status", "pid", "host", "epochs_completed", "representation_epochs", "best", "test"}
)


def annotate_run(run_dir: str | Path, **fields) -> dict:
    """Add top-level keys (e.g. ``demo``) to the run.json of a run that is no longer written, atomically.

    For tools that post-process a finished run. Refuses a run with status "running" and the keys the commit
    protocol owns (:data:`PROTOCOL_KEYS`). Returns the new manifest.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    bad = sorted(set(fields) & PROTOCOL_KEYS)
    if bad:
        raise RunError(f"{run_dir / RUN_JSON}: annotate_run may not set {bad}; only RunWriter writes them")
    if manifest.get("status") == "running":
        raise RunError(f"{run_dir / RUN_JSON}: the run is still running; annotate it after it has finished")
    manifest.update(fields)
    manifest["updated_at"] = now_iso()
    write_json_atomic(run_dir / RUN_JSON, manifest)
    return manifest
