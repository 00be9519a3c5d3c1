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

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from dashboard import data

UNIMODAL = ("T", "A", "V")
MODALITY_NAMES = {"M": "multimodal", "T": "text", "A": "audio", "V": "vision"}
MANIFEST = "run.json"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
DEFAULT_MAX_RUNS = 12  # the page's default selection: a few seeds of every variant, not an experiment of 200 runs


class CompareError(ValueError):
    """Inputs cannot be compared; the message names the run or file and what to do."""


class ReaderLike(Protocol):
    """The part of ``selfmm.runs.reader.RunReader`` this module uses."""

    manifest: dict
    epochs: list[int]

    def metrics(self) -> pd.DataFrame: ...

    def labels(self, epochs=None) -> pd.DataFrame: ...


# ----------------------------------------------------------------------------------------------------------------
# discovery and experiments


def runs_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table of :func:`dashboard.data.list_runs` (the app's one discovery, over
    :func:`selfmm.runs.discovery.list_runs`; the sidebar's cached table) in this module's shape.

    Returns one row per run, sorted by ``label``, with columns: ``label`` (path relative to root, ``/``-joined;
    the sidebar's run key), ``run_dir`` (absolute str), ``run_id``, ``status`` ("broken" for a folder that
    cannot be opened), ``dataset``, ``epochs_completed``, ``experiment``, ``variant``, ``seed`` (nullable Int64),
    ``mtime`` (float, of run.json), ``error`` (str for a folder that cannot be opened, else None; a failed run's
    own error message is not an error here: it can still be compared).
    """
    cols = ["label", "run_dir", "run_id", "status", "dataset", "epochs_completed", "experiment", "variant", "seed"]
    cols += ["mtime", "error"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    broken = runs["status"].astype(str) == "broken"
    df = pd.DataFrame(
        {
            "label": runs["key"].astype(str),
            "run_dir": runs["run_dir"].astype(str),
            "run_id": runs["run_id"].where(~broken, None),
            "status": runs["status"].astype(str),
            "dataset": runs["dataset"].where(~broken, None).replace("", None),
            "epochs_completed": runs["epochs_completed"],
            "experiment": runs["experiment"],
            "variant": runs["variant"],
            "seed": pd.to_numeric(runs["seed"], errors="coerce").astype("Int64"),
            "mtime": runs["mtime"].astype(float),
            "error": runs["error"].where(broken, None),
        }
    )
    return df[cols].sort_values("label", kind="stable").reset_index(drop=True)


def discover_runs(root: str | os.PathLike, max_depth: int | None = None) -> pd.DataFrame:
    """All run folders at depth ``<= max_depth`` below ``root`` (:func:`dashboard.data.list_runs`), as
    :func:`runs_frame`."""
    return runs_frame(data.list_runs(root, max_depth))


def experiment_dir(run_dir: str | os.PathLike, manifest: Mapping) -> Path | None:
    """The experiment folder of a run (``<exp_dir>`` in ``<exp_dir>/<variant>/seed_<n>/``), or None.

    None when the manifest has no ``experiment`` entry. The layout is the experiment runner's, so the folder is
    two levels up; it is only returned when that is consistent (the parent folder is named after the variant).
    """
    exp = manifest.get("experiment") if manifest else None
    if not exp:
        return None
    run_dir = Path(run_dir)
    if exp.get("variant") is not None and run_dir.parent.name != str(exp["variant"]):
        return None
    return run_dir.parent.parent


def experiment_members(runs: pd.DataFrame, label: str) -> list[str]:
    """Labels of every run of the same experiment as ``label`` (same name, same experiment folder).

    Falls back to ``[label]`` when the run is not part of an experiment. Ordered by variant then seed.
    """
    row = runs.loc[runs["label"] == label]
    if row.empty:
        return []
    row = row.iloc[0]
    name = row.get("experiment")
    if name is None or (isinstance(name, float) and math.isnan(name)) or pd.isna(name):
        return [label]
    exp_root = Path(row["run_dir"]).parent.parent
    same = runs[(runs["experiment"] == name) & runs["run_dir"].map(lambda d: Path(d).parent.parent == exp_root)]
    same = same.sort_values(["variant", "seed", "label"], kind="stable")
    return same["label"].tolist()


def default_selection(runs: pd.DataFrame, current_run_dir: str | None, limit: int = DEFAULT_MAX_RUNS) -> list[str]:
    """The page's default multiselect: the current run's experiment, or the current run alone, or nothing.

    At most ``limit`` runs: when the experiment has more, the current run and then one seed of every variant in
    turn (the first seeds first), so every variant is shown; in the experiment's order (variant, seed)."""
    if current_run_dir is None or runs.empty:
        return []
    target = str(Path(current_run_dir).resolve())
    hit = runs.loc[runs["run_dir"] == target, "label"]
    if hit.empty:
        return []
    members = experiment_members(runs, hit.iloc[0])
    if len(members) <= limit:
        return members
    variant = runs.set_index("label")["variant"].astype(str)
    by_variant: dict[str, list[str]] = {}
    for m in members:
        by_variant.setdefault(variant.get(m, ""), []).append(m)
    picked = {hit.iloc[0]}
    for i in range(max(len(v) for v in by_variant.values())):
        for labs in by_variant.values():
            if len(picked) < limit and i < len(labs):
                picked.add(labs[i])
    return [m for m in members if m in picked]


# ----------------------------------------------------------------------------------------------------------------
# metric table and curves


def _flat(prefix: str, d: Mapping | None) -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, Mapping):
            out.update(_flat(f"{prefix}{k}/", v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def metric_table(readers: Mapping[str, ReaderLike]) -> pd.DataFrame:
    """One row per run: ``run`` (label), ``variant``, ``seed``, ``status``, ``epochs``, ``best_epoch``,
    ``best_valid_loss``, then ``test/<metric>`` for every test metric of the best model.

    Test metrics come from ``manifest["test"]`` (the best model on test, written when the run finishes); for a
    run that has none yet, they fall back to the ``test`` rows of ``metrics.jsonl`` at the best epoch (the
    per-epoch test evaluation), so live runs still get a row. Metric keys are kept as written (``pred_M/MAE`` or
    ``MAE``); a key present in some runs only leaves NaN in the others.
    """
    rows = []
    for label, reader in readers.items():
        m = reader.manifest
        exp = m.get("experiment") or {}
        best = m.get("best") or {}
        row = {
            "run": label,
            "variant": exp.get("variant"),
            "seed": exp.get("seed", (m.get("config") or {}).get("seed")),
            "status": getattr(reader, "status", m.get("status")),
            "epochs": m.get("epochs_completed"),
            "best_epoch": best.get("epoch"),
            "best_valid_loss": best.get("valid_loss"),
        }
        test = _flat("test/", m.get("test"))
        if not test and best.get("epoch") is not None:
            met = reader.metrics()
            hit = met[(met["split"] == "test") & (met["epoch"] == best["epoch"])] if not met.empty else met
            if not hit.empty:
                rec = hit.iloc[-1].drop(labels=["epoch", "split", "time_s"], errors="ignore").to_dict()
                test = {f"test/{k}": float(v) for k, v in rec.items() if _is_number(v)}
        row.update(test)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["run", "variant", "seed", "status", "epochs", "best_epoch", "best_valid_loss"])
    for col in ("seed", "epochs", "best_epoch"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df["best_valid_loss"] = pd.to_numeric(df["best_valid_loss"], errors="coerce").astype(float)
    return df


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def metric_columns(metrics: Sequence[pd.DataFrame]) -> list[str]:
    """Numeric metric columns present in any of the given ``metrics.jsonl`` frames, in a stable order:
    ``loss`` first, then ``pred_M/...``, then the rest alphabetically."""
    skip = {"epoch", "split", "time_s"}
    cols: set[str] = set()
    for df in metrics:
        cols |= {c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])}

    def key(c: str) -> tuple:
        return (c != "loss", not c.startswith("pred_M/"), c)

    return sorted(cols, key=key)


