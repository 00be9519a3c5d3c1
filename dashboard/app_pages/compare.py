"""Compare runs: metric table, overlaid curves, generated labels of run A vs run B, the experiment's results, a sweep.

UI only: every computation lives in ``dashboard/compare/``, every cached read in ``dashboard/cache.py``. Disk reads
are cached on (run folder, mtime of run.json); run.json is rewritten atomically at every committed epoch, so a live
run's new epoch invalidates them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import cache, components, data, state
from dashboard import compare as C
from dashboard import sweeps as S
from dashboard.text import md_escape
from selfmm.runs.reader import RunError


def _runs_root() -> str:
    return str(st.session_state.get(state.RUNS_ROOT) or data.runs_root_from(None))


_mtime = data.run_mtime


class _Snapshot:
    """What ``metric_table`` needs from a reader, rebuilt from cached pieces (a RunReader is not cacheable)."""

    def __init__(self, manifest: dict, status: str, epochs: list[int], metrics: pd.DataFrame):
        self.manifest, self.status, self.epochs, self._metrics = manifest, status, epochs, metrics

    def metrics(self) -> pd.DataFrame:
        return self._metrics


def _current_run_dir(runs: pd.DataFrame) -> str | None:
    """The app's picked run as an absolute run folder. The picker stores the folder's path relative to the runs
    root, which is this page's run label; a folder path or a manifest run_id are accepted too."""
    cur = st.session_state.get(state.RUN_ID)
    if not cur:
        return None
    cur = str(cur)
    for col in ("run_dir", "label", "run_id"):
        hit = runs.loc[runs[col].astype(str) == cur, "run_dir"]
        if not hit.empty:
            return hit.iloc[0]
    p = Path(cur)
    return str(p.resolve()) if (p / C.MANIFEST).is_file() else None


st.title("Compare runs")
root = _runs_root()
runs = C.runs_frame(components.runs_table())  # the sidebar's cached discovery, not a second walk
ok = runs[runs["error"].isna()] if not runs.empty else runs
if ok.empty:
    components.no_runs_hint(root)
    st.stop()

labels = ok["label"].tolist()
default = [x for x in C.default_selection(ok, _current_run_dir(ok)) if x in labels] or labels[:1]
selected = st.multiselect(
    "Runs",
    labels,
    default=default,
    key="compare_runs",
    help=f"Defaults to the current run's experiment (variants × seeds; at most {C.DEFAULT_MAX_RUNS} runs, every "
    "variant shown), else the current run.",
)
n_exp = len(C.experiment_members(ok, default[0])) if default else 0
if n_exp > len(default):
    st.caption(f"Showing {len(default)} of the experiment's {n_exp} runs by default (every variant, first seeds "
               "first); add more in the box above.")  # fmt: skip
if not selected:
    st.info("Pick one or more runs to compare.")
    st.stop()

run_dir = dict(zip(ok["label"], ok["run_dir"]))
snaps: dict[str, _Snapshot] = {}
for lab in selected:
    try:
        snaps[lab] = _Snapshot(*cache.manifest_and_metrics(run_dir[lab], _mtime(run_dir[lab])))
    except RunError as exc:
        st.warning(md_escape(f"{lab}: {exc}"))
if not snaps:
    st.stop()

mismatch = C.data_mismatch({lab: s.manifest for lab, s in snaps.items()})
if mismatch:
    st.warning(md_escape(mismatch))

# ---- metric table -----------------------------------------------------------------------------------------------
st.subheader("Metrics")
table = C.metric_table(snaps)
st.dataframe(table, hide_index=True, width="stretch")
st.caption("best_epoch / best_valid_loss: the epoch selected on validation loss; test/…: that model on test.")

# ---- curves -----------------------------------------------------------------------------------------------------
st.subheader("Curves")
metrics = {lab: s.metrics() for lab, s in snaps.items()}
best = {lab: (s.manifest.get("best") or {}).get("epoch") for lab, s in snaps.items()}
cols = st.columns(2)
with cols[0]:
    cur = C.curves_long(metrics, "loss", "valid")
    components.chart(C.overlay_curves(cur, "validation loss (L1 of ŷ_m)", "loss", best), key="compare_loss_chart")
with cols[1]:
    options = [c for c in C.metric_columns(metrics.values()) if c != "loss"] or ["loss"]
    # valid "loss" is the L1 of ŷ_m, i.e. pred_M/MAE: default to a metric the left chart does not already show
    first = next((c for c in ("pred_M/Corr", "pred_M/Mult_acc_2", "pred_M/Has0_acc_2") if c in options), options[0])
    pick = st.selectbox("Metric", options, index=options.index(first), key="compare_metric")
    split = st.radio("Split", ["valid", "test", "train"], horizontal=True, key="compare_split")
    cur = C.curves_long(metrics, pick, split)
    if cur.empty:
        st.info(f"No {md_escape(pick)} on the {split} split in the selected runs.")
    else:
        components.chart(C.overlay_curves(cur, f"{pick} ({split})", pick, best), key="compare_metric_chart")

