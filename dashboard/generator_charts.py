"""Charts of the "Label generators" page (pure Plotly, no ``import streamlit``), over the frames of
:mod:`dashboard.generators`."""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

# one colour per generator, stable across pages and charts; unknown generators cycle through the rest
GENERATOR_COLORS = {
    "ulgm": "#1f77b4",
    "plgm": "#d62728",
    "human": "#2ca02c",
    "multimodal": "#7f7f7f",
    "cmc": "#9467bd",
}
_SPARE = ("#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e")
MOD_NAMES = {"T": "text (T)", "A": "audio (A)", "V": "vision (V)"}


def generator_color(name: str, order: list[str] | None = None) -> str:
    if name in GENERATOR_COLORS:
        return GENERATOR_COLORS[name]
    others = [g for g in (order or [name]) if g not in GENERATOR_COLORS]
    return _SPARE[others.index(name) % len(_SPARE)] if name in others else _SPARE[0]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout_dict(title: str, y: str, height: int) -> dict:
    # legend below the plot: three charts share the page's width, a side legend would squeeze each plot
    # the template object, not its name: a name is looked up and copied at each figure (~15 ms, 4 figures a rerun)
    return dict(title=title, height=height, template=pio.templates["plotly_white"], margin=dict(l=60, r=20, t=60, b=50),
                legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))  # fmt: skip


def _layout(fig: go.Figure, title: str, y: str, height: int = 360) -> go.Figure:
    fig.update_layout(**_layout_dict(title, y, height))
    fig.update_xaxes(title_text="epoch", tickformat="d")
    fig.update_yaxes(title_text=y)
    return fig


def _figure(traces: list, title: str, y: str, height: int = 360) -> go.Figure:
    """``_layout(go.Figure(data=traces), ...)`` in one construction: the layout (and its template) is validated
    once, not once for the default template and again for plotly_white."""
    layout = _layout_dict(title, y, height)
    layout.update(xaxis=dict(title=dict(text="epoch"), tickformat="d"), yaxis=dict(title=dict(text=y)))
    return go.Figure(data=traces, layout=layout)


def _np(s: pd.Series):
    # numpy, not a Series: plotly converts a Series through narwhals (~0.5 ms per array, 50 arrays a chart)
    return s.to_numpy()


def generator_r_chart(bands: pd.DataFrame, modality: str, baseline: float | None, height: int = 420) -> go.Figure:
    """r(generated, human) per epoch for one modality: per generator a mean line over its seeds and a shaded
    min–max band (only when it has more than one run at that epoch), with r(y_m, human) as a dashed horizontal
    baseline. bands: :func:`dashboard.generators.seed_bands` rows."""
    b = bands[bands["modality"] == modality]
    traces = []
    order = list(dict.fromkeys(b["generator"]))
    for name, g in b.groupby("generator", sort=False):  # in order of first appearance, as ``order``
        g = g.sort_values("epoch")
        color = generator_color(name, order)
        if (g["n"] > 1).any():
            traces.append(go.Scatter(x=_np(g["epoch"]), y=_np(g["max"]), mode="lines", line=dict(width=0), showlegend=False,
                                     hoverinfo="skip", legendgroup=name))  # fmt: skip
            traces.append(go.Scatter(x=_np(g["epoch"]), y=_np(g["min"]), mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor=_rgba(color, 0.18), showlegend=False, hoverinfo="skip",
                                     legendgroup=name))  # fmt: skip
        n = int(g["n"].max()) if len(g) else 0
        traces.append(go.Scatter(x=_np(g["epoch"]), y=_np(g["mean"]), mode="lines+markers", name=f"{name} ({n} run(s))",
                                 line=dict(color=color), legendgroup=name, customdata=g[["min", "max", "n"]],
                                 hovertemplate=f"{name} epoch %{{x}}: mean %{{y:.3f}} "
                                 "(min %{customdata[0]:.3f}, max %{customdata[1]:.3f}, %{customdata[2]} runs)"
                                 "<extra></extra>"))  # fmt: skip
    if baseline is not None and len(b):
        x = [int(b["epoch"].min()), int(b["epoch"].max())]
        traces.append(go.Scatter(x=x, y=[baseline, baseline], mode="lines", name=f"y_m ({baseline:.3f})",
                                 line=dict(color="#444444", dash="dash"),
                                 hovertemplate="r(y_m, human) %{y:.3f}<extra></extra>"))  # fmt: skip
    return _figure(traces, f"r(generated, human), {MOD_NAMES.get(modality, modality)}", "Pearson r", height=height)


