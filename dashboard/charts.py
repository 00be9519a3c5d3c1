"""Plotly figures for the dashboard: pure functions ``frame(s) -> go.Figure``, no Streamlit.

Every figure has a title, axis titles with units and a legend title, so a screenshot is readable on its own.
Scatter points carry their sample id in ``customdata[0]``; :func:`dashboard.data.selected_ids` reads it back
from a selection event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MOD_COLORS = {"M": "#444444", "T": "#1f77b4", "A": "#ff7f0e", "V": "#2ca02c", "all": "#9467bd"}
MOD_NAMES = {"M": "M (multimodal)", "T": "T (text)", "A": "A (audio)", "V": "V (vision)", "all": "all modalities"}
SPLIT_DASH = {"train": "solid", "valid": "dash", "test": "dot"}
SPLIT_COLORS = {"train": "#1f77b4", "valid": "#ff7f0e", "test": "#2ca02c"}
CATEGORICAL = ("split", "human_conflict", "gen_conflict", "human_strength", "gen_strength")
LABEL_UNIT = "sentiment score"
# diverging blue -> grey -> red: RdBu's white middle vanished on the white background, and 0 is common in SIMS
LABEL_SCALE = [[0.0, "#053061"], [0.25, "#4393c3"], [0.5, "#9e9e9e"], [0.75, "#d6604d"], [1.0, "#67001f"]]
HOVER_LABELS = (("split", "split", ""), ("y_m", "human M", ":+.2f"), ("y_T", "human T", ":+.2f"),
                ("y_A", "human A", ":+.2f"), ("y_V", "human V", ":+.2f"))  # fmt: skip


NUM = ".3f"  # one number format for metric values in hovers and tables (tables: "%.3f")
BEST = dict(line_dash="dash", line_color="crimson", line_width=1.5)  # the one best-epoch marker (every page)
HEAD_ORDER = ("total", "M", "T", "A", "V")  # panel order of the training curves: fusion head first, as in the paper
MAX_UNIT_TICKS = 12  # up to this many epochs, tick every epoch (else Plotly's own integer steps)


def _layout(fig: go.Figure, title: str, x: str, y: str, legend: str | None = None, height: int = 380) -> go.Figure:
    fig.update_layout(
        title=title, height=height, margin=dict(l=60, r=20, t=60, b=50), legend_title_text=legend or "",
        template="plotly_white",
    )  # fmt: skip
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=y)
    if x == "epoch":
        _integer_epoch_ticks(fig)
    return fig


def _integer_epoch_ticks(fig: go.Figure) -> None:
    """Epochs are integers: on a short axis Plotly's automatic ticks land on 1.5, 2.5 ..., so tick every epoch
    when the span is small (longer axes get integer steps from Plotly already)."""
    xs = []
    for t in fig.data:
        try:
            x = np.asarray(t.x if getattr(t, "x", None) is not None else [], dtype=float)
        except (TypeError, ValueError):  # a categorical axis: nothing to do
            return
        xs.append(x[np.isfinite(x)])
    xs = [x for x in xs if len(x)]
    if not xs:
        return
    lo, hi = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
    if hi - lo <= MAX_UNIT_TICKS:
        fig.update_xaxes(tick0=0, dtick=1)
    else:
        fig.update_xaxes(tickformat="d")


def empty_figure(message: str) -> go.Figure:
    """A blank figure carrying a message (used when a view has nothing to show)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(height=200, template="plotly_white", xaxis_visible=False, yaxis_visible=False)
    return fig


# ==============================================================================================================
# overview


def training_curves(curves: pd.DataFrame, metric: str, best_epoch: int | None = None) -> go.Figure:
    """One panel per head (``curves`` from :func:`dashboard.data.curves_frame`), one line per split; the best
    epoch (lowest valid loss) is a dashed vertical line in every panel."""
    if curves is None or len(curves) == 0:
        return empty_figure(f"No '{metric}' values recorded yet")
    present = list(dict.fromkeys(curves["head"]))
    heads = [h for h in HEAD_ORDER if h in present] + [h for h in present if h not in HEAD_ORDER]
    fig = make_subplots(rows=1, cols=len(heads), subplot_titles=[MOD_NAMES.get(h, h) for h in heads],
                        shared_yaxes=False, horizontal_spacing=0.07)  # fmt: skip
    shown = set()
    for c, head in enumerate(heads, start=1):
        sub = curves[curves["head"] == head]
        for split in dict.fromkeys(sub["split"]):
            s = sub[sub["split"] == split]
            fig.add_trace(
                go.Scatter(x=s["epoch"], y=s["value"], mode="lines+markers", name=split, legendgroup=split,
                           showlegend=split not in shown, line=dict(color=SPLIT_COLORS.get(split), width=2),
                           hovertemplate=f"{head} {split}<br>epoch %{{x}}<br>{metric} %{{y:{NUM}}}<extra></extra>"),
                row=1, col=c,
            )  # fmt: skip
            shown.add(split)
        if best_epoch is not None:
            best_epoch_line(fig, best_epoch, row=1, col=c)
    title = f"{metric} per epoch" + (f" (best epoch {best_epoch}, red dashed)" if best_epoch is not None else "")
    _layout(fig, title, "epoch", metric, "split", height=340)
    # one y title, on the first panel: on the others it would sit on the previous panel's best-epoch line
    for c in range(2, len(heads) + 1):
        fig.update_yaxes(title_text=None, row=1, col=c)
    return fig


