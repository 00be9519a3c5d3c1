"""A hyper-parameter sweep (``python -m selfmm tune``) on the Compare page: pure data and chart functions.

No ``import streamlit`` and no torch: the page wires widgets to these functions, and tests call them directly.

A sweep folder (layout and columns: :mod:`selfmm.sweep.results`) holds ``sweep.json`` (the search state:
settings, the space, every configuration drawn), ``trials/<name>-c<k>-s<seed>/`` (ordinary run folders, found by
the app's run discovery), and the tables the tune command writes when it ends: ``trials.csv`` (configurations
ranked by mean best validation loss over seeds) and ``results.csv`` (test metrics ×100 of the top configurations,
mean ± std and one column per seed). This module shows those files as written, so the page and ``results.md``
never disagree; when run folders changed after the tables were written (a sweep still running, or killed), it
says how many and what to run.

- :func:`find_sweeps`: sweep folders holding runs of the runs table;
- :func:`load_sweep` -> :class:`Sweep` (raises :class:`SweepError` naming the file and the fix);
- :func:`summary`, :func:`changed_runs`: one-line facts about the sweep;
- :func:`ranked_table`: the configurations ranked; :func:`searched_params`: the columns worth plotting;
- :func:`parallel_axes` / :func:`parallel_coordinates`: parameters against validation loss;
- :func:`best_seeds`: the best configuration's test metrics, mean ± std over its seeds and per seed.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.data.runs import read_csv_checked
from selfmm.sweep.results import RESULTS_CSV, SWEEP_JSON, TRIALS_CSV, TRIALS_DIR
from selfmm.sweep.spaces import searched_keys

RERUN = "run the same `python -m selfmm tune` command again to rewrite it"
TRIALS_COLUMNS = ("rank", "config", "status", "n_seeds", "n_finished", "valid_loss", "valid_loss_std")
RESULTS_COLUMNS = ("rank", "config", "metric", "mean", "std", "n")
CATEGORICAL_MAX = 12  # an axis with at most this many distinct values shows each value as a tick


class SweepError(ValueError):
    """A sweep file cannot be read; the message names the file and what to do."""


@dataclass
class Sweep:
    """One sweep folder as written. ``trials`` / ``results`` are None before the tune command first wrote them."""

    path: Path
    state: dict  # sweep.json
    trials: pd.DataFrame | None  # trials.csv
    results: pd.DataFrame | None  # results.csv
    tables_mtime: float | None  # of trials.csv


# ----------------------------------------------------------------------------------------------------------------
# finding and reading


def find_sweeps(runs: pd.DataFrame) -> pd.DataFrame:
    """Sweep folders of the runs in ``runs`` (``label``, ``run_dir`` columns, as :func:`dashboard.compare.runs_frame`).

    A run belongs to a sweep when its folder is ``<sweep>/trials/<run>`` and ``<sweep>/sweep.json`` exists.
    Returns ``label`` (the sweep folder relative to the runs root), ``sweep_dir`` (absolute str) and ``n_runs``,
    sorted by label.
    """
    rows: dict[str, dict] = {}
    for label, run_dir in zip(runs.get("label", []), runs.get("run_dir", [])):
        parent = Path(run_dir).parent
        if parent.name != TRIALS_DIR:
            continue
        key = str(parent.parent)
        if key not in rows:
            if not (parent.parent / SWEEP_JSON).is_file():
                rows[key] = {}
                continue
            lab = str(PurePosixPath(str(label)).parent.parent)
            rows[key] = {"label": lab if lab != "." else parent.parent.name, "sweep_dir": key, "n_runs": 0}
        if rows[key]:
            rows[key]["n_runs"] += 1
    out = pd.DataFrame([r for r in rows.values() if r], columns=["label", "sweep_dir", "n_runs"])
    return out.sort_values("label", kind="stable").reset_index(drop=True)


def sweep_of(run_dir: str | os.PathLike) -> Path | None:
    """The sweep folder holding this run folder, or None (same rule as :func:`find_sweeps`)."""
    parent = Path(run_dir).parent
    if parent.name == TRIALS_DIR and (parent.parent / SWEEP_JSON).is_file():
        return parent.parent
    return None


def files_mtime(sweep_dir: str | os.PathLike) -> tuple[float, float, float]:
    """mtimes of sweep.json, trials.csv, results.csv (0.0 when absent): the page's cache key."""
    out = []
    for name in (SWEEP_JSON, TRIALS_CSV, RESULTS_CSV):
        try:
            out.append(os.stat(Path(sweep_dir) / name).st_mtime)
        except OSError:
            out.append(0.0)
    return tuple(out)


