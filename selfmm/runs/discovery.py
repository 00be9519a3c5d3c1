"""Run discovery: :func:`list_runs`, one row per run folder under a root (the one implementation)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from selfmm.runs.layout import LABELS_DIR, METRICS_JSONL, RUN_JSON, SAMPLES_PARQUET
from selfmm.runs.reader import RunError, RunReader


def _looks_like_run(d: Path) -> bool:
    return any((d / name).exists() for name in (RUN_JSON, SAMPLES_PARQUET, METRICS_JSONL, LABELS_DIR))


def printable_path(d: Path) -> str:
    """``d`` as a str that can be shown and stored anywhere (UTF-8): bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(d).decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode keeps undecodable bytes as lone surrogates
        return False
    return True


def _broken_row(d: Path, error: str) -> dict:
    return {"run_id": printable_path(Path(d.name)), "path": printable_path(d), "status": "broken", "error": error}


def _run_row(d: Path) -> dict:
    if not _is_utf8(str(d)):
        return _broken_row(d, f"{printable_path(d)}: the folder name is not valid UTF-8, so it cannot be shown or "
                              "linked; rename the folder (e.g. with `mv`) to a UTF-8 name.")  # fmt: skip
    try:
        r = RunReader(d)
    except RunError as e:
        return _broken_row(d, str(e))
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
    run.json in them is no run); hidden folders, folders that cannot be listed and folders already seen through
    a symlink are skipped. A folder whose name is not UTF-8 is listed (as a broken run) and not descended into."""
    found: list[Path] = []
    seen: set[Path] = set()

    def walk(d: Path, depth: int) -> None:
        try:
            real = d.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
            return
        if real in seen:  # a symlink loop, or a second link to the same folder
            return
        seen.add(real)
        if _looks_like_run(d) or not _is_utf8(d.name):
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
