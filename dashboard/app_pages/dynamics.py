"""Label dynamics: how the generated labels evolve over epochs, as a whole and per sample."""

import streamlit as st

from dashboard import cache, charts, components, data, state
from dashboard import weights as W

run, mt = components.page(
    "Label dynamics",
    "Generated unimodal labels of the train split, from epoch 0 (every label initialised to y_m) to the last "
    "committed epoch.",
)

q = cache.label_quantiles(run.run_dir, mt)
drift = cache.label_drift(run.run_dir, mt)
modality = st.radio(
    "Modality", ["T", "A", "V"], horizontal=True, key="dynamics_modality", format_func=lambda m: charts.MOD_NAMES[m]
)
c1, c2 = st.columns(2)
with c1:
    components.chart(charts.label_distribution(q, modality), key="dynamics_dist")
    st.caption(
        "Each box summarises all train samples' generated labels at that epoch: the box spans the middle "
        "half, the line is the median, whiskers reach the extremes."
    )
with c2:
    components.chart(charts.drift_chart(drift), key="dynamics_drift")
    st.caption(
        "Mean distance between the generated unimodal label and y_m. It starts at 0 and grows as the ULGM "
        "finds modality-specific evidence; the subtask weights are tanh of this distance."
    )

st.subheader("Subtask weights across the train split")
st.caption(
    "w_s = tanh(|y_s − y_m|) weights each sample's unimodal loss. Left: its distribution per epoch. Middle: at "
    "the epoch below, for the samples where humans saw this modality disagree with M against the others; a "
    "useful ULGM gives the first group more weight. Right: the weight against how far the generated label it was "
    "computed from (the end of the previous epoch) is from the human one."
)
w_epoch, w_table = components.epoch_table(run, mt, "dynamics_weight_epoch")
wc = st.columns(3)
components.chart(W.weight_distribution_chart(W.weight_quantiles(run), modality), key="dynamics_w_dist", where=wc[0])
components.chart(W.weight_vs_conflict_chart(w_table, modality), key="dynamics_w_conflict", where=wc[1])
# w of epoch e came from the labels at the end of epoch e − 1: pair it with their error
prev_table = cache.sample_table(run.run_dir, mt, w_epoch - 1) if w_epoch and w_epoch >= 1 else None
components.chart(W.weight_vs_error_chart(w_table, modality, prev_table), key="dynamics_w_error", where=wc[2])
if run.has_human:
    st.dataframe(W.weight_by_conflict(w_table, modality), hide_index=True, width="stretch",
                    column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("mean_w", "median_w")})  # fmt: skip

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
event = components.chart(
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
