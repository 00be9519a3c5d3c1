"""Run discovery: :func:`list_runs`, one row per run folder under a root (the one implementation)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from selfmm.runs.layout import LABELS_DIR, METRICS_JSONL, RUN_JSON, SAMPLES_PARQUET
from selfmm.runs.reader import RunError, RunReader


def _looks_like_run(d: Path) -> bool:
    return any((d / name).exists() for name in (RUN_JSON, SAMPLES_PARQUET, METRICS_JSONL, LABELS_DIR))


def _run_row(d: Path) -> dict:
    try:
        r = RunReader(d)
    except RunError as e:
        return {"run_id": d.name, "path": str(d), "status": "broken", "error": str(e)}
    m = r.manifest
    cfg = m.get("config") or {}
    best = m.get("best") or {}
    exp = m.get("experiment") or {}
    test = m.get("test") or {}
    row = {
        "run_id": r.run_id,
        "path": str(d),
        "status": r.status,
        "error": m.get("error"),
        "dataset": r.dataset,
        "label_source": cfg.get("label_source"),
        "seed": cfg.get("seed", exp.get("seed")),
        "created_at": m.get("created_at"),
        "updated_at": m.get("updated_at"),
        "finished_at": m.get("finished_at"),
        "epochs_completed": r.epochs_completed,
        "max_epochs": cfg.get("max_epochs"),
        "best_epoch": best.get("epoch"),
        "best_valid_loss": best.get("valid_loss"),
        "experiment": exp.get("name"),
        "variant": exp.get("variant"),
        "schema_version": m.get("schema_version"),
        "schema_warning": r.schema_warning,
    }
    for k, v in test.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            row[f"test/{k}"] = float(v)
    return row


LIST_RUNS_MAX_DEPTH = 4  # <root>/<exp>/<variant>/seed_<n>/ is depth 3; one level to spare


def _find_run_dirs(root: Path, max_depth: int) -> list[Path]:
    """Run folders at depth ``<= max_depth`` below ``root`` (root = depth 0), in sorted path order. A folder that
    looks like a run is listed and never descended into (its subfolders are its own records, and a stray
    run.json in them is no run); hidden folders and folders that cannot be listed are skipped."""
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        if _looks_like_run(d):
            found.append(d)
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
        except OSError:  # unreadable folder: nothing to list there
            return
        for c in children:
            walk(c, depth + 1)

    walk(root, 0)
    return found


def list_runs(root: str | Path, max_depth: int = LIST_RUNS_MAX_DEPTH) -> pd.DataFrame:
    """One row per run folder under ``root``, searched recursively up to ``max_depth`` levels (so experiment
    runs ``<root>/<exp>/<variant>/seed_<n>/`` are found); a run folder's own subfolders are not searched.

    Columns: run_id, path, status (running | finished | failed | interrupted | stale | broken), error, dataset,
    label_source, seed (the config's, else the experiment's), created_at, updated_at, finished_at,
    epochs_completed, max_epochs, best_epoch, best_valid_loss, experiment, variant, schema_version,
    schema_warning, ``test/<metric>``. Broken folders (missing/corrupt/newer run.json) are listed with status
    "broken" and the error. Sorted newest first. ``root`` itself is listed when it is a run folder. An empty
    frame (with those columns) when none.
    """
    root = Path(root)
    found = _find_run_dirs(root, max_depth) if root.is_dir() else []
    cols = ["run_id", "path", "status", "error", "dataset", "label_source", "seed", "created_at", "updated_at"]
    cols += ["finished_at", "epochs_completed", "max_epochs", "best_epoch", "best_valid_loss", "experiment"]
    cols += ["variant", "schema_version", "schema_warning"]
    df = pd.DataFrame([_run_row(d) for d in found])
    for c in cols:
        if c not in df.columns:
            df[c] = pd.Series([None] * len(df), dtype=object)
    if df.empty:
        return df[cols]
    df = df.sort_values(["created_at", "run_id"], ascending=False, na_position="last", kind="stable")
    return df.reset_index(drop=True)
