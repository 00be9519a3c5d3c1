"""The Label generators page's faster paths against the ones they replaced, on fake runs: label health and
conflict recovery from the cached labels and samples (one read per run) against the RunReader paths, the cached
generator_labels against the reader's last epoch, and the charts and overlay frames built in one pass against
the per-run loops they replaced (kept here verbatim as the reference)."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import cache, data
from dashboard import generator_charts as GC
from dashboard import generators as G
from dashboard.seed_summary import run_recovery
from selfmm.label_health import run_health
from selfmm.runs.reader import RunReader
from selfmm.testing import write_fake_run

RUNS = (("ulgm", 1, 0), ("ulgm", 2, 1), ("plgm", 1, 2), ("cmc", 1, 3), ("human", None, 4))  # generator, seed, data seed


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fastpath")
    dirs = {}
    for gen, seed, data_seed in RUNS:
        d = write_fake_run(root / f"{gen}-s{seed}", n=(24, 8, 8), epochs=4, seed=data_seed)
        m = json.loads((d / "run.json").read_text())
        if gen == "cmc":
            m["config"]["model"] = "cmc"
        else:
            m["config"]["label_source"] = gen
        m["config"]["seed"] = seed
        (d / "run.json").write_text(json.dumps(m))
        dirs[d.name] = str(d)
    rows = G.run_rows({lab: RunReader(d).manifest for lab, d in dirs.items()})
    assert rows["seed"].isna().sum() == 1  # a run without a seed: the overlay frames' seed column is then object
    labels = {lab: RunReader(d).labels() for lab, d in dirs.items()}
    return dirs, rows, labels


def test_cached_health_recovery_and_generator_labels_equal_the_reader_paths(runs):
    dirs, rows, _ = runs
    st.cache_data.clear()
    gens = dict(zip(rows["label"], rows["generator"], strict=True))
    final = {}
    for lab, d in dirs.items():
        mtime, reader = data.run_mtime(d), RunReader(d)
        pd.testing.assert_frame_equal(cache.label_health(d, mtime), run_health(reader))
        pd.testing.assert_frame_equal(cache.recovery_counts(d, mtime), run_recovery(reader))
        final[lab] = reader.labels(reader.epochs[-1])
    keyed = tuple((lab, d, data.run_mtime(d), gens[lab]) for lab, d in dirs.items())
    pd.testing.assert_frame_equal(cache.generator_labels(keyed), G.generator_labels(final, gens))
    assert cache.generator_labels(keyed)["n_runs"].max() == 2  # ulgm's two seeds meet in one mean


# ---- the per-run loops the one-pass versions replaced (reference) -------------------------------------------


def _old_trajectories(labels, rows, sample_id, modality):
    info, parts, col = rows.set_index("label"), [], f"label_{modality}"
    for lab, df in labels.items():
        hit = df.loc[df["sample_id"] == sample_id, ["epoch", col]] if col in df.columns else df.iloc[:0]
        if hit.empty:
            continue
        parts.append(pd.DataFrame({"label": lab, "generator": info.loc[lab, "generator"], "seed": info.loc[lab, "seed"],
                                   "epoch": hit["epoch"].to_numpy(np.int64), "value": hit[col].to_numpy(np.float64)}))  # fmt: skip
    cols = ["label", "generator", "seed", "epoch", "value"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["generator", "seed", "label", "epoch"], kind="stable").reset_index(drop=True)[cols]


def _old_overlay(labels, rows, sample_id):
    cols = ["label", "generator", "seed", "modality", "epoch", "value"]
    parts = [_old_trajectories(labels, rows, sample_id, m).assign(modality=m) for m in G.UNIMODAL]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _old_layout(fig, title, y, height):
    fig.update_layout(title=title, height=height, template="plotly_white", margin=dict(l=60, r=20, t=60, b=50),
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))  # fmt: skip
    fig.update_xaxes(title_text="epoch", tickformat="d")
    fig.update_yaxes(title_text=y)
    return fig


def _old_r_chart(bands, modality, baseline, height=420):
    b, fig = bands[bands["modality"] == modality], go.Figure()
    order = list(dict.fromkeys(b["generator"]))
    for name in order:
        g, color = b[b["generator"] == name].sort_values("epoch"), GC.generator_color(name, order)
        if (g["n"] > 1).any():
            fig.add_trace(go.Scatter(x=g["epoch"], y=g["max"], mode="lines", line=dict(width=0), showlegend=False,
                                     hoverinfo="skip", legendgroup=name))  # fmt: skip
            fig.add_trace(go.Scatter(x=g["epoch"], y=g["min"], mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor=GC._rgba(color, 0.18), showlegend=False, hoverinfo="skip",
                                     legendgroup=name))  # fmt: skip
        n = int(g["n"].max()) if len(g) else 0
        fig.add_trace(go.Scatter(x=g["epoch"], y=g["mean"], mode="lines+markers", name=f"{name} ({n} run(s))",
                                 line=dict(color=color), legendgroup=name, customdata=g[["min", "max", "n"]],
                                 hovertemplate=f"{name} epoch %{{x}}: mean %{{y:.3f}} "
                                 "(min %{customdata[0]:.3f}, max %{customdata[1]:.3f}, %{customdata[2]} runs)"
                                 "<extra></extra>"))  # fmt: skip
    if baseline is not None and len(b):
        x = [int(b["epoch"].min()), int(b["epoch"].max())]
        fig.add_trace(go.Scatter(x=x, y=[baseline, baseline], mode="lines", name=f"y_m ({baseline:.3f})",
                                 line=dict(color="#444444", dash="dash"),
                                 hovertemplate="r(y_m, human) %{y:.3f}<extra></extra>"))  # fmt: skip
    return _old_layout(fig, f"r(generated, human), {GC.MOD_NAMES.get(modality, modality)}", "Pearson r", height)


def _old_trajectory_overlay(traj, modality, y_m, human):
    fig, order, shown = go.Figure(), list(dict.fromkeys(traj["generator"])), set()
    for lab in dict.fromkeys(traj["label"]):
        t = traj[traj["label"] == lab]
        name, seed = str(t["generator"].iloc[0]), t["seed"].iloc[0]
        fig.add_trace(go.Scatter(x=t["epoch"], y=t["value"], mode="lines+markers", name=name, legendgroup=name,
                                 showlegend=name not in shown, line=dict(color=GC.generator_color(name, order)),
                                 hovertemplate=f"{name} seed {seed} epoch %{{x}}: %{{y:.3f}}<extra></extra>"))  # fmt: skip
        shown.add(name)
    x = [int(traj["epoch"].min()), int(traj["epoch"].max())]
    for value, name, dash in ((y_m, "y_m", "dash"), (human, f"human {modality}", "dot")):
        if value is not None and pd.notna(value):
            fig.add_trace(
                go.Scatter(x=x, y=[value, value], mode="lines", name=name, line=dict(color="#444444", dash=dash))
            )
    return _old_layout(fig, f"Generated {GC.MOD_NAMES.get(modality, modality)} label of this sample, every generator",
                       "label", 320)  # fmt: skip


def _old_overlay_grid(traj, y_m, human, current=None):
    mods = [m for m in GC.MOD_NAMES if m in set(traj["modality"])] or list(GC.MOD_NAMES)
    fig = make_subplots(rows=1, cols=len(mods), shared_yaxes=True, subplot_titles=[GC.MOD_NAMES[m] for m in mods],
                        horizontal_spacing=0.04)  # fmt: skip
    order, shown = list(dict.fromkeys(traj["generator"])), set()
    for col, m in enumerate(mods, start=1):
        t_m = traj[traj["modality"] == m]
        for lab in dict.fromkeys(t_m["label"]):
            t = t_m[t_m["label"] == lab]
            name, seed = str(t["generator"].iloc[0]), t["seed"].iloc[0]
            fig.add_trace(go.Scatter(x=t["epoch"], y=t["value"], mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=name not in shown, marker=dict(size=4),
                                     line=dict(color=GC.generator_color(name, order), width=3 if lab == current else 1.5),
                                     hovertemplate=f"{name} seed {seed} ({html.escape(str(lab))}) epoch %{{x}}: %{{y:.3f}}<extra></extra>"),
                          row=1, col=col)  # fmt: skip
            shown.add(name)
        x = [int(t_m["epoch"].min()), int(t_m["epoch"].max())]
        for value, name, dash in ((y_m, "y_m", "dash"), (human.get(m), "human label", "dot")):
            if value is not None and pd.notna(value):
                fig.add_trace(go.Scatter(x=x, y=[value, value], mode="lines", name=name, legendgroup=name,
                                         showlegend=name not in shown, line=dict(color="#444444", dash=dash),
                                         hovertemplate=f"{name} ({m}) %{{y:.3f}}<extra></extra>"), row=1, col=col)  # fmt: skip
                shown.add(name)
    _old_layout(fig, "This sample's generated labels in every run on the same data", "label", 340)
    fig.update_yaxes(title_text=None, col=2)
    fig.update_yaxes(title_text=None, col=3)
    return fig


def _same_figure(a: go.Figure, b: go.Figure) -> None:
    assert json.loads(pio.to_json(a)) == json.loads(pio.to_json(b))


def test_overlay_frames_equal_the_per_modality_scans(runs):
    _, rows, labels = runs
    first = next(iter(labels.values()))
    for sid in [*first["sample_id"].iloc[::5], "not-a-sample"]:
        pd.testing.assert_frame_equal(G.sample_overlay(labels, rows, sid), _old_overlay(labels, rows, sid))
        for m in G.UNIMODAL:
            pd.testing.assert_frame_equal(G.sample_trajectories(labels, rows, sid, m),
                                          _old_trajectories(labels, rows, sid, m))  # fmt: skip


def test_charts_equal_the_per_run_loops(runs):
    dirs, rows, labels = runs
    gens = dict(zip(rows["label"], rows["generator"], strict=True))
    health = G.health_long({lab: run_health(RunReader(d)) for lab, d in dirs.items()}, gens)
    base = G.ym_baseline(health)
    for metric in ("r_gen_human", "pinned", "flips"):
        bands = G.seed_bands(health, metric)
        for m in G.UNIMODAL:
            _same_figure(GC.generator_r_chart(bands, m, base.get(m)), _old_r_chart(bands, m, base.get(m)))
            _same_figure(GC.generator_r_chart(bands, m, None), _old_r_chart(bands, m, None))
    sid = next(iter(labels.values()))["sample_id"].iloc[3]
    traj = G.sample_overlay(labels, rows, sid)
    for current, human in ((None, {"T": 0.4}), ("ulgm-s2", {"T": 0.4, "A": None, "V": float("nan")})):
        _same_figure(GC.overlay_grid(traj, 0.1, human, current=current), _old_overlay_grid(traj, 0.1, human, current))
    t = G.sample_trajectories(labels, rows, sid, "A")
    for y_m, human in ((0.2, -0.5), (None, float("nan"))):
        _same_figure(GC.trajectory_overlay(t, "A", y_m, human), _old_trajectory_overlay(t, "A", y_m, human))
