"""UI pieces over several runs at once, shared by the Label generators page and the sample drill-down.

Thin: the data functions are :mod:`dashboard.generators`, the charts :mod:`dashboard.generator_charts`, every
disk read goes through :mod:`dashboard.cache`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cache, components, data, state
from dashboard import generator_charts as GC
from dashboard import generators as G
from selfmm.runs.reader import RunError


def readable_runs() -> tuple[pd.DataFrame, dict[str, str]]:
    """(:func:`dashboard.generators.run_rows` of every readable run in the runs folder, {run label: run_dir})."""
    runs = components.runs_table()
    ok = runs[runs["status"].astype(str) != "broken"] if len(runs) else runs
    run_dir = dict(zip(ok["key"], ok["run_dir"], strict=True)) if len(ok) else {}
    manifests = {}
    for key, d in run_dir.items():
        try:
            manifests[key] = cache.manifest(d, data.run_mtime(d))
        except RunError:  # listed as readable a moment ago; skip it rather than fail the page
            continue
    return G.run_rows(manifests), {k: run_dir[k] for k in manifests}


def render_sample_overlay(info: dict, sample_id: str, key_prefix: str) -> None:
    """The drill-down's overlay of every generator: this sample's labels across epochs in every run trained on
    the same dataset file (sha256) as the run open in the sidebar. Nothing when that run is the only one.
    info: the sample's row (y_m, y_T/A/V when present), as :func:`dashboard.data.sample_detail` gives it."""
    rows, run_dir = readable_runs()
    same = G.same_data_labels(rows, st.session_state.get(state.RUN_ID))
    if len(same) < 2:
        return
    sel = rows[rows["label"].isin(same)]
    labels = {lab: cache.labels(run_dir[lab], data.run_mtime(run_dir[lab])) for lab in same}
    traj = G.sample_overlay(labels, sel, sample_id)
    if traj.empty:
        return
    human = {m: info.get(f"y_{m}") for m in G.UNIMODAL}
    fig = GC.overlay_grid(traj, info.get("y_m"), human, current=st.session_state.get(state.RUN_ID))
    components.chart(fig, key=f"{key_prefix}_generators")
    n_gen = traj["generator"].nunique()
    st.caption(f"The same sample in {traj['label'].nunique()} runs on this dataset file (same sha256), "
               f"{n_gen} generator(s); the thick line is the run open in the sidebar. Compare them on the "
               "Label generators page.")  # fmt: skip
