"""Pure data and chart functions for comparing two or more runs (no ``import streamlit``).

A comparison is keyed by a *run label*: the run folder's path relative to the runs root
(``sims-s1111`` or ``exp/ulgm/seed_1111``), which stays unique when experiments nest run folders
``<exp_dir>/<variant>/seed_<n>/`` under the root.

Functions here take plain objects (``RunReader``-like readers, DataFrames, paths) so that the page only wires
widgets to them and tests can call them with hand-built tables:

- :func:`runs_frame` / :func:`discover_runs` list run folders at any depth below the root;
- :func:`experiment_dir`, :func:`experiment_members` group runs of one experiment;
- :func:`metric_table` is one row per run: best epoch, best valid loss, test metrics;
- :func:`curves_long` / :func:`overlay_curves` overlay per-epoch curves of several runs;
- :func:`final_labels`, :func:`label_pairs`, :func:`label_agreement`, :func:`pairwise_agreement`,
  :func:`label_scatter` compare generated labels sample by sample (e.g. stability across seeds);
- :func:`load_results`, :func:`results_wide` read the experiment's ``results.csv``.
"""

from __future__ import annotations

from dashboard.compare.curves import curves_long, metric_columns, metric_table, overlay_curves
from dashboard.compare.labels import (
    agreement,
    final_labels,
    label_agreement,
    label_pairs,
    label_scatter,
    pairwise_agreement,
)
from dashboard.compare.results import load_results, results_wide
from dashboard.compare.runs import (
    DEFAULT_MAX_RUNS,
    MANIFEST,
    MODALITY_NAMES,
    RESULTS_CSV,
    RESULTS_MD,
    SHA_SHORT,
    UNIMODAL,
    CompareError,
    ReaderLike,
    data_mismatch,
    default_selection,
    discover_runs,
    experiment_dir,
    experiment_members,
    pair_data_check,
    runs_frame,
)

__all__ = [
    "UNIMODAL",
    "MODALITY_NAMES",
    "MANIFEST",
    "RESULTS_CSV",
    "RESULTS_MD",
    "DEFAULT_MAX_RUNS",
    "CompareError",
    "ReaderLike",
    "runs_frame",
    "discover_runs",
    "experiment_dir",
    "experiment_members",
    "default_selection",
    "SHA_SHORT",
    "data_mismatch",
    "pair_data_check",
    "metric_table",
    "metric_columns",
    "curves_long",
    "overlay_curves",
    "final_labels",
    "label_pairs",
    "agreement",
    "label_agreement",
    "pairwise_agreement",
    "label_scatter",
    "load_results",
    "results_wide",
]
