"""The UI pieces several pages share: the sidebar run picker, loading the picked run with clear messages, the
epoch slider, the chart-with-Export wrapper and the sample drill-down. Session keys and the URL live in
dashboard/state.py; every cached load in dashboard/cache.py.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import cache, charts, data, export, hints, state
from dashboard.text import md_escape


def _root_mtime(root: str) -> float:
    try:
        return Path(root).stat().st_mtime
    except OSError:
        return 0.0


def runs_table():
    """The cached runs table, keyed on the root folder's mtime and on the picked run's run.json mtime: the run a
    person is looking at never shows a stale status (a run that just finished is not listed as "running")."""
    root = st.session_state[state.RUNS_ROOT]
    runs = cache.runs(root, _root_mtime(root), 0.0)
    key = st.session_state.get(state.RUN_ID)
    hit = runs.loc[runs["key"] == key, "run_dir"] if len(runs) else []
    if len(hit):
        runs = cache.runs(root, _root_mtime(root), data.run_mtime(hit.iloc[0]))
    return runs


def run_picker():
    """Sidebar selectbox over the runs under the runs root; keeps ``state.RUN_ID`` valid and the URL in sync. Returns
    the sidebar slot where :func:`selection_panel` writes the open sample and the chart selection once the page
    has run (so the sidebar shows what the page selected in this very rerun), or None without runs."""
    runs = runs_table()
    with st.sidebar:
        st.caption(f"Runs folder: {md_escape(st.session_state[state.RUNS_ROOT])}")
        if len(runs) == 0:
            st.session_state.pop(state.RUN_ID, None)
            st.query_params.pop(state.QP_RUN, None)
            return
        keys = list(runs["key"])
        if st.session_state.get(state.RUN_ID) not in keys:
            linked = st.session_state.pop(state.LINK_RUN, None)
            if linked is not None and linked == st.session_state.get(state.RUN_ID):
                # a link to a run that is not here: say so, and drop what the link said about that run
                st.session_state[state.MISSING_RUN] = linked
                state.set_sample(None)
                st.session_state[state.SELECTED_IDS] = None
            st.session_state[state.RUN_ID] = data.pick_default_run(runs)
        status = dict(zip(runs["key"], runs["status"], strict=True))
        st.selectbox("Run", keys, key=state.RUN_ID, format_func=lambda k: f"{k} ({status.get(k, '?')})",
                     on_change=state.run_changed, help="Run folders under the runs folder; newest first.")  # fmt: skip
        _broken_runs(runs)
        slot = st.container()
    missing = st.session_state.get(state.MISSING_RUN)
    if missing:
        st.warning(f"The link names run {md_escape(missing)}, which is not in {md_escape(st.session_state[state.RUNS_ROOT])}"
                   f"; showing {md_escape(st.session_state[state.RUN_ID])} instead. Pick a run in the sidebar.")  # fmt: skip
    for note in st.session_state.get(state.URL_NOTES) or []:
        st.warning(md_escape(note))
    st.query_params[state.QP_RUN] = st.session_state[state.RUN_ID]
    if st.session_state.get(state.SAMPLE_ID):
        st.query_params[state.QP_SAMPLE] = st.session_state[state.SAMPLE_ID]
    return slot


def selection_panel(slot) -> None:
    """The open sample and the chart selection, written into ``slot`` (from :func:`run_picker`) after the page
    ran. Buttons act through callbacks, before the next run's page reads the state."""
    if slot is None:
        return
    with slot:
        sid = st.session_state.get(state.SAMPLE_ID)
        if sid:
            st.caption(f"Selected sample: {md_escape(sid)}")
            st.button("Clear sample", key="sidebar_clear_sample", on_click=state.set_sample, args=(None,))
        sel = st.session_state.get(state.SELECTED_IDS)
        if sel:
            st.caption(f"{len(sel)} sample{'' if len(sel) == 1 else 's'} selected on a chart")
            st.button("Clear chart selection", key="sidebar_clear_selection", on_click=state.clear_selection)


def _broken_runs(runs) -> None:
    """Every run folder that cannot be opened, with its error, as plain text: one bad folder hides nothing."""
    broken = runs[runs["status"].astype(str) == "broken"]
    if len(broken) == 0:
        return
    with st.expander(f"{len(broken)} run folder(s) cannot be opened", expanded=False):
        for key, err in zip(broken["key"], broken["error"], strict=True):
            st.text(f"{key}: {err}")


def chart(fig, key: str, where=None, **kwargs):
    """``st.plotly_chart`` (in ``where``, default the page) with an Export menu under it: the figure as SVG or
    PDF (rendered on click, dashboard/export.py) and the data behind it as CSV. Returns the chart's event."""
    where = where or st
    event = where.plotly_chart(fig, key=key, **kwargs)
    with where.popover("Export", icon=":material/download:", width="content"):
        for fmt, mime in export.FORMATS.items():
            st.download_button(f"{fmt.upper()} figure", lambda f=fmt: _image_or_note(fig, f), file_name=f"{key}.{fmt}",
                               mime=mime, key=f"{key}_export_{fmt}", on_click="ignore")  # fmt: skip
        st.download_button("Data behind this chart (CSV)", lambda: export.figure_csv(fig), file_name=f"{key}.csv",
                           mime="text/csv", key=f"{key}_export_csv", on_click="ignore")  # fmt: skip
    return event


