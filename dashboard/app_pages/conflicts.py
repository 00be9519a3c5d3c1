"""Conflicts: where the modalities disagree with M, according to humans and according to the generated labels."""

import streamlit as st

from dashboard import charts, components, data, state

run, mt = components.page(
    "Modality conflicts",
    "A sample's conflict category lists the modalities whose 3-class polarity (bins at ±0.1) differs from "
    "the multimodal label M; 'strong' means an opposite polarity, 'weak' neutral against polar. Train split "
    "(generated labels exist there only).",
)
epoch, table = components.epoch_table(run, mt, "conflicts_epoch")
counts = data.conflict_counts(table)
c1, c2 = st.columns([3, 1])
components.chart(charts.conflict_counts_chart(counts), key="conflicts_counts", where=c1)
c2.markdown("**How strongly** (train samples)")
c2.dataframe(data.conflict_strength_counts(table), hide_index=True, width="stretch")
c2.caption("strong: some modality has the opposite polarity to M; weak: only neutral-vs-polar disagreements.")
if not run.has_human:
    st.info("This dataset has no human unimodal labels: only the generated conflicts are shown.")
    st.stop()

cm = data.conflict_confusion(table)
st.subheader("Human vs generated categories")
st.caption("Rows: the human labels' category; columns: the generated labels' category; cells count train samples.")
components.chart(
    charts.confusion_heatmap(cm, f"Conflict categories at epoch {epoch}", "generated category", "human category"),
    key="conflicts_confusion",
)

st.subheader("Recovered and missed conflicts")
st.caption(
    "Per sample and modality: recovered = humans saw a conflict and the generated label has the human "
    "polarity; partial = both disagree with M but differently; missed = the generated label stayed with M; "
    "spurious = a generated conflict the humans did not see. Click a row to open the sample."
)
out = data.conflict_outcomes(table)
summary = out.groupby(["modality", "outcome"]).size().unstack(fill_value=0).reindex(["T", "A", "V"]).fillna(0)
st.dataframe(summary.astype(int), width="content")
which = st.multiselect(
    "Outcome", ["recovered", "partial", "missed", "spurious"], default=["recovered", "missed"], key="conflicts_outcome"
)
view = out[out["outcome"].isin(which)]
event = st.dataframe(
    view,
    hide_index=True,
    width="stretch",
    height=320,
    on_select="rerun",
    selection_mode="single-row",
    key="conflicts_table",
    column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("y_m", "human", "generated")},
)
if event is not None and event.selection.rows:
    state.set_sample(str(view["sample_id"].iloc[event.selection.rows[0]]))
    st.page_link(
        "app_pages/samples.py", label=f"Open {st.session_state[state.SAMPLE_ID]} on the Samples page", icon="➡️"
    )
components.csv_download("Download these rows (CSV)", view, f"{run.run_id}-conflicts.csv", key="conflicts_csv")
