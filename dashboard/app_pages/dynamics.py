"""Label dynamics: how the generated labels evolve over epochs, as a whole and per sample."""

import streamlit as st

from dashboard import cache, charts, data, state

st.title("Label dynamics")
run = state.require_run()
mt = state.mtime_of(run)
st.caption(
    "Generated unimodal labels of the train split, from epoch 0 (every label initialised to y_m) to the last "
    "committed epoch."
)

q = cache.label_quantiles(run.run_dir, mt)
drift = cache.label_drift(run.run_dir, mt)
modality = st.radio(
    "Modality", ["T", "A", "V"], horizontal=True, key="dynamics_modality", format_func=lambda m: charts.MOD_NAMES[m]
)
c1, c2 = st.columns(2)
with c1:
    state.chart(charts.label_distribution(q, modality), key="dynamics_dist")
    st.caption(
        "Each box summarises all train samples' generated labels at that epoch: the box spans the middle "
        "half, the line is the median, whiskers reach the extremes."
    )
with c2:
    state.chart(charts.drift_chart(drift), key="dynamics_drift")
    st.caption(
        "Mean distance between the generated unimodal label and y_m. It starts at 0 and grows as the ULGM "
        "finds modality-specific evidence; the subtask weights are tanh of this distance."
    )

st.subheader("Cartography")
st.caption(
    "Each point is a train sample. Up/down: its generated label averaged over epochs 1+; left/right: how much "
    "it moved between epochs (std). Stable samples sit on the left; samples the ULGM is unsure about sit on "
    "the right. Select points (box, lasso or click) to filter the Samples table; one click opens the sample."
)
color_opts = ["y_m", "human", "final"] if run.has_human else ["y_m", "final"]
color = st.selectbox(
    "Colour",
    color_opts,
    key="dynamics_color",
    format_func=lambda c: {
        "y_m": "human M label (y_m)",
        "human": f"human {modality} label",
        "final": "generated label at the last epoch",
    }[c],
)
carto = cache.cartography(run.run_dir, mt, modality)
event = state.chart(
    charts.cartography_chart(carto, modality, color),
    key=f"dynamics_carto_{modality}",
    on_select="rerun",
    selection_mode=("points", "box", "lasso"),
)
ids = data.selected_ids(event)
if ids:
    st.session_state[state.SELECTED_IDS] = ids
    if len(ids) == 1:
        state.set_sample(ids[0])
    st.success(f"{len(ids)} sample(s) selected: the Samples page now filters to them.")
    st.page_link("app_pages/samples.py", label="Open the Samples page", icon="➡️")
