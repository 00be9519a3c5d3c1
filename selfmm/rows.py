"""The one producer of what a run records per epoch besides weights: the metric rows (``metrics.csv``), the
per-sample tables (``samples``, ``labels``, ``predictions``) and the representation arrays kept, from the records
:mod:`selfmm.epoch` returns. Column names are the run-folder contract (:mod:`selfmm.runs.layout`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from selfmm.config import MODALITIES, UNIMODAL, SelfMMConfig
from selfmm.data import MMSAData
from selfmm.epoch import EpochRecord, EvalRecord
from selfmm.metrics import regression_metrics
from selfmm.runs.io import file_sha256


def _rep_policy(cfg: SelfMMConfig, epoch: int) -> bool:
    """True when this epoch's representations are kept for good (first_last keeps the last one separately)."""
    rr = cfg.record_representations
    if rr == "all":
        return True
    if rr == "none":
        return False
    if rr == "first_last":
        return epoch == 1
    return epoch % int(rr[6:]) == 0 or epoch == 1


def _block(dataset: str, what: str, pred: np.ndarray, true: np.ndarray) -> dict:
    with warnings.catch_warnings():  # constant predictions (early epochs) make Corr NaN; that is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return {f"{what}/{k}": float(v) for k, v in regression_metrics(dataset, pred, true).items()}


def split_metrics(dataset: str, split, pred: dict[str, np.ndarray], gen: dict | None = None) -> dict:
    """The ``<what>/<metric>`` keys of the contract for one split (``gen``: train targets and epoch-end labels)."""
    row = _block(dataset, "pred_M", pred["M"], split.y_m)
    for m in UNIMODAL:
        if split.y_human:
            row.update(_block(dataset, f"pred_{m}", pred[m], split.y_human[m]))
        row.update(_block(dataset, f"pred_{m}_vs_ym", pred[m], split.y_m))
        if gen is not None:
            row.update(_block(dataset, f"pred_{m}_vs_gen", pred[m], gen["target"][m]))
            if split.y_human:
                row.update(_block(dataset, f"gen_{m}", gen["labels"][m], split.y_human[m]))
    return row


def samples_frame(data: MMSAData) -> pd.DataFrame:
    """samples.parquet: one row per sample of every split (id, split, index, raw text, y_m, y_T/A/V if any)."""
    parts = []
    for s, sp in data.splits.items():
        d = {
            "sample_id": sp.ids.astype(str),
            "split": s,
            "index": np.arange(len(sp), dtype=np.int32),
            "raw_text": np.asarray(sp.raw_text, dtype=object),
            "y_m": sp.y_m,
        }
        if data.has_human_unimodal:
            d.update({f"y_{m}": sp.y_human[m] for m in UNIMODAL})
        parts.append(pd.DataFrame(d))
    return pd.concat(parts, ignore_index=True)


def labels_frame(split, epoch: int, labels: dict, weights: dict | None) -> pd.DataFrame:
    """labels/epoch_NNNN.parquet: per train sample the epoch-end label_T/A/V and the weight_T/A/V its batch's loss
    used (zeros for epoch 0, before any batch)."""
    n = len(split)
    d = {"epoch": epoch, "sample_id": split.ids.astype(str), "index": np.arange(n, dtype=np.int32)}
    for m in UNIMODAL:
        d[f"label_{m}"] = labels[m]
        d[f"weight_{m}"] = weights[m] if weights is not None else np.zeros(n, dtype=np.float32)
    return pd.DataFrame(d)


def _pred_frame(split, name: str, pred: dict) -> pd.DataFrame:
    d = {"split": name, "sample_id": split.ids.astype(str), "index": np.arange(len(split), dtype=np.int32)}
    d.update({f"pred_{m}": pred[m] for m in MODALITIES})
    return pd.DataFrame(d)


def dataset_info(data: MMSAData, path: Path) -> dict:
    """run.json's dataset path, sha256 and size (``data.summary()`` adds the rest)."""
    return {"path": str(path.resolve()), "sha256": file_sha256(path), "size_bytes": path.stat().st_size}


def valid_metrics(rows: list[dict]) -> dict:
    """The valid row's ``pred_M/<metric>`` values as ``{metric: value}`` (run.json's best.valid_metrics)."""
    v = next(r for r in rows if r["split"] == "valid")
    return {k[len("pred_M/") :]: v[k] for k in v if k.startswith("pred_M/")}


def provisional_reps(cfg: SelfMMConfig, epoch: int) -> tuple[int, ...]:
    """first_last / every:N: the previous epoch's representations were kept only in case it was the last one;
    committing ``epoch`` drops them (inside the commit's run.json write)."""
    prev = epoch - 1
    if prev < 1 or _rep_policy(cfg, prev) or cfg.record_representations in ("all", "none"):
        return ()
    return (prev,)


def epoch_rows(cfg: SelfMMConfig, data: MMSAData, rec: EpochRecord, snap, ev: dict[str, EvalRecord],
               ev_s: dict[str, float], t_train: float) -> tuple[list[dict], dict[str, float]]:  # fmt: skip
    """An epoch's metrics.csv rows (train, then each evaluated split) and the mean |epoch-end label − y_m| per
    unimodal task. ``snap``: the generator's epoch-end snapshot; ``ev_s``/``t_train``: seconds of each pass."""
    train = data.splits["train"]
    gen_info = {"target": rec.target, "labels": snap.labels}
    train_row = {"split": "train", "time_s": t_train, "loss": rec.loss}
    train_row.update({f"loss_{m}": rec.parts[m] for m in MODALITIES})
    gaps = {m: float(np.mean(np.abs(snap.labels[m] - train.y_m))) for m in UNIMODAL}
    train_row.update({f"gap_{m}": gaps[m] for m in UNIMODAL})
    train_row["n_steps"] = rec.n_steps
    train_row.update(split_metrics(cfg.dataset, train, rec.pred, gen_info))
    rows = [train_row]
    for s, e in ev.items():
        rows.append({"split": s, "time_s": ev_s[s], "loss": e.loss,
                     **split_metrics(cfg.dataset, data.splits[s], e.pred)})  # fmt: skip
    return rows, gaps


def epoch_predictions(data: MMSAData, rec: EpochRecord, ev: dict[str, EvalRecord]) -> pd.DataFrame:
    """The epoch's predictions table: train (from the training forward pass), then each evaluated split."""
    preds = [_pred_frame(data.splits["train"], "train", rec.pred)]
    preds += [_pred_frame(data.splits[s], s, e.pred) for s, e in ev.items()]
    return pd.concat(preds, ignore_index=True)


def epoch_representations(cfg: SelfMMConfig, rec: EpochRecord, ev: dict[str, EvalRecord]) -> dict | None:
    """``{"<split>/feat_<m>" | "<split>/enc_<m>": (N, d)}``, or None when ``record_representations=none``."""
    reps = None
    if cfg.record_representations != "none":
        reps = {f"train/feat_{m}": rec.feat[m] for m in MODALITIES}
        reps.update({f"train/enc_{m}": rec.enc[m] for m in UNIMODAL})
        for s, e in ev.items():
            reps.update({f"{s}/feat_{m}": e.feat[m] for m in MODALITIES})
            reps.update({f"{s}/enc_{m}": e.enc[m] for m in UNIMODAL})
    return reps