def trajectory_overlay(traj: pd.DataFrame, modality: str, y_m: float | None, human: float | None) -> go.Figure:
    """One sample's ``modality`` label across epochs in every run (one line per run, coloured by generator,
    the first run of a generator in the legend), with y_m and the human label as dashed/dotted references."""
    traces = []
    order = list(dict.fromkeys(traj["generator"]))
    shown: set[str] = set()
    for _lab, t in traj.groupby("label", sort=False):  # runs in order of first appearance
        name = str(t["generator"].iloc[0])
        seed = t["seed"].iloc[0]
        traces.append(go.Scatter(x=_np(t["epoch"]), y=_np(t["value"]), mode="lines+markers", name=name, legendgroup=name,
                                 showlegend=name not in shown, line=dict(color=generator_color(name, order)),
                                 hovertemplate=f"{name} seed {seed} epoch %{{x}}: %{{y:.3f}}<extra></extra>"))  # fmt: skip
        shown.add(name)
    if len(traj):
        x = [int(traj["epoch"].min()), int(traj["epoch"].max())]
        for value, name, dash in ((y_m, "y_m", "dash"), (human, f"human {modality}", "dot")):
            if value is not None and pd.notna(value):
                traces.append(go.Scatter(x=x, y=[value, value], mode="lines", name=name,
                                         line=dict(color="#444444", dash=dash)))  # fmt: skip
    return _figure(traces, f"Generated {MOD_NAMES.get(modality, modality)} label of this sample, every generator",
                   "label", height=320)  # fmt: skip


def overlay_grid(traj: pd.DataFrame, y_m: float | None, human: Mapping[str, float | None],
                 current: str | None = None) -> go.Figure:  # fmt: skip
    """The sample drill-down's overlay: one panel per modality (T, A, V) with this sample's label across epochs
    in every run (one line per run, coloured by generator; each generator once in the legend, toggling all its
    panels), y_m dashed and the human label dotted in each panel. ``current``: the run label drawn thicker (the
    run open in the sidebar); run labels are folder names, HTML-escaped in the hover text (Plotly renders tags).
    traj: :func:`dashboard.generators.sample_overlay`."""
    mods = [m for m in MOD_NAMES if m in set(traj["modality"])] or list(MOD_NAMES)
    fig = make_subplots(rows=1, cols=len(mods), shared_yaxes=True, subplot_titles=[MOD_NAMES[m] for m in mods],
                        horizontal_spacing=0.04)  # fmt: skip
    order = list(dict.fromkeys(traj["generator"]))
    shown: set[str] = set()
    traces, cols = [], []
    for col, m in enumerate(mods, start=1):
        t_m = traj[traj["modality"] == m]
        for lab, t in t_m.groupby("label", sort=False):  # runs in order of first appearance
            name, seed = str(t["generator"].iloc[0]), t["seed"].iloc[0]
            traces.append(go.Scatter(x=_np(t["epoch"]), y=_np(t["value"]), mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=name not in shown, marker=dict(size=4),
                                     line=dict(color=generator_color(name, order), width=3 if lab == current else 1.5),
                                     hovertemplate=f"{name} seed {seed} ({html.escape(str(lab))}) epoch %{{x}}: %{{y:.3f}}<extra></extra>"))  # fmt: skip
            cols.append(col)
            shown.add(name)
        if len(t_m):
            x = [int(t_m["epoch"].min()), int(t_m["epoch"].max())]
            for value, name, dash in ((y_m, "y_m", "dash"), (human.get(m), "human label", "dot")):
                if value is not None and pd.notna(value):
                    traces.append(go.Scatter(x=x, y=[value, value], mode="lines", name=name, legendgroup=name,
                                             showlegend=name not in shown, line=dict(color="#444444", dash=dash),
                                             hovertemplate=f"{name} ({m}) %{{y:.3f}}<extra></extra>"))  # fmt: skip
                    cols.append(col)
                    shown.add(name)
    if traces:  # one add_traces: each add_trace(row, col) re-validates the figure's grid
        fig.add_traces(traces, rows=[1] * len(traces), cols=cols)
    _layout(fig, "This sample's generated labels in every run on the same data", "label", height=340)
    fig.update_yaxes(title_text=None, col=2)
    fig.update_yaxes(title_text=None, col=3)
    return fig