def curves_long(metrics: Mapping[str, pd.DataFrame], column: str, split: str) -> pd.DataFrame:
    """Long table ``run, epoch, value`` of one metric column on one split, for every run that has it.

    Rows with a missing value are dropped (a column absent from a run gives no rows). Sorted by run order of
    ``metrics`` then epoch.
    """
    parts = []
    for label, df in metrics.items():
        if df.empty or column not in df.columns:
            continue
        sel = df.loc[df["split"] == split, ["epoch", column]].dropna()
        if sel.empty:
            continue
        parts.append(
            pd.DataFrame(
                {"run": label, "epoch": sel["epoch"].astype("int64").to_numpy(), "value": sel[column].astype(float)}
            )
        )
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), "epoch": pd.Series(dtype="int64"), "value": []})
    out = pd.concat(parts, ignore_index=True)
    order = {k: i for i, k in enumerate(metrics)}
    return out.sort_values(["run", "epoch"], key=lambda s: s.map(order) if s.name == "run" else s).reset_index(
        drop=True
    )


def overlay_curves(
    curves: pd.DataFrame, title: str, y_title: str, best_epochs: Mapping[str, int] | None = None
) -> go.Figure:
    """One line per run (``curves_long`` output); each run's best epoch as the app's one best-epoch marker
    (:func:`dashboard.charts.best_epoch_line`, a dashed line in the run's colour) when ``best_epochs`` given."""
    from dashboard import charts

    fig = go.Figure()
    palette = qualitative.Plotly  # explicit, so each run's best-epoch line takes its curve's colour
    for i, (run, grp) in enumerate(curves.groupby("run", sort=False)):
        color = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=grp["epoch"], y=grp["value"], mode="lines+markers", name=str(run),
                                 line={"color": color},
                                 hovertemplate=f"{run}<br>epoch %{{x}}<br>%{{y:{charts.NUM}}}<extra></extra>"))  # fmt: skip
        best = (best_epochs or {}).get(run)
        if best is not None and (grp["epoch"] == best).any():
            charts.best_epoch_line(fig, int(best), color)
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title=y_title,
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 50, "b": 10},
        height=380,
    )
    return fig


