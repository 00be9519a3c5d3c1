"""One run loaded once: :class:`RunData` (wide numpy arrays per modality) and :func:`load_run`.

Pure pandas/numpy, no Streamlit; see :mod:`dashboard.data` for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.data.runs import (
    SPLITS,
    DashboardDataError,
)
from selfmm import analysis as A
from selfmm.config import MODALITIES, UNIMODAL

# ==============================================================================================================
# the loaded run


@dataclass
class RunData:
    """One run, loaded once and pivoted to wide arrays. Treat as read-only (it may be shared through a cache).

    Shapes: ``N`` = train samples, ``E`` = label epochs (incl. 0 = initial labels), ``P`` = prediction epochs,
    ``N_s`` = samples of split ``s``.
    """

    run_dir: str
    run_id: str
    manifest: dict
    status: str  # running | finished | failed | interrupted | stale
    epochs: list[int]  # committed epochs with label files
    metrics: pd.DataFrame  # metrics.jsonl as a frame (epoch, split, loss, "<what>/<metric>" ...)
    samples: pd.DataFrame  # all splits; index = sample_id; split, index, raw_text, y_m, [y_T, y_A, y_V]
    label_epochs: np.ndarray  # (E,) int
    gen: dict[str, np.ndarray]  # "T"|"A"|"V" -> (N, E) float32, row = train index
    weight: dict[str, np.ndarray]  # "T"|"A"|"V" -> (N, E) float32
    pred_epochs: np.ndarray  # (P,) int
    pred: dict[str, dict[str, np.ndarray]]  # split -> "M".."V" -> (N_s, P) float32 (NaN where not recorded)
    warnings: list[str] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return str((self.manifest.get("config") or {}).get("dataset") or "sims")

    @property
    def has_human(self) -> bool:
        return all(f"y_{m}" in self.samples.columns for m in UNIMODAL)

    @property
    def label_range(self) -> float:
        return float(
            (self.manifest.get("dataset") or {}).get("label_range") or (1.0 if "sims" in self.dataset else 3.0)
        )

    @property
    def best_epoch(self) -> int | None:
        best = self.manifest.get("best") or {}
        e = best.get("epoch")
        return int(e) if e is not None else None

    def split_frame(self, split: str) -> pd.DataFrame:
        """Samples of one split, sorted by ``index`` (row i = the split's index i)."""
        return self.samples[self.samples["split"] == split].sort_values("index")


def _read(what: str, run_dir: Path, fn):
    """Call a RunReader method; turn any failure into a DashboardDataError naming the run and the table."""
    try:
        return fn()
    except DashboardDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader failure must become a message, never a traceback
        raise DashboardDataError(
            f"Could not read the {what} of run {run_dir}: {exc}. The file may be corrupt or still being written; "
            "re-run training with --resume, or delete the run folder."
        ) from exc


def load_run(run_dir: Path | str) -> RunData:
    """Read a run folder and pivot its tables. Raises :class:`DashboardDataError` with a readable message."""
    from selfmm.runs.reader import RunReader

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise DashboardDataError(
            f"{run_dir} has no run.json: it is not a selfmm run folder (or training has not started yet). "
            "Pick another run, or point the dashboard at the folder that holds run folders (--runs DIR)."
        )
    try:
        reader = RunReader(run_dir)
    except Exception as exc:  # RunError: corrupt/missing run.json, newer schema
        raise DashboardDataError(f"Cannot open run {run_dir.name}: {exc}") from exc

    manifest = dict(reader.manifest)
    epochs = sorted(int(e) for e in reader.epochs)
    metrics = _read("metrics (metrics.jsonl)", run_dir, reader.metrics)
    samples = _read("samples (samples.parquet)", run_dir, reader.samples)
    samples = _prepare_samples(samples, run_dir)
    # straight into Arrow, only the columns the pivots need (3x faster than RunReader.labels() at MOSEI size);
    # the reader checks them (types, rows inside their split) and records a warning for what it drops
    label_cols = ["epoch", "index"] + [f"{k}_{m}" for k in ("label", "weight") for m in UNIMODAL]
    pred_cols = ["epoch", "split", "index"] + [f"pred_{m}" for m in MODALITIES]
    labels = _read("labels", run_dir, lambda: reader.epoch_table("labels", epochs, label_cols))
    preds = _read(
        "predictions", run_dir, lambda: reader.epoch_table("predictions", reader.prediction_epochs, pred_cols)
    )
    warnings = [w for w in [reader.schema_warning, *reader.warnings] if w]
    n_train = int((samples["split"] == "train").sum())
    label_epochs, gen, weight = _pivot_labels(labels, n_train)
    pred_epochs, pred = _pivot_predictions(preds, samples)
    # only epochs the manifest committed (readers never show a half-written epoch)
    return RunData(
        run_dir=str(run_dir),
        run_id=run_dir.name,
        manifest=manifest,
        status=str(reader.status),
        epochs=epochs,
        metrics=metrics if metrics is not None else pd.DataFrame(),
        samples=samples,
        label_epochs=label_epochs,
        gen=gen,
        weight=weight,
        pred_epochs=pred_epochs,
        pred=pred,
        warnings=warnings,
    )


def _col(table, name: str, dtype) -> np.ndarray:
    return table.column(name).to_numpy().astype(dtype, copy=False)


def _prepare_samples(samples: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    need = {"sample_id", "split", "index", "y_m"}
    missing = need - set(samples.columns)
    if missing:
        raise DashboardDataError(
            f"{run_dir / 'samples.parquet'} lacks columns {sorted(missing)}; it was written by an incompatible "
            "version. Re-run training to rewrite the run."
        )
    s = samples.copy()
    if "raw_text" not in s.columns:
        s["raw_text"] = ""
    s["sample_id"] = s["sample_id"].astype(str)
    s["split"] = s["split"].astype(str)
    s["index"] = s["index"].astype(np.int64)
    order = {k: i for i, k in enumerate(SPLITS)}
    s["_o"] = s["split"].map(order).fillna(len(SPLITS))
    s = s.sort_values(["_o", "index"], kind="stable").drop(columns="_o")
    if s["sample_id"].duplicated().any():
        # ids are unique in MMSA pickles; when they are not, make them unique per split so lookups stay exact
        s["sample_id"] = s["split"] + "/" + s["sample_id"]
    return s.set_index("sample_id", drop=False).rename_axis(None)


def _positions(table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrow long table -> (sorted unique epochs (E,), each row's epoch column, each row's sample ``index``)."""
    ep = _col(table, "epoch", np.int64)
    epochs = np.unique(ep)
    return epochs, np.searchsorted(epochs, ep), _col(table, "index", np.int64)


def _pivot_labels(labels, n_train: int):
    """Long labels (Arrow: epoch, index, label_X, weight_X) -> (E,), {X: (N, E)}, {X: (N, E)}."""
    if labels is None or len(labels) == 0:
        empty = {m: np.zeros((n_train, 0), np.float32) for m in UNIMODAL}
        return np.zeros(0, np.int64), empty, dict(empty)
    epochs, col, row = _positions(labels)
    n = max(n_train, int(row.max()) + 1)
    gen, weight = {}, {}
    for m in UNIMODAL:
        for src, dst in ((f"label_{m}", gen), (f"weight_{m}", weight)):
            vals = _col(labels, src, np.float32) if src in labels.column_names else np.float32(np.nan)
            dst[m] = A.to_wide(row, col, vals, (n, len(epochs)))
    return epochs, gen, weight


def _pivot_predictions(preds, samples: pd.DataFrame):
    """Long predictions (Arrow: epoch, split, index, pred_X) -> (P,), {split: {X: (N_s, P)}}."""
    sizes = samples.groupby("split", sort=False)["index"].max().add(1).to_dict()
    if preds is None or len(preds) == 0:
        return np.zeros(0, np.int64), {
            s: {m: np.zeros((int(sizes.get(s, 0)), 0), np.float32) for m in MODALITIES} for s in SPLITS
        }
    import pyarrow.compute as pc

    epochs, col_all, row_all = _positions(preds)
    out: dict[str, dict[str, np.ndarray]] = {}
    for s in SPLITS:
        mask = pc.equal(preds.column("split"), s).to_numpy(zero_copy_only=False)
        row, col = row_all[mask], col_all[mask]
        n = int(sizes.get(s, 0))
        if len(row):
            n = max(n, int(row.max()) + 1)
        out[s] = {}
        for m in MODALITIES:
            has = f"pred_{m}" in preds.column_names
            vals = _col(preds, f"pred_{m}", np.float32)[mask] if has else np.float32(np.nan)
            out[s][m] = A.to_wide(row, col, vals, (n, len(epochs)))
    return epochs, out
