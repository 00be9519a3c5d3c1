"""Read-only access to a run folder: :class:`RunReader` and :class:`RunError`.

Readers show only epochs ``<= epochs_completed`` (the commit marker in run.json), so a run being written or
killed mid-epoch reads as its last committed epoch. Everything returned is checked against the schema by
:mod:`selfmm.runs.validate`: a RunError, or values of the documented types (with ``warnings`` for what was dropped).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selfmm.config import SPLITS
from selfmm.errors import UserError
from selfmm.runs.layout import (
    HEARTBEAT_FILE,
    LABEL_COLUMNS,
    LABELS_DIR,
    METRICS_JSONL,
    PREDICTION_COLUMNS,
    PREDICTIONS_DIR,
    PROJECTIONS_DIR,
    RUN_JSON,
    SAMPLES_PARQUET,
    SCHEMA_VERSION,
    SPLIT_ORDER,
    STALE_AFTER_S,
    epoch_path,
    epochs_on_disk,
    projection_path,
)
from selfmm.runs.provenance import parse_time, pid_alive
from selfmm.runs.validate import check_epoch_table, check_manifest, check_samples, split_sizes


class RunError(UserError, RuntimeError):
    """A run folder is missing, corrupt, too new, or used wrongly; the message names the file and the fix."""


def read_manifest(run_dir: Path) -> dict:
    """run.json of ``run_dir`` as a dict; RunError when missing, corrupt or written by a newer schema."""
    path = run_dir / RUN_JSON
    if not path.is_file():
        raise RunError(
            f"{path}: not found. This folder is not a run (or the run never started); point at a folder written by "
            "`python -m selfmm train`."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(
            f"{path}: corrupt manifest ({e}). Restore it from a backup or delete the run folder {run_dir}."
        ) from None
    if not isinstance(manifest, dict):
        raise RunError(f"{path}: expected a JSON object, got {type(manifest).__name__}; delete the run folder.")
    version = manifest.get("schema_version", 0)
    if not isinstance(version, int):
        raise RunError(f"{path}: schema_version={version!r} is not an integer; the manifest is corrupt.")
    if version > SCHEMA_VERSION:
        raise RunError(
            f"{path}: written by a newer selfmm (schema_version {version} > {SCHEMA_VERSION}); upgrade selfmm "
            "(git pull && pip install -e .) to read this run."
        )
    return manifest


class RunReader:
    """Read-only view of a run folder, a snapshot taken at construction (create a new one to refresh).

    Attributes: ``manifest`` (run.json checked against the schema: fields of the wrong type are null),
    ``status`` (running | finished | failed | interrupted | stale), ``epochs`` (committed epochs with a label
    file, 0 included), ``representation_epochs``, ``schema_warning`` (None, or a sentence when the run was written
    by an older schema), ``warnings`` (sentences naming each ignored value and each committed file that is
    missing; the table methods append what they drop). Nothing is cached between calls but the split sizes of
    samples.parquet (written once). Errors are :class:`RunError` naming the file and the fix.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.manifest, self.warnings = check_manifest(read_manifest(self.run_dir), self.run_dir / RUN_JSON)
        self._sizes: dict[str, int] | None = None
        version = self.manifest.get("schema_version", 0)
        self.schema_warning: str | None = None
        if version < SCHEMA_VERSION:
            self.schema_warning = (
                f"{self.run_dir / RUN_JSON}: written with schema_version {version} (this selfmm reads "
                f"{SCHEMA_VERSION}); some views may be missing. Retrain to get every record."
            )
        self.epochs_completed: int = self.manifest.get("epochs_completed", 0)
        self.epochs: list[int] = [e for e in epochs_on_disk(self.run_dir, "labels") if e <= self.epochs_completed]
        self.prediction_epochs: list[int] = [
            e for e in epochs_on_disk(self.run_dir, "predictions") if e <= self.epochs_completed
        ]
        self.labels_extra_epochs: list[int] = [
            e for e in epochs_on_disk(self.run_dir, "labels_extra") if e <= self.epochs_completed
        ]
        on_disk = set(epochs_on_disk(self.run_dir, "representations"))
        listed = self.manifest.get("representation_epochs") or sorted(on_disk)
        self.representation_epochs: list[int] = [e for e in listed if e in on_disk and e <= self.epochs_completed]
        self.status: str = self._status()
        self._warn_missing("labels", LABELS_DIR, range(0, self.epochs_completed + 1), self.epochs)
        self._warn_missing("predictions", PREDICTIONS_DIR, range(1, self.epochs_completed + 1), self.prediction_epochs)

    def _warn_missing(self, kind: str, folder: str, committed, present: list[int]) -> None:
        """A warning for committed epochs without a ``kind`` file (a partial copy, a deleted file)."""
        missing = [e for e in committed if e not in set(present)]
        if not missing:
            return
        if not (self.run_dir / folder).is_dir():
            self.warnings.append(f"{self.run_dir / folder}: missing, though run.json commits {self.epochs_completed}"
                                 " epoch(s); the run folder is incomplete (copy it again or retrain)")  # fmt: skip
            return
        names = ", ".join(epoch_path(self.run_dir, kind, e).name for e in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        self.warnings.append(f"{self.run_dir / folder}: no file for committed epoch(s) {missing[:3]}{more} "
                             f"({names}); those epochs are not shown. Copy the run again or retrain.")  # fmt: skip

    def _status(self) -> str:
        status = self.manifest.get("status", "running")
        if status != "running":
            return str(status)
        if self.manifest.get("host") == socket.gethostname():
            return "running" if pid_alive(self.manifest.get("pid")) else "stale"
        times = [parse_time(self.manifest.get("updated_at")), self._heartbeat_time()]
        times = [t for t in times if t is not None]
        return "stale" if not times or time.time() - max(times) > STALE_AFTER_S else "running"

    def _heartbeat_time(self) -> float | None:
        """Time of the live writer's last heartbeat.json rewrite (None when absent or unreadable)."""
        try:
            beat = json.loads((self.run_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return parse_time(beat.get("at")) if isinstance(beat, dict) else None

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.run_dir.name)

    @property
    def dataset(self) -> str:
        """Dataset name (mosi | mosei | sims | simsv2) from the config, else the dataset block."""
        cfg = self.manifest.get("config") or {}
        return str(cfg.get("dataset") or (self.manifest.get("dataset") or {}).get("name") or "")

    @property
    def has_human_unimodal(self) -> bool:
        return bool((self.manifest.get("dataset") or {}).get("has_human_unimodal", False))

    # -- tables --------------------------------------------------------------------------------------------
    def _read_parquet(self, path: Path, columns=None) -> pa.Table:
        try:
            return pq.read_table(path, columns=columns)
        except FileNotFoundError:
            raise RunError(f"{path}: missing; the run folder is incomplete (copy it again or retrain).") from None
        except (OSError, pa.ArrowException) as e:
            raise RunError(f"{path}: corrupt Parquet ({e}); delete the file or retrain the run.") from None

    def metrics(self) -> pd.DataFrame:
        """metrics.jsonl as a frame, committed epochs only, sorted by (epoch, split train/valid/test).

        Columns: epoch (int32), split (str), time_s, loss, loss_M.., and ``<what>/<metric>`` floats (NaN where a
        line lacks the key). A truncated last line (a killed append) is ignored; a corrupt line elsewhere raises.
        Lines without an integer epoch and a split name are skipped, and values that are not numbers are left out,
        each with a warning.
        """
        path = self.run_dir / METRICS_JSONL
        if not path.exists():
            return pd.DataFrame({"epoch": pd.Series(dtype=np.int32), "split": pd.Series(dtype="str")})
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise RunError(
                f"{path}: not UTF-8 ({e}); the file is corrupt: delete it (or the run) and retrain."
            ) from None
        except OSError as e:
            raise RunError(f"{path}: unreadable ({e}); check its permissions or copy the run again.") from None
        rows, dropped = [], set()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue
                raise RunError(f"{path}: line {i + 1} is not JSON; delete that line (or the run).") from None
            if not (isinstance(row, dict) and type(row.get("epoch")) is int and isinstance(row.get("split"), str)):
                dropped.add("a line without an integer epoch and a split")
                continue
            if row["epoch"] <= self.epochs_completed:
                keep = {k: v for k, v in row.items() if k in ("epoch", "split") or v is None or _number(v)}
                dropped |= set(row) - set(keep)
                rows.append(keep)
        if dropped:
            self._warn(f"{path}: ignored what is not a number: {sorted(dropped)[:5]}")
        df = pd.DataFrame(rows)
        if df.empty:
            return pd.DataFrame({"epoch": pd.Series(dtype=np.int32), "split": pd.Series(dtype="str")})
        df["epoch"] = df["epoch"].astype(np.int32)
        df["split"] = df["split"].astype("str")
        rank = df["split"].map(SPLIT_ORDER).fillna(len(SPLITS)).to_numpy()
        df = df.iloc[np.lexsort((rank, df["epoch"].to_numpy()))].reset_index(drop=True)
        return df

    def samples(self) -> pd.DataFrame:
        """samples.parquet: sample_id, split, index (int32), raw_text, y_m (float32), [y_T, y_A, y_V] (float32);
        sorted by split (train, valid, test) then index. RunError when it has no rows, lacks a column or its
        indices are not 0..n-1 per split."""
        path = self.run_dir / SAMPLES_PARQUET
        table = check_samples(self._read_parquet(path), path)
        self._sizes = split_sizes(table)
        return table.to_pandas()

    def split_sizes(self) -> dict[str, int]:
        """Rows per split of samples.parquet (read once per reader: the file is written once)."""
        if self._sizes is None:
            self.samples()  # checks the file (RunError naming what is wrong) and records the sizes
        return self._sizes

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def _select(self, available: list[int], epochs) -> list[int]:
        if epochs is None:
            return list(available)
        wanted = [int(epochs)] if isinstance(epochs, int | np.integer) else [int(e) for e in epochs]
        missing = [e for e in wanted if e not in available]
        if missing:
            raise RunError(f"{self.run_dir}: epochs {missing} are not committed; available: {available}")
        return wanted

    def _read_checked(self, path: Path, kind: str, columns=None) -> pa.Table:
        """One table of ``kind``, only ``columns`` (None: all; absent ones are read as null), checked."""
        try:
            names = pq.read_schema(path).names
        except FileNotFoundError:
            raise RunError(f"{path}: missing; the run folder is incomplete (copy it again or retrain).") from None
        except (OSError, pa.ArrowException) as e:
            raise RunError(f"{path}: corrupt Parquet ({e}); delete the file or retrain the run.") from None
        table = self._read_parquet(path, None if columns is None else [c for c in columns if c in names])
        warnings: list[str] = []
        table = check_epoch_table(table, kind, path, self.split_sizes(), warnings, columns)
        for w in warnings:
            self._warn(w)
        return table

    def epoch_table(self, kind: str, epochs: list[int], columns: list[str] | None = None) -> pa.Table | None:
        """The committed ``kind`` files (labels | predictions | labels_extra) of ``epochs`` as one Arrow table,
        only ``columns`` (None: all), checked by :func:`selfmm.runs.validate.check_epoch_table`; None for no
        epochs. Straight into Arrow: the fast path of the dashboard's pivots."""
        tables = [self._read_checked(epoch_path(self.run_dir, kind, e), kind, columns) for e in epochs]
        if not tables:
            return None
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowException as e:
            raise RunError(
                f"{self.run_dir / kind}: the epochs' files disagree on their columns ({e}); retrain."
            ) from None

    def _read_epochs(self, kind: str, epochs: list[int]) -> pa.Table | None:
        return self.epoch_table(kind, epochs)

    def labels(self, epochs: int | list[int] | None = None) -> pd.DataFrame:
        """Generated unimodal labels, long: one row per (epoch, train sample), sorted by (epoch, index).

        Columns: epoch, index (int32), sample_id (str), label_T/A/V (epoch-end labels, float32), weight_T/A/V
        (the tanh weights that epoch's loss used, float32). epochs: one epoch, a list, or None (all committed).
        """
        table = self._read_epochs("labels", self._select(self.epochs, epochs))
        if table is None:
            cols = {c: pd.Series(dtype="str" if c == "sample_id" else np.float32) for c in LABEL_COLUMNS}
            return pd.DataFrame(cols).astype({"epoch": np.int32, "index": np.int32})
        return table.to_pandas()

    def labels_extra(self, epochs: int | list[int] | None = None) -> pd.DataFrame | None:
        """Generator-specific per-sample table (``labels_extra/``), long: one row per (epoch, sample), sorted by
        (epoch, split, index). Columns: epoch, split, sample_id, index, then the generator's columns (documented
        in checkpoints/README.md). None when the run's label generator writes none."""
        if not self.labels_extra_epochs and epochs is None:
            return None
        table = self._read_epochs("labels_extra", self._select(self.labels_extra_epochs, epochs))
        return None if table is None else table.to_pandas()

    def predictions(self, epochs: int | list[int] | None = None, split: str | None = None) -> pd.DataFrame:
        """Head outputs, long: one row per (epoch, split, sample), sorted by (epoch, split, index).

        Columns: epoch, split, sample_id, index, pred_M/T/A/V (float32). split: "train" | "valid" | "test" | None.
        """
        table = self._read_epochs("predictions", self._select(self.prediction_epochs, epochs))
        if table is None:
            cols = {
                c: pd.Series(dtype="str" if c in ("split", "sample_id") else np.float32) for c in PREDICTION_COLUMNS
            }
            return pd.DataFrame(cols).astype({"epoch": np.int32, "index": np.int32})
        if split is not None:
            if split not in SPLITS:
                raise RunError(f"predictions(split={split!r}): expected one of {', '.join(SPLITS)}")
            table = table.filter(pc.equal(table["split"], split))
        return table.to_pandas()

    def centers(self, epoch: int) -> dict:
        """{"M"|"T"|"A"|"V": {"pos": np.ndarray (d,), "neg": np.ndarray (d,)}} at the end of ``epoch``."""
        path = epoch_path(self.run_dir, "centers", epoch)
        if epoch > self.epochs_completed or not path.exists():
            raise RunError(f"{path}: no centres for epoch {epoch} (committed epochs: {self.epochs})")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return {m: {k: np.asarray(v, dtype=np.float32) for k, v in c.items()} for m, c in raw.items()}
        except (OSError, ValueError, TypeError, AttributeError) as e:  # ValueError: JSON, UTF-8, ragged lists
            raise RunError(f"{path}: corrupt centres ({e}); delete the file or retrain.") from None

    def representations(self, epoch: int, split: str | None = None) -> dict[str, np.ndarray]:
        """Stored features as float32: keys ``"<split>/<name>"`` (name: feat_M/T/A/V, enc_T/A/V) -> (N_split, d),
        rows in the split's index order (row i = samples with that split and index i). ``split`` keeps only
        that split's keys (still full keys). Raises RunError when the epoch has no representations."""
        from safetensors import SafetensorError
        from safetensors.numpy import safe_open

        path = epoch_path(self.run_dir, "representations", epoch)
        if epoch not in self.representation_epochs:
            raise RunError(f"{path}: no representations for epoch {epoch}; available: {self.representation_epochs}")
        try:
            with safe_open(str(path), framework="np") as f:
                keys = [k for k in f.keys() if split is None or k.startswith(split + "/")]
                return {k: f.get_tensor(k).astype(np.float32) for k in keys}
        except (OSError, SafetensorError) as e:
            raise RunError(f"{path}: corrupt safetensors ({e}); delete the file or retrain.") from None

    def projection_methods(self) -> list[str]:
        d = self.run_dir / PROJECTIONS_DIR
        return sorted(p.stem for p in d.glob("*.parquet") if p.stem.isprintable()) if d.is_dir() else []

    def projections(self, method: str | None = None) -> pd.DataFrame | None:
        """2-D positions: epoch, split, sample_id, index, modality (M/T/A/V/all), method, x, y (float32).

        method: "umap" | "pca" | None (every method present, concatenated). None when nothing was computed.
        """
        methods = [method] if method is not None else self.projection_methods()
        paths = [projection_path(self.run_dir, m) for m in methods]
        paths = [p for p in paths if p.exists()]
        if not paths:
            return None
        try:
            table = pa.concat_tables(
                [self._read_checked(p, "projections") for p in paths], promote_options="permissive"
            )
        except pa.ArrowException as e:
            raise RunError(
                f"{self.run_dir / PROJECTIONS_DIR}: files disagree on their columns ({e}); delete them."
            ) from None
        df = table.to_pandas()
        return df[df["epoch"] <= self.epochs_completed].reset_index(drop=True)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
