"""The writer of a run folder, used by the training loop: :class:`RunWriter`, plus :func:`write_projections`.

Commit protocol: an epoch's files are written first (each atomically, ``*.tmp`` then ``os.replace``), then its
metrics lines are appended, then the training loop saves ``weights/last/``, then :meth:`RunWriter.commit_epoch`
rewrites run.json with ``epochs_completed = e``. Readers show only epochs ``<= epochs_completed``; a resumed
writer deletes everything later, so a killed run resumes without duplicating or losing an epoch.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from selfmm.config import SPLITS
from selfmm.runs.epoch_tables import labels_extra_table, labels_table, predictions_table, write_representations
from selfmm.runs.io import append_metrics, typed_table, write_json_atomic, write_parquet_atomic, write_text_atomic
from selfmm.runs.layout import (
    EPOCH_FILES,
    FINAL_STATUSES,
    HEARTBEAT_S,
    HUMAN_COLUMNS,
    METRICS_JSONL,
    RUN_JSON,
    SAMPLES_PARQUET,
    SCHEMA_VERSION,
    SPLIT_ORDER,
    TMP_SUFFIX,
    epoch_path,
    epochs_on_disk,
)
from selfmm.runs.lock import Heartbeat, RunLock, write_heartbeat
from selfmm.runs.provenance import env_info, git_info, now_iso
from selfmm.runs.reader import RunError, read_manifest


class RunWriter:
    """Writes one run folder for the training loop (see the module docstring for the commit protocol).

    Fresh: ``RunWriter(dir)`` then :meth:`start`. Resume: ``RunWriter(dir, resume=True)`` (no ``start``): reads
    run.json, sets status "running" with this pid/host, and deletes metrics lines and per-epoch files of epochs
    after ``epochs_completed`` (a killed epoch is redone from scratch).
    """

    def __init__(self, run_dir: str | Path, resume: bool = False, *, heartbeat_s: float = HEARTBEAT_S):
        self.run_dir = Path(run_dir)
        self.manifest: dict = {}
        self._ids: dict[str, np.ndarray] = {}  # split -> sample_id by index, for alignment checks
        self._rep_epochs_written: set[int] = set()
        self._heartbeat_s = heartbeat_s
        self._beat: Heartbeat | None = None
        if not resume:
            self._refuse_existing()
        self._lock = RunLock(self.run_dir).acquire()  # before anything that changes the folder
        try:
            if resume:
                self._resume()
            else:
                self._refuse_existing()  # a writer that held the lock a moment ago may have just started one
        except BaseException:
            self._lock.release()
            raise

    def _refuse_existing(self) -> None:
        if (self.run_dir / RUN_JSON).exists():
            raise RunError(
                f"{self.run_dir / RUN_JSON}: this folder already holds a run; pass --resume to continue it "
                "or choose a new --out folder"
            )

    def close(self) -> None:
        """Stop the heartbeat and release the folder lock without touching run.json (idempotent).
        :meth:`finish` calls it; a process that dies has the same effect."""
        if self._beat is not None:
            self._beat.stop()
            self._beat = None
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()

    def __del__(self):
        self.close()

    def _start_heartbeat(self) -> None:
        if self._beat is None and self._heartbeat_s > 0:
            self._beat = Heartbeat(self.run_dir, self._heartbeat_s)

    # -- paths ---------------------------------------------------------------------------------------------
    @property
    def epochs_completed(self) -> int:
        return int(self.manifest.get("epochs_completed", 0))

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(
        self,
        *,
        config: dict,
        dataset: dict,
        samples: pd.DataFrame,
        env: dict | None = None,
        experiment: dict | None = None,
        git: dict | None = None,
        run_id: str | None = None,
    ) -> None:
        """Write samples.parquet and the first run.json (status running, epochs_completed 0).

        samples: one row per sample of every split: sample_id, split, index, raw_text, y_m and, when the dataset
        has human unimodal labels, y_T, y_A, y_V. Any row order; stored sorted by (split, index).
        env / git default to :func:`env_info` / :func:`git_info`.
        """
        if self.manifest:
            raise RunError(f"{self.run_dir}: start() called twice (or on a resumed writer)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cols = {"sample_id": pa.string(), "split": pa.string(), "index": pa.int32(), "raw_text": pa.string()}
        cols["y_m"] = pa.float32()
        human = [c for c in HUMAN_COLUMNS if c in samples.columns]
        if human and len(human) != 3:
            raise RunError(f"samples: has {human} but not all of {list(HUMAN_COLUMNS)}; pass all three or none")
        cols.update({c: pa.float32() for c in human})
        bad = set(samples["split"].astype(str)) - set(SPLITS) if "split" in samples else set()
        if bad:
            raise RunError(f"samples: unknown split names {sorted(bad)}; expected {list(SPLITS)}")
        table = typed_table(samples, cols, f"{self.run_dir / SAMPLES_PARQUET}")
        df = table.to_pandas()
        order = np.lexsort((df["index"].to_numpy(), df["split"].map(SPLIT_ORDER).to_numpy()))
        table = table.take(pa.array(order))
        self._set_ids(table.to_pandas())
        write_parquet_atomic(self.run_dir / SAMPLES_PARQUET, table)
        now = now_iso()
        self.manifest = {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id or self.run_dir.name,
            "status": "running",
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "error": None,
            "config": config,
            "dataset": dataset,
            "env": env if env is not None else env_info(config.get("device") if isinstance(config, dict) else None),
            "git": git if git is not None else git_info(),
            "epochs_completed": 0,
            "representation_epochs": [],
            "best": None,
            "test": None,
        }
        if experiment is not None:
            self.manifest["experiment"] = experiment
        (self.run_dir / METRICS_JSONL).touch()
        self._write_manifest()
        self._start_heartbeat()

    def _set_ids(self, samples: pd.DataFrame) -> None:
        self._ids = {}
        for split, g in samples.groupby("split", sort=False):
            idx = g["index"].to_numpy()
            if len(np.unique(idx)) != len(idx) or (len(idx) and (idx.min() != 0 or idx.max() != len(idx) - 1)):
                raise RunError(f"samples: split {split!r} index must be 0..N-1 without gaps or duplicates")
            ids = np.empty(len(idx), dtype=object)
            ids[idx] = g["sample_id"].to_numpy(dtype=object)
            self._ids[str(split)] = ids

    def _resume(self) -> None:
        self.manifest = read_manifest(self.run_dir)
        if self.manifest.get("schema_version", 0) != SCHEMA_VERSION:
            raise RunError(
                f"{self.run_dir / RUN_JSON}: schema_version {self.manifest.get('schema_version')} differs from "
                f"{SCHEMA_VERSION}; resume it with the selfmm version that wrote it, or start a new run."
            )
        samples_path = self.run_dir / SAMPLES_PARQUET
        try:
            self._set_ids(pq.read_table(samples_path, columns=["sample_id", "split", "index"]).to_pandas())
        except (OSError, pa.ArrowException) as e:
            raise RunError(f"{samples_path}: unreadable ({e}); this run cannot be resumed, start a new one.") from None
        done = self.epochs_completed
        listed = {e for e in self.manifest.get("representation_epochs", []) if isinstance(e, int) and e <= done}
        for kind in EPOCH_FILES:
            for e in epochs_on_disk(self.run_dir, kind):
                if e > done or (kind == "representations" and e not in listed):  # uncommitted, or dropped
                    epoch_path(self.run_dir, kind, e).unlink()
        for p in self.run_dir.rglob("*" + TMP_SUFFIX):
            p.unlink()
        self._truncate_metrics(done)
        self.manifest["representation_epochs"] = sorted(listed)
        self.manifest.update(status="running", pid=os.getpid(), host=socket.gethostname(), finished_at=None, error=None)
        self.manifest.setdefault("resumed_at", []).append(now_iso())
        self._write_manifest()
        self._start_heartbeat()

    def _truncate_metrics(self, done: int) -> None:
        path = self.run_dir / METRICS_JSONL
        if not path.exists():
            path.touch()
            return
        keep = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # the torn last line of a killed append
            if isinstance(row, dict) and int(row.get("epoch", 10**9)) <= done:
                keep.append(line + "\n")
        write_text_atomic(path, "".join(keep))

    def _write_manifest(self) -> None:
        self.manifest["updated_at"] = now_iso()
        write_json_atomic(self.run_dir / RUN_JSON, self.manifest)

    def update_manifest(self, **fields) -> None:
        """Set top-level run.json keys (e.g. ``dataset``, ``experiment``) and rewrite it atomically."""
        self._require_started()
        self.manifest.update(fields)
        self._write_manifest()

    def heartbeat(self) -> None:
        """Rewrite heartbeat.json now (the background :class:`Heartbeat` does it every ``heartbeat_s``)."""
        self._require_started()
        write_heartbeat(self.run_dir)

    def _require_started(self) -> None:
        if not self.manifest:
            raise RunError(f"{self.run_dir}: call start() first (or open with resume=True)")

    # -- epochs --------------------------------------------------------------------------------------------
    def _check_epoch(self, epoch: int) -> None:
        self._require_started()
        done = self.epochs_completed
        if not (epoch > done or (epoch == 0 and done == 0)):
            raise RunError(
                f"{self.run_dir}: epoch {epoch} is already committed (epochs_completed={done}); epochs are written "
                "in increasing order, a resumed run continues at epochs_completed + 1"
            )

    def write_epoch(
        self,
        epoch: int,
        *,
        labels: pd.DataFrame | None,
        predictions: pd.DataFrame | None,
        centers: dict | None,
        representations: dict[str, np.ndarray] | None,
        metrics: list[dict],
        labels_extra: pd.DataFrame | None = None,
    ) -> None:
        """Write epoch ``epoch``'s files, then append its metrics lines. Invisible to readers until committed.

        labels: train rows, columns sample_id, index, label_T/A/V, weight_T/A/V (``epoch`` optional).
        predictions: columns split, sample_id, index, pred_M/T/A/V (``epoch`` optional).
        centers: {"M"|"T"|"A"|"V": {"pos": (d,), "neg": (d,)}} (lists or arrays).
        representations: {"<split>/<name>": (N_split, d)} with rows in split index order; stored float16 (float32
            for an array with a finite value beyond float16's range, which would become inf).
        metrics: one dict per split with at least ``split``; ``epoch`` is set to ``epoch``.
        labels_extra: optional generator-specific table (``labels_extra/epoch_NNNN.parquet``): column ``index``
        plus any generator columns; ``split`` defaults to "train" and ``sample_id`` is filled from samples.parquet
        when absent. Numeric columns are stored as they come (floats as float32).
        Rows may come in any order: they are checked against samples.parquet (index -> sample_id) and sorted.
        """
        self._check_epoch(epoch)
        for kind, df, table_of in (
            ("labels", labels, labels_table),
            ("predictions", predictions, predictions_table),
            ("labels_extra", labels_extra, labels_extra_table),
        ):
            if df is not None:
                where = str(epoch_path(self.run_dir, kind, epoch))
                write_parquet_atomic(where, table_of(self._ids, epoch, df, where))
        if centers is not None:
            out = {}
            for m, c in centers.items():
                out[str(m)] = {k: np.asarray(v, dtype=np.float64).reshape(-1).tolist() for k, v in c.items()}
            write_json_atomic(epoch_path(self.run_dir, "centers", epoch), out)
        if representations:
            where = epoch_path(self.run_dir, "representations", epoch)
            write_representations(self._ids, epoch, representations, where)
            self._rep_epochs_written.add(epoch)
        rows = []
        for r in metrics:
            if "split" not in r:
                raise RunError(f"{self.run_dir / METRICS_JSONL}: every metrics row needs a 'split' key")
            rows.append({"epoch": int(epoch), **{k: v for k, v in r.items() if k != "epoch"}})
        append_metrics(self.run_dir / METRICS_JSONL, rows)

    def commit_epoch(self, epoch: int, *, best: dict | None = None, drop_representations: tuple[int, ...] = ()) -> None:
        """Make epoch ``epoch`` visible: run.json gets ``epochs_completed = epoch`` (call after weights/last).

        drop_representations: earlier epochs whose representations were provisional (kept only in case the run
        ended there); they leave ``representation_epochs`` in this same run.json write and their files are
        deleted right after, so a crash in between leaves only an unlisted file, which a resume deletes.
        """
        self._check_epoch(epoch)
        self.manifest["epochs_completed"] = int(epoch)
        reps = set(self.manifest.get("representation_epochs", [])) - {int(e) for e in drop_representations}
        if epoch in self._rep_epochs_written or epoch_path(self.run_dir, "representations", epoch).exists():
            reps.add(int(epoch))
        self.manifest["representation_epochs"] = sorted(reps)
        if best is not None:
            self.manifest["best"] = best
        self._write_manifest()
        for e in drop_representations:
            epoch_path(self.run_dir, "representations", e).unlink(missing_ok=True)

    def finish(
        self, status: str, *, test: dict | None = None, best: dict | None = None, error: str | None = None
    ) -> None:
        """Final run.json: status finished | failed | interrupted, ``finished_at``, optional test/best/error."""
        self._require_started()
        if status not in FINAL_STATUSES:
            raise RunError(f"finish(status={status!r}): expected one of {', '.join(FINAL_STATUSES)}")
        self.manifest.update(status=status, finished_at=now_iso())
        if test is not None:
            self.manifest["test"] = test
        if best is not None:
            self.manifest["best"] = best
        if error is not None:
            self.manifest["error"] = error
        self._write_manifest()
        self.close()

    def finishing(self, traceback_limit: int | None = None) -> _Finishing:
        """``with writer.finishing(): ...``: if the body raises, run.json is finished "interrupted"
        (KeyboardInterrupt) or "failed" with ``error = "Type: message"`` (any other Exception; plus the first
        ``traceback_limit`` traceback entries when given) and the exception propagates."""
        return _Finishing(self, traceback_limit)


class _Finishing:
    def __init__(self, writer: RunWriter, traceback_limit: int | None):
        self.writer, self.traceback_limit = writer, traceback_limit

    def __enter__(self) -> RunWriter:
        return self.writer

    def __exit__(self, typ, err, tb) -> bool:
        if typ is not None and issubclass(typ, KeyboardInterrupt):
            self.writer.finish("interrupted")
        elif typ is not None and issubclass(typ, Exception):
            error = f"{typ.__name__}: {err}"
            if self.traceback_limit is not None:
                error += "\n" + "".join(traceback.format_exception(typ, err, tb, limit=self.traceback_limit))
            self.writer.finish("failed", error=error)
        return False  # never swallows the exception
