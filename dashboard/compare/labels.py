"""Generated labels compared run against run, sample by sample (e.g. stability across seeds).

Pure (no Streamlit); see :mod:`dashboard.compare` for the conventions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.compare.runs import (
    MODALITY_NAMES,
    UNIMODAL,
    CompareError,
    ReaderLike,
)

# ----------------------------------------------------------------------------------------------------------------
# generated labels, run against run


def final_labels(reader: ReaderLike, epoch: int | None = None) -> pd.DataFrame:
    """The generated unimodal labels of one epoch (default: the last committed one) of a run.

    Returns ``sample_id, index, label_T, label_A, label_V`` (train split, one row per sample) with the
    epoch in ``df.attrs["epoch"]``. Raises :class:`CompareError` when the run has no committed label epoch yet.
    """
    epochs = list(reader.epochs)
    if not epochs:
        raise CompareError("the run has no committed epoch with labels yet; wait for its first epoch to finish")
    epoch = max(epochs) if epoch is None else epoch
    df = reader.labels(epochs=[epoch])
    keep = ["sample_id", "index"] + [f"label_{m}" for m in UNIMODAL if f"label_{m}" in df.columns]
    out = df.loc[df["epoch"] == epoch, keep].reset_index(drop=True) if "epoch" in df.columns else df[keep]
    out.attrs["epoch"] = int(epoch)
    return out


def label_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Join two runs' label tables on ``sample_id``: ``sample_id, index, label_<m>_a, label_<m>_b`` per modality.

    Samples present in only one run are dropped (different data files); a sample whose ``index`` differs between
    the runs means the two runs were trained on differently ordered pickles, so the join refuses with
    :class:`CompareError` rather than pairing labels silently.
    """
    mods = [m for m in UNIMODAL if f"label_{m}" in a.columns and f"label_{m}" in b.columns]
    ra = a[["sample_id", "index"] + [f"label_{m}" for m in mods]]
    rb = b[["sample_id", "index"] + [f"label_{m}" for m in mods]]
    if ra["sample_id"].duplicated().any() or rb["sample_id"].duplicated().any():
        raise CompareError("a label table has duplicate sample_id rows; pass a single epoch (final_labels)")
    j = ra.merge(rb, on="sample_id", suffixes=("_a", "_b"), how="inner", validate="one_to_one")
    bad = j["index_a"] != j["index_b"]
    if bad.any():
        sid = j.loc[bad, "sample_id"].iloc[0]
        raise CompareError(
            f"sample {sid!r} has index {j.loc[bad, 'index_a'].iloc[0]} in run A and "
            f"{j.loc[bad, 'index_b'].iloc[0]} in run B: the runs used differently ordered data files; "
            "compare runs trained on the same pickle"
        )
    j = j.drop(columns="index_b").rename(columns={"index_a": "index"})
    return j.sort_values("index", kind="stable").reset_index(drop=True)