def _image_or_note(fig, fmt: str) -> bytes:
    """The exported figure; on failure a text file saying why (a download callable cannot draw an error)."""
    try:
        return export.figure_image(fig, fmt)
    except export.ExportError as exc:
        return str(exc).encode("utf-8")


# ----- loading the current run with clear messages ---------------------------------------------------------------


def current_run_dir() -> str | None:
    runs = runs_table()
    key = st.session_state.get(state.RUN_ID)
    if key is None or len(runs) == 0:
        return None
    hit = runs.loc[runs["key"] == key, "run_dir"]
    return str(hit.iloc[0]) if len(hit) else None


def require_run() -> data.RunData:
    """The picked run, loaded through the cache; renders a message and stops the page when there is none."""
    root = st.session_state[state.RUNS_ROOT]
    runs = runs_table()
    if len(runs) == 0:
        no_runs_hint(root)
        st.stop()
    run_dir = current_run_dir()
    row = runs[runs["key"] == st.session_state.get(state.RUN_ID)]
    if run_dir is None or len(row) == 0:
        st.info("Pick a run in the sidebar.")
        st.stop()
    if str(row["status"].iloc[0]) == "broken":
        st.error(md_escape(f"Run {row['key'].iloc[0]} cannot be opened: {row['error'].iloc[0]}"))
        st.stop()
    mtime = data.run_mtime(run_dir)
    st.session_state[state.LOADED_MTIME] = mtime
    try:
        run = cache.run_data(run_dir, mtime)
    except data.DashboardDataError as exc:
        st.error(md_escape(exc))
        st.stop()
    for w in run.warnings:
        st.warning(md_escape(w))
    if run.status == "running":
        st.info(f"Run still training: {len([e for e in run.epochs if e > 0])} epoch(s) committed so far. "
                "Pages show committed epochs only; the Overview refreshes by itself.")  # fmt: skip
    elif run.status in ("stale", "interrupted", "failed"):
        why = {"stale": "its process is gone (killed mid-epoch?)", "interrupted": "it was interrupted",
               "failed": "it failed"}[run.status]  # fmt: skip
        err = f" Error: {md_escape(run.manifest.get('error'))}" if run.manifest.get("error") else ""
        st.warning(f"This run did not finish: {why}. Showing its {len([e for e in run.epochs if e > 0])} committed "
                   f"epoch(s); resume it with `python -m selfmm train --resume ...`.{err}")  # fmt: skip
    if not run.epochs:
        done = int(run.manifest.get("epochs_completed") or 0)
        if done > 0:  # committed epochs without their label files: the warnings above name the folder
            st.error(md_escape(f"{Path(run.run_dir) / 'labels'}: no label file for any of the {done} committed "
                               "epoch(s); the run folder is incomplete: copy it again or retrain."))  # fmt: skip
        else:
            st.info("No epoch has been committed yet; come back when the first epoch is done.")
        st.stop()
    return run


def no_runs_hint(root: str) -> None:
    """The no-runs message: the first-run commands (a small synthetic dataset, a tiny run) as a code block."""
    st.info(f"No runs found in {md_escape(root)}. Make a small synthetic dataset and train a tiny run into it "
            "(about a minute on one CPU thread), or open another folder: `streamlit run dashboard/app.py -- --runs "
            "DIR` (or set SELFMM_RUNS_DIR).")  # fmt: skip
    st.code(hints.first_run_text(root), language="bash")


def mtime_of(run: data.RunData) -> float:
    return data.run_mtime(run.run_dir)


def epoch_slider(
    run: data.RunData,
    key: str,
    label: str = "Epoch",
    epochs=None,
    value_key: str = state.EPOCH,
    help: str | None = None,
) -> int:
    """An epoch slider over ``epochs`` (default: the run's label epochs) whose value is kept in the plain
    session-state variable ``value_key`` (default ``state.EPOCH``, shared by the label pages; the Embeddings page
    passes its own, since representation epochs are a different, usually sparser, set).

    The slider starts at the recorded epoch nearest to ``value_key`` (the last when unset). With a single
    recorded epoch there is nothing to choose: a caption says so and ``value_key`` is left alone, so a run
    with one representation epoch cannot move the other pages' epoch."""
    epochs = [int(e) for e in (run.label_epochs if epochs is None else epochs)]
    if not epochs:
        st.caption(f"{label}: none recorded yet")
        return 0
    want = st.session_state.get(value_key)
    if len(epochs) == 1:
        st.caption(f"{label}: {epochs[0]} (the only recorded epoch)")
        return epochs[0]
    if key not in st.session_state or st.session_state[key] not in epochs:
        # Streamlit drops a widget's state when its page is left: restore it from the kept value
        st.session_state[key] = data.nearest_epoch(epochs, want)
    value = st.select_slider(label, options=epochs, key=key, help=help)
    st.session_state[value_key] = int(value)
    return int(value)


