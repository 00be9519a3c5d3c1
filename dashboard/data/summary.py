"""The Overview's tables: run summary, config, test metrics, training curves.

Pure pandas/numpy, no Streamlit; see :mod:`dashboard.data` for the conventions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from dashboard.data.rundata import (
    RunData,
)
from selfmm.config import MODALITIES

# ==============================================================================================================
# overview


def manifest_summary(run: RunData) -> pd.DataFrame:
    """Two columns (field, value) with the run's identity, dataset and provenance, for a small table."""
    m = run.manifest
    ds = m.get("dataset") or {}
    cfg = m.get("config") or {}
    git = m.get("git") or {}
    exp = m.get("experiment") or {}
    rows = [
        ("run", run.run_id),
        ("status", run.status),
        ("epochs completed", m.get("epochs_completed", len([e for e in run.epochs if e > 0]))),
        ("best epoch (valid loss)", run.best_epoch),
        ("dataset", f"{ds.get('name', cfg.get('dataset', '?'))} ({ds.get('path', '?')})"),
        ("train / valid / test", f"{ds.get('n_train', '?')} / {ds.get('n_valid', '?')} / {ds.get('n_test', '?')}"),
        ("human unimodal labels", ds.get("has_human_unimodal", run.has_human)),
        ("label source", cfg.get("label_source", "ulgm")),
        ("seed", cfg.get("seed")),
        ("created", m.get("created_at")),
        ("updated", m.get("updated_at")),
        ("git", f"{git.get('sha', '?')}{' (dirty)' if git.get('dirty') else ''}"),
    ]
    if exp:
        rows.append(("experiment", f"{exp.get('name', '')} / {exp.get('variant', '')}"))
    if m.get("error"):
        rows.append(("error", m.get("error")))
    return pd.DataFrame({"field": [r[0] for r in rows], "value": [str(r[1]) for r in rows]})


def config_table(run: RunData) -> pd.DataFrame:
    """The resolved config as (key, value) rows, values as strings (mixed types break Arrow columns)."""
    cfg = run.manifest.get("config") or {}
    return pd.DataFrame(
        {"key": list(cfg), "value": [json.dumps(v) if not isinstance(v, str) else v for v in cfg.values()]}
    )


def test_metrics_table(run: RunData) -> pd.DataFrame:
    """Final test metrics of the best model (run.json ``test``), one row per metric: ``metric``, ``value``.

    Nested dicts (``{"pred_M": {...}}``) and flat ``"pred_M/MAE"`` keys are both accepted."""
    test = run.manifest.get("test") or {}
    flat = {}
    for k, v in test.items():
        if isinstance(v, dict):
            flat.update({f"{k}/{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    rows = [(k, float(v)) for k, v in flat.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return pd.DataFrame({"metric": [r[0] for r in rows], "value": [r[1] for r in rows]})


def no_test_metrics_message(run: RunData) -> str:
    """Why the Overview has no test metrics to show: not written yet, or written but unusable."""
    if run.manifest.get("test") is not None:
        return ("run.json holds test metrics, but none is a number (see the warning above); the file was edited "
                "or is corrupt: retrain, or restore run.json.")  # fmt: skip
    if run.status == "finished":
        return "This finished run recorded no test metrics in run.json (an older or interrupted writer?)."
    return "No test metrics yet: they are written when training finishes."


def no_representations_message(run: RunData) -> str:
    """Why the Embeddings page has no representations to project: none recorded by the config, no epoch
    committed yet, or none stored for the committed epochs."""
    rr = (run.manifest.get("config") or {}).get("record_representations")
    done = int(run.manifest.get("epochs_completed") or 0)
    if rr == "none":
        return "This run recorded no representations (record_representations=none), so there is nothing to project."
    if done == 0:
        return (f"No epoch has been committed yet (record_representations={rr}): representations are stored at "
                "the end of an epoch; come back when the first epoch is done.")  # fmt: skip
    return (f"No representations are stored for this run's {done} committed epoch(s) (record_representations="
            f"{rr}): the representations/ folder is missing or empty; copy the run again or retrain.")  # fmt: skip


def metric_names(metrics: pd.DataFrame) -> list[str]:
    """Metric keys present in metrics.jsonl under ``pred_M/`` (MAE, Corr, Mult_acc_2 ...), plus ``loss``."""
    names = sorted({c.split("/", 1)[1] for c in metrics.columns if c.startswith("pred_M/")})
    return (["loss"] if "loss" in metrics.columns else []) + names


def curves_frame(metrics: pd.DataFrame, metric: str, heads: Iterable[str] = MODALITIES) -> pd.DataFrame:
    """Long frame ``epoch, split, head, value`` for one metric: ``loss`` (per split, head "total" and train's
    loss_M..V) or a regression metric of ``pred_<head>`` (the unimodal heads against the human unimodal labels
    when present, else against y_m)."""
    if metrics is None or len(metrics) == 0 or "epoch" not in metrics.columns:
        return pd.DataFrame({"epoch": [], "split": [], "head": [], "value": []})
    parts = []
    for head in heads:
        if metric == "loss":
            col = "loss" if head == "M" else f"loss_{head}"
            names = {"loss": "total"} if head == "M" else {col: head}
            if head == "M" and "loss_M" in metrics.columns:
                names = {"loss": "total", "loss_M": "M"}
            cols = [c for c in names if c in metrics.columns]
        else:
            cands = [f"pred_{head}/{metric}", f"pred_{head}_vs_ym/{metric}"]
            cols = [next((c for c in cands if c in metrics.columns), None)]
            names = {cols[0]: head} if cols[0] else {}
            cols = [c for c in cols if c]
        for c in cols:
            sub = metrics[["epoch", "split", c]].dropna()
            parts.append(pd.DataFrame({"epoch": sub["epoch"].astype(int), "split": sub["split"].astype(str),
                                       "head": names[c], "value": sub[c].astype(float)}))  # fmt: skip
    if not parts:
        return pd.DataFrame({"epoch": [], "split": [], "head": [], "value": []})
    return pd.concat(parts, ignore_index=True).sort_values(["head", "split", "epoch"], kind="stable")
