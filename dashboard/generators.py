"""Pure data functions of the "Label generators" page (no ``import streamlit``): runs trained on the same data,
side by side by label generator.

A *generator* is what produced a run's unimodal labels: the run's ``label_source`` for the Self-MM model
(``ulgm``, ``plgm``, ``human``, ``multimodal``), the model's name for another model (``cmc``). Runs are keyed by
their *run label* (the folder path relative to the runs root, the sidebar's key). Every per-epoch figure comes
from :mod:`selfmm.label_health` (one definition of each figure).

- :func:`run_rows` / :func:`same_data` pick the runs to compare and refuse runs trained on different data (runs
  are matched by the sha256 of their dataset file, run.json ``dataset.sha256``);
- :func:`health_long`, :func:`seed_bands`, :func:`ym_baseline`: r(generated, human) per epoch, mean and min–max
  over seeds per generator, and y_m's r as the baseline;
- :func:`generator_labels`, :func:`disagreements`: the final labels of every generator per sample (mean over its
  seeds) and the samples on which the generators disagree most;
- :func:`sample_trajectories`: one sample's label across epochs in every run;
- :func:`sample_overlay`: the same for T, A and V at once (the sample drill-down's overlay of every generator).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from selfmm import label_health

UNIMODAL = ("T", "A", "V")
SHA_SHORT = 12  # characters of a sha256 shown in messages


class PairingError(ValueError):
    """Runs cannot be compared (different or unknown data); the message names the runs and what to do."""


def generator_of(manifest: Mapping) -> str:
    """The generator name of a run: label_source for the Self-MM model, else the model's name."""
    info = label_health.run_info(dict(manifest), "")
    return info["label_source"] if info["model"] == "selfmm" else info["model"]


def data_sha(manifest: Mapping) -> str | None:
    """run.json ``dataset.sha256`` (the dataset file the run was trained on), or None when not recorded."""
    sha = (manifest.get("dataset") or {}).get("sha256")
    return str(sha) if sha else None


