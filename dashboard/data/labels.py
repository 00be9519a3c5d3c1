"""Label dynamics across epochs: quantiles, drift, cartography, agreement with the human labels.

Pure pandas/numpy, no Streamlit; see :mod:`dashboard.data` for the conventions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.data.rundata import (
    RunData,
)
from selfmm import analysis as A
from selfmm.config import UNIMODAL

# ==============================================================================================================
# label dynamics


def epoch_quantiles(arrays: dict[str, np.ndarray], epochs: np.ndarray, std: bool = True) -> pd.DataFrame:
    """``modality, epoch, min, q25, median, q75, max, mean[, std]`` over the rows of each ``(N, E)`` array of
    ``arrays`` (modality -> values per sample and epoch, NaN ignored), one row per modality and epoch."""
    cols = ["modality", "epoch", "min", "q25", "median", "q75", "max", "mean"] + (["std"] if std else [])
    rows = []
    for m in UNIMODAL:
        a = arrays[m]
        if a.shape[1] == 0:
            continue
        q = np.nanpercentile(a, [0, 25, 50, 75, 100], axis=0)
        stats = {"modality": m, "epoch": epochs.astype(int), "min": q[0], "q25": q[1], "median": q[2], "q75": q[3],
                 "max": q[4], "mean": np.nanmean(a, axis=0)}  # fmt: skip
        if std:
            stats["std"] = np.nanstd(a, axis=0)
        rows.append(pd.DataFrame(stats))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def label_quantiles(run: RunData) -> pd.DataFrame:
    """Distribution of generated labels per modality and epoch: ``modality, epoch, min, q25, median, q75, max,
    mean, std`` (train split). Precomputed, so a box chart does not ship N×E points to the browser."""
    return epoch_quantiles(run.gen, run.label_epochs)


def label_drift(run: RunData) -> pd.DataFrame:
    """Mean |y_s − y_m| per epoch and modality over the train split (:func:`selfmm.analysis.drift_by_epoch`):
    ``modality, epoch, mean_abs_diff``, plus the mean subtask weight ``mean_weight``."""
    tr = run.split_frame("train")
    idx, ym = tr["index"].to_numpy(), tr["y_m"].to_numpy(np.float32)
    rows = [
        pd.DataFrame(
            {
                "modality": m,
                "epoch": run.label_epochs.astype(int),
                "mean_abs_diff": A.drift_by_epoch(run.gen[m][idx], ym),
                "mean_weight": A.nanmean_by_epoch(run.weight[m][idx]),
            }
        )  # fmt: skip
        for m in UNIMODAL
        if run.gen[m].shape[1]
    ]
    cols = ["modality", "epoch", "mean_abs_diff", "mean_weight"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def cartography(run: RunData, modality: str, from_epoch: int = 1) -> pd.DataFrame:
    """Per train sample, the mean and the standard deviation of its generated ``modality`` label over epochs
    ``>= from_epoch`` (epoch 0 is the y_m initialisation; all epochs when none is that late), from
    :func:`selfmm.analysis.label_stats`: ``sample_id, mean, variability, final, y_m`` (+ ``human``, + the
    ``sign_flips`` and ``settle_epoch`` of the same epochs). Index = sample_id."""
    tr = run.split_frame("train")
    sel = run.label_epochs >= from_epoch
    if not sel.any():
        sel = np.ones(len(run.label_epochs), bool)
    out = pd.DataFrame({"sample_id": tr["sample_id"].to_numpy()})
    if len(run.label_epochs):
        stats = A.label_stats(run.label_epochs[sel], run.gen[modality][tr["index"].to_numpy()][:, sel])
        out["mean"], out["variability"], out["final"] = stats["mean"], stats["std"], stats["final"]
        out["sign_flips"], out["settle_epoch"] = stats["sign_flips"], stats["settle_epoch"]
    else:
        out["mean"] = out["variability"] = out["final"] = np.nan
    out["y_m"] = tr["y_m"].to_numpy(np.float32)
    if run.has_human:
        out["human"] = tr[f"y_{modality}"].to_numpy(np.float32)
    out.index = out["sample_id"].to_numpy()
    return out


# ==============================================================================================================
# generated vs human


def gen_vs_human_by_epoch(run: RunData) -> pd.DataFrame:
    """Per label epoch and modality, the generated labels (train) against the human unimodal labels
    (:func:`selfmm.analysis.agreement_frame`): ``epoch, modality, n, pearson_r, mae, acc_2, acc_3``. Empty
    without human labels."""
    if not run.has_human:
        return A.agreement_frame([], {})
    tr = run.split_frame("train")
    idx = tr["index"].to_numpy()
    return A.agreement_frame(run.label_epochs, {m: (run.gen[m][idx], tr[f"y_{m}"].to_numpy()) for m in UNIMODAL})


def heads_vs_human_by_epoch(run: RunData, split: str) -> pd.DataFrame:
    """Per prediction epoch and unimodal head, the head's predictions on ``split`` against the human unimodal
    labels: the columns of :func:`gen_vs_human_by_epoch`."""
    if not run.has_human or split not in run.pred:
        return A.agreement_frame([], {})
    sf = run.split_frame(split)
    idx = sf["index"].to_numpy()
    pairs = {m: (run.pred[split][m][idx], sf[f"y_{m}"].to_numpy()) for m in UNIMODAL}
    return A.agreement_frame(run.pred_epochs, pairs)


def ym_vs_human(run: RunData, split: str = "train") -> pd.DataFrame:
    """The baseline of every agreement chart: y_m itself taken as each modality's label, against the human
    unimodal labels of ``split`` (one row per modality, the columns of :func:`gen_vs_human_by_epoch`, epoch 0).
    A generated label or a head below it does worse than simply copying y_m."""
    if not run.has_human:
        return A.agreement_frame([], {})
    sf = run.split_frame(split)
    ym = sf["y_m"].to_numpy()[:, None]
    return A.agreement_frame([0], {m: (ym, sf[f"y_{m}"].to_numpy()) for m in UNIMODAL})