# ----- the sample drill-down (Samples page, Embeddings page) ---------------------------------------------------


def render_sample_drilldown(run: data.RunData, sample_id: str, key_prefix: str) -> None:
    """Raw text, labels, and the per-epoch charts of one sample."""
    try:
        d = data.sample_detail(run, sample_id)
    except KeyError:
        st.warning(f"Sample {md_escape(sample_id)} is not in this run.")
        return
    info = d["info"]
    st.subheader(f"Sample {md_escape(sample_id)}")
    st.text(str(info.get("raw_text") or "(no text)"))  # plain text: raw text is data, never Markdown
    cols = st.columns(5)
    cols[0].metric("split / index", f"{info['split']} / {info['index']}")
    cols[1].metric("human M (y_m)", f"{info['y_m']:+.2f}")
    for c, m in zip(cols[2:], ("T", "A", "V"), strict=True):
        h = info.get(f"y_{m}")
        c.metric(f"human {m}", "—" if h is None else f"{h:+.2f}")
    if len(d["labels"]):
        c1, c2 = st.columns(2)
        chart(charts.label_trajectory(d["labels"], info), key=f"{key_prefix}_traj", where=c1)
        c1.caption("Generated labels at the end of each epoch (epoch 0 = initialisation to y_m); dotted lines "
                   "are the human unimodal labels, dashed grey is y_m.")  # fmt: skip
        chart(charts.weight_trajectory(d["labels"]), key=f"{key_prefix}_weights", where=c2)
        c2.caption("The weight each unimodal loss term got for this sample in that epoch: 0 when the generated "
                   "label equals y_m, approaching 1 as they drift apart.")  # fmt: skip
        from dashboard.generator_overlay import render_sample_overlay  # here: it imports this module

        render_sample_overlay(info, sample_id, key_prefix)
    else:
        st.caption("Generated labels and weights exist for train samples only (the ULGM runs on the train split).")
    if len(d["predictions"]):
        chart(charts.prediction_trajectory(d["predictions"], info), key=f"{key_prefix}_preds")
        st.caption("Each head's prediction for this sample per epoch (train: training forward pass; valid/test: "
                   "eval mode). Dotted: the human T/A/V labels, where the dataset has them: on valid/test, where "
                   "no label is generated, they are what the unimodal heads should be read against.")  # fmt: skip
    pmt = data.projections_mtime(run.run_dir)
    if pmt:
        try:
            proj = cache.projections(run.run_dir, pmt)
            by_id = cache.projections_by_id(run.run_dir, pmt)
        except data.DashboardDataError as exc:
            st.warning(md_escape(exc))
            return
        if proj is not None:
            method = "umap" if "umap" in set(proj["method"]) else str(proj["method"].iloc[0])
            last = int(proj["epoch"].max())
            pos = data.sample_positions(by_id[by_id["method"] == method], sample_id, last)
            sub = proj[(proj["epoch"] == last) & (proj["method"] == method)]
            chart(charts.positions_chart(sub, pos, sample_id), key=f"{key_prefix}_pos")
            st.caption(f"{method.upper()} of each modality's representation at epoch {last}; the star is this "
                       "sample, grey points are all other samples.")  # fmt: skip


# ----- pieces repeated across pages ------------------------------------------------------------------------------


def page(title: str, caption: str | None = None) -> tuple[data.RunData, float]:
    """A run page's header: the title, the picked run (:func:`require_run`; the page stops when there is none),
    the caption; returns ``(run, mtime of its run.json)``, the key of every cached table of the page."""
    st.title(title)
    run = require_run()
    if caption:
        st.caption(caption)
    return run, mtime_of(run)


def csv_download(label: str, table, file_name: str, key: str) -> None:
    """A download button for ``table`` as CSV (:func:`dashboard.data.csv_bytes`)."""
    st.download_button(label, data.csv_bytes(table), file_name=file_name, mime="text/csv", key=key)


def open_picked_row(event, sample_ids) -> None:
    """Open the sample of the row picked in a ``st.dataframe(on_select="rerun", selection_mode="single-row")``
    (``sample_ids``: the shown table's sample_id column, in display order); nothing when none or unchanged."""
    rows = event.selection.rows if event is not None else []
    if rows:
        picked = str(sample_ids.iloc[rows[0]])
        if picked != st.session_state.get(state.SAMPLE_ID):
            state.set_sample(picked)


def epoch_table(run: data.RunData, mt: float, key: str):
    """The epoch slider ``key`` over the run's label epochs and the cached sample table at the picked epoch:
    ``(epoch, table)``."""
    epoch = epoch_slider(run, key=key)
    return epoch, cache.sample_table(run.run_dir, mt, epoch)
