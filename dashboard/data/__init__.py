"""Data preparation for the dashboard: pure pandas/numpy over :mod:`selfmm.records`, no Streamlit.

Every page's numbers come from here, so they can be tested (and benchmarked) without a server. The expensive
step is :func:`load_run`: it reads a run folder once and pivots the long per-epoch tables into wide numpy arrays
(``(n_samples, n_epochs)`` per modality). Everything after that is vectorised over those arrays, and a single
sample's history is a row lookup (O(epochs)), never a scan of the long tables.

Conventions
-----------
- Modalities are ``"M", "T", "A", "V"``; generated labels exist for the train split only (that is where the
  ULGM runs). Columns: ``y_m`` (human multimodal label), ``y_T|A|V`` (human unimodal labels, when the dataset has
  them), ``gen_T|A|V`` (generated labels), ``w_T|A|V`` (subtask weights), ``pred_M|T|A|V`` (head predictions).
- Every derived number (polarity, agreement, conflicts, outcomes, sign flips, settle epochs, drift, cartography
  statistics) comes from :mod:`selfmm.analysis`, the single definition shared with selfmm's own analysis; this
  module only slices :class:`RunData`'s arrays and hands them over. See that module's docstring for the
  definitions (3-class polarity bins at ±0.1 of ``selfmm.metrics``, compared in float32 like the metrics).
"""

from __future__ import annotations

from dashboard.data.labels import (
    cartography,
    epoch_quantiles,
    gen_vs_human_by_epoch,
    heads_vs_human_by_epoch,
    label_drift,
    label_quantiles,
    ym_vs_human,
)
from dashboard.data.rundata import (
    RunData,
    load_run,
)
from dashboard.data.runs import (
    DEFAULT_RUN,
    DEFAULT_RUNS_ROOT,
    REPO_ROOT,
    RUNS_ENV,
    SHIPPED_DEMOS,
    SPLITS,
    DashboardDataError,
    list_runs,
    pick_default_run,
    projections_mtime,
    run_mtime,
    runs_root_from,
)
from dashboard.data.selections import (
    csv_bytes,
    index_projections,
    load_projections,
    projection_view,
    sample_positions,
    selected_ids,
)
from dashboard.data.summary import (
    config_table,
    curves_frame,
    manifest_summary,
    metric_names,
    no_representations_message,
    no_test_metrics_message,
    test_metrics_table,
)
from dashboard.data.tables import (
    COLOR_CHOICES,
    SAMPLE_COLUMNS,
    SORT_DEFAULT,
    SampleFilter,
    color_choices,
    column_choices,
    conflict_confusion,
    conflict_counts,
    conflict_outcomes,
    conflict_strength_counts,
    filter_samples,
    nearest_epoch,
    sample_detail,
    sample_table,
    sort_choices,
    sort_samples,
)
from selfmm.analysis import confusion3  # re-exported for the pages: one definition

__all__ = [
    "confusion3",
    "RUNS_ENV",
    "DEFAULT_RUN",
    "REPO_ROOT",
    "DEFAULT_RUNS_ROOT",
    "SPLITS",
    "DashboardDataError",
    "runs_root_from",
    "list_runs",
    "SHIPPED_DEMOS",
    "pick_default_run",
    "run_mtime",
    "projections_mtime",
    "RunData",
    "load_run",
    "manifest_summary",
    "config_table",
    "test_metrics_table",
    "no_test_metrics_message",
    "no_representations_message",
    "metric_names",
    "curves_frame",
    "nearest_epoch",
    "sample_table",
    "SampleFilter",
    "filter_samples",
    "SORT_DEFAULT",
    "sort_samples",
    "sort_choices",
    "SAMPLE_COLUMNS",
    "column_choices",
    "conflict_strength_counts",
    "sample_detail",
    "conflict_counts",
    "conflict_confusion",
    "conflict_outcomes",
    "COLOR_CHOICES",
    "color_choices",
    "epoch_quantiles",
    "label_quantiles",
    "label_drift",
    "cartography",
    "gen_vs_human_by_epoch",
    "heads_vs_human_by_epoch",
    "ym_vs_human",
    "load_projections",
    "projection_view",
    "selected_ids",
    "index_projections",
    "sample_positions",
    "csv_bytes",
]
