"""The experiment's results table (results.csv).

Pure (no Streamlit); see :mod:`dashboard.compare` for the conventions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dashboard.compare.runs import (
    RESULTS_CSV,
    CompareError,
)
from dashboard.data.runs import read_csv_checked

# ----------------------------------------------------------------------------------------------------------------
# the experiment's results table


def load_results(exp_dir: str | os.PathLike) -> pd.DataFrame | None:
    """The experiment's ``results.csv`` (``variant, metric, mean, std, n`` at least), or None when absent.

    Raises :class:`CompareError` naming the file when it exists but lacks those columns.
    """
    return read_csv_checked(Path(exp_dir) / RESULTS_CSV, ("variant", "metric", "mean", "std"), CompareError,
                            "re-run `python -m selfmm experiment` to rewrite it")  # fmt: skip


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
