"""The per-sample table (one row per sample at an epoch), its filters/sorts, the drill-down, and the
conflict tables derived from it.

Pure pandas/numpy, no Streamlit; see :mod:`dashboard.data` for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard.data.rundata import (
    RunData,
)
from selfmm import analysis as A
from selfmm.config import MODALITIES, UNIMODAL

# ==============================================================================================================
# per-sample table and drill-down


def nearest_epoch(epochs: np.ndarray, epoch: int | None) -> int | None:
    """The recorded epoch closest to ``epoch`` (latest when None); None when nothing is recorded."""
    if len(epochs) == 0:
        return None
    if epoch is None:
        return int(epochs[-1])
    return int(epochs[np.argmin(np.abs(np.asarray(epochs) - int(epoch)))])


def sample_table(run: RunData, epoch: int | None = None) -> pd.DataFrame:
    """One row per sample (every split) at ``epoch`` (default: the last; the nearest recorded one otherwise),
    index = sample_id: identity, human labels, generated labels ``gen_T|A|V`` and weights ``w_T|A|V`` (train only,
    NaN elsewhere), head predictions ``pred_M..V``, ``err_M`` = |pred_M − y_m|, and the derived columns of
    :func:`selfmm.analysis.sample_columns` (gen_minus_ym_*, gen_ym_max, abs_err_*, gen_human_max,
    human_/gen_conflict and _strength, sign_flips_* and sign_flips, settle_epoch_* over all label epochs; the
    integer ones are <NA> outside train). The same numbers as :func:`selfmm.analysis.sample_table` on the run's
    RunReader frames, where ``label_*`` / ``weight_*`` are called ``gen_*`` / ``w_*`` here.
    """
    s = run.samples
    out = pd.DataFrame(
        {"sample_id": s["sample_id"].to_numpy(), "split": s["split"].to_numpy(), "index": s["index"].to_numpy(),
         "raw_text": s["raw_text"].astype(str).to_numpy(), "y_m": s["y_m"].to_numpy(np.float32)}
    )  # fmt: skip
    n = len(out)
    if run.has_human:
        for m in UNIMODAL:
            out[f"y_{m}"] = s[f"y_{m}"].to_numpy(np.float32)
    split_arr, idx_arr = out["split"].to_numpy(), out["index"].to_numpy()
    train = split_arr == "train"
    tr_idx = idx_arr[train]
    le = nearest_epoch(run.label_epochs, epoch)
    history = {}  # (n, E) generated labels of every sample, NaN rows outside train
    for m in UNIMODAL:
        history[m] = np.full((n, len(run.label_epochs)), np.nan, np.float32)
        history[m][train] = run.gen[m][tr_idx]
        w = np.full(n, np.nan, np.float32)
        if le is not None:
            j = int(np.searchsorted(run.label_epochs, le))
            w[train] = run.weight[m][tr_idx, j]
        out[f"gen_{m}"] = history[m][:, j] if le is not None else np.full(n, np.nan, np.float32)
        out[f"w_{m}"] = w
    pe = nearest_epoch(run.pred_epochs, epoch)
    for m in MODALITIES:
        p = np.full(n, np.nan, np.float32)
        if pe is not None:
            j = int(np.searchsorted(run.pred_epochs, pe))
            for sp, arrs in run.pred.items():
                sel = split_arr == sp
                if sel.any() and arrs[m].shape[1]:
                    p[sel] = arrs[m][idx_arr[sel], j]
        out[f"pred_{m}"] = p
    ym = out["y_m"].to_numpy()
    out["err_M"] = np.abs(out["pred_M"].to_numpy() - ym)
    human = {m: out[f"y_{m}"].to_numpy() for m in UNIMODAL} if run.has_human else None
    gen = {m: out[f"gen_{m}"].to_numpy() for m in UNIMODAL}
    derived = A.sample_columns(ym, human, gen, history if le is not None else None, run.label_epochs)
    out = pd.concat([out, pd.DataFrame(derived)], axis=1)
    out.index = out["sample_id"].to_numpy()
    return out


@dataclass
class SampleFilter:
    """Filter values of the Samples page; None / empty means "no filter"."""

    splits: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> inclusive (lo, hi)
    human_conflict: tuple[str, ...] = ()
    gen_conflict: tuple[str, ...] = ()
    min_gen_human: float | None = None
    min_gen_ym: float | None = None
    sign_flips_only: bool = False
    text: str = ""
    ids: tuple[str, ...] | None = None  # restrict to these sample ids (a box/lasso selection)


def filter_samples(table: pd.DataFrame, f: SampleFilter) -> pd.DataFrame:
    """Rows of :func:`sample_table` passing every active filter (vectorised; order kept)."""
    mask = np.ones(len(table), bool)
    if f.splits:
        mask &= table["split"].isin(list(f.splits)).to_numpy()
    for col, (lo, hi) in f.ranges.items():
        if col in table.columns:
            v = table[col].to_numpy(np.float64)
            mask &= (v >= lo) & (v <= hi)
    if f.human_conflict and "human_conflict" in table.columns:
        mask &= table["human_conflict"].isin(list(f.human_conflict)).to_numpy()
    if f.gen_conflict:
        mask &= table["gen_conflict"].isin(list(f.gen_conflict)).to_numpy()
    if f.min_gen_human is not None and "gen_human_max" in table.columns:
        mask &= table["gen_human_max"].to_numpy(np.float64) >= f.min_gen_human
    if f.min_gen_ym is not None:
        mask &= table["gen_ym_max"].to_numpy(np.float64) >= f.min_gen_ym
    if f.sign_flips_only and "sign_flips" in table.columns:
        mask &= table["sign_flips"].to_numpy(dtype=np.float64, na_value=np.nan) > 0
    if f.text:
        q = f.text.lower()
        mask &= table["raw_text"].str.lower().str.contains(q, regex=False).fillna(False).to_numpy(bool) | table[
            "sample_id"
        ].str.lower().str.contains(q, regex=False).fillna(False).to_numpy(bool)
    if f.ids is not None:
        mask &= table["sample_id"].isin(list(f.ids)).to_numpy()
    return table[mask]


SORT_DEFAULT = "split, index"  # the table's natural order (train, valid, test; then the split's row index)


def sort_samples(table: pd.DataFrame, by: str = SORT_DEFAULT, descending: bool = False) -> pd.DataFrame:
    """The (filtered) sample table sorted by column ``by`` (stable; missing values last in both directions), or
    in its natural order for :data:`SORT_DEFAULT`. The CSV export uses the same order as the screen."""
    if by == SORT_DEFAULT or by not in table.columns:
        return table
    return table.sort_values(by, ascending=not descending, kind="stable", na_position="last")


def sort_choices(table: pd.DataFrame) -> list[str]:
    """Columns the Samples table can be sorted by: the natural order first, then every column but raw_text."""
    return [SORT_DEFAULT] + [c for c in table.columns if c not in ("raw_text", "index")]


# the Samples table's columns before the reader picks others: what fits at 1400 px (the CSV keeps every column)
SAMPLE_COLUMNS = ("sample_id", "split", "raw_text", "y_m", "y_T", "y_A", "y_V", "gen_T", "gen_A", "gen_V", "w_T",
                  "w_A", "w_V", "err_M", "gen_conflict")  # fmt: skip


def column_choices(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(every column, the default shown)`` of a :func:`sample_table` for the Samples page's column chooser
    (``index`` is internal and never offered; ``sample_id`` is always shown, so a row names its sample)."""
    cols = [c for c in table.columns if c != "index"]
    return cols, [c for c in SAMPLE_COLUMNS if c in cols]


