"""Embeddings: 2-D projections (UMAP or PCA) of each modality's representations, over recorded epochs."""

import streamlit as st

from dashboard import cache, charts, components, data, state
from dashboard.text import md_escape

run, mt = components.page(
    "Embeddings",
    "Each point is a sample's representation (the ULGM features F_M, F_T, F_A, F_V; 'all' = the four "
    "concatenated), projected to 2-D. The projection is fitted once (on the last recorded epoch) and the "
    "other epochs are pushed through the same map, so positions are comparable across epochs. Click a point to "
    "open that sample (a star marks it); box or lasso (mode bar, top right) selects many for the table below.",
)
st.caption(
    "Where the representations come from: **train** samples from the training pass of that epoch (train mode, "
    "dropout on, each batch seen by the weights of its step); **valid/test** samples from the evaluation pass "
    "after it (eval mode, the epoch's final weights). The two can sit apart for that reason alone, most visibly "
    "in a short or tiny run: colour by split before reading a gap between them as a finding."
)

pmt = data.projections_mtime(run.run_dir)
proj = None
if pmt:
    try:
        proj = cache.projections(run.run_dir, pmt)
    except data.DashboardDataError as exc:
        st.error(md_escape(exc))
if proj is None:
    if not run.manifest.get("representation_epochs"):
        st.info(data.no_representations_message(run))
        st.stop()
    st.info(
        "No projection has been computed for this run yet. PCA takes a moment; for UMAP run "
        f"`python -m selfmm project {run.run_dir} --method umap`."
    )
    if st.button("Compute a PCA projection now", key="embeddings_compute_pca"):
        from selfmm import projection

        with st.spinner("Computing PCA…"):
            try:
                projection.compute_projections(run.run_dir, method="pca")
            except Exception as exc:  # noqa: BLE001 - show the reason, never a traceback
                st.error(md_escape(f"Could not compute the projection: {exc}"))
                st.stop()
        st.rerun()
    st.stop()

methods = sorted(proj["method"].unique())
c1, c2, c3 = st.columns(3)
method = c1.radio(
    "Method",
    methods,
    horizontal=True,
    key="embeddings_method",
    format_func=str.upper,
    index=methods.index("umap") if "umap" in methods else 0,
)
mods = [m for m in ("T", "A", "V", "M", "all") if m in set(proj["modality"])]
modality = c2.selectbox("Representation", mods, key="embeddings_modality", format_func=lambda m: charts.MOD_NAMES[m])
color = c3.selectbox(
    "Colour by",
    data.color_choices(cache.sample_table(run.run_dir, mt, None)),
    key="embeddings_color",
    help="Any column of the Samples table: human (y_*) or generated (gen_*) labels, subtask weights (w_*), "
    "predictions (pred_*), errors, conflict categories, split ...",
)
sub = proj[proj["method"] == method]
epochs = sorted(int(e) for e in sub["epoch"].unique())
epoch = components.epoch_slider(
    run,
    key="embeddings_epoch",
    label="Representation epoch",
    epochs=epochs,
    value_key=state.EMBED_EPOCH,
    help="Epochs whose representations were recorded (record_representations). The map is shared: every epoch is "
    "projected with the one fitted on the last, so points can be followed across epochs.",
)
table = cache.sample_table(run.run_dir, mt, epoch)
view = data.projection_view(sub, table, epoch, modality, color)
state.take_chart_selection("embeddings_scatter")  # before drawing: the star marks a clicked point at once
components.chart(
    charts.embedding_scatter(
        view,
        color,
        f"{method.upper()} of {charts.MOD_NAMES[modality]} at epoch {epoch}",
        st.session_state.get(state.SAMPLE_ID),
    ),  # fmt: skip
    key="embeddings_scatter",
    on_select="rerun",
    selection_mode=("points", "box", "lasso"),
)
st.caption(f"Colour: {color}. Generated labels and weights are the values at epoch {epoch} (train samples only).")
shown = st.session_state.get(state.SELECTED_IDS)
if shown:
    part = table[table["sample_id"].isin(shown)]
    st.markdown(f"**{len(part)}** selected samples (the Samples page filters to them too).")
    st.dataframe(part.drop(columns=["index"]), hide_index=True, width="stretch", height=260, key="embeddings_table")
    components.csv_download("Download the selection (CSV)", part, f"{run.run_id}-selection.csv", key="embeddings_csv")
sid = st.session_state.get(state.SAMPLE_ID)
if sid:
    st.divider()
    components.render_sample_drilldown(run, sid, key_prefix="embeddings")