def agreement(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Pearson r, mean |x - y|) of two equal-length vectors; r is NaN when either is constant or n < 2."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise CompareError(f"agreement: shapes differ {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan"), float("nan")
    mad = float(np.mean(np.abs(x - y)))
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    r = float(dx @ dy) / den if x.size >= 2 and den > 0 else float("nan")
    return r, mad


def label_agreement(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per modality: ``modality, n, pearson_r, mean_abs_diff`` of ``label_pairs`` output (run A vs run B)."""
    rows = []
    for m in UNIMODAL:
        ca, cb = f"label_{m}_a", f"label_{m}_b"
        if ca in pairs.columns and cb in pairs.columns:
            r, mad = agreement(pairs[ca].to_numpy(), pairs[cb].to_numpy())
            rows.append({"modality": m, "n": len(pairs), "pearson_r": r, "mean_abs_diff": mad})
    return pd.DataFrame(rows, columns=["modality", "n", "pearson_r", "mean_abs_diff"])


def pairwise_agreement(labels: Mapping[str, pd.DataFrame], modality: str) -> pd.DataFrame:
    """Square ``run × run`` matrix of Pearson r between the runs' labels of one modality (1.0 on the diagonal,
    NaN where a run is constant on the samples it shares with the other, or they share fewer than two). Useful
    for "how stable are generated labels across seeds" with >2 runs.

    Each pair is compared on the samples both runs have (matched by sample_id, as :func:`label_pairs`), but in
    one pass: the labels are aligned into a (samples × runs) matrix once and every pair's sums come from matrix
    products, so 200 runs cost a few (R × N) @ (N × R) products instead of 19,900 joins. Raises
    :class:`CompareError` like :func:`label_pairs` (duplicate ids in a run, an id at different indices)."""
    names = list(labels)
    col = f"label_{modality}"
    parts = []
    for j, name in enumerate(names):
        df = labels[name]
        if df["sample_id"].duplicated().any():
            raise CompareError("a label table has duplicate sample_id rows; pass a single epoch (final_labels)")
        vals = df[col].to_numpy(np.float64) if col in df.columns else np.full(len(df), np.nan)
        parts.append(pd.DataFrame({"sample_id": df["sample_id"].to_numpy(), "index": df["index"].to_numpy(),
                                   "run": j, "value": vals}))  # fmt: skip
    mat = pd.DataFrame(np.nan, index=names, columns=names, dtype=float)
    if not parts:
        return mat
    long = pd.concat(parts, ignore_index=True)
    n_index = long.groupby("sample_id", sort=False)["index"].nunique()
    if (n_index > 1).any():
        sid = n_index.index[np.argmax(n_index.to_numpy() > 1)]
        raise CompareError(
            f"sample {sid!r} has different indices in the runs: they used differently ordered data files; "
            "compare runs trained on the same pickle"
        )
    rows, sids = pd.factorize(long["sample_id"])
    x = np.full((len(sids), len(names)), np.nan)
    x[rows, long["run"].to_numpy()] = long["value"].to_numpy()
    r = _pairwise_r(x)
    np.fill_diagonal(r, 1.0)
    mat.loc[:, :] = r
    return mat


def _pairwise_r(x: np.ndarray) -> np.ndarray:
    """(R, R) Pearson r of the columns of ``x`` (N, R), each pair over the rows where both are not NaN."""
    present = ~np.isnan(x)
    m = present.astype(np.float64)
    # centre each column first: r is shift-invariant, and a column constant on its rows becomes exact zeros
    x = np.where(present, x, 0.0)
    x = np.where(present, x - x.sum(axis=0) / np.maximum(m.sum(axis=0), 1.0), 0.0)
    n = m.T @ m  # (a, b): rows where both runs have a label
    s = x.T @ m  # (a, b): sum of run a's labels over those rows
    sq = (x * x).T @ m
    p = x.T @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = p - s * s.T / n
        var_a, var_b = sq - s * s / n, (sq - s * s / n).T
        scale = np.maximum(sq, sq.T)
        ok = (n >= 2) & (var_a > 1e-12 * scale) & (var_b > 1e-12 * scale)
        return np.where(ok, cov / np.sqrt(np.where(ok, var_a * var_b, 1.0)), np.nan)


def label_scatter(pairs: pd.DataFrame, name_a: str, name_b: str, stats: pd.DataFrame | None = None) -> go.Figure:
    """One scatter per unimodal modality (side by side): run A's generated label (x) vs run B's (y), with the
    identity line; subplot titles carry Pearson r and mean |Δ|. Hover shows ``sample_id``."""
    from plotly.subplots import make_subplots

    stats = label_agreement(pairs) if stats is None else stats
    mods = stats["modality"].tolist()
    titles = [
        f"{m} ({MODALITY_NAMES[m]}): r = {_fmt(r)}, mean |Δ| = {_fmt(d)}"
        for m, r, d in zip(mods, stats["pearson_r"], stats["mean_abs_diff"])
    ]
    fig = make_subplots(rows=1, cols=max(len(mods), 1), subplot_titles=titles or None, horizontal_spacing=0.06)
    for i, m in enumerate(mods, start=1):
        xa, yb = pairs[f"label_{m}_a"], pairs[f"label_{m}_b"]
        lo = float(min(xa.min(), yb.min())) if len(pairs) else -1.0
        hi = float(max(xa.max(), yb.max())) if len(pairs) else 1.0
        fig.add_trace(
            go.Scattergl(
                x=xa,
                y=yb,
                mode="markers",
                marker={"size": 4, "opacity": 0.5},
                name=m,
                customdata=pairs["sample_id"],
                hovertemplate="%{customdata}<br>A %{x:.3f}<br>B %{y:.3f}<extra>" + m + "</extra>",
                showlegend=False,
            ),
            row=1,
            col=i,
        )
        fig.add_trace(
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "grey"}, showlegend=False),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text=f"label_{m}: {name_a}", row=1, col=i)
        fig.update_yaxes(title_text=f"label_{m}: {name_b}" if i == 1 else None, row=1, col=i)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=380, margin={"t": 60, "b": 10})
    return fig


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