def conflict_strength_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Train samples per conflict strength (the strongest over the conflicting modalities: "strong" = opposite
    polarity to M, "weak" = neutral against polar), human vs generated: ``strength, human, generated``."""
    tr = _train_rows(table)
    levels = ["none", "weak", "strong"]
    out = pd.DataFrame({"strength": levels})
    for src, col in (("human", "human_strength"), ("generated", "gen_strength")):
        counts = tr[col].astype(str).value_counts() if col in tr.columns else pd.Series(dtype=int)
        out[src] = [int(counts.get(lv, 0)) for lv in levels]
    return out


def sample_detail(run: RunData, sample_id: str) -> dict:
    """Everything the drill-down shows for one sample, by row lookup (O(epochs)).

    Returns ``{"info": dict (sample_id, split, index, raw_text, y_m, y_T..), "labels": DataFrame(epoch, gen_T,
    gen_A, gen_V, w_T, w_A, w_V) or empty (non-train samples), "predictions": DataFrame(epoch, pred_M..pred_V)}``.
    Raises KeyError for an unknown sample id.
    """
    row = run.samples.loc[sample_id]  # hash lookup on the sample_id index
    info = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    split, i = str(row["split"]), int(row["index"])
    labels = pd.DataFrame({"epoch": run.label_epochs.astype(int)})
    if split == "train" and len(run.label_epochs):
        for m in UNIMODAL:
            labels[f"gen_{m}"] = run.gen[m][i]
        for m in UNIMODAL:
            labels[f"w_{m}"] = run.weight[m][i]
    else:
        labels = labels.iloc[0:0]
    preds = pd.DataFrame({"epoch": run.pred_epochs.astype(int)})
    arrs = run.pred.get(split, {})
    for m in MODALITIES:
        a = arrs.get(m)
        preds[f"pred_{m}"] = a[i] if a is not None and i < a.shape[0] and a.shape[1] else np.nan
    return {"info": info, "labels": labels, "predictions": preds}


# ==============================================================================================================
# conflicts (train rows of sample_table; categories and outcomes defined in selfmm.analysis)


def _train_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["split"] == "train"]


def conflict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Train samples per conflict category, human vs generated: ``category, human, generated``
    (:func:`selfmm.analysis.conflict_counts`)."""
    return A.conflict_counts(_train_rows(table))


def conflict_confusion(table: pd.DataFrame) -> pd.DataFrame:
    """Cross-table of train samples: rows = human conflict category, columns = generated conflict category
    (:func:`selfmm.analysis.conflict_confusion`); empty without human labels."""
    if "human_conflict" not in table.columns:
        return pd.DataFrame()
    return A.conflict_confusion(_train_rows(table))


def conflict_outcomes(table: pd.DataFrame) -> pd.DataFrame:
    """Per train sample and modality where the human or the generated label conflicts with M: ``sample_id, index,
    modality, y_m, human, generated, outcome, raw_text`` with outcome recovered | partial | missed | spurious
    (:func:`selfmm.analysis.conflict_recovery`)."""
    return A.conflict_recovery(_train_rows(table), gen_prefix="gen_")


# ==============================================================================================================
# embeddings


COLOR_CHOICES = (
    "split", "y_m", "y_T", "y_A", "y_V", "gen_T", "gen_A", "gen_V", "w_T", "w_A", "w_V",
    "human_conflict", "gen_conflict", "err_M", "pred_M",
)  # fmt: skip


def color_choices(table: pd.DataFrame) -> list[str]:
    """Every column of :func:`sample_table` a projection can be coloured by: the common ones of
    :data:`COLOR_CHOICES` first (those present), then all other columns except identifiers and text."""
    first = [c for c in COLOR_CHOICES if c == "split" or c in table.columns]
    rest = [c for c in table.columns if c not in first and c not in ("sample_id", "index", "raw_text")]
    return first + rest
