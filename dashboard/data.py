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

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from selfmm import analysis as A
from selfmm.analysis import confusion3  # noqa: F401 - re-exported for the pages: one definition
from selfmm.config import MODALITIES, UNIMODAL

RUNS_ENV = "SELFMM_RUNS_DIR"
DEFAULT_RUN = "demo-sims"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS_ROOT = REPO_ROOT / "checkpoints"
SPLITS = ("train", "valid", "test")


class DashboardDataError(RuntimeError):
    """A run cannot be shown; the message names the run folder or file and says what to do."""


# ==============================================================================================================
# runs root and run list


def runs_root_from(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    default: Path | str = DEFAULT_RUNS_ROOT,
) -> Path:
    """Resolve the runs folder: ``--runs DIR`` / ``--runs=DIR`` in ``argv`` > ``$SELFMM_RUNS_DIR`` > ``default``.

    ``streamlit run dashboard/app.py -- --runs DIR`` puts ``--runs DIR`` into the script's ``sys.argv``.
    """
    argv = list(argv or [])
    for i, arg in enumerate(argv):
        if arg == "--runs" and i + 1 < len(argv):
            return Path(argv[i + 1]).expanduser()
        if arg.startswith("--runs="):
            return Path(arg.split("=", 1)[1]).expanduser()
    env = (environ if environ is not None else os.environ).get(RUNS_ENV)
    if env:
        return Path(env).expanduser()
    return Path(default)


def list_runs(root: Path | str, max_depth: int | None = None) -> pd.DataFrame:
    """One row per run folder under ``root``, found by :func:`selfmm.runs.discovery.list_runs` (the one run discovery:
    recursive, so experiment runs ``<exp>/<variant>/seed_<n>`` are listed; newest first), plus ``key`` (the
    folder's path relative to ``root``, ``/``-joined, e.g. ``demo-sims`` or ``exp1/ulgm/seed_1111``: what the
    picker and the URL use), ``run_dir`` (absolute) and ``mtime`` (of run.json). Broken folders are listed with
    status "broken" and their error. An empty frame (same columns) for a missing or empty ``root``."""
    from selfmm.runs.discovery import LIST_RUNS_MAX_DEPTH, list_runs

    root = Path(root)
    base = ["key", "run_id", "run_dir", "status", "error", "mtime"]
    if not root.is_dir():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in base})
    depth = LIST_RUNS_MAX_DEPTH if max_depth is None else max_depth
    df = list_runs(root, max_depth=depth)
    if df is None or len(df) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in base})
    df = df.copy()
    # keys from the paths as found under root (a symlink to a run elsewhere keeps its name under root); run_dir
    # resolved. Paths are printable already (discovery escapes a name that is not UTF-8; such a run is broken)
    base_dir = root.absolute()
    found = [Path(p) if Path(p).is_absolute() else Path.cwd() / p for p in df["path"].astype(str)]
    df["run_dir"] = [str(p.resolve()) for p in found]
    # root itself may be a run folder: its key is then its own name
    df["key"] = [p.relative_to(base_dir).as_posix() if p != base_dir else p.name for p in found]
    df["mtime"] = [_mtime(Path(d) / "run.json") for d in df["run_dir"]]
    return df[base + [c for c in df.columns if c not in base]].reset_index(drop=True)


SHIPPED_DEMOS = ("demo-sims", "demo-sims-plgm")  # committed under checkpoints/: not the user's own runs


def pick_default_run(runs: pd.DataFrame) -> str | None:
    """The newest run that opens (``runs`` is newest first), so a run just trained is what the app shows; the
    shipped demos in the repo's ``checkpoints/`` count only when there is no other run, ``demo-sims`` first.
    None for no runs."""
    if runs is None or len(runs) == 0:
        return None
    shipped_root = str(DEFAULT_RUNS_ROOT.resolve())
    demo = runs["key"].isin(SHIPPED_DEMOS) & runs["run_dir"].map(lambda d: str(Path(d).parent) == shipped_root)
    ok = runs["status"].astype(str) != "broken"
    own = runs.loc[ok & ~demo, "key"]
    if len(own):
        return str(own.iloc[0])
    keys = list(runs.loc[ok, "key"]) or list(runs["key"])
    return DEFAULT_RUN if DEFAULT_RUN in keys else keys[0]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def run_mtime(run_dir: Path | str) -> float:
    """Cache key part: run.json is rewritten atomically at every committed epoch and at the end of a run."""
    return _mtime(Path(run_dir) / "run.json")