def _read_csv(path: Path, needed: tuple[str, ...]) -> pd.DataFrame | None:
    return read_csv_checked(path, needed, SweepError, RERUN)


def load_sweep(sweep_dir: str | os.PathLike) -> Sweep:
    """Read sweep.json, trials.csv and results.csv of a sweep folder; raise :class:`SweepError` on a bad file."""
    d = Path(sweep_dir)
    path = d / SWEEP_JSON
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SweepError(f"{path}: unreadable ({str(exc).splitlines()[0]}); restore it from a backup") from None
    bad = [k for k, t in (("name", str), ("seeds", list), ("configs", list), ("space", dict)) if
           not isinstance(state.get(k) if isinstance(state, dict) else None, t)]  # fmt: skip
    if bad:
        raise SweepError(f"{path}: not a sweep state (no valid {', '.join(bad)}); restore it from a backup")
    trials = _read_csv(d / TRIALS_CSV, TRIALS_COLUMNS)
    results = _read_csv(d / RESULTS_CSV, RESULTS_COLUMNS)
    mtime = files_mtime(d)[1] if trials is not None else None
    return Sweep(d, state, trials, results, mtime)


# ----------------------------------------------------------------------------------------------------------------
# facts and tables


def summary(sweep: Sweep) -> str:
    """One line: name, dataset, search and space, configurations drawn of the target, seeds, finished runs."""
    s = sweep.state
    dataset = (s.get("base_config") or {}).get("dataset", "?")
    target = s.get("trials", len(s["configs"]))
    line = (f"Sweep {s['name']} ({dataset}): {s.get('search', '?')} search over {s.get('space_source', '?')}, "
            f"{len(s['configs'])} of {target} configurations drawn, seeds {', '.join(map(str, s['seeds']))}")  # fmt: skip
    if sweep.trials is not None:
        done = int((sweep.trials["status"] == "finished").sum())
        line += f"; {done} configuration(s) finished on every seed"
    return line


def changed_runs(sweep: Sweep, runs: pd.DataFrame) -> int:
    """How many of the sweep's run folders in ``runs`` (``run_dir``, ``mtime`` of run.json) changed after
    trials.csv was written (all of them when it was never written): 0 means the tables are current."""
    trials_dir = sweep.path / TRIALS_DIR
    mine = runs[runs["run_dir"].map(lambda r: Path(r).parent == trials_dir)]
    if sweep.tables_mtime is None:
        return len(mine)
    return int((mine["mtime"].astype(float) > sweep.tables_mtime).sum())


def searched_params(sweep: Sweep) -> list[str]:
    """The space's searched keys (more than one possible value) that trials.csv has a ``param/<key>`` column for."""
    cols = set(sweep.trials.columns) if sweep.trials is not None else set()
    try:
        keys = searched_keys(sweep.state["space"])
    except (TypeError, ValueError, AttributeError):  # a hand-edited space: fall back to every param column
        keys = sorted(c.split("/", 1)[1] for c in cols if c.startswith("param/"))
    return [k for k in keys if f"param/{k}" in cols]


def ranked_table(sweep: Sweep) -> pd.DataFrame:
    """trials.csv for display: ``rank`` (empty until every seed finished), ``config`` (c<k>), ``status``,
    ``seeds`` ("finished/total"), ``valid_loss`` ± ``valid_loss_std``, the searched parameters, the test means.

    ``valid_loss`` / ``valid_loss_std`` are left empty for an unranked configuration: trials.csv's mean over fewer
    seeds is not comparable with the ranked ones (it could sit below the best)."""
    t = sweep.trials
    if t is None:
        return pd.DataFrame(columns=["rank", "config", "status", "seeds", "valid_loss", "valid_loss_std"])
    out = pd.DataFrame(
        {
            "rank": pd.to_numeric(t["rank"], errors="coerce").astype("Int64"),
            "config": [f"c{int(k):03d}" for k in t["config"]],
            "status": t["status"].astype(str),
            "seeds": [f"{int(a)}/{int(b)}" for a, b in zip(t["n_finished"], t["n_seeds"])],
            "valid_loss": t["valid_loss"].astype(float),
            "valid_loss_std": t["valid_loss_std"].astype(float),
        }
    )
    out.loc[out["rank"].isna(), ["valid_loss", "valid_loss_std"]] = np.nan
    for k in searched_params(sweep):
        out[k] = t[f"param/{k}"]
    for c in t.columns:
        if c.startswith("test/"):
            out[c] = t[c]
    return out


