"""The subtask weights as a population: their distribution per epoch, against the human conflict category, and
against |generated − human|. Pure data and chart functions (no Streamlit); the Label dynamics page draws them.

Self-MM weights each unimodal loss term by w_s = tanh(|y_s − y_m|): a weight is high where the generated label
left y_m. These views ask whether it is high where it should be: where humans saw the modality disagree with M.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from dashboard.data import RunData, epoch_quantiles

UNIMODAL = ("T", "A", "V")


def weight_quantiles(run: RunData) -> pd.DataFrame:
    """``modality, epoch, min, q25, median, q75, max, mean`` of the subtask weights of the train split per label
    epoch (epoch 0: every weight is 0, labels start at y_m)."""
    return epoch_quantiles(run.weight, run.label_epochs, std=False)


def weight_by_conflict(table: pd.DataFrame, modality: str) -> pd.DataFrame:
    """Train samples of a :func:`dashboard.data.sample_table` split by whether humans saw ``modality`` disagree
    with M (its letter in ``human_conflict``): ``group`` ("humans: <m> disagrees with M" | "humans: <m> agrees
    with M"), ``n``, ``mean_w``, ``median_w``. Empty without human labels."""
    tr = table[table["split"] == "train"]
    if "human_conflict" not in tr.columns or tr.empty:
        return pd.DataFrame(columns=["group", "n", "mean_w", "median_w"])
    conflict = tr["human_conflict"].astype(str).str.split("+").map(lambda parts: modality in parts)
    rows = []
    for flag, name in ((True, "disagrees"), (False, "agrees")):
        w = tr.loc[conflict == flag, f"w_{modality}"].astype(float)
        rows.append({"group": f"humans: {modality} {name} with M", "n": int(w.notna().sum()),
                     "mean_w": float(w.mean()) if len(w) else np.nan,
                     "median_w": float(w.median()) if len(w) else np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def weight_distribution_chart(q: pd.DataFrame, modality: str) -> go.Figure:
    """Box per epoch of one modality's subtask weights (statistics from :func:`weight_quantiles`)."""
    d = q[q["modality"] == modality]
    fig = go.Figure(go.Box(x=d["epoch"], q1=d["q25"], median=d["median"], q3=d["q75"], lowerfence=d["min"],
                           upperfence=d["max"], mean=d["mean"], name=charts.MOD_NAMES[modality],
                           marker_color=charts.MOD_COLORS[modality]))  # fmt: skip
    return charts._layout(fig, f"Subtask weights w_{modality} per epoch", "epoch", "weight (0–1)", "modality")


def weight_vs_conflict_chart(table: pd.DataFrame, modality: str) -> go.Figure:
    """Box of w_<m> (train samples) for the samples where humans saw <m> disagree with M and for the others."""
    tr = table[table["split"] == "train"]
    if "human_conflict" not in tr.columns:
        return charts.empty_figure("No human unimodal labels: no conflict categories")
    conflict = tr["human_conflict"].astype(str).str.split("+").map(lambda parts: modality in parts)
    fig = go.Figure()
    for flag, name, color in ((True, "disagrees", "#d6604d"), (False, "agrees", "#9e9e9e")):
        sub = tr[conflict == flag]
        fig.add_trace(go.Box(y=sub[f"w_{modality}"], name=f"{name} with M", marker_color=color, showlegend=False,
                             boxpoints="outliers", customdata=sub.index.to_numpy().reshape(-1, 1)))  # fmt: skip
    return charts._layout(fig, f"w_{modality} by the human conflict", f"humans: {modality} …", "weight (0–1)", "",
                          height=360)  # fmt: skip


def weight_vs_error_chart(table: pd.DataFrame, modality: str, labels_table: pd.DataFrame | None = None) -> go.Figure:
    """Scatter of w_<m> against |generated <m> − human <m>| (train samples): a weight that rises with the error
    gives most weight to the labels furthest from the human ones.

    ``table`` is the sample table of epoch e, whose ``w_<m>`` the ULGM computed from the labels it held when the
    sample's batch came up in epoch e, i.e. the labels at the end of epoch e − 1 (each sample's label is updated
    once per epoch, after its own batch). ``labels_table``, the sample table of epoch e − 1, supplies those labels'
    ``abs_err_<m>`` (matched by sample_id); without it the error is the one of ``table``'s own labels."""
    tr = table[table["split"] == "train"]
    col = f"abs_err_{modality}"
    if col not in tr.columns:
        return charts.empty_figure("No human unimodal labels: no |generated − human|")
    if labels_table is not None:
        prev = labels_table[labels_table["split"] == "train"].set_index("sample_id")[col]
        tr = tr.assign(**{col: tr["sample_id"].map(prev).to_numpy()})
    fig = go.Figure(go.Scattergl(x=tr[col], y=tr[f"w_{modality}"], mode="markers", name=f"w_{modality}",
                                 marker=dict(size=5, color=charts.MOD_COLORS[modality], opacity=0.6),
                                 customdata=tr.index.to_numpy().reshape(-1, 1),
                                 hovertemplate="%{customdata[0]}<br>|gen − human| %{x:.3f}<br>w %{y:.3f}<extra></extra>"))  # fmt: skip
    return charts._layout(fig, f"w_{modality} vs |generated − human {modality}|",
                          f"|generated − human {modality}| (label units)", "weight (0–1)", "", height=360)  # fmt: skip
