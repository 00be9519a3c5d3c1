"""One row per run (best epoch, best valid loss, test metrics) and per-epoch curves overlaid across runs.

Pure (no Streamlit); see :mod:`dashboard.compare` for the conventions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from dashboard.compare.runs import (
    ReaderLike,
)

# ----------------------------------------------------------------------------------------------------------------
# metric table and curves


def _flat(prefix: str, d: Mapping | None) -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, Mapping):
            out.update(_flat(f"{prefix}{k}/", v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def metric_table(readers: Mapping[str, ReaderLike]) -> pd.DataFrame:
    """One row per run: ``run`` (label), ``variant``, ``seed``, ``status``, ``epochs``, ``best_epoch``,
    ``best_valid_loss``, then ``test/<metric>`` for every test metric of the best model.

    Test metrics come from ``manifest["test"]`` (the best model on test, written when the run finishes); for a
    run that has none yet, they fall back to the ``test`` rows of ``metrics.jsonl`` at the best epoch (the
    per-epoch test evaluation), so live runs still get a row. Metric keys are kept as written (``pred_M/MAE`` or
    ``MAE``); a key present in some runs only leaves NaN in the others.
    """
    rows = []
    for label, reader in readers.items():
        m = reader.manifest
        exp = m.get("experiment") or {}
        best = m.get("best") or {}
        row = {
            "run": label,
            "variant": exp.get("variant"),
            "seed": exp.get("seed", (m.get("config") or {}).get("seed")),
            "status": getattr(reader, "status", m.get("status")),
            "epochs": m.get("epochs_completed"),
            "best_epoch": best.get("epoch"),
            "best_valid_loss": best.get("valid_loss"),
        }
        test = _flat("test/", m.get("test"))
        if not test and best.get("epoch") is not None:
            met = reader.metrics()
            hit = met[(met["split"] == "test") & (met["epoch"] == best["epoch"])] if not met.empty else met
            if not hit.empty:
                rec = hit.iloc[-1].drop(labels=["epoch", "split", "time_s"], errors="ignore").to_dict()
                test = {f"test/{k}": float(v) for k, v in rec.items() if _is_number(v)}
        row.update(test)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["run", "variant", "seed", "status", "epochs", "best_epoch", "best_valid_loss"])
    for col in ("seed", "epochs", "best_epoch"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df["best_valid_loss"] = pd.to_numeric(df["best_valid_loss"], errors="coerce").astype(float)
    return df


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def metric_columns(metrics: Sequence[pd.DataFrame]) -> list[str]:
    """Numeric metric columns present in any of the given ``metrics.jsonl`` frames, in a stable order:
    ``loss`` first, then ``pred_M/...``, then the rest alphabetically."""
    skip = {"epoch", "split", "time_s"}
    cols: set[str] = set()
    for df in metrics:
        cols |= {c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])}

    def key(c: str) -> tuple:
        return (c != "loss", not c.startswith("pred_M/"), c)

    return sorted(cols, key=key)


def curves_long(metrics: Mapping[str, pd.DataFrame], column: str, split: str) -> pd.DataFrame:
    """Long table ``run, epoch, value`` of one metric column on one split, for every run that has it.

    Rows with a missing value are dropped (a column absent from a run gives no rows). Sorted by run order of
    ``metrics`` then epoch.
    """
    parts = []
    for label, df in metrics.items():
        if df.empty or column not in df.columns:
            continue
        sel = df.loc[df["split"] == split, ["epoch", column]].dropna()
        if sel.empty:
            continue
        parts.append(
            pd.DataFrame(
                {"run": label, "epoch": sel["epoch"].astype("int64").to_numpy(), "value": sel[column].astype(float)}
            )
        )
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), "epoch": pd.Series(dtype="int64"), "value": []})
    out = pd.concat(parts, ignore_index=True)
    order = {k: i for i, k in enumerate(metrics)}
    return out.sort_values(["run", "epoch"], key=lambda s: s.map(order) if s.name == "run" else s).reset_index(
        drop=True
    )


def overlay_curves(
    curves: pd.DataFrame, title: str, y_title: str, best_epochs: Mapping[str, int] | None = None
) -> go.Figure:
    """One line per run (``curves_long`` output); each run's best epoch as the app's one best-epoch marker
    (:func:`dashboard.charts.best_epoch_line`, a dashed line in the run's colour) when ``best_epochs`` given."""
    from dashboard import charts

    fig = go.Figure()
    palette = qualitative.Plotly  # explicit, so each run's best-epoch line takes its curve's colour
    for i, (run, grp) in enumerate(curves.groupby("run", sort=False)):
        color = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=grp["epoch"], y=grp["value"], mode="lines+markers", name=str(run),
                                 line={"color": color},
                                 hovertemplate=f"{run}<br>epoch %{{x}}<br>%{{y:{charts.NUM}}}<extra></extra>"))  # fmt: skip
        best = (best_epochs or {}).get(run)
        if best is not None and (grp["epoch"] == best).any():
            charts.best_epoch_line(fig, int(best), color)
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title=y_title,
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 50, "b": 10},
        height=380,
    )
    return fig
