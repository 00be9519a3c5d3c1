"""The run folder: every file name, the schema version, the writer (training loop) and the reader (dashboard).

No torch import, at import time or later: the dashboard reads runs without torch. Layout (``checkpoints/README.md``
documents every column)::

    RUN/run.json                         manifest, atomic rewrite; ``epochs_completed`` is the commit marker
    RUN/metrics.jsonl                    append-only, one JSON object per (epoch, split); flush + fsync per line
    RUN/samples.parquet                  written once: sample_id, split, index, raw_text, y_m, [y_T, y_A, y_V]
    RUN/labels/epoch_NNNN.parquet        train split: epoch, sample_id, index, label_T/A/V, weight_T/A/V
    RUN/predictions/epoch_NNNN.parquet   epoch, split, sample_id, index, pred_M/T/A/V
    RUN/centers/epoch_NNNN.json          {"M": {"pos": [...], "neg": [...]}, "T": ..., ...}
    RUN/representations/epoch_NNNN.safetensors   float16 "<split>/<name>" -> (N, d), rows in split index order
    RUN/projections/<method>.parquet     epoch, split, sample_id, index, modality, method, x, y
    RUN/weights/{best,last}/...          written by selfmm.train (torch); only the paths live here

Commit protocol: an epoch's files are written first (each atomically, ``*.tmp`` then ``os.replace``), then its
metrics lines are appended, then the training loop saves ``weights/last/``, then :meth:`RunWriter.commit_epoch`
rewrites run.json with ``epochs_completed = e``. Readers show only epochs ``<= epochs_completed``; a resumed
writer deletes everything later, so a killed run resumes without duplicating or losing an epoch.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCHEMA_VERSION = 1

RUN_JSON = "run.json"
METRICS_JSONL = "metrics.jsonl"
SAMPLES_PARQUET = "samples.parquet"
LABELS_DIR = "labels"
PREDICTIONS_DIR = "predictions"
CENTERS_DIR = "centers"
REPRESENTATIONS_DIR = "representations"
PROJECTIONS_DIR = "projections"
WEIGHTS_DIR = "weights"
BEST_DIR = "best"
LAST_DIR = "last"
MODEL_FILE = "model.safetensors"
ULGM_FILE = "ulgm.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.pt"
STATE_FILE = "state.json"
TMP_SUFFIX = ".tmp"

SPLITS = ("train", "valid", "test")
STATUSES = ("running", "finished", "failed", "interrupted")
FINAL_STATUSES = ("finished", "failed", "interrupted")
STALE_AFTER_S = 3600.0  # a "running" run on another host with no manifest write for this long is shown stale

# (directory, file suffix) of every per-epoch file kind, used by the resume truncation and the reader
EPOCH_FILES = {
    "labels": (LABELS_DIR, ".parquet"),
    "predictions": (PREDICTIONS_DIR, ".parquet"),
    "centers": (CENTERS_DIR, ".json"),
    "representations": (REPRESENTATIONS_DIR, ".safetensors"),
}
_EPOCH_RE = re.compile(r"^epoch_(\d{4,})\.")

SAMPLE_COLUMNS = ("sample_id", "split", "index", "raw_text", "y_m")
HUMAN_COLUMNS = ("y_T", "y_A", "y_V")
LABEL_COLUMNS = ("epoch", "sample_id", "index", "label_T", "label_A", "label_V", "weight_T", "weight_A", "weight_V")
PREDICTION_COLUMNS = ("epoch", "split", "sample_id", "index", "pred_M", "pred_T", "pred_A", "pred_V")
PROJECTION_COLUMNS = ("epoch", "split", "sample_id", "index", "modality", "method", "x", "y")
REPRESENTATION_NAMES = ("feat_M", "feat_T", "feat_A", "feat_V", "enc_T", "enc_A", "enc_V")


class RunError(RuntimeError):
    """A run folder is missing, corrupt, too new, or used wrongly; the message names the file and the fix."""


# --------------------------------------------------------------------------------------------------------------
# small helpers


def epoch_name(epoch: int, suffix: str) -> str:
    """``epoch_0003.parquet``: zero-padded so names sort in epoch order."""
    return f"epoch_{int(epoch):04d}{suffix}"


def epoch_path(run_dir: str | Path, kind: str, epoch: int) -> Path:
    """Path of a per-epoch file; ``kind`` is a key of :data:`EPOCH_FILES`."""
    folder, suffix = EPOCH_FILES[kind]
    return Path(run_dir) / folder / epoch_name(epoch, suffix)


def projection_path(run_dir: str | Path, method: str) -> Path:
    return Path(run_dir) / PROJECTIONS_DIR / f"{method}.parquet"


def weights_dir(run_dir: str | Path, which: str = LAST_DIR) -> Path:
    """``RUN/weights/best`` or ``RUN/weights/last`` (not created)."""
    if which not in (BEST_DIR, LAST_DIR):
        raise ValueError(f"weights_dir: which={which!r}, expected 'best' or 'last'")
    return Path(run_dir) / WEIGHTS_DIR / which


def now_iso() -> str:
    """UTC timestamp, ISO 8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _replace(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)


