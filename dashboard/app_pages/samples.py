"""Samples: every sample in one filterable table; selecting a row opens its drill-down."""

import streamlit as st

from dashboard import components, data, state

run, mt = components.page("Samples")

st.caption(
    "One row per sample at the chosen epoch. Generated labels (`gen_T|A|V`) and subtask weights (`w_T|A|V`) exist "
    "for the train split only; `pred_*` are the heads' predictions, `err_M` = |pred_M − y_m|, `gen_ym_max` = the "
    "largest |y_s − y_m|, `gen_human_max` = the largest |generated − human|. Filter in the sidebar, sort below or "
    "by clicking a column header, click a row to open the sample. Conflict = the modalities whose 3-class "
    "polarity (bins at ±0.1) differs from M."
)
epoch, table = components.epoch_table(run, mt, "samples_epoch")

with st.sidebar:
    st.subheader("Filters")
    splits = st.multiselect("Split", ["train", "valid", "test"], key="samples_splits")
    text = st.text_input("Text or id contains", key="samples_text")
    lim = float(run.label_range)
    ranges = {}
    for col, name in [("y_m", "Human M")] + ([(f"y_{m}", f"Human {m}") for m in "TAV"] if run.has_human else []):
        lo, hi = st.slider(f"{name} range", -lim, lim, (-lim, lim), step=0.1, key=f"samples_range_{col}")
        if (lo, hi) != (-lim, lim):
            ranges[col] = (lo, hi)
    hum_c = ()
    if "human_conflict" in table.columns:
        hum_c = tuple(st.multiselect("Human conflict", sorted(table["human_conflict"].unique()), key="samples_hconf"))
    gen_c = tuple(st.multiselect("Generated conflict", sorted(table["gen_conflict"].unique()), key="samples_gconf"))
    min_gh = None
    if run.has_human:
        min_gh = st.number_input("min |generated − human| (any modality)", 0.0, 2 * lim, 0.0, 0.05, key="samples_gh")
    min_gy = st.number_input("min |y_s − y_m| (any modality)", 0.0, 2 * lim, 0.0, 0.05, key="samples_gy")
    flips = st.checkbox("Only samples whose generated polarity flipped (negative ↔ positive)", key="samples_flips")
    use_sel = False
    if st.session_state.get(state.SELECTED_IDS):
        use_sel = st.checkbox(
            f"Only the {len(st.session_state[state.SELECTED_IDS])} samples selected on a chart",
            value=True,
            key="samples_use_selection",
        )

f = data.SampleFilter(
    splits=tuple(splits), ranges=ranges, human_conflict=hum_c, gen_conflict=gen_c,
    min_gen_human=min_gh or None, min_gen_ym=min_gy or None, sign_flips_only=flips, text=text.strip(),
    ids=tuple(st.session_state[state.SELECTED_IDS]) if use_sel else None,
)  # fmt: skip
view = data.filter_samples(table, f)
c_sort, c_dir = st.columns([3, 1])
sort_by = c_sort.selectbox(
    "Sort by", data.sort_choices(table), key="samples_sort", help="The CSV download keeps this order."
)
descending = c_dir.toggle("Descending", key="samples_sort_desc", disabled=sort_by == data.SORT_DEFAULT)
view = data.sort_samples(view, sort_by, descending)
st.markdown(f"**{len(view)}** of {len(table)} samples match.")
all_cols, default_cols = data.column_choices(table)
st.session_state.setdefault("samples_columns", default_cols)
shown = st.multiselect("Columns", all_cols, key="samples_columns",
                       help="The table's columns (the CSV download keeps them all). Defaults fit a 1400 px screen.")  # fmt: skip
cols = ["sample_id"] + [c for c in shown if c != "sample_id"]
detail = st.container()  # the open sample's drill-down, above the table: below it, it opened off-screen
event = st.dataframe(
    view[cols], hide_index=True, width="stretch", height=380, on_select="rerun", selection_mode="single-row",
    key="samples_table",
    column_config={c: st.column_config.NumberColumn(format="%.3f") for c in cols if c.startswith(("y_", "gen_", "w_", "pred_", "err_", "abs_err_")) and c not in ("gen_conflict", "gen_strength")},
)  # fmt: skip
components.open_picked_row(event, view["sample_id"])
components.csv_download("Download the filtered table (CSV)", view, f"{run.run_id}-samples.csv", key="samples_csv")

sid = st.session_state.get(state.SAMPLE_ID)
with detail:
    if sid:
        components.render_sample_drilldown(run, sid, key_prefix="samples")
        st.divider()
    else:
        st.info("Select a row to see the sample's labels, weights and predictions across epochs.")
