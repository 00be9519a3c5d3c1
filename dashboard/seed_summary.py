"""Conflict recovery aggregated over seeds: per run, how many of the conflicts humans saw the generated labels
recovered, then mean ± std over each generator's runs. Pure (no Streamlit); the Label generators page shows it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from selfmm.analysis import conflict_recovery

UNIMODAL = ("T", "A", "V")
OUTCOMES = ("recovered", "partial", "missed", "spurious")


def recovery_counts(outcomes: pd.DataFrame) -> pd.DataFrame:
    """From :func:`dashboard.data.conflict_outcomes` of one run: per modality the counts of each outcome and
    ``recovery`` = recovered / (recovered + partial + missed), the share of the conflicts humans saw that the
    generated label got to the human polarity (NaN when humans saw none)."""
    counts = outcomes.groupby(["modality", "outcome"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=list(UNIMODAL), columns=list(OUTCOMES), fill_value=0).fillna(0).astype(int)
    seen = counts["recovered"] + counts["partial"] + counts["missed"]
    out = counts.reset_index().rename(columns={"index": "modality"})
    out["recovery"] = np.where(seen.to_numpy() > 0, counts["recovered"].to_numpy() / np.maximum(seen.to_numpy(), 1),
                               np.nan)  # fmt: skip
    return out


def recovery_from_frames(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """:func:`recovery_counts` of one run from its run-folder frames, without loading the run: ``labels`` is the
    last epoch's ``reader.labels(epoch)`` (sample_id, label_T/A/V), ``samples`` is ``reader.samples()``
    (sample_id, split, y_m, y_T/A/V). Train samples joined on sample_id (a train sample without a label counts
    as NaN, as in the sample table). The same counts as
    ``recovery_counts(data.conflict_outcomes(data.sample_table(run)))`` at the run's last label epoch."""
    human = [f"y_{m}" for m in UNIMODAL if f"y_{m}" in samples.columns]
    gen = [f"label_{m}" for m in UNIMODAL if f"label_{m}" in labels.columns]
    train = samples.loc[samples["split"] == "train", ["sample_id", "y_m", *human]]
    table = train.merge(labels[["sample_id", *gen]], on="sample_id", how="left")
    return recovery_counts(conflict_recovery(table, gen_prefix="label_"))


def run_recovery(reader) -> pd.DataFrame:
    """:func:`recovery_from_frames` of a run at its last committed epoch; ``reader``: a ``RunReader`` (read
    errors are its RunError). Reads one labels file and samples.parquet, never the predictions."""
    labels = reader.labels(reader.epochs[-1]) if reader.epochs else reader.labels()
    return recovery_from_frames(labels, reader.samples())


def recovery_over_seeds(per_run: Mapping[str, pd.DataFrame], generators: Mapping[str, str]) -> pd.DataFrame:
    """``{run label: recovery_counts}`` and ``{run label: generator}`` -> per generator and modality: ``runs``,
    ``recovery_mean``, ``recovery_std`` (sample std over runs; NaN for one run), ``recovered_mean``,
    ``missed_mean``, ``spurious_mean`` (counts, mean over runs)."""
    cols = ["generator", "modality", "runs", "recovery_mean", "recovery_std", "recovered_mean", "missed_mean",
            "spurious_mean"]  # fmt: skip
    parts = [df.assign(generator=generators[lab], run=lab) for lab, df in per_run.items() if lab in generators]
    if not parts:
        return pd.DataFrame(columns=cols)
    long = pd.concat(parts, ignore_index=True)
    g = long.groupby(["generator", "modality"], sort=False)
    out = pd.DataFrame({
        "runs": g["run"].nunique(), "recovery_mean": g["recovery"].mean(), "recovery_std": g["recovery"].std(ddof=1),
        "recovered_mean": g["recovered"].mean(), "missed_mean": g["missed"].mean(), "spurious_mean": g["spurious"].mean(),
    }).reset_index()  # fmt: skip
    out["_m"] = out["modality"].map({m: i for i, m in enumerate(UNIMODAL)})
    return out.sort_values(["generator", "_m"], kind="stable")[cols].reset_index(drop=True)