def projections_mtime(run_dir: Path | str) -> float:
    """Cache key part for projections (written at the end of training, or on demand from the dashboard)."""
    d = Path(run_dir) / "projections"
    if not d.is_dir():
        return 0.0
    return max([_mtime(p) for p in d.glob("*.parquet")] + [_mtime(d)])


# ==============================================================================================================
# the loaded run


@dataclass
class RunData:
    """One run, loaded once and pivoted to wide arrays. Treat as read-only (it may be shared through a cache).

    Shapes: ``N`` = train samples, ``E`` = label epochs (incl. 0 = initial labels), ``P`` = prediction epochs,
    ``N_s`` = samples of split ``s``.
    """

    run_dir: str
    run_id: str
    manifest: dict
    status: str  # running | finished | failed | interrupted | stale
    epochs: list[int]  # committed epochs with label files
    metrics: pd.DataFrame  # metrics.jsonl as a frame (epoch, split, loss, "<what>/<metric>" ...)
    samples: pd.DataFrame  # all splits; index = sample_id; split, index, raw_text, y_m, [y_T, y_A, y_V]
    label_epochs: np.ndarray  # (E,) int
    gen: dict[str, np.ndarray]  # "T"|"A"|"V" -> (N, E) float32, row = train index
    weight: dict[str, np.ndarray]  # "T"|"A"|"V" -> (N, E) float32
    pred_epochs: np.ndarray  # (P,) int
    pred: dict[str, dict[str, np.ndarray]]  # split -> "M".."V" -> (N_s, P) float32 (NaN where not recorded)
    warnings: list[str] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return str((self.manifest.get("config") or {}).get("dataset") or "sims")

    @property
    def has_human(self) -> bool:
        return all(f"y_{m}" in self.samples.columns for m in UNIMODAL)

    @property
    def label_range(self) -> float:
        return float(
            (self.manifest.get("dataset") or {}).get("label_range") or (1.0 if "sims" in self.dataset else 3.0)
        )

    @property
    def best_epoch(self) -> int | None:
        best = self.manifest.get("best") or {}
        e = best.get("epoch")
        return int(e) if e is not None else None

    def split_frame(self, split: str) -> pd.DataFrame:
        """Samples of one split, sorted by ``index`` (row i = the split's index i)."""
        return self.samples[self.samples["split"] == split].sort_values("index")


def _read(what: str, run_dir: Path, fn):
    """Call a RunReader method; turn any failure into a DashboardDataError naming the run and the table."""
    try:
        return fn()
    except DashboardDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader failure must become a message, never a traceback
        raise DashboardDataError(
            f"Could not read the {what} of run {run_dir}: {exc}. The file may be corrupt or still being written; "
            "re-run training with --resume, or delete the run folder."
        ) from exc