def write_json_atomic(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON to ``path.tmp``, fsync, then ``os.replace`` onto ``path``.

    NaN is written as the JavaScript literal ``NaN`` (Python's json reads it back); numpy scalars become numbers.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
        f.flush()
        os.fsync(f.fileno())
    _replace(tmp, path)


def write_parquet_atomic(path: str | Path, df: pd.DataFrame | pa.Table) -> None:
    """Write a DataFrame (no index) or Arrow table as Parquet to ``path.tmp`` then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    pq.write_table(table, tmp)
    _replace(tmp, path)


def write_safetensors_atomic(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Save numpy arrays with ``safetensors.numpy.save_file`` to ``path.tmp`` then ``os.replace``."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=metadata)
    _replace(tmp, path)


def append_metrics(path: str | Path, rows: list[dict]) -> None:
    """Append one JSON line per row to ``metrics.jsonl``; flush and fsync so a crash loses at most this call."""
    if not rows:
        return
    text = "".join(json.dumps(r, sort_keys=False, default=_json_default) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def env_info(device: str | None = None) -> dict:
    """Versions of python, numpy, torch, transformers, selfmm (importlib.metadata: no torch import), platform."""
    import platform
    import sys

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "numpy": version("numpy"),
        "torch": version("torch"),
        "transformers": version("transformers"),
        "selfmm": version("selfmm"),
        "platform": platform.platform(),
        "device": device,
    }


def git_info(repo_dir: str | Path | None = None) -> dict:
    """``{"sha": ..., "dirty": bool}`` of the git checkout at ``repo_dir`` (default: the one holding selfmm);
    ``{"sha": None, "dirty": None}`` when it is not a git checkout or git is missing."""
    repo = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


def pid_alive(pid: int | None) -> bool:
    """True when a process with this pid exists on this host (signal 0 probe)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:  # pragma: no cover
        return False
    return True


def _parse_time(s) -> float | None:
    try:
        return datetime.fromisoformat(str(s)).timestamp()
    except (TypeError, ValueError):
        return None


def _epochs_on_disk(run_dir: Path, kind: str) -> list[int]:
    folder, suffix = EPOCH_FILES[kind]
    d = run_dir / folder
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _EPOCH_RE.match(p.name)
        if m and p.name.endswith(suffix) and p.name == epoch_name(int(m.group(1)), suffix):
            out.append(int(m.group(1)))
    return sorted(out)


def _read_manifest(run_dir: Path) -> dict:
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


def _table(df: pd.DataFrame, columns: dict[str, pa.DataType], what: str) -> pa.Table:
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


_SPLIT_ORDER = {s: i for i, s in enumerate(SPLITS)}


# --------------------------------------------------------------------------------------------------------------
# writer


class RunWriter:
    """Writes one run folder for the training loop (see the module docstring for the commit protocol).

    Fresh: ``RunWriter(dir)`` then :meth:`start`. Resume: ``RunWriter(dir, resume=True)`` (no ``start``): reads
    run.json, sets status "running" with this pid/host, and deletes metrics lines and per-epoch files of epochs
    after ``epochs_completed`` (a killed epoch is redone from scratch).
    """

    def __init__(self, run_dir: str | Path, resume: bool = False):
        self.run_dir = Path(run_dir)
        self.manifest: dict = {}
        self._ids: dict[str, np.ndarray] = {}  # split -> sample_id by index, for alignment checks
        self._rep_epochs_written: set[int] = set()
        if resume:
            self._resume()
        elif (self.run_dir / RUN_JSON).exists():
            raise RunError(
                f"{self.run_dir / RUN_JSON}: this folder already holds a run; pass resume=True to continue it "
                "or choose a new output folder."
            )

    # -- paths ---------------------------------------------------------------------------------------------
    @property
    def epochs_completed(self) -> int:
        return int(self.manifest.get("epochs_completed", 0))

    def weights_dir(self, which: str = LAST_DIR) -> Path:
        """``RUN/weights/<which>``, created; the training loop saves torch state there (each file atomically)."""
        d = weights_dir(self.run_dir, which)
        d.mkdir(parents=True, exist_ok=True)
        return d

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
        table = _table(samples, cols, f"{self.run_dir / SAMPLES_PARQUET}")
        df = table.to_pandas()
        order = np.lexsort((df["index"].to_numpy(), df["split"].map(_SPLIT_ORDER).to_numpy()))
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
        self.manifest = _read_manifest(self.run_dir)
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
        for kind in EPOCH_FILES:
            for e in _epochs_on_disk(self.run_dir, kind):
                if e > done:
                    epoch_path(self.run_dir, kind, e).unlink()
        for p in self.run_dir.rglob("*" + TMP_SUFFIX):
            p.unlink()
        self._truncate_metrics(done)
        self.manifest["representation_epochs"] = [
            e for e in self.manifest.get("representation_epochs", []) if e <= done
        ]
        self.manifest.update(status="running", pid=os.getpid(), host=socket.gethostname(), finished_at=None, error=None)
        self.manifest.setdefault("resumed_at", []).append(now_iso())
        self._write_manifest()

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
        tmp = path.with_name(path.name + TMP_SUFFIX)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(keep))
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)

    def _write_manifest(self) -> None:
        self.manifest["updated_at"] = now_iso()
        write_json_atomic(self.run_dir / RUN_JSON, self.manifest)

    def update_manifest(self, **fields) -> None:
        """Set top-level run.json keys (e.g. ``dataset``, ``experiment``) and rewrite it atomically."""
        self._require_started()
        self.manifest.update(fields)
        self._write_manifest()

    def heartbeat(self) -> None:
        """Rewrite run.json with a fresh ``updated_at`` (long epochs: shows the run is alive across hosts)."""
        self._require_started()
        self._write_manifest()

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

    def _check_alignment(self, df: pd.DataFrame, split: str, what: str) -> None:
        ids = self._ids.get(split)
        if ids is None:
            raise RunError(f"{what}: split {split!r} has no samples in samples.parquet")
        idx = df["index"].to_numpy()
        if len(idx) and (idx.min() < 0 or idx.max() >= len(ids)):
            raise RunError(f"{what}: {split} index out of range 0..{len(ids) - 1}")
        if len(np.unique(idx)) != len(idx):
            raise RunError(f"{what}: duplicate {split} index values")
        given = df["sample_id"].to_numpy(dtype=object)
        if not np.array_equal(ids[idx], given):
            k = int(np.flatnonzero(ids[idx] != given)[0])
            raise RunError(
                f"{what}: {split} row with index {idx[k]} has sample_id {given[k]!r} but samples.parquet says "
                f"{ids[idx[k]]!r}; labels/predictions are misaligned with ids"
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
    ) -> None:
        """Write epoch ``epoch``'s files, then append its metrics lines. Invisible to readers until committed.

        labels: train rows, columns sample_id, index, label_T/A/V, weight_T/A/V (``epoch`` optional).
        predictions: columns split, sample_id, index, pred_M/T/A/V (``epoch`` optional).
        centers: {"M"|"T"|"A"|"V": {"pos": (d,), "neg": (d,)}} (lists or arrays).
        representations: {"<split>/<name>": (N_split, d)} with rows in split index order; stored float16.
        metrics: one dict per split with at least ``split``; ``epoch`` is set to ``epoch``.
        Rows may come in any order: they are checked against samples.parquet (index -> sample_id) and sorted.
        """
        self._check_epoch(epoch)
        if labels is not None:
            where = str(epoch_path(self.run_dir, "labels", epoch))
            labels = labels.assign(epoch=epoch)
            self._check_alignment(labels, "train", where)
            typ = {c: pa.float32() for c in LABEL_COLUMNS[3:]}
            table = _table(labels, {"epoch": pa.int32(), "sample_id": pa.string(), "index": pa.int32(), **typ}, where)
            table = table.take(pa.array(np.argsort(labels["index"].to_numpy(), kind="stable")))
            write_parquet_atomic(where, table)
        if predictions is not None:
            where = str(epoch_path(self.run_dir, "predictions", epoch))
            predictions = predictions.assign(epoch=epoch)
            splits = predictions["split"].astype(str).to_numpy() if "split" in predictions else None
            if splits is None:
                raise RunError(f"{where}: missing column 'split'")
            for s in np.unique(splits):
                self._check_alignment(predictions[splits == s], str(s), where)
            cols = {"epoch": pa.int32(), "split": pa.string(), "sample_id": pa.string(), "index": pa.int32()}
            cols.update({c: pa.float32() for c in PREDICTION_COLUMNS[4:]})
            table = _table(predictions, cols, where)
            rank = np.array([_SPLIT_ORDER[s] for s in splits])
            table = table.take(pa.array(np.lexsort((predictions["index"].to_numpy(), rank))))
            write_parquet_atomic(where, table)
        if centers is not None:
            out = {}
            for m, c in centers.items():
                out[str(m)] = {k: np.asarray(v, dtype=np.float64).reshape(-1).tolist() for k, v in c.items()}
            write_json_atomic(epoch_path(self.run_dir, "centers", epoch), out)
        if representations:
            where = epoch_path(self.run_dir, "representations", epoch)
            arrays = {}
            for key, arr in representations.items():
                split, _, name = key.partition("/")
                arr = np.asarray(arr)
                if split not in self._ids or not name or arr.ndim != 2 or arr.shape[0] != len(self._ids[split]):
                    n = len(self._ids.get(split, ()))
                    raise RunError(f"{where}: key {key!r} shape {arr.shape}: expected '<split>/<name>' -> ({n}, d)")
                arrays[key] = arr.astype(np.float16)
            meta = {"epoch": str(epoch), "schema_version": str(SCHEMA_VERSION), "sample_order": "samples.parquet:index"}
            write_safetensors_atomic(where, arrays, meta)
            self._rep_epochs_written.add(epoch)
        rows = []
        for r in metrics:
            if "split" not in r:
                raise RunError(f"{self.run_dir / METRICS_JSONL}: every metrics row needs a 'split' key")
            rows.append({"epoch": int(epoch), **{k: v for k, v in r.items() if k != "epoch"}})
        append_metrics(self.run_dir / METRICS_JSONL, rows)

    def commit_epoch(self, epoch: int, *, best: dict | None = None) -> None:
        """Make epoch ``epoch`` visible: run.json gets ``epochs_completed = epoch`` (call after weights/last)."""
        self._check_epoch(epoch)
        self.manifest["epochs_completed"] = int(epoch)
        if epoch in self._rep_epochs_written or epoch_path(self.run_dir, "representations", epoch).exists():
            reps = set(self.manifest.get("representation_epochs", [])) | {int(epoch)}
            self.manifest["representation_epochs"] = sorted(reps)
        if best is not None:
            self.manifest["best"] = best
        self._write_manifest()

    def write_projections(self, method: str, df: pd.DataFrame) -> Path:
        """Write ``projections/<method>.parquet`` atomically (columns :data:`PROJECTION_COLUMNS`)."""
        return write_projections(self.run_dir, method, df)

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


