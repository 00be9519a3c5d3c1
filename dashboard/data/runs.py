"""Run discovery: the runs root, the runs table, the default run, and the mtimes used as cache keys.

Pure pandas/numpy, no Streamlit; see :mod:`dashboard.data` for the conventions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

RUNS_ENV = "SELFMM_RUNS_DIR"
DEFAULT_RUN = "demo-sims"
REPO_ROOT = Path(__file__).resolve().parents[2]
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


def read_csv_checked(path: Path, needed, error: type[Exception], fix: str) -> pd.DataFrame | None:
    """A CSV table the runs folder holds (an experiment's or a sweep's results), or None when the file is absent.

    Raises ``error`` naming ``path`` and ``fix`` (what to run to rewrite it) when the file cannot be parsed or
    lacks one of the ``needed`` columns.
    """
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise error(
            f"{path}: unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); {fix}"
        ) from None
    missing = sorted(set(needed) - set(df.columns))
    if missing:
        raise error(f"{path}: missing columns {missing}; {fix}")
    return df