def best_epoch_line(fig: go.Figure, epoch: int, color: str | None = None, **where) -> go.Figure:
    """The best epoch (lowest validation loss, whose weights are kept) as a dashed vertical line: the one marker
    every page uses (``color`` per run where several runs share a chart)."""
    style = {**BEST, **({"line_color": color} if color else {})}
    fig.add_vline(x=epoch, **style, **where)
    return fig


# ==============================================================================================================
# sample drill-down


def _reference_line(epochs: pd.Series, y: float, name: str, color: str, dash: str) -> go.Scatter:
    """A horizontal reference (a human label) as a legend entry spanning the recorded epochs: an annotation
    next to the plot collides with the legend and with the tick labels."""
    x = [int(epochs.min()), int(epochs.max())] if len(epochs) else [0, 1]
    return go.Scatter(x=x, y=[y, y], mode="lines", name=name, line=dict(color=color, dash=dash, width=1.5),
                      hovertemplate=f"{name} %{{y:.3f}}<extra></extra>")  # fmt: skip


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v))


def label_trajectory(labels: pd.DataFrame, info: dict) -> go.Figure:
    """A sample's generated T/A/V labels across epochs (solid), with its human labels as dotted reference lines
    in the same colour ("human T" ...) and y_m (the human multimodal label) as a grey dashed line."""
    fig = go.Figure()
    for m in ("T", "A", "V"):
        if f"gen_{m}" in labels.columns:
            fig.add_trace(go.Scatter(x=labels["epoch"], y=labels[f"gen_{m}"], mode="lines+markers",
                                     name=f"generated {m}", line=dict(color=MOD_COLORS[m])))  # fmt: skip
    for m in ("T", "A", "V"):
        h = info.get(f"y_{m}")
        if _finite(h):
            fig.add_trace(_reference_line(labels["epoch"], float(h), f"human {m}", MOD_COLORS[m], "dot"))
    fig.add_trace(_reference_line(labels["epoch"], float(info["y_m"]), "y_m (human M)", MOD_COLORS["M"], "dash"))
    return _layout(fig, "Generated unimodal labels (dotted: human labels)", "epoch", f"label ({LABEL_UNIT})",
                   "label", height=320)  # fmt: skip


def weight_trajectory(labels: pd.DataFrame) -> go.Figure:
    """A sample's subtask weights tanh(|y_s − y_m|) across epochs, one line per modality."""
    fig = go.Figure()
    for m in ("T", "A", "V"):
        if f"w_{m}" in labels.columns:
            fig.add_trace(go.Scatter(x=labels["epoch"], y=labels[f"w_{m}"], mode="lines+markers",
                                     name=f"w_{m}", line=dict(color=MOD_COLORS[m])))  # fmt: skip
    return _layout(fig, "Subtask weights w_s = tanh(|y_s − y_m|)", "epoch", "weight (0–1)", "weight", height=300)


def prediction_trajectory(preds: pd.DataFrame, info: dict) -> go.Figure:
    """A sample's head predictions across epochs, with y_m (the human multimodal label) as a dashed reference
    and, where the dataset has them, the human T/A/V labels as dotted references in each head's colour (what a
    unimodal head on valid/test should be compared with: those samples have no generated labels)."""
    fig = go.Figure()
    for m in ("M", "T", "A", "V"):
        if f"pred_{m}" in preds.columns:
            fig.add_trace(go.Scatter(x=preds["epoch"], y=preds[f"pred_{m}"], mode="lines+markers",
                                     name=f"ŷ_{m}", line=dict(color=MOD_COLORS[m])))  # fmt: skip
    human = [m for m in ("T", "A", "V") if f"pred_{m}" in preds.columns and _finite(info.get(f"y_{m}"))]
    for m in human:
        fig.add_trace(_reference_line(preds["epoch"], float(info[f"y_{m}"]), f"human {m}", MOD_COLORS[m], "dot"))
    fig.add_trace(_reference_line(preds["epoch"], float(info["y_m"]), "y_m (human M)", MOD_COLORS["M"], "dash"))
    title = "Head predictions (dashed: y_m" + ("; dotted: human T/A/V)" if human else ")")
    return _layout(fig, title, "epoch", f"prediction ({LABEL_UNIT})", "head", height=300)


