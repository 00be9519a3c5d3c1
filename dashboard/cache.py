"""Every ``st.cache_*`` of the dashboard: thin wrappers over :mod:`dashboard.data`, ``compare`` and ``sweeps``.

Every loader is keyed on ``(run_dir, mtime)`` where mtime is that of run.json (rewritten atomically at each
committed epoch), so a live run's new epoch invalidates the entry by itself; projections are keyed on the mtime
of their own files. Callers compute the mtime (``data.run_mtime``) and pass it in. Derived tables are cached too,
so a rerun that only changes the selected sample costs a dictionary lookup plus an unpickle.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import compare, data, sweeps

_N = 8  # bound every cache: a few runs x a few epochs


@st.cache_resource(max_entries=4, show_spinner="Loading run…")
def run_data(run_dir: str, mtime: float) -> data.RunData:
    """The loaded run, one object shared by every page, rerun and session (st.cache_resource: no copy per hit;
    st.cache_data unpickled a fresh ~35 MB copy per hit at MOSEI size). Read-only by contract: no data function
    or page mutates it (tests/test_dashboard_data.py::test_no_page_function_mutates_the_shared_run)."""
    return data.load_run(run_dir)


@st.cache_data(max_entries=_N, show_spinner=False)
def sample_table(run_dir: str, mtime: float, epoch: int | None) -> pd.DataFrame:
    return data.sample_table(run_data(run_dir, mtime), epoch)


@st.cache_data(max_entries=_N, show_spinner=False)
def label_quantiles(run_dir: str, mtime: float) -> pd.DataFrame:
    return data.label_quantiles(run_data(run_dir, mtime))


@st.cache_data(max_entries=_N, show_spinner=False)
def label_drift(run_dir: str, mtime: float) -> pd.DataFrame:
    return data.label_drift(run_data(run_dir, mtime))


@st.cache_data(max_entries=_N, show_spinner=False)
def cartography(run_dir: str, mtime: float, modality: str) -> pd.DataFrame:
    return data.cartography(run_data(run_dir, mtime), modality)


@st.cache_data(max_entries=_N, show_spinner=False)
def gen_vs_human(run_dir: str, mtime: float) -> pd.DataFrame:
    return data.gen_vs_human_by_epoch(run_data(run_dir, mtime))


@st.cache_data(max_entries=_N, show_spinner=False)
def heads_vs_human(run_dir: str, mtime: float, split: str) -> pd.DataFrame:
    return data.heads_vs_human_by_epoch(run_data(run_dir, mtime), split)


@st.cache_data(max_entries=_N, show_spinner="Loading projections…")
def projections(run_dir: str, pmtime: float) -> pd.DataFrame | None:
    return data.load_projections(run_dir)


@st.cache_data(max_entries=_N, show_spinner=False)
def projections_by_id(run_dir: str, pmtime: float) -> pd.DataFrame | None:
    return data.index_projections(projections(run_dir, pmtime))


@st.cache_data(max_entries=64, show_spinner="Computing label health…")
def label_health(run_dir: str, mtime: float) -> pd.DataFrame:
    """:func:`selfmm.label_health.run_health` of the run (every committed epoch, T/A/V), computed from the
    cached :func:`labels` and :func:`samples`, so the Label generators page reads each run's labels once (its
    disagreements, trajectories and conflict recovery use the same entries)."""
    from selfmm.label_health import health_frame, run_info
    from selfmm.runs.reader import RunReader

    info = run_info(manifest(run_dir, mtime), RunReader(run_dir).run_id)
    return health_frame(labels(run_dir, mtime), samples(run_dir, mtime), **info)


# raw run-folder reads for the pages that look at several runs at once (Label generators, the drill-down overlay)


@st.cache_data(max_entries=64, show_spinner=False)
def manifest(run_dir: str, mtime: float) -> dict:
    """run.json of the run (RunError when unreadable)."""
    from selfmm.runs.reader import RunReader

    return RunReader(run_dir).manifest


@st.cache_data(max_entries=32, show_spinner=False)
def labels(run_dir: str, mtime: float) -> pd.DataFrame:
    """Every committed epoch's labels of the run (``RunReader.labels()``)."""
    from selfmm.runs.reader import RunReader

    return RunReader(run_dir).labels()