# ---- generated labels, run A vs run B ---------------------------------------------------------------------------
st.subheader("Generated labels: run A vs run B")
if len(snaps) < 2:
    st.info("Select a second run (for example another seed) to compare its generated unimodal labels.")
else:
    names = list(snaps)
    ca, cb = st.columns(2)
    a = ca.selectbox("Run A", names, index=0, key="compare_run_a")
    b = cb.selectbox("Run B", names, index=1, key="compare_run_b")
    same_data, data_note = C.pair_data_check(snaps[a].manifest, snaps[b].manifest)
    if data_note and same_data:  # a caution in our own words only
        st.caption(data_note)
    elif data_note:  # the refusal names datasets: data text, shown literally
        st.warning(md_escape(data_note))
    try:
        if not same_data:  # refused: the warning above says why
            raise C.CompareError("")
        la = cache.final_labels(run_dir[a], _mtime(run_dir[a]))
        lb = cache.final_labels(run_dir[b], _mtime(run_dir[b]))
        pairs = C.label_pairs(la, lb)
    except (C.CompareError, RunError) as exc:
        if str(exc):
            st.warning(md_escape(exc))
    else:
        stats = C.label_agreement(pairs)
        st.caption(
            f"Final generated labels (train split): A at epoch {la.attrs.get('epoch')}, B at epoch "
            f"{lb.attrs.get('epoch')}; {len(pairs)} samples matched by sample_id. Points on the dotted line mean "
            "both runs generated the same label."
        )
        components.chart(C.label_scatter(pairs, a, b, stats), key="compare_label_scatter")
        st.dataframe(stats, hide_index=True)
        # opt-in: reads every selected run's labels (one file each); the matrix itself is a few matrix products
        if len(snaps) > 2 and st.toggle("Pearson r between every pair of selected runs", key="compare_pairwise"):
            mod = st.radio("Modality", ["T", "A", "V"], horizontal=True, key="compare_pair_modality")
            try:
                # only runs trained on run A's file: ids of another file name other samples
                mates = [n for n in names if C.pair_data_check(snaps[a].manifest, snaps[n].manifest)[0]]
                allp = {n: cache.final_labels(run_dir[n], _mtime(run_dir[n])) for n in mates}
                st.dataframe(C.pairwise_agreement(allp, mod).style.format("{:.3f}"))
            except (C.CompareError, RunError) as exc:
                st.warning(md_escape(exc))

# ---- experiment results -----------------------------------------------------------------------------------------
exp_dirs = {}
for lab, s in snaps.items():
    d = C.experiment_dir(run_dir[lab], s.manifest)
    if d is not None:
        exp_dirs[str(d)] = (s.manifest.get("experiment") or {}).get("name")
if exp_dirs:
    st.subheader("Experiment results")
    for d, name in exp_dirs.items():
        path = Path(d) / C.RESULTS_CSV
        try:
            res = cache.experiment_results(d, os.stat(path).st_mtime if path.exists() else 0.0)
        except C.CompareError as exc:
            st.warning(md_escape(exc))
            continue
        if res is None:
            st.info(
                f"Experiment {md_escape(name)}: no {md_escape(path)} yet (written when every variant and seed has finished)."
            )
            continue
        st.markdown(f"**{md_escape(name)}**: mean ± std over seeds, from {md_escape(path)}")
        st.dataframe(C.results_wide(res), hide_index=True, width="stretch")

# ---- sweep (python -m selfmm tune): ranked configurations, parameters vs validation loss, best seeds ---------
sweeps = S.find_sweeps(ok)
if not sweeps.empty:
    st.subheader("Sweep")
    mine = [S.sweep_of(run_dir[lab]) for lab in selected]
    first = next((str(p) for p in mine if p is not None), None)
    dirs = sweeps["sweep_dir"].tolist()
    i = dirs.index(first) if first in dirs else 0
    lab = st.selectbox("Sweep folder", sweeps["label"].tolist(), index=i, key="compare_sweep")
    sdir = dict(zip(sweeps["label"], sweeps["sweep_dir"]))[lab]
    try:
        sw = cache.sweep(sdir, S.files_mtime(sdir))
        best = S.best_seeds(sw)
    except S.SweepError as exc:
        st.warning(md_escape(exc))
    else:
        st.text(S.summary(sw))
        changed = S.changed_runs(sw, ok)
        if sw.trials is None:
            st.info(f"No trials.csv yet ({changed} run folders so far): the tune command writes it when it ends.")
        elif changed:
            st.info(f"{changed} run folder(s) changed after trials.csv was written (the sweep is running, or was "
                    "killed): run the same `python -m selfmm tune` command again to finish it and rewrite the tables.")  # fmt: skip
        st.dataframe(S.ranked_table(sw), hide_index=True, width="stretch")
        st.caption("Ranked by the mean over seeds of each run's best validation loss (never the test split); "
                   "test/…: means over seeds, shown only.")  # fmt: skip
        components.chart(S.parallel_coordinates(sw), key="compare_sweep_parcoords")
        if best is not None:
            st.markdown(f"**Best configuration {best[0]}**: test metrics ×100, mean ± std over its seeds and per seed")
            st.dataframe(best[1], hide_index=True, width="stretch")