def positions_chart(proj_epoch: pd.DataFrame, positions: pd.DataFrame, sample_id: str) -> go.Figure:
    """Small multiples: every sample of each modality's projection in grey, the chosen sample as a red star."""
    mods = [m for m in ("T", "A", "V", "M", "all") if m in set(proj_epoch["modality"])]
    if not mods:
        return empty_figure("No projection recorded for this run")
    fig = make_subplots(rows=1, cols=len(mods), subplot_titles=[MOD_NAMES[m] for m in mods], horizontal_spacing=0.03)
    for c, m in enumerate(mods, start=1):
        sub = proj_epoch[proj_epoch["modality"] == m]
        fig.add_trace(go.Scattergl(x=sub["x"], y=sub["y"], mode="markers", name="samples", showlegend=c == 1,
                                   marker=dict(size=3, color="#bbbbbb"), hoverinfo="skip"), row=1, col=c)  # fmt: skip
        p = positions[positions["modality"] == m]
        fig.add_trace(_star(p["x"], p["y"], sample_id).update(showlegend=c == 1), row=1, col=c)
    _layout(fig, "Where this sample sits in each modality's projection", "", "", "", height=300)
    # projection coordinates have no unit and each panel has its own map: no tick labels, no axis titles between
    # the panels (they collided with the next panel), one note on the first
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(title_text="component 1 →", row=1, col=1)
    fig.update_yaxes(title_text="component 2 →", row=1, col=1)
    return fig


# ==============================================================================================================
# label dynamics


def label_distribution(quantiles: pd.DataFrame, modality: str) -> go.Figure:
    """Box per epoch (min, quartiles, median, max, mean) of one modality's generated labels, from
    :func:`dashboard.data.label_quantiles` (statistics precomputed, no raw points shipped)."""
    q = quantiles[quantiles["modality"] == modality]
    fig = go.Figure(
        go.Box(
            x=q["epoch"],
            q1=q["q25"],
            median=q["median"],
            q3=q["q75"],
            lowerfence=q["min"],
            upperfence=q["max"],
            mean=q["mean"],
            name=MOD_NAMES[modality],
            marker_color=MOD_COLORS[modality],
        )  # fmt: skip
    )
    # the box/whisker legend is in the page's caption: a longer title is cut off in a half-width column
    return _layout(fig, f"Generated {modality} labels per epoch", "epoch", f"generated label ({LABEL_UNIT})",
                   "modality")  # fmt: skip


def drift_chart(drift: pd.DataFrame, column: str = "mean_abs_diff") -> go.Figure:
    """Mean |y_s − y_m| (or mean weight) per epoch, one line per modality."""
    fig = go.Figure()
    for m in dict.fromkeys(drift["modality"]):
        d = drift[drift["modality"] == m]
        fig.add_trace(go.Scatter(x=d["epoch"], y=d[column], mode="lines+markers", name=MOD_NAMES[m],
                                 line=dict(color=MOD_COLORS[m])))  # fmt: skip
    ytitle = "mean |y_s − y_m| (label units)" if column == "mean_abs_diff" else "mean weight (0–1)"
    title = "How far generated labels move from y_m" if column == "mean_abs_diff" else "Mean subtask weight"
    return _layout(fig, title, "epoch", ytitle, "modality", height=320)


def _hover(df: pd.DataFrame, hover: str) -> tuple[list[str], str]:
    """customdata columns (sample_id first) and the hover template: ``hover``'s first line (the id), then the
    split and the human labels the frame has, then ``hover``'s other lines."""
    cols = ["sample_id"] + [c for c, _, _ in HOVER_LABELS if c in df.columns]
    head, _, rest = hover.partition("<br>")
    lines = [f"{name} %{{customdata[{cols.index(c)}]{fmt}}}" for c, name, fmt in HOVER_LABELS if c in cols]
    return cols, "<br>".join([head, *lines, rest])