def write_projections(run_dir: str | Path, method: str, df: pd.DataFrame) -> Path:
    """Write ``RUN/projections/<method>.parquet`` atomically with typed columns; returns the path."""
    path = projection_path(run_dir, method)
    cols = {"epoch": pa.int32(), "split": pa.string(), "sample_id": pa.string(), "index": pa.int32()}
    cols.update({"modality": pa.string(), "method": pa.string(), "x": pa.float32(), "y": pa.float32()})
    write_parquet_atomic(path, _table(df, cols, str(path)))
    return path


# --------------------------------------------------------------------------------------------------------------
# reader


class RunReader:
    """Read-only view of a run folder, a snapshot taken at construction (create a new one to refresh).

    Attributes: ``manifest`` (run.json), ``status`` (running | finished | failed | interrupted | stale),
    ``epochs`` (committed epochs with a label file, 0 included), ``representation_epochs``, ``schema_warning``
    (None, or a sentence when the run was written by an older schema). Nothing is cached between calls.
    Errors are :class:`RunError` naming the file and the fix.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.manifest = _read_manifest(self.run_dir)
        version = self.manifest.get("schema_version", 0)
        self.schema_warning: str | None = None
        if version < SCHEMA_VERSION:
            self.schema_warning = (
                f"{self.run_dir / RUN_JSON}: written with schema_version {version} (this selfmm reads "
                f"{SCHEMA_VERSION}); some views may be missing. Retrain to get every record."
            )
        done = self.manifest.get("epochs_completed", 0)
        self.epochs_completed: int = int(done) if isinstance(done, int | float) else 0
        self.epochs: list[int] = [e for e in _epochs_on_disk(self.run_dir, "labels") if e <= self.epochs_completed]
        self.prediction_epochs: list[int] = [
            e for e in _epochs_on_disk(self.run_dir, "predictions") if e <= self.epochs_completed
        ]
        on_disk = set(_epochs_on_disk(self.run_dir, "representations"))
        listed = self.manifest.get("representation_epochs") or sorted(on_disk)
        self.representation_epochs: list[int] = [e for e in listed if e in on_disk and e <= self.epochs_completed]
        self.status: str = self._status()

    def _status(self) -> str:
        status = self.manifest.get("status", "running")
        if status != "running":
            return str(status)
        if self.manifest.get("host") == socket.gethostname():
            return "running" if pid_alive(self.manifest.get("pid")) else "stale"
        updated = _parse_time(self.manifest.get("updated_at"))
        return "stale" if updated is None or time.time() - updated > STALE_AFTER_S else "running"

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
        """
        path = self.run_dir / METRICS_JSONL
        if not path.exists():
            return pd.DataFrame({"epoch": pd.Series(dtype=np.int32), "split": pd.Series(dtype="str")})
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue
                raise RunError(f"{path}: line {i + 1} is not JSON; delete that line (or the run).") from None
            if isinstance(row, dict) and isinstance(row.get("epoch"), int) and row["epoch"] <= self.epochs_completed:
                rows.append(row)
        df = pd.DataFrame(rows)
        if df.empty:
            return pd.DataFrame({"epoch": pd.Series(dtype=np.int32), "split": pd.Series(dtype="str")})
        df["epoch"] = df["epoch"].astype(np.int32)
        df["split"] = df["split"].astype("str")
        rank = df["split"].map(_SPLIT_ORDER).fillna(len(SPLITS)).to_numpy()
        df = df.iloc[np.lexsort((rank, df["epoch"].to_numpy()))].reset_index(drop=True)
        return df

    def samples(self) -> pd.DataFrame:
        """samples.parquet: sample_id, split, index (int32), raw_text, y_m (float32), [y_T, y_A, y_V] (float32);
        sorted by split (train, valid, test) then index."""
        return self._read_parquet(self.run_dir / SAMPLES_PARQUET).to_pandas()

    def _select(self, available: list[int], epochs) -> list[int]:
        if epochs is None:
            return list(available)
        wanted = [int(epochs)] if isinstance(epochs, int | np.integer) else [int(e) for e in epochs]
        missing = [e for e in wanted if e not in available]
        if missing:
            raise RunError(f"{self.run_dir}: epochs {missing} are not committed; available: {available}")
        return wanted

    def _read_epochs(self, kind: str, epochs: list[int]) -> pa.Table | None:
        tables = [self._read_parquet(epoch_path(self.run_dir, kind, e)) for e in epochs]
        if not tables:
            return None
        return pa.concat_tables(tables)

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
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{path}: corrupt JSON ({e}); delete the file or retrain.") from None
        return {m: {k: np.asarray(v, dtype=np.float32) for k, v in c.items()} for m, c in raw.items()}

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
        return sorted(p.stem for p in d.glob("*.parquet")) if d.is_dir() else []

    def projections(self, method: str | None = None) -> pd.DataFrame | None:
        """2-D positions: epoch, split, sample_id, index, modality (M/T/A/V/all), method, x, y (float32).

        method: "umap" | "pca" | None (every method present, concatenated). None when nothing was computed.
        """
        methods = [method] if method is not None else self.projection_methods()
        paths = [projection_path(self.run_dir, m) for m in methods]
        paths = [p for p in paths if p.exists()]
        if not paths:
            return None
        table = pa.concat_tables([self._read_parquet(p) for p in paths])
        df = table.to_pandas()
        return df[df["epoch"] <= self.epochs_completed].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# listing


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