# ----------------------------------------------------------------------------------------------------------------
# generated labels, run against run


def final_labels(reader: ReaderLike, epoch: int | None = None) -> pd.DataFrame:
    """The generated unimodal labels of one epoch (default: the last committed one) of a run.

    Returns ``sample_id, index, label_T, label_A, label_V`` (train split, one row per sample) with the
    epoch in ``df.attrs["epoch"]``. Raises :class:`CompareError` when the run has no committed label epoch yet.
    """
    epochs = list(reader.epochs)
    if not epochs:
        raise CompareError("the run has no committed epoch with labels yet; wait for its first epoch to finish")
    epoch = max(epochs) if epoch is None else epoch
    df = reader.labels(epochs=[epoch])
    keep = ["sample_id", "index"] + [f"label_{m}" for m in UNIMODAL if f"label_{m}" in df.columns]
    out = df.loc[df["epoch"] == epoch, keep].reset_index(drop=True) if "epoch" in df.columns else df[keep]
    out.attrs["epoch"] = int(epoch)
    return out


def label_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Join two runs' label tables on ``sample_id``: ``sample_id, index, label_<m>_a, label_<m>_b`` per modality.

    Samples present in only one run are dropped (different data files); a sample whose ``index`` differs between
    the runs means the two runs were trained on differently ordered pickles, so the join refuses with
    :class:`CompareError` rather than pairing labels silently.
    """
    mods = [m for m in UNIMODAL if f"label_{m}" in a.columns and f"label_{m}" in b.columns]
    ra = a[["sample_id", "index"] + [f"label_{m}" for m in mods]]
    rb = b[["sample_id", "index"] + [f"label_{m}" for m in mods]]
    if ra["sample_id"].duplicated().any() or rb["sample_id"].duplicated().any():
        raise CompareError("a label table has duplicate sample_id rows; pass a single epoch (final_labels)")
    j = ra.merge(rb, on="sample_id", suffixes=("_a", "_b"), how="inner", validate="one_to_one")
    bad = j["index_a"] != j["index_b"]
    if bad.any():
        sid = j.loc[bad, "sample_id"].iloc[0]
        raise CompareError(
            f"sample {sid!r} has index {j.loc[bad, 'index_a'].iloc[0]} in run A and "
            f"{j.loc[bad, 'index_b'].iloc[0]} in run B: the runs used differently ordered data files; "
            "compare runs trained on the same pickle"
        )
    j = j.drop(columns="index_b").rename(columns={"index_a": "index"})
    return j.sort_values("index", kind="stable").reset_index(drop=True)


def agreement(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Pearson r, mean |x - y|) of two equal-length vectors; r is NaN when either is constant or n < 2."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise CompareError(f"agreement: shapes differ {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan"), float("nan")
    mad = float(np.mean(np.abs(x - y)))
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    r = float(dx @ dy) / den if x.size >= 2 and den > 0 else float("nan")
    return r, mad


def label_agreement(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per modality: ``modality, n, pearson_r, mean_abs_diff`` of ``label_pairs`` output (run A vs run B)."""
    rows = []
    for m in UNIMODAL:
        ca, cb = f"label_{m}_a", f"label_{m}_b"
        if ca in pairs.columns and cb in pairs.columns:
            r, mad = agreement(pairs[ca].to_numpy(), pairs[cb].to_numpy())
            rows.append({"modality": m, "n": len(pairs), "pearson_r": r, "mean_abs_diff": mad})
    return pd.DataFrame(rows, columns=["modality", "n", "pearson_r", "mean_abs_diff"])