def load_run(run_dir: Path | str) -> RunData:
    """Read a run folder and pivot its tables. Raises :class:`DashboardDataError` with a readable message."""
    from selfmm.runs.reader import RunReader

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise DashboardDataError(
            f"{run_dir} has no run.json: it is not a selfmm run folder (or training has not started yet). "
            "Pick another run, or point the dashboard at the folder that holds run folders (--runs DIR)."
        )
    try:
        reader = RunReader(run_dir)
    except Exception as exc:  # RunError: corrupt/missing run.json, newer schema
        raise DashboardDataError(f"Cannot open run {run_dir.name}: {exc}") from exc

    manifest = dict(reader.manifest)
    epochs = sorted(int(e) for e in reader.epochs)
    metrics = _read("metrics (metrics.jsonl)", run_dir, reader.metrics)
    samples = _read("samples (samples.parquet)", run_dir, reader.samples)
    samples = _prepare_samples(samples, run_dir)
    # straight into Arrow, only the columns the pivots need (3x faster than RunReader.labels() at MOSEI size);
    # the reader checks them (types, rows inside their split) and records a warning for what it drops
    label_cols = ["epoch", "index"] + [f"{k}_{m}" for k in ("label", "weight") for m in UNIMODAL]
    pred_cols = ["epoch", "split", "index"] + [f"pred_{m}" for m in MODALITIES]
    labels = _read("labels", run_dir, lambda: reader.epoch_table("labels", epochs, label_cols))
    preds = _read(
        "predictions", run_dir, lambda: reader.epoch_table("predictions", reader.prediction_epochs, pred_cols)
    )
    warnings = [w for w in [reader.schema_warning, *reader.warnings] if w]
    n_train = int((samples["split"] == "train").sum())
    label_epochs, gen, weight = _pivot_labels(labels, n_train)
    pred_epochs, pred = _pivot_predictions(preds, samples)
    # only epochs the manifest committed (readers never show a half-written epoch)
    return RunData(
        run_dir=str(run_dir),
        run_id=run_dir.name,
        manifest=manifest,
        status=str(reader.status),
        epochs=epochs,
        metrics=metrics if metrics is not None else pd.DataFrame(),
        samples=samples,
        label_epochs=label_epochs,
        gen=gen,
        weight=weight,
        pred_epochs=pred_epochs,
        pred=pred,
        warnings=warnings,
    )


def _col(table, name: str, dtype) -> np.ndarray:
    return table.column(name).to_numpy().astype(dtype, copy=False)


