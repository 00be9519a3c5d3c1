"""Every run-folder file and directory name, the schema version and the column vocabulary (one home for each).

Layout (``checkpoints/README.md`` documents every column)::

    RUN/run.json                         manifest, atomic rewrite; ``epochs_completed`` is the commit marker
    RUN/metrics.jsonl                    append-only, one JSON object per (epoch, split); flush + fsync per line
    RUN/samples.parquet                  written once: sample_id, split, index, raw_text, y_m, [y_T, y_A, y_V]
    RUN/labels/epoch_NNNN.parquet        train split: epoch, sample_id, index, label_T/A/V, weight_T/A/V
    RUN/labels_extra/epoch_NNNN.parquet  optional, generator-specific: epoch, split, sample_id, index, ...
    RUN/predictions/epoch_NNNN.parquet   epoch, split, sample_id, index, pred_M/T/A/V
    RUN/centers/epoch_NNNN.json          {"M": {"pos": [...], "neg": [...]}, "T": ..., ...}
    RUN/representations/epoch_NNNN.safetensors   float16 "<split>/<name>" -> (N, d), rows in split index order
    RUN/projections/<method>.parquet     epoch, split, sample_id, index, modality, method, x, y
    RUN/weights/{best,last}/...          written by the training loop (torch); only the names live here
    RUN/writer.lock                      OS lock of the live writer (pid, host, since)
    RUN/heartbeat.json                   {"at": ...}, rewritten every few seconds by a live writer
"""

from __future__ import annotations

import re
from pathlib import Path

from selfmm.config import SPLITS

SCHEMA_VERSION = 1

RUN_JSON = "run.json"
METRICS_JSONL = "metrics.jsonl"
SAMPLES_PARQUET = "samples.parquet"
LABELS_DIR = "labels"
LABELS_EXTRA_DIR = "labels_extra"
PREDICTIONS_DIR = "predictions"
CENTERS_DIR = "centers"
REPRESENTATIONS_DIR = "representations"
PROJECTIONS_DIR = "projections"
WEIGHTS_DIR = "weights"
BEST_DIR = "best"
LAST_DIR = "last"
MODEL_FILE = "model.safetensors"
LABEL_STATE_FILE = "{label_source}.safetensors"  # the label generator's buffers: ulgm.safetensors, ...
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.pt"
STATE_FILE = "state.json"
TMP_SUFFIX = ".tmp"
LOCK_FILE = "writer.lock"  # fcntl lock of the one live writer; content: {"pid", "host", "since"}
HEARTBEAT_FILE = "heartbeat.json"  # {"at": ISO time}, rewritten every HEARTBEAT_S while a writer is open
HEARTBEAT_S = 5.0

STATUSES = ("running", "finished", "failed", "interrupted")
FINAL_STATUSES = ("finished", "failed", "interrupted")
STALE_AFTER_S = 3600.0  # a "running" run on another host with no manifest write for this long is shown stale

# (directory, file suffix) of every per-epoch file kind, used by the resume truncation and the reader
EPOCH_FILES = {
    "labels": (LABELS_DIR, ".parquet"),
    "labels_extra": (LABELS_EXTRA_DIR, ".parquet"),
    "predictions": (PREDICTIONS_DIR, ".parquet"),
    "centers": (CENTERS_DIR, ".json"),
    "representations": (REPRESENTATIONS_DIR, ".safetensors"),
}
_EPOCH_RE = re.compile(r"^epoch_(\d{4,})\.")

SAMPLE_COLUMNS = ("sample_id", "split", "index", "raw_text", "y_m")
HUMAN_COLUMNS = ("y_T", "y_A", "y_V")
LABEL_COLUMNS = ("epoch", "sample_id", "index", "label_T", "label_A", "label_V", "weight_T", "weight_A", "weight_V")
LABELS_EXTRA_KEYS = ("epoch", "split", "sample_id", "index")  # then any generator-specific columns
PREDICTION_COLUMNS = ("epoch", "split", "sample_id", "index", "pred_M", "pred_T", "pred_A", "pred_V")
PROJECTION_COLUMNS = ("epoch", "split", "sample_id", "index", "modality", "method", "x", "y")
REPRESENTATION_NAMES = ("feat_M", "feat_T", "feat_A", "feat_V", "enc_T", "enc_A", "enc_V")

SPLIT_ORDER = {s: i for i, s in enumerate(SPLITS)}


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


def epochs_on_disk(run_dir: Path, kind: str) -> list[int]:
    """Sorted epochs that have a well-named ``kind`` file in ``run_dir`` (committed or not)."""
    folder, suffix = EPOCH_FILES[kind]
    d = Path(run_dir) / folder
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _EPOCH_RE.match(p.name)
        if m and p.name.endswith(suffix) and p.name == epoch_name(int(m.group(1)), suffix):
            out.append(int(m.group(1)))
    return sorted(out)