def pairwise_agreement(labels: Mapping[str, pd.DataFrame], modality: str) -> pd.DataFrame:
    """Square ``run × run`` matrix of Pearson r between the runs' labels of one modality (1.0 on the diagonal,
    NaN where a run is constant on the samples it shares with the other, or they share fewer than two). Useful
    for "how stable are generated labels across seeds" with >2 runs.

    Each pair is compared on the samples both runs have (matched by sample_id, as :func:`label_pairs`), but in
    one pass: the labels are aligned into a (samples × runs) matrix once and every pair's sums come from matrix
    products, so 200 runs cost a few (R × N) @ (N × R) products instead of 19,900 joins. Raises
    :class:`CompareError` like :func:`label_pairs` (duplicate ids in a run, an id at different indices)."""
    names = list(labels)
    col = f"label_{modality}"
    parts = []
    for j, name in enumerate(names):
        df = labels[name]
        if df["sample_id"].duplicated().any():
            raise CompareError("a label table has duplicate sample_id rows; pass a single epoch (final_labels)")
        vals = df[col].to_numpy(np.float64) if col in df.columns else np.full(len(df), np.nan)
        parts.append(pd.DataFrame({"sample_id": df["sample_id"].to_numpy(), "index": df["index"].to_numpy(),
                                   "run": j, "value": vals}))  # fmt: skip
    mat = pd.DataFrame(np.nan, index=names, columns=names, dtype=float)
    if not parts:
        return mat
    long = pd.concat(parts, ignore_index=True)
    n_index = long.groupby("sample_id", sort=False)["index"].nunique()
    if (n_index > 1).any():
        sid = n_index.index[np.argmax(n_index.to_numpy() > 1)]
        raise CompareError(
            f"sample {sid!r} has different indices in the runs: they used differently ordered data files; "
            "compare runs trained on the same pickle"
        )
    rows, sids = pd.factorize(long["sample_id"])
    x = np.full((len(sids), len(names)), np.nan)
    x[rows, long["run"].to_numpy()] = long["value"].to_numpy()
    r = _pairwise_r(x)
    np.fill_diagonal(r, 1.0)
    mat.loc[:, :] = r
    return mat


def _pairwise_r(x: np.ndarray) -> np.ndarray:
    """(R, R) Pearson r of the columns of ``x`` (N, R), each pair over the rows where both are not NaN."""
    present = ~np.isnan(x)
    m = present.astype(np.float64)
    # centre each column first: r is shift-invariant, and a column constant on its rows becomes exact zeros
    x = np.where(present, x, 0.0)
    x = np.where(present, x - x.sum(axis=0) / np.maximum(m.sum(axis=0), 1.0), 0.0)
    n = m.T @ m  # (a, b): rows where both runs have a label
    s = x.T @ m  # (a, b): sum of run a's labels over those rows
    sq = (x * x).T @ m
    p = x.T @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = p - s * s.T / n
        var_a, var_b = sq - s * s / n, (sq - s * s / n).T
        scale = np.maximum(sq, sq.T)
        ok = (n >= 2) & (var_a > 1e-12 * scale) & (var_b > 1e-12 * scale)
        return np.where(ok, cov / np.sqrt(np.where(ok, var_a * var_b, 1.0)), np.nan)


def label_scatter(pairs: pd.DataFrame, name_a: str, name_b: str, stats: pd.DataFrame | None = None) -> go.Figure:
    """One scatter per unimodal modality (side by side): run A's generated label (x) vs run B's (y), with the
    identity line; subplot titles carry Pearson r and mean |Δ|. Hover shows ``sample_id``."""
    from plotly.subplots import make_subplots

    stats = label_agreement(pairs) if stats is None else stats
    mods = stats["modality"].tolist()
    titles = [
        f"{m} ({MODALITY_NAMES[m]}): r = {_fmt(r)}, mean |Δ| = {_fmt(d)}"
        for m, r, d in zip(mods, stats["pearson_r"], stats["mean_abs_diff"])
    ]
    fig = make_subplots(rows=1, cols=max(len(mods), 1), subplot_titles=titles or None, horizontal_spacing=0.06)
    for i, m in enumerate(mods, start=1):
        xa, yb = pairs[f"label_{m}_a"], pairs[f"label_{m}_b"]
        lo = float(min(xa.min(), yb.min())) if len(pairs) else -1.0
        hi = float(max(xa.max(), yb.max())) if len(pairs) else 1.0
        fig.add_trace(
            go.Scattergl(
                x=xa,
                y=yb,
                mode="markers",
                marker={"size": 4, "opacity": 0.5},
                name=m,
                customdata=pairs["sample_id"],
                hovertemplate="%{customdata}<br>A %{x:.3f}<br>B %{y:.3f}<extra>" + m + "</extra>",
                showlegend=False,
            ),
            row=1,
            col=i,
        )
        fig.add_trace(
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "grey"}, showlegend=False),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text=f"label_{m}: {name_a}", row=1, col=i)
        fig.update_yaxes(title_text=f"label_{m}: {name_b}" if i == 1 else None, row=1, col=i)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=380, margin={"t": 60, "b": 10})
    return fig


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