def run_rows(manifests: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per run from ``{run label: run.json}``: label, run_id, dataset, sha256 (None when not recorded),
    generator, seed (nullable Int64), epochs_completed. Sorted by generator, seed, label."""
    rows = []
    for label, m in manifests.items():
        cfg = m.get("config") or {}
        exp = m.get("experiment") or {}
        rows.append(
            {
                "label": str(label),
                "run_id": str(m.get("run_id") or label),
                "dataset": str(cfg.get("dataset") or (m.get("dataset") or {}).get("name") or ""),
                "sha256": data_sha(m),
                "generator": generator_of(m),
                "seed": cfg.get("seed", exp.get("seed")),
                "epochs_completed": m.get("epochs_completed", 0),
            }
        )
    cols = ["label", "run_id", "dataset", "sha256", "generator", "seed", "epochs_completed"]
    df = pd.DataFrame(rows, columns=cols)
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").astype("Int64")
    return df.sort_values(["generator", "seed", "label"], kind="stable").reset_index(drop=True)


def same_data_labels(rows: pd.DataFrame, label: str) -> list[str]:
    """The labels of every run trained on the same data (same sha256) as run ``label``; [label] when its sha256
    is not recorded, [] when the label is unknown."""
    hit = rows.loc[rows["label"] == label]
    if hit.empty:
        return []
    sha = hit["sha256"].iloc[0]
    if pd.isna(sha):
        return [label]
    return rows.loc[rows["sha256"] == sha, "label"].tolist()


def same_data(rows: pd.DataFrame) -> str | None:
    """The one sha256 the selected runs ``rows`` (of :func:`run_rows`) were all trained on.

    A single run needs no pairing: its sha256 is returned, None when not recorded. For two runs or more, raises
    :class:`PairingError` when a run does not record its data's sha256 or when the runs were trained on
    different data (the message lists each dataset file with its runs); also when nothing is selected.
    """
    if rows.empty:
        raise PairingError("no runs selected: pick at least one run")
    if len(rows) == 1:
        sha = rows["sha256"].iloc[0]
        return None if pd.isna(sha) else str(sha)
    unknown = rows.loc[rows["sha256"].isna(), "label"].tolist()
    if unknown:
        raise PairingError(
            f"run {unknown[0]} does not record the sha256 of its data (run.json dataset.sha256), so it cannot be "
            "paired with other runs; deselect it or retrain it"
        )
    shas = list(dict.fromkeys(rows["sha256"]))
    if len(shas) > 1:
        groups = "; ".join(
            f"sha256 {s[:SHA_SHORT]}… ({', '.join(rows.loc[rows['sha256'] == s, 'label'])})" for s in shas
        )
        raise PairingError(
            f"these runs were trained on different data, so their labels cannot be compared: {groups}. "
            "Pick runs trained on one dataset file."
        )
    return str(shas[0])


# --------------------------------------------------------------------------------------------------------------
# per-epoch health over runs


def health_long(healths: Mapping[str, pd.DataFrame], generators: Mapping[str, str]) -> pd.DataFrame:
    """The :func:`selfmm.label_health.run_health` frames of several runs, with ``label`` (the run label) and
    ``generator`` columns in front. Empty (with the health columns) when none."""
    parts = [h.assign(label=lab, generator=generators[lab]) for lab, h in healths.items() if not h.empty]
    cols = ["label", "generator", *label_health.HEALTH_COLUMNS]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def seed_bands(health: pd.DataFrame, metric: str = "r_gen_human") -> pd.DataFrame:
    """Per (generator, modality, epoch): mean, min and max of ``metric`` over the runs (seeds) that recorded it
    (NaN values left out) and n, the number of runs. Columns: generator, modality, epoch, mean, min, max, n;
    sorted by generator, modality (T, A, V), epoch. Rows where every run is NaN are dropped."""
    cols = ["generator", "modality", "epoch", "mean", "min", "max", "n"]
    if health.empty or metric not in health.columns:
        return pd.DataFrame(columns=cols)
    h = health[["generator", "modality", "epoch", metric]].dropna(subset=[metric])
    if h.empty:
        return pd.DataFrame(columns=cols)
    g = h.groupby(["generator", "modality", "epoch"], sort=False)[metric]
    out = g.agg(["mean", "min", "max", "count"]).rename(columns={"count": "n"}).reset_index()
    out["_m"] = out["modality"].map({m: i for i, m in enumerate(UNIMODAL)})
    out = out.sort_values(["generator", "_m", "epoch"], kind="stable")
    return out[cols].reset_index(drop=True)


def ym_baseline(health: pd.DataFrame) -> dict[str, float]:
    """{modality: r(y_m, human)} over the train split. On one dataset it is the same for every run and epoch;
    the mean over the rows guards against rounding. Modalities without human labels are left out."""
    if health.empty or "r_ym_human" not in health.columns:
        return {}
    s = health.dropna(subset=["r_ym_human"]).groupby("modality")["r_ym_human"].mean()
    return {m: float(s[m]) for m in UNIMODAL if m in s.index}


# --------------------------------------------------------------------------------------------------------------
# samples


def generator_labels(final: Mapping[str, pd.DataFrame], generators: Mapping[str, str]) -> pd.DataFrame:
    """Each generator's final label per train sample, the mean over its runs (seeds).

    final: {run label: that run's last-epoch ``reader.labels(epoch)`` frame (sample_id, label_T/A/V)}.
    Returns long: sample_id, generator, modality, label, n_runs; joined on sample_id.
    """
    parts = []
    for lab, df in final.items():
        long = df.melt(id_vars=["sample_id"], value_vars=[f"label_{m}" for m in UNIMODAL if f"label_{m}" in df.columns])
        long["modality"] = long["variable"].str.removeprefix("label_")
        parts.append(
            long.assign(generator=generators[lab], label_run=lab)[
                ["sample_id", "generator", "modality", "value", "label_run"]
            ]
        )
    if not parts:
        return pd.DataFrame(columns=["sample_id", "generator", "modality", "label", "n_runs"])
    all_ = pd.concat(parts, ignore_index=True)
    out = (
        all_.groupby(["sample_id", "generator", "modality"], sort=True)
        .agg(label=("value", "mean"), n_runs=("label_run", "nunique"))
        .reset_index()
    )
    return out


def disagreements(gen_labels: pd.DataFrame, samples: pd.DataFrame, modality: str, top: int = 20) -> pd.DataFrame:
    """The ``top`` train samples whose generators' final ``modality`` labels (mean over seeds) are furthest
    apart: spread = max − min over the generators. Needs two generators (else an empty frame).

    Returns columns: sample_id, raw_text (when present), y_m, y_<modality> (when present), one column per
    generator (sorted by name), spread; sorted by spread descending, then sample_id.
    """
    g = gen_labels[gen_labels["modality"] == modality]
    names = sorted(g["generator"].unique())
    base = ["sample_id"] + [c for c in ("raw_text", "y_m", f"y_{modality}") if c in samples.columns]
    if len(names) < 2:
        return pd.DataFrame(columns=[*base, *names, "spread"])
    wide = g.pivot(index="sample_id", columns="generator", values="label")[names]
    spread = wide.max(axis=1, skipna=True) - wide.min(axis=1, skipna=True)
    wide = wide.assign(spread=spread).reset_index()
    train = samples.loc[samples["split"] == "train", base]
    out = train.merge(wide, on="sample_id", how="inner")
    out = out.sort_values(["spread", "sample_id"], ascending=[False, True], kind="stable")
    return out.head(int(top)).reset_index(drop=True)


def _sample_hits(labels: Mapping[str, pd.DataFrame], sample_id: str) -> dict[str, pd.DataFrame]:
    """{run label: that run's rows of ``sample_id``} for the runs that have some (one scan of each run's frame,
    shared by every modality)."""
    hits = {}
    for lab, df in labels.items():
        hit = df.loc[df["sample_id"].to_numpy() == sample_id]
        if len(hit):
            hits[lab] = hit
    return hits


def _trajectories(hits: Mapping[str, pd.DataFrame], info: pd.DataFrame, modality: str) -> pd.DataFrame:
    # one frame from concatenated columns, not one per run then concat; the seed column is a list so it infers
    # as a concat of per-run frames did (int64, object when a run has no seed)
    cols, col = ["label", "generator", "seed", "epoch", "value"], f"label_{modality}"
    labs: list = []
    gens: list = []
    seeds: list = []
    epochs, values = [], []
    for lab, hit in hits.items():
        if col not in hit.columns:
            continue
        n = len(hit)
        labs += [lab] * n
        gens += [info.loc[lab, "generator"]] * n
        seeds += [info.loc[lab, "seed"]] * n
        epochs.append(hit["epoch"].to_numpy(np.int64))
        values.append(hit[col].to_numpy(np.float64))
    if not epochs:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({"label": labs, "generator": gens, "seed": seeds, "epoch": np.concatenate(epochs),
                        "value": np.concatenate(values)})  # fmt: skip
    return out.sort_values(["generator", "seed", "label", "epoch"], kind="stable").reset_index(drop=True)[cols]


def sample_trajectories(
    labels: Mapping[str, pd.DataFrame], rows: pd.DataFrame, sample_id: str, modality: str
) -> pd.DataFrame:
    """One train sample's generated ``modality`` label across epochs in every run.

    labels: {run label: ``reader.labels()`` (all epochs)}; rows: :func:`run_rows` (generator and seed per run).
    Returns long: label (run), generator, seed, epoch, value; sorted by generator, seed, label, epoch. Runs in
    which the sample has no label (e.g. a valid/test sample) contribute nothing.
    """
    return _trajectories(_sample_hits(labels, sample_id), rows.set_index("label"), modality)


def sample_overlay(labels: Mapping[str, pd.DataFrame], rows: pd.DataFrame, sample_id: str) -> pd.DataFrame:
    """:func:`sample_trajectories` of every unimodal head: one train sample's generated labels across epochs in
    every run of ``labels`` (the runs on one dataset file, see :func:`same_data_labels`).

    Returns long: label (run), generator, seed, modality, epoch, value; sorted by modality (T, A, V) then as
    :func:`sample_trajectories`. Empty (with those columns) when no run has a label for the sample.
    """
    cols = ["label", "generator", "seed", "modality", "epoch", "value"]
    hits, info = _sample_hits(labels, sample_id), rows.set_index("label")  # each run scanned once, not per modality
    parts = [_trajectories(hits, info, m).assign(modality=m) for m in UNIMODAL]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]
