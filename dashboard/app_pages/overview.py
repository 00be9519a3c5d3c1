"""Overview: what the run is, how it ended, and its training curves (refreshing while it trains)."""

import streamlit as st

from dashboard import cache, charts, components, data, progress, state
from dashboard.metric_help import metric_help
from dashboard.text import md_escape
from selfmm import label_health
from selfmm.runs.reader import RunError

st.title("Run overview")
run = components.require_run()
alarm = None
try:
    alarm = label_health.run_alarm(cache.label_health(run.run_dir, components.mtime_of(run)))
except (RunError, ValueError) as exc:  # the health check must never take the Overview down
    st.warning(md_escape(f"Label health could not be computed: {exc}"))
if alarm:
    st.error(alarm, icon="🚨")  # numbers and modality letters only (label_health.run_alarm): no data text
    st.caption("Inversion alarm: the generated labels of a modality correlate negatively with y_m, or agree "
               "with its sign on fewer than half of the samples (selfmm/label_health.py).")  # fmt: skip

with st.expander("About Self-MM's generated labels and weights"):
    st.markdown(
        "Self-MM trains a multimodal head on the human label y_m and three unimodal heads (text T, audio A, "
        "vision V) on labels it **generates** itself, because most datasets only annotate the multimodal "
        "sentiment. After each epoch its label-generation module (ULGM) measures how close each sample's "
        "unimodal representation is to the positive and negative class centres, compared with the same for the "
        "multimodal representation, and shifts y_m by that offset (with momentum across epochs, clipped to ±H). "
        "Each unimodal loss term is then weighted by **tanh(|y_s − y_m|)**: samples whose generated label "
        "agrees with y_m teach the unimodal head little, samples where the modality disagrees teach it most."
    )

c1, c2 = st.columns([1, 1])
with c1:
    st.subheader("Run")
    # height="content": every row visible (created / updated / git / error are at the bottom)
    st.dataframe(
        data.manifest_summary(run),
        hide_index=True,
        width="stretch",
        height="content",
        column_config={"field": st.column_config.TextColumn(width="small")},
    )
with c2:
    st.subheader("Final test metrics")
    tm = data.test_metrics_table(run)
    if len(tm):
        st.caption(f"Best model (epoch {run.best_epoch}, lowest validation loss) on the test split, multimodal head.")
        tm = tm.assign(meaning=[metric_help(str(k), run.dataset) for k in tm.iloc[:, 0]])
        st.dataframe(
            tm,
            hide_index=True,
            width="stretch",
            height="content",
            column_config={
                "value": st.column_config.NumberColumn(format="%.3f", width="small"),
                "meaning": st.column_config.TextColumn(width="large"),
            },  # fmt: skip
        )
    else:
        st.info(data.no_test_metrics_message(run))
    with st.expander("Resolved config"):
        st.dataframe(data.config_table(run), hide_index=True, width="stretch")

st.subheader("Training curves")
metric_options = data.metric_names(run.metrics) or ["loss"]
default = "MAE" if "MAE" in metric_options else metric_options[0]
metric = st.selectbox(
    "Metric",
    metric_options,
    index=metric_options.index(default),
    key="overview_metric",
    help="loss: the training objective (train) / L1 of the multimodal head (valid, test).",
)
if metric_help(metric, run.dataset):
    st.caption(f"{metric}: {metric_help(metric, run.dataset)}.")
st.caption(
    "One panel per head, one line per split. For T/A/V the metric compares the unimodal head with the human "
    "unimodal labels when the dataset has them, else with y_m. The red dashed line is the best epoch "
    "(lowest validation loss), whose weights are kept."
)


@st.fragment(run_every=state.LIVE_REFRESH_S if run.status == "running" else None)
def _curves() -> None:
    if run.status == "running" and data.run_mtime(run.run_dir) != st.session_state.get(state.LOADED_MTIME):
        # a new epoch was committed (or the run ended): rerun the whole page so the manifest, the test metrics,
        # the sidebar's status and the curves all move together; the cache key (run.json's mtime) has moved too
        st.rerun(scope="app")
    curves = data.curves_frame(run.metrics, metric)
    components.chart(charts.training_curves(curves, metric, run.best_epoch), key="overview_curves")
    if run.status == "running":
        done = len([e for e in run.epochs if e > 0])
        st.caption(
            f"Live: checking for new epochs every {state.LIVE_REFRESH_S} s. "
            + progress.live_progress(run.manifest.get("config") or {}, run.metrics, done, run.best_epoch)
        )


_curves()