# ----------------------------------------------------------------------------------------------------------------
# the experiment's results table


def load_results(exp_dir: str | os.PathLike) -> pd.DataFrame | None:
    """The experiment's ``results.csv`` (``variant, metric, mean, std, n`` at least), or None when absent.

    Raises :class:`CompareError` naming the file when it exists but lacks those columns.
    """
    path = Path(exp_dir) / RESULTS_CSV
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: unreadable ({exc}); re-run `python -m selfmm experiment` to rewrite it") from exc
    missing = {"variant", "metric", "mean", "std"} - set(df.columns)
    if missing:
        raise CompareError(
            f"{path}: missing columns {sorted(missing)} (expected variant, metric, mean, std, n); "
            "re-run `python -m selfmm experiment` to rewrite it"
        )
    return df


def results_wide(results: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Pivot ``results.csv`` to one row per variant, one ``mean ± std`` string column per metric (+ ``n``).

    Variant and metric order follow their first appearance in the file (the experiment's own order).
    """
    variants = list(dict.fromkeys(results["variant"].astype(str)))
    metrics = list(dict.fromkeys(results["metric"].astype(str)))
    cells = {
        (str(v), str(m)): f"{mu:.{digits}f}" + ("" if pd.isna(sd) else f" ± {sd:.{digits}f}")
        for v, m, mu, sd in zip(results["variant"], results["metric"], results["mean"], results["std"])
    }
    out = pd.DataFrame(
        [[v] + [cells.get((v, m), "") for m in metrics] for v in variants], columns=["variant", *metrics]
    )
    if "n" in results.columns:
        n = results.groupby(results["variant"].astype(str), sort=False)["n"].max()
        out.insert(1, "n", out["variant"].map(n).astype("Int64"))
    return out


# ----------------------------------------------------------------------------------------------------------------
# same data? (run.json dataset.sha256): sample ids only mean the same sample within one dataset file

SHA_SHORT = 12  # characters of a sha256 shown in messages


def _data_key(manifest: Mapping) -> tuple[str | None, str]:
    ds = (manifest or {}).get("dataset") or {}
    return (str(ds["sha256"]) if ds.get("sha256") else None), str(ds.get("name") or "?")


def data_mismatch(manifests: Mapping[str, Mapping]) -> str | None:
    """One sentence when the runs (``{label: run.json}``) record different dataset files (``dataset.sha256``),
    naming each file's runs; None when every recorded sha256 agrees. Runs without a sha256 are not counted here
    (see :func:`pair_data_check`). Dataset *names* are not evidence: two synthetic files can both be "sims"."""
    groups: dict[str, list[str]] = {}
    for label, m in manifests.items():
        sha, name = _data_key(m)
        if sha is not None:
            groups.setdefault(f"{name} sha256 {sha[:SHA_SHORT]}…", []).append(label)
    if len(groups) < 2:
        return None
    parts = "; ".join(f"{g} ({', '.join(labels)})" for g, labels in groups.items())
    return f"The selected runs were trained on different dataset files: {parts}. Their metrics are not comparable."


def pair_data_check(manifest_a: Mapping, manifest_b: Mapping) -> tuple[bool, str | None]:
    """Whether two runs' generated labels may be matched by sample_id: ``(ok, note)``.

    Different recorded sha256 -> ``(False, why)``: the same id can name different samples in two files. A
    missing sha256 -> ``(True, caution)``: the match cannot be verified. Same sha256 -> ``(True, None)``."""
    (sa, na), (sb, nb) = _data_key(manifest_a), _data_key(manifest_b)
    if sa is not None and sb is not None and sa != sb:
        return False, (
            f"Runs A and B were trained on different dataset files ({na} sha256 {sa[:SHA_SHORT]}… vs {nb} sha256 "
            f"{sb[:SHA_SHORT]}…): their sample ids do not name the same samples, so their labels are not matched. "
            "Pick two runs trained on the same file."
        )
    if sa is None or sb is None:
        return True, "One of the runs does not record its dataset's sha256: matching by sample_id is unverified."
    return True, None