def _scatter_traces(df: pd.DataFrame, x: str, y: str, color: str, hover: str, size: int = 6) -> list[go.Scattergl]:
    """Scattergl traces with ``customdata[0] = sample_id`` (then the split and human labels, for the hover): one
    trace per category for categorical colours (a legend), one trace with a colour bar for numeric ones."""
    vals = df[color] if color in df.columns else None
    cd_cols, hover = _hover(df, hover)
    traces = []
    if vals is not None and (color in CATEGORICAL or not pd.api.types.is_numeric_dtype(vals)):
        for cat in sorted(vals.astype(str).unique()):
            sub = df[vals.astype(str) == cat]
            marker = (
                dict(size=size, color=SPLIT_COLORS[cat])
                if color == "split" and cat in SPLIT_COLORS
                else dict(size=size)
            )
            traces.append(go.Scattergl(x=sub[x], y=sub[y], mode="markers", name=cat, marker=marker,
                                       customdata=sub[cd_cols].to_numpy(), hovertemplate=hover))  # fmt: skip
    else:
        marker = dict(size=size)
        if vals is not None:
            marker.update(color=vals, colorscale=LABEL_SCALE, showscale=True, colorbar=dict(title=dict(text=color)),
                          line=dict(width=0.5, color="#ffffff"))  # fmt: skip
            if color.startswith(("y_", "gen_", "pred_")):
                lim = float(np.nanmax(np.abs(vals))) if len(vals) and np.isfinite(vals).any() else 1.0
                marker.update(cmin=-lim, cmax=lim)
        traces.append(go.Scattergl(x=df[x], y=df[y], mode="markers", name=color, marker=marker,
                                   customdata=df[cd_cols].to_numpy(), hovertemplate=hover, showlegend=False))  # fmt: skip
    return traces


def cartography_chart(carto: pd.DataFrame, modality: str, color: str = "y_m") -> go.Figure:
    """Dataset-cartography-style map: x = variability (std over epochs) of a sample's generated label, y = its
    mean over epochs; points are selectable (customdata = sample_id)."""
    hover = "%{customdata[0]}<br>variability %{x:.3f}<br>mean %{y:.3f}<extra></extra>"
    fig = go.Figure(_scatter_traces(carto, "variability", "mean", color, hover))
    return _layout(fig, f"Cartography of generated {modality} labels (colour: {color})",
                   "variability: std of the generated label over epochs", f"mean generated label ({LABEL_UNIT})",
                   color, height=450)  # fmt: skip


# ==============================================================================================================
# generated vs human


AGREEMENT_LABELS = {
    "pearson_r": "Pearson r",
    "mae": "MAE (label units)",
    "acc_2": "2-class agreement (fraction)",
    "acc_3": "3-class agreement (fraction)",
}


def agreement_chart(agree: pd.DataFrame, metric: str, title: str, baseline: pd.DataFrame | None = None) -> go.Figure:
    """``metric`` (a column of :func:`selfmm.analysis.agreement_frame`: pearson_r | mae | acc_2 | acc_3) per
    epoch, one line per modality; ``baseline`` (:func:`dashboard.data.ym_vs_human`) adds y_m's own value per
    modality as a dotted line of the same colour ("did generation help"). Raises KeyError naming the columns
    for any other ``metric``."""
    if metric not in agree.columns:
        raise KeyError(f"agreement_chart: no column {metric!r}; expected one of {sorted(AGREEMENT_LABELS)}")
    fig = go.Figure()
    for m in dict.fromkeys(agree["modality"]):
        d = agree[agree["modality"] == m]
        fig.add_trace(go.Scatter(x=d["epoch"], y=d[metric], mode="lines+markers", name=MOD_NAMES[m],
                                 line=dict(color=MOD_COLORS[m]), legendgroup=m,
                                 hovertemplate=f"{m} epoch %{{x}}<br>%{{y:{NUM}}}<extra></extra>"))  # fmt: skip
        b = baseline[baseline["modality"] == m] if baseline is not None and len(baseline) else None
        if b is not None and len(b) and _finite(b[metric].iloc[0]) and len(d):
            v = float(b[metric].iloc[0])
            fig.add_trace(go.Scatter(x=[d["epoch"].min(), d["epoch"].max()], y=[v, v], mode="lines",
                                     name=f"y_m as {m} label", legendgroup=m, line=dict(color=MOD_COLORS[m], dash="dot"),
                                     hovertemplate=f"y_m vs human {m}: %{{y:{NUM}}}<extra></extra>"))  # fmt: skip
    if baseline is not None:  # six entries: below the plot, where they do not squeeze a third-width chart
        fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, x=0))
    return _layout(
        fig,
        title,
        "epoch",
        AGREEMENT_LABELS.get(metric, metric),
        "modality",
        height=400 if baseline is not None else 300,
    )