@st.cache_data(max_entries=_N, show_spinner=False)
def generator_labels(runs: tuple[tuple[str, str, float, str], ...]) -> pd.DataFrame:
    """:func:`dashboard.generators.generator_labels` of ``runs`` = ((run label, run_dir, mtime, generator), ...)
    at each run's last committed epoch (from the cached :func:`labels`; runs without labels left out). Cached, so
    a rerun of the Label generators page that only changes the sample or the modality does not recompute it."""
    from dashboard import generators

    final = {}
    for lab, run_dir, mtime, _ in runs:
        df = labels(run_dir, mtime)
        if len(df):
            final[lab] = df[df["epoch"] == df["epoch"].max()]
    return generators.generator_labels(final, {lab: gen for lab, _, _, gen in runs})


@st.cache_data(max_entries=64, show_spinner=False)
def recovery_counts(run_dir: str, mtime: float) -> pd.DataFrame:
    """:func:`dashboard.seed_summary.run_recovery` at the run's last committed epoch, from the cached
    :func:`labels` and :func:`samples` (the same counts as ``run_recovery(RunReader(run_dir))``): a 3-row frame
    per run, so the Label generators page keeps every selected run's."""
    from dashboard.seed_summary import recovery_from_frames

    lab = labels(run_dir, mtime)
    last = lab[lab["epoch"] == lab["epoch"].max()] if len(lab) else lab
    return recovery_from_frames(last, samples(run_dir, mtime))


@st.cache_data(max_entries=32, show_spinner=False)
def samples(run_dir: str, mtime: float) -> pd.DataFrame:
    """samples.parquet of the run (``RunReader.samples()``); as many entries as :func:`labels`, since label
    health and conflict recovery read both for every run the Label generators page selects."""
    from selfmm.runs.reader import RunReader

    return RunReader(run_dir).samples()


@st.cache_data(ttl=5, max_entries=_N, show_spinner=False)
def runs(root: str, mtime: float, current_mtime: float = 0.0) -> pd.DataFrame:
    """The runs table. ``mtime`` is the root folder's, so a new top-level run folder shows up at once;
    ``current_mtime`` is the picked run's run.json, so its own status change (running -> finished) shows at once;
    other runs nested deeper (experiments) and their status changes show up within the 5 s ttl."""
    return data.list_runs(root)


# the Compare page: several runs, an experiment's results, a sweep


@st.cache_data(max_entries=64, show_spinner=False)
def manifest_and_metrics(run_dir: str, mtime: float) -> tuple[dict, str, list[int], pd.DataFrame]:
    """(run.json, status, committed epochs, metrics table) of a run: what the Compare page's metric table reads."""
    from selfmm.runs.reader import RunReader

    r = RunReader(run_dir)
    return r.manifest, r.status, list(r.epochs), r.metrics()


@st.cache_data(max_entries=64, show_spinner=False)
def final_labels(run_dir: str, mtime: float) -> pd.DataFrame:
    """:func:`dashboard.compare.final_labels` of the run."""
    from selfmm.runs.reader import RunReader

    return compare.final_labels(RunReader(run_dir))


@st.cache_data(max_entries=8, show_spinner=False)
def experiment_results(exp_dir: str, mtime: float) -> pd.DataFrame | None:
    """An experiment folder's results table (``mtime`` is that of its results file, 0.0 when absent)."""
    return compare.load_results(exp_dir)


@st.cache_data(max_entries=8, show_spinner=False)
def sweep(sweep_dir: str, mtimes: tuple[float, float, float]) -> sweeps.Sweep:
    """A sweep folder, keyed on the mtimes of its files (:func:`dashboard.sweeps.files_mtime`)."""
    return sweeps.load_sweep(sweep_dir)
