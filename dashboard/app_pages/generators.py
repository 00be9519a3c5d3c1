"""Label generators: runs trained on the same data side by side, one line per label generator.

UI only: the data functions live in ``dashboard/generators.py``, the charts in ``dashboard/generator_charts.py``,
every figure in ``selfmm/label_health.py``. Disk reads go through ``dashboard/cache.py``.
"""

from __future__ import annotations

import streamlit as st

from dashboard import cache, components, data, state
from dashboard import generator_charts as GC
from dashboard import generators as G
from dashboard import seed_summary as SS
from dashboard.generator_overlay import readable_runs
from dashboard.text import md_escape
from selfmm import label_health
from selfmm.runs.reader import RunError

METRICS = {
    "r_gen_human": "r(generated, human)",
    "partial_r": "partial r(generated, human | y_m)",
    "k_star": "shrink factor k*",
    "r_at_k": "r at k*",
    "gap": "gap mean |generated − y_m|",
    "r_gen_ym": "r(generated, y_m)",
    "sign_agree": "sign agreement with y_m",
    "pinned": "share pinned at ±H",
}


st.title("Label generators")
st.caption(
    "Runs trained on the same dataset file (matched by its sha256), one line per label generator (label_source, "
    "or the model for CMC): the mean over its seeds, the shaded band from the lowest to the highest seed. The "
    "dashed line is y_m's own r with the human labels: a generator below it teaches the unimodal heads worse "
    "labels than y_m. Figures over the train split; definitions in selfmm/label_health.py."
)
rows, run_dir = readable_runs()
if len(rows) == 0:
    components.no_runs_hint(st.session_state[state.RUNS_ROOT])
    st.stop()
current = st.session_state.get(state.RUN_ID)
default = G.same_data_labels(rows, current) if current in run_dir else []
info = rows.set_index("label")
picked = st.multiselect(
    "Runs",
    rows["label"].tolist(),
    default=default,
    key="generators_runs",
    format_func=lambda k: f"{k} ({info.loc[k, 'generator']}, seed {info.loc[k, 'seed']})",
    help="Defaults to every run trained on the same data as the run picked in the sidebar.",
)
sel = rows[rows["label"].isin(picked)]
try:
    sha = G.same_data(sel)
except G.PairingError as exc:
    st.error(md_escape(exc))
    st.stop()
generators = dict(zip(sel["label"], sel["generator"], strict=True))
sha_text = f"dataset file sha256 {sha[: G.SHA_SHORT]}…" if sha else "dataset sha256 not recorded"
st.caption(f"{len(sel)} run(s), {sel['generator'].nunique()} generator(s), {sha_text}")


def per_run(read, errors: tuple = (RunError,)) -> dict:
    """``{label: read(run_dir, mtime)}`` over the selected runs; a run that cannot be read is a warning naming it,
    not the page's end."""
    out = {}
    for lab in sel["label"]:
        try:
            out[lab] = read(run_dir[lab], data.run_mtime(run_dir[lab]))
        except errors as exc:
            st.warning(md_escape(f"{lab}: {exc}"))
    return out


healths = per_run(cache.label_health, (RunError, ValueError))
health = G.health_long(healths, generators)
has_human = health["r_gen_human"].notna().any() if len(health) else False
options = [m for m in METRICS if has_human or m not in label_health.HUMAN_COLUMNS]
metric = st.selectbox("Figure", options, format_func=METRICS.get, key="generators_metric")
if not has_human:
    st.info("This dataset has no human unimodal labels: only the figures against y_m are available.")
bands = G.seed_bands(health, metric)
base = G.ym_baseline(health) if metric == "r_gen_human" else {}
cols = st.columns(3)
for col, m in zip(cols, G.UNIMODAL, strict=True):
    fig = GC.generator_r_chart(bands, m, base.get(m))
    fig.update_layout(title=f"{METRICS[metric]}, {GC.MOD_NAMES[m]}")
    fig.update_yaxes(title_text=METRICS[metric])
    components.chart(fig, key=f"generators_chart_{m}", where=col)

alarms = label_health.inversion_alarms(health.drop(columns=["label", "generator"]))
raised = alarms[alarms["alarm"]] if len(alarms) else alarms
if len(raised):
    st.subheader("Inversion alarms")
    st.caption("r(generated, y_m) < 0 or sign agreement with y_m < 50 % at some epoch.")
    st.dataframe(raised, hide_index=True, width="stretch")

if has_human:
    st.subheader("Conflict recovery over seeds")
    st.caption(
        "Last epoch of each run. recovery = recovered / (recovered + partial + missed): the share of the conflicts "
        "humans saw (modality against M) whose generated label took the human polarity; mean ± std over the "
        "generator's runs (seeds), counts as means. Definitions: the Conflicts page."
    )
    st.dataframe(SS.recovery_over_seeds(per_run(cache.recovery_counts), generators), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("recovery_mean", "recovery_std", "recovered_mean", "missed_mean", "spurious_mean")})  # fmt: skip

st.subheader("Samples the generators disagree on most")
mod = st.radio("Modality", G.UNIMODAL, horizontal=True, key="generators_modality", format_func=GC.MOD_NAMES.get)
all_labels = per_run(cache.labels)
readable = tuple((lab, run_dir[lab], data.run_mtime(run_dir[lab]), generators[lab]) for lab in all_labels)
try:
    first = run_dir[sel["label"].iloc[0]] if len(sel) else None
    samples = cache.samples(first, data.run_mtime(first)) if first else None
except RunError as exc:
    st.error(md_escape(exc))
    st.stop()
table = G.disagreements(cache.generator_labels(readable), samples, mod, top=25) if samples is not None else None
if table is None or table.empty:
    st.info("Pick runs of at least two generators to see where they disagree.")
else:
    st.caption(
        "Final labels (last epoch, mean over seeds); spread = highest − lowest generator. Click a row to open "
        "the sample here and in the Samples page's drill-down."
    )
    event = st.dataframe(
        table, hide_index=True, width="stretch", height=320, on_select="rerun", selection_mode="single-row",
        key="generators_table",
    )  # fmt: skip
    components.open_picked_row(event, table["sample_id"])

sid = st.session_state.get(state.SAMPLE_ID)
if sid:
    traj = G.sample_trajectories(all_labels, sel, sid, mod)
    if traj.empty:
        st.caption("The selected sample has no generated labels in these runs (only train samples have them).")
    else:
        hit = samples[samples["sample_id"] == sid].iloc[0]
        human = hit.get(f"y_{mod}")
        components.chart(GC.trajectory_overlay(traj, mod, float(hit["y_m"]), human), key="generators_traj")
        st.text(f"Sample: {sid}")
        st.page_link("app_pages/samples.py", label="Open this sample in the Samples drill-down")