def _prepare_samples(samples: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    need = {"sample_id", "split", "index", "y_m"}
    missing = need - set(samples.columns)
    if missing:
        raise DashboardDataError(
            f"{run_dir / 'samples.parquet'} lacks columns {sorted(missing)}; it was written by an incompatible "
            "version. Re-run training to rewrite the run."
        )
    s = samples.copy()
    if "raw_text" not in s.columns:
        s["raw_text"] = ""
    s["sample_id"] = s["sample_id"].astype(str)
    s["split"] = s["split"].astype(str)
    s["index"] = s["index"].astype(np.int64)
    order = {k: i for i, k in enumerate(SPLITS)}
    s["_o"] = s["split"].map(order).fillna(len(SPLITS))
    s = s.sort_values(["_o", "index"], kind="stable").drop(columns="_o")
    if s["sample_id"].duplicated().any():
        # ids are unique in MMSA pickles; when they are not, make them unique per split so lookups stay exact
        s["sample_id"] = s["split"] + "/" + s["sample_id"]
    return s.set_index("sample_id", drop=False).rename_axis(None)


def _positions(table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrow long table -> (sorted unique epochs (E,), each row's epoch column, each row's sample ``index``)."""
    ep = _col(table, "epoch", np.int64)
    epochs = np.unique(ep)
    return epochs, np.searchsorted(epochs, ep), _col(table, "index", np.int64)


def _pivot_labels(labels, n_train: int):
    """Long labels (Arrow: epoch, index, label_X, weight_X) -> (E,), {X: (N, E)}, {X: (N, E)}."""
    if labels is None or len(labels) == 0:
        empty = {m: np.zeros((n_train, 0), np.float32) for m in UNIMODAL}
        return np.zeros(0, np.int64), empty, dict(empty)
    epochs, col, row = _positions(labels)
    n = max(n_train, int(row.max()) + 1)
    gen, weight = {}, {}
    for m in UNIMODAL:
        for src, dst in ((f"label_{m}", gen), (f"weight_{m}", weight)):
            vals = _col(labels, src, np.float32) if src in labels.column_names else np.float32(np.nan)
            dst[m] = A.to_wide(row, col, vals, (n, len(epochs)))
    return epochs, gen, weight


def _pivot_predictions(preds, samples: pd.DataFrame):
    """Long predictions (Arrow: epoch, split, index, pred_X) -> (P,), {split: {X: (N_s, P)}}."""
    sizes = samples.groupby("split", sort=False)["index"].max().add(1).to_dict()
    if preds is None or len(preds) == 0:
        return np.zeros(0, np.int64), {
            s: {m: np.zeros((int(sizes.get(s, 0)), 0), np.float32) for m in MODALITIES} for s in SPLITS
        }
    import pyarrow.compute as pc

    epochs, col_all, row_all = _positions(preds)
    out: dict[str, dict[str, np.ndarray]] = {}
    for s in SPLITS:
        mask = pc.equal(preds.column("split"), s).to_numpy(zero_copy_only=False)
        row, col = row_all[mask], col_all[mask]
        n = int(sizes.get(s, 0))
        if len(row):
            n = max(n, int(row.max()) + 1)
        out[s] = {}
        for m in MODALITIES:
            has = f"pred_{m}" in preds.column_names
            vals = _col(preds, f"pred_{m}", np.float32)[mask] if has else np.float32(np.nan)
            out[s][m] = A.to_wide(row, col, vals, (n, len(epochs)))
    return epochs, out


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


# ==============================================================================================================
# per-sample table and drill-down


def nearest_epoch(epochs: np.ndarray, epoch: int | None) -> int | None:
    """The recorded epoch closest to ``epoch`` (latest when None); None when nothing is recorded."""
    if len(epochs) == 0:
        return None
    if epoch is None:
        return int(epochs[-1])
    return int(epochs[np.argmin(np.abs(np.asarray(epochs) - int(epoch)))])


def sample_table(run: RunData, epoch: int | None = None) -> pd.DataFrame:
    """One row per sample (every split) at ``epoch`` (default: the last; the nearest recorded one otherwise),
    index = sample_id: identity, human labels, generated labels ``gen_T|A|V`` and weights ``w_T|A|V`` (train only,
    NaN elsewhere), head predictions ``pred_M..V``, ``err_M`` = |pred_M − y_m|, and the derived columns of
    :func:`selfmm.analysis.sample_columns` (gen_minus_ym_*, gen_ym_max, abs_err_*, gen_human_max,
    human_/gen_conflict and _strength, sign_flips_* and sign_flips, settle_epoch_* over all label epochs; the
    integer ones are <NA> outside train). The same numbers as :func:`selfmm.analysis.sample_table` on the run's
    RunReader frames, where ``label_*`` / ``weight_*`` are called ``gen_*`` / ``w_*`` here.
    """
    s = run.samples
    out = pd.DataFrame(
        {"sample_id": s["sample_id"].to_numpy(), "split": s["split"].to_numpy(), "index": s["index"].to_numpy(),
         "raw_text": s["raw_text"].astype(str).to_numpy(), "y_m": s["y_m"].to_numpy(np.float32)}
    )  # fmt: skip
    n = len(out)
    if run.has_human:
        for m in UNIMODAL:
            out[f"y_{m}"] = s[f"y_{m}"].to_numpy(np.float32)
    split_arr, idx_arr = out["split"].to_numpy(), out["index"].to_numpy()
    train = split_arr == "train"
    tr_idx = idx_arr[train]
    le = nearest_epoch(run.label_epochs, epoch)
    history = {}  # (n, E) generated labels of every sample, NaN rows outside train
    for m in UNIMODAL:
        history[m] = np.full((n, len(run.label_epochs)), np.nan, np.float32)
        history[m][train] = run.gen[m][tr_idx]
        w = np.full(n, np.nan, np.float32)
        if le is not None:
            j = int(np.searchsorted(run.label_epochs, le))
            w[train] = run.weight[m][tr_idx, j]
        out[f"gen_{m}"] = history[m][:, j] if le is not None else np.full(n, np.nan, np.float32)
        out[f"w_{m}"] = w
    pe = nearest_epoch(run.pred_epochs, epoch)
    for m in MODALITIES:
        p = np.full(n, np.nan, np.float32)
        if pe is not None:
            j = int(np.searchsorted(run.pred_epochs, pe))
            for sp, arrs in run.pred.items():
                sel = split_arr == sp
                if sel.any() and arrs[m].shape[1]:
                    p[sel] = arrs[m][idx_arr[sel], j]
        out[f"pred_{m}"] = p
    ym = out["y_m"].to_numpy()
    out["err_M"] = np.abs(out["pred_M"].to_numpy() - ym)
    human = {m: out[f"y_{m}"].to_numpy() for m in UNIMODAL} if run.has_human else None
    gen = {m: out[f"gen_{m}"].to_numpy() for m in UNIMODAL}
    derived = A.sample_columns(ym, human, gen, history if le is not None else None, run.label_epochs)
    out = pd.concat([out, pd.DataFrame(derived)], axis=1)
    out.index = out["sample_id"].to_numpy()
    return out


@dataclass
class SampleFilter:
    """Filter values of the Samples page; None / empty means "no filter"."""

    splits: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> inclusive (lo, hi)
    human_conflict: tuple[str, ...] = ()
    gen_conflict: tuple[str, ...] = ()
    min_gen_human: float | None = None
    min_gen_ym: float | None = None
    sign_flips_only: bool = False
    text: str = ""
    ids: tuple[str, ...] | None = None  # restrict to these sample ids (a box/lasso selection)


def filter_samples(table: pd.DataFrame, f: SampleFilter) -> pd.DataFrame:
    """Rows of :func:`sample_table` passing every active filter (vectorised; order kept)."""
    mask = np.ones(len(table), bool)
    if f.splits:
        mask &= table["split"].isin(list(f.splits)).to_numpy()
    for col, (lo, hi) in f.ranges.items():
        if col in table.columns:
            v = table[col].to_numpy(np.float64)
            mask &= (v >= lo) & (v <= hi)
    if f.human_conflict and "human_conflict" in table.columns:
        mask &= table["human_conflict"].isin(list(f.human_conflict)).to_numpy()
    if f.gen_conflict:
        mask &= table["gen_conflict"].isin(list(f.gen_conflict)).to_numpy()
    if f.min_gen_human is not None and "gen_human_max" in table.columns:
        mask &= table["gen_human_max"].to_numpy(np.float64) >= f.min_gen_human
    if f.min_gen_ym is not None:
        mask &= table["gen_ym_max"].to_numpy(np.float64) >= f.min_gen_ym
    if f.sign_flips_only and "sign_flips" in table.columns:
        mask &= table["sign_flips"].to_numpy(dtype=np.float64, na_value=np.nan) > 0
    if f.text:
        q = f.text.lower()
        mask &= table["raw_text"].str.lower().str.contains(q, regex=False).fillna(False).to_numpy(bool) | table[
            "sample_id"
        ].str.lower().str.contains(q, regex=False).fillna(False).to_numpy(bool)
    if f.ids is not None:
        mask &= table["sample_id"].isin(list(f.ids)).to_numpy()
    return table[mask]


SORT_DEFAULT = "split, index"  # the table's natural order (train, valid, test; then the split's row index)


def sort_samples(table: pd.DataFrame, by: str = SORT_DEFAULT, descending: bool = False) -> pd.DataFrame:
    """The (filtered) sample table sorted by column ``by`` (stable; missing values last in both directions), or
    in its natural order for :data:`SORT_DEFAULT`. The CSV export uses the same order as the screen."""
    if by == SORT_DEFAULT or by not in table.columns:
        return table
    return table.sort_values(by, ascending=not descending, kind="stable", na_position="last")


def sort_choices(table: pd.DataFrame) -> list[str]:
    """Columns the Samples table can be sorted by: the natural order first, then every column but raw_text."""
    return [SORT_DEFAULT] + [c for c in table.columns if c not in ("raw_text", "index")]


# the Samples table's columns before the reader picks others: what fits at 1400 px (the CSV keeps every column)
SAMPLE_COLUMNS = ("sample_id", "split", "raw_text", "y_m", "y_T", "y_A", "y_V", "gen_T", "gen_A", "gen_V", "w_T",
                  "w_A", "w_V", "err_M", "gen_conflict")  # fmt: skip


def column_choices(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(every column, the default shown)`` of a :func:`sample_table` for the Samples page's column chooser
    (``index`` is internal and never offered; ``sample_id`` is always shown, so a row names its sample)."""
    cols = [c for c in table.columns if c != "index"]
    return cols, [c for c in SAMPLE_COLUMNS if c in cols]


def conflict_strength_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Train samples per conflict strength (the strongest over the conflicting modalities: "strong" = opposite
    polarity to M, "weak" = neutral against polar), human vs generated: ``strength, human, generated``."""
    tr = _train_rows(table)
    levels = ["none", "weak", "strong"]
    out = pd.DataFrame({"strength": levels})
    for src, col in (("human", "human_strength"), ("generated", "gen_strength")):
        counts = tr[col].astype(str).value_counts() if col in tr.columns else pd.Series(dtype=int)
        out[src] = [int(counts.get(lv, 0)) for lv in levels]
    return out


def sample_detail(run: RunData, sample_id: str) -> dict:
    """Everything the drill-down shows for one sample, by row lookup (O(epochs)).

    Returns ``{"info": dict (sample_id, split, index, raw_text, y_m, y_T..), "labels": DataFrame(epoch, gen_T,
    gen_A, gen_V, w_T, w_A, w_V) or empty (non-train samples), "predictions": DataFrame(epoch, pred_M..pred_V)}``.
    Raises KeyError for an unknown sample id.
    """
    row = run.samples.loc[sample_id]  # hash lookup on the sample_id index
    info = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    split, i = str(row["split"]), int(row["index"])
    labels = pd.DataFrame({"epoch": run.label_epochs.astype(int)})
    if split == "train" and len(run.label_epochs):
        for m in UNIMODAL:
            labels[f"gen_{m}"] = run.gen[m][i]
        for m in UNIMODAL:
            labels[f"w_{m}"] = run.weight[m][i]
    else:
        labels = labels.iloc[0:0]
    preds = pd.DataFrame({"epoch": run.pred_epochs.astype(int)})
    arrs = run.pred.get(split, {})
    for m in MODALITIES:
        a = arrs.get(m)
        preds[f"pred_{m}"] = a[i] if a is not None and i < a.shape[0] and a.shape[1] else np.nan
    return {"info": info, "labels": labels, "predictions": preds}


# ==============================================================================================================
# label dynamics


def label_quantiles(run: RunData) -> pd.DataFrame:
    """Distribution of generated labels per modality and epoch: ``modality, epoch, min, q25, median, q75, max,
    mean, std`` (train split). Precomputed, so a box chart does not ship N×E points to the browser."""
    rows = []
    for m in UNIMODAL:
        a = run.gen[m]
        if a.shape[1] == 0:
            continue
        q = np.nanpercentile(a, [0, 25, 50, 75, 100], axis=0)
        rows.append(pd.DataFrame({"modality": m, "epoch": run.label_epochs.astype(int), "min": q[0], "q25": q[1],
                                  "median": q[2], "q75": q[3], "max": q[4], "mean": np.nanmean(a, axis=0),
                                  "std": np.nanstd(a, axis=0)}))  # fmt: skip
    cols = ["modality", "epoch", "min", "q25", "median", "q75", "max", "mean", "std"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def label_drift(run: RunData) -> pd.DataFrame:
    """Mean |y_s − y_m| per epoch and modality over the train split (:func:`selfmm.analysis.drift_by_epoch`):
    ``modality, epoch, mean_abs_diff``, plus the mean subtask weight ``mean_weight``."""
    tr = run.split_frame("train")
    idx, ym = tr["index"].to_numpy(), tr["y_m"].to_numpy(np.float32)
    rows = [
        pd.DataFrame(
            {
                "modality": m,
                "epoch": run.label_epochs.astype(int),
                "mean_abs_diff": A.drift_by_epoch(run.gen[m][idx], ym),
                "mean_weight": A.nanmean_by_epoch(run.weight[m][idx]),
            }
        )  # fmt: skip
        for m in UNIMODAL
        if run.gen[m].shape[1]
    ]
    cols = ["modality", "epoch", "mean_abs_diff", "mean_weight"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def cartography(run: RunData, modality: str, from_epoch: int = 1) -> pd.DataFrame:
    """Per train sample, the mean and the standard deviation of its generated ``modality`` label over epochs
    ``>= from_epoch`` (epoch 0 is the y_m initialisation; all epochs when none is that late), from
    :func:`selfmm.analysis.label_stats`: ``sample_id, mean, variability, final, y_m`` (+ ``human``, + the
    ``sign_flips`` and ``settle_epoch`` of the same epochs). Index = sample_id."""
    tr = run.split_frame("train")
    sel = run.label_epochs >= from_epoch
    if not sel.any():
        sel = np.ones(len(run.label_epochs), bool)
    out = pd.DataFrame({"sample_id": tr["sample_id"].to_numpy()})
    if len(run.label_epochs):
        stats = A.label_stats(run.label_epochs[sel], run.gen[modality][tr["index"].to_numpy()][:, sel])
        out["mean"], out["variability"], out["final"] = stats["mean"], stats["std"], stats["final"]
        out["sign_flips"], out["settle_epoch"] = stats["sign_flips"], stats["settle_epoch"]
    else:
        out["mean"] = out["variability"] = out["final"] = np.nan
    out["y_m"] = tr["y_m"].to_numpy(np.float32)
    if run.has_human:
        out["human"] = tr[f"y_{modality}"].to_numpy(np.float32)
    out.index = out["sample_id"].to_numpy()
    return out


# ==============================================================================================================
# generated vs human


def gen_vs_human_by_epoch(run: RunData) -> pd.DataFrame:
    """Per label epoch and modality, the generated labels (train) against the human unimodal labels
    (:func:`selfmm.analysis.agreement_frame`): ``epoch, modality, n, pearson_r, mae, acc_2, acc_3``. Empty
    without human labels."""
    if not run.has_human:
        return A.agreement_frame([], {})
    tr = run.split_frame("train")
    idx = tr["index"].to_numpy()
    return A.agreement_frame(run.label_epochs, {m: (run.gen[m][idx], tr[f"y_{m}"].to_numpy()) for m in UNIMODAL})


def heads_vs_human_by_epoch(run: RunData, split: str) -> pd.DataFrame:
    """Per prediction epoch and unimodal head, the head's predictions on ``split`` against the human unimodal
    labels: the columns of :func:`gen_vs_human_by_epoch`."""
    if not run.has_human or split not in run.pred:
        return A.agreement_frame([], {})
    sf = run.split_frame(split)
    idx = sf["index"].to_numpy()
    pairs = {m: (run.pred[split][m][idx], sf[f"y_{m}"].to_numpy()) for m in UNIMODAL}
    return A.agreement_frame(run.pred_epochs, pairs)


def ym_vs_human(run: RunData, split: str = "train") -> pd.DataFrame:
    """The baseline of every agreement chart: y_m itself taken as each modality's label, against the human
    unimodal labels of ``split`` (one row per modality, the columns of :func:`gen_vs_human_by_epoch`, epoch 0).
    A generated label or a head below it does worse than simply copying y_m."""
    if not run.has_human:
        return A.agreement_frame([], {})
    sf = run.split_frame(split)
    ym = sf["y_m"].to_numpy()[:, None]
    return A.agreement_frame([0], {m: (ym, sf[f"y_{m}"].to_numpy()) for m in UNIMODAL})


# ==============================================================================================================
# conflicts (train rows of sample_table; categories and outcomes defined in selfmm.analysis)


def _train_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["split"] == "train"]


def conflict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Train samples per conflict category, human vs generated: ``category, human, generated``
    (:func:`selfmm.analysis.conflict_counts`)."""
    return A.conflict_counts(_train_rows(table))


def conflict_confusion(table: pd.DataFrame) -> pd.DataFrame:
    """Cross-table of train samples: rows = human conflict category, columns = generated conflict category
    (:func:`selfmm.analysis.conflict_confusion`); empty without human labels."""
    if "human_conflict" not in table.columns:
        return pd.DataFrame()
    return A.conflict_confusion(_train_rows(table))


def conflict_outcomes(table: pd.DataFrame) -> pd.DataFrame:
    """Per train sample and modality where the human or the generated label conflicts with M: ``sample_id, index,
    modality, y_m, human, generated, outcome, raw_text`` with outcome recovered | partial | missed | spurious
    (:func:`selfmm.analysis.conflict_recovery`)."""
    return A.conflict_recovery(_train_rows(table), gen_prefix="gen_")


# ==============================================================================================================
# embeddings


COLOR_CHOICES = (
    "split", "y_m", "y_T", "y_A", "y_V", "gen_T", "gen_A", "gen_V", "w_T", "w_A", "w_V",
    "human_conflict", "gen_conflict", "err_M", "pred_M",
)  # fmt: skip


def color_choices(table: pd.DataFrame) -> list[str]:
    """Every column of :func:`sample_table` a projection can be coloured by: the common ones of
    :data:`COLOR_CHOICES` first (those present), then all other columns except identifiers and text."""
    first = [c for c in COLOR_CHOICES if c == "split" or c in table.columns]
    rest = [c for c in table.columns if c not in first and c not in ("sample_id", "index", "raw_text")]
    return first + rest


def load_projections(run_dir: Path | str, method: str | None = None) -> pd.DataFrame | None:
    """projections/<method>.parquet as one frame (or None when none were computed)."""
    from selfmm.runs.reader import RunReader

    try:
        df = RunReader(run_dir).projections(method)
    except Exception as exc:  # noqa: BLE001
        raise DashboardDataError(
            f"Could not read projections of {run_dir}: {exc}. Delete the projections/ folder and recompute them."
        ) from exc
    if df is None or len(df) == 0:
        return None
    df = df.copy()
    df["sample_id"] = df["sample_id"].astype(str)
    df["modality"] = df["modality"].astype(str)
    df["split"] = df["split"].astype(str)
    return df


def projection_view(proj: pd.DataFrame, table: pd.DataFrame, epoch: int, modality: str, color: str) -> pd.DataFrame:
    """Points of one (epoch, modality) projection joined with the colour column of :func:`sample_table`:
    ``sample_id, split, x, y, y_m[, y_T, y_A, y_V], color`` (the human labels for the hover). The join is on
    sample_id, so a projection never mislabels a point."""
    sub = proj[(proj["epoch"] == epoch) & (proj["modality"] == modality)]
    out = pd.DataFrame({"sample_id": sub["sample_id"].to_numpy(), "split": sub["split"].to_numpy(),
                        "x": sub["x"].to_numpy(np.float32), "y": sub["y"].to_numpy(np.float32)})  # fmt: skip
    for c in ("y_m", "y_T", "y_A", "y_V"):
        if c in table.columns:
            out[c] = table[c].reindex(out["sample_id"]).to_numpy(dtype=np.float64, na_value=np.nan)
    if color in table.columns and color != "split":
        col = table[color].reindex(out["sample_id"])
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            # nullable integer columns (sign_flips, settle_epoch: <NA> outside train) -> float with NaN for Plotly
            out["color"] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out["color"] = col.astype(str).to_numpy()
    else:
        out["color"] = out["split"]
    return out


def selected_ids(event) -> list[str]:
    """Sample ids of a Plotly selection event (``st.plotly_chart(on_select=...)``): each point carries its
    sample id as ``customdata[0]`` (or as plain ``customdata``)."""
    if not event:
        return []
    sel = event.get("selection", event) if hasattr(event, "get") else getattr(event, "selection", {})
    points = sel.get("points", []) if hasattr(sel, "get") else []
    ids = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list | tuple):
            cd = cd[0] if cd else None
        if cd is not None:
            ids.append(str(cd))
    return list(dict.fromkeys(ids))


def index_projections(proj: pd.DataFrame | None) -> pd.DataFrame | None:
    """The projection frame indexed by sample_id, so :func:`sample_positions` is a hash lookup."""
    if proj is None:
        return None
    return proj.set_index("sample_id", drop=False).rename_axis(None).sort_index()


def sample_positions(proj_by_id: pd.DataFrame | None, sample_id: str, epoch: int | None = None) -> pd.DataFrame:
    """Where one sample sits in each modality's projection at ``epoch`` (default: last projected):
    ``modality, x, y``. ``proj_by_id`` comes from :func:`index_projections`. Empty when not projected."""
    empty = pd.DataFrame(columns=["modality", "x", "y"])
    if proj_by_id is None or len(proj_by_id) == 0 or sample_id not in proj_by_id.index:
        return empty
    sub = proj_by_id.loc[[sample_id]]
    e = nearest_epoch(np.unique(sub["epoch"].to_numpy()), epoch)
    sub = sub[sub["epoch"] == e]
    return sub[["modality", "x", "y"]].reset_index(drop=True)


def csv_bytes(table: pd.DataFrame) -> bytes:
    """The (filtered) sample table as UTF-8 CSV for the download button (header row; the index is not written;
    strings quoted only where needed; missing values empty). Arrow's writer: ~8x faster than ``to_csv`` on the
    MOSEI-size table, which the page re-serialises on every rerun."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    pcsv.write_csv(pa.Table.from_pandas(table, preserve_index=False), buf, pcsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()