def best_seeds(sweep: Sweep) -> tuple[str, pd.DataFrame] | None:
    """The best configuration (rank 1 of results.csv) and its test metrics ×100: ``metric``, ``mean``, ``std``
    (population, over seeds), ``n`` and ``seed_<s>`` columns. None when no configuration has finished.

    Raises :class:`SweepError` when results.csv's best disagrees with trials.csv's (one was rewritten alone)."""
    r = sweep.results
    if r is None or r.empty or sweep.trials is None:
        return None
    best = r[r["rank"] == 1]
    if best.empty:
        return None
    k = int(best["config"].iloc[0])
    top = sweep.trials[pd.to_numeric(sweep.trials["rank"], errors="coerce") == 1]
    if top.empty or int(top["config"].iloc[0]) != k:
        raise SweepError(f"{sweep.path / RESULTS_CSV}: its best configuration is not trials.csv's; {RERUN}")
    cols = ["metric", "mean", "std", "n"] + [c for c in best.columns if c.startswith("seed_")]
    return f"c{k:03d}", best[cols].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
# parallel coordinates


def _plain(text: object) -> str:
    """Plotly renders a subset of HTML in labels (links included): show data strings literally."""
    return html.escape(str(text), quote=False)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _axis(label: str, values: pd.Series) -> dict:
    """One parcoords dimension. Few distinct values: one tick each, equally spaced in sorted order (MMSA's
    spaces are short lists such as learning rates 1e-4, 1e-3, 5e-3). Many numeric values: a continuous axis,
    log10 when positive and spanning two decades or more."""
    vals = values.tolist()
    numeric = all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in vals)
    distinct = sorted(set(vals), key=(lambda v: v) if numeric else (lambda v: str(v)))
    if len(distinct) <= CATEGORICAL_MAX or not numeric:
        pos = {v: i for i, v in enumerate(distinct)}
        return {"label": _plain(label), "values": [pos[v] for v in vals], "tickvals": list(range(len(distinct))),
                "ticktext": [_plain(_fmt(v)) for v in distinct], "range": [-0.25, len(distinct) - 0.75]}  # fmt: skip
    x = np.asarray(vals, dtype=float)
    if x.min() > 0 and x.max() / x.min() >= 100:
        return {"label": _plain(f"log10({label})"), "values": np.log10(x).tolist()}
    return {"label": _plain(label), "values": x.tolist()}


def parallel_axes(sweep: Sweep) -> list[dict]:
    """The dimensions of :func:`parallel_coordinates`: one per searched parameter, then ``valid loss``; over the
    ranked configurations (every seed finished), in rank order. Empty when none is ranked."""
    t = sweep.trials
    if t is None:
        return []
    ranked = t[pd.to_numeric(t["rank"], errors="coerce").notna()].sort_values("rank", kind="stable")
    if ranked.empty:
        return []
    dims = [_axis(k, ranked[f"param/{k}"]) for k in searched_params(sweep)]
    dims.append({"label": "valid loss", "values": ranked["valid_loss"].astype(float).tolist()})
    return dims


def parallel_coordinates(sweep: Sweep) -> go.Figure:
    """Parameters against validation loss, one line per ranked configuration coloured by its loss (Viridis:
    the lowest darkest); empty figure with a note when nothing is ranked yet."""
    dims = parallel_axes(sweep)
    fig = go.Figure()
    if not dims:
        fig.add_annotation(text="no configuration has finished on every seed yet", showarrow=False)
        fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=200)
        return fig
    loss = dims[-1]["values"]
    lo, hi = min(loss), max(loss)
    line = {"color": loss, "colorscale": "Viridis", "showscale": True,
            "cmin": lo, "cmax": hi if hi > lo else lo + 1e-9, "colorbar": {"title": {"text": "valid loss"}, "x": 1.04, "xanchor": "left"}}  # fmt: skip
    fig.add_trace(go.Parcoords(line=line, dimensions=dims))
    n = len(loss)
    fig.update_layout(
        title=f"{n} ranked configuration{'s' if n != 1 else ''}: parameters vs validation loss",
        height=420,
        margin={"t": 80, "l": 60, "r": 110, "b": 30},
    )
    return fig


__all__ = [
    "Sweep",
    "SweepError",
    "best_seeds",
    "changed_runs",
    "files_mtime",
    "find_sweeps",
    "load_sweep",
    "parallel_axes",
    "parallel_coordinates",
    "ranked_table",
    "searched_params",
    "summary",
    "sweep_of",
]