def gen_vs_human_scatter(
    table: pd.DataFrame, modality: str, column: str = "gen", epoch: int | None = None
) -> go.Figure:
    """Generated (or head-predicted, ``column="pred"``) label vs the human label of one modality; the diagonal is
    perfect agreement. Points jitter-free; customdata = sample_id."""
    xcol, ycol = f"y_{modality}", f"{column}_{modality}"
    df = table[["sample_id", xcol, ycol]].dropna()
    what = "generated" if column == "gen" else "predicted"
    fig = go.Figure(
        go.Scattergl(x=df[xcol], y=df[ycol], mode="markers", name=f"{what} {modality}", marker=dict(size=5,
                     color=MOD_COLORS[modality], opacity=0.6), customdata=df[["sample_id"]].to_numpy(),
                     hovertemplate="%{customdata[0]}<br>human %{x:.2f}<br>" + what + " %{y:.3f}<extra></extra>")
    )  # fmt: skip
    lim = float(np.nanmax(np.abs(df[[xcol, ycol]].to_numpy()))) if len(df) else 1.0
    fig.add_trace(go.Scatter(x=[-lim, lim], y=[-lim, lim], mode="lines", name="y = x",
                             line=dict(color="#888", dash="dash")))  # fmt: skip
    at = f" at epoch {epoch}" if epoch is not None else ""
    return _layout(fig, f"{what.capitalize()} vs human {modality} label{at}", f"human {modality} label ({LABEL_UNIT})",
                   f"{what} {modality} label ({LABEL_UNIT})", "", height=380)  # fmt: skip


def confusion_heatmap(cm: pd.DataFrame, title: str, x_title: str, y_title: str) -> go.Figure:
    """Counts as a heatmap with the numbers written in the cells."""
    fig = go.Figure(
        go.Heatmap(z=cm.to_numpy(), x=list(cm.columns), y=list(cm.index), colorscale="Blues",
                   text=cm.to_numpy(), texttemplate="%{text}", colorbar=dict(title=dict(text="samples")))
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, x_title, y_title, "", height=360)


# ==============================================================================================================
# conflicts


def conflict_counts_chart(counts: pd.DataFrame) -> go.Figure:
    """Grouped bars: number of train samples per conflict category, human vs generated labels."""
    fig = go.Figure(
        [go.Bar(x=counts["category"], y=counts["human"], name="human labels", marker_color="#7f7f7f"),
         go.Bar(x=counts["category"], y=counts["generated"], name="generated labels", marker_color="#1f77b4")]
    )  # fmt: skip
    fig.update_layout(barmode="group")
    return _layout(fig, "Conflict categories (modalities whose polarity differs from M)",
                   "modalities disagreeing with M", "train samples (count)", "labels")  # fmt: skip


# ==============================================================================================================
# embeddings


def _star(x, y, name: str) -> go.Scattergl:
    """The open sample: a WebGL trace, added last, so it is drawn over the WebGL points (an SVG trace sits under
    them whatever its order)."""
    return go.Scattergl(x=x, y=y, mode="markers", name=name, hoverinfo="skip",
                        marker=dict(size=16, color="#ffd400", symbol="star", line=dict(width=1.5, color="#000000")))  # fmt: skip


def embedding_scatter(view: pd.DataFrame, color: str, title: str, sample_id: str | None = None) -> go.Figure:
    """A 2-D projection, coloured by ``color``; box, lasso and click select points (customdata[0] = sample_id).
    ``sample_id`` (the open sample) is drawn as a star on top of every point."""
    hover = "%{customdata[0]}<br>x %{x:.2f}, y %{y:.2f}<extra></extra>"
    df = view.rename(columns={"color": color}) if color not in view.columns else view
    fig = go.Figure(_scatter_traces(df, "x", "y", color, hover, size=5))
    hit = df[df["sample_id"] == sample_id] if sample_id is not None else df.iloc[:0]
    if len(hit):
        fig.add_trace(_star(hit["x"], hit["y"], f"open sample {sample_id}"))
    # zoom, not lasso: in lasso mode a click on a point selects nothing, and the page promises a click opens the
    # sample; box and lasso stay one click away in the mode bar
    fig.update_layout(dragmode="zoom")
    return _layout(fig, title, "component 1 (a.u.)", "component 2 (a.u.)", color, height=520)
