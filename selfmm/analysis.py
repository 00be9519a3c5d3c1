"""Analyses of a run's records: generated vs human labels, label dynamics, conflicts, per-sample tables.

Pure numpy/pandas (no torch, no I/O). Every function takes the frames :class:`selfmm.records.RunReader` returns:

- ``samples``: ``reader.samples()`` — sample_id, split, index, raw_text, y_m, [y_T, y_A, y_V];
- ``labels``: ``reader.labels()`` — long, one row per (epoch, train sample): epoch, sample_id, index,
  label_T/A/V, weight_T/A/V;
- ``predictions``: ``reader.predictions()`` — epoch, split, sample_id, index, pred_M/T/A/V.

Rows are joined on ``sample_id`` (never on position). Polarity classes follow the SIMS metrics
(``selfmm.metrics.sims_bins``): 2-class negative (<= 0) / positive (> 0); 3-class negative (<= −0.1), neutral
(−0.1, 0.1], positive (> 0.1). The same bins are used for every dataset.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from selfmm.metrics import pearson, sims_bins

UNIMODAL = ("T", "A", "V")
CLASS3 = ("negative", "neutral", "positive")
# every conflict category, in display order: "none", single modalities, pairs, all three
CATEGORIES = ("none", *("".join(c) for k in (1, 2, 3) for c in itertools.combinations(UNIMODAL, k)))
SETTLE_TOL = 0.05


def polarity(x, n_classes: int = 3) -> np.ndarray:
    """Class ids of sentiment values: 2-class 0 = (<= 0), 1 = (> 0); 3-class 0 = (<= −0.1), 1 = neutral, 2 = (> 0.1).

    Compared in the input's float precision, as the metrics do (float32 0.1 is neutral).
    """
    return sims_bins(np.asarray(x), n_classes)


def _human_columns(samples: pd.DataFrame) -> list[str]:
    return [m for m in UNIMODAL if f"y_{m}" in samples.columns]


def _with_human(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    cols = ["sample_id", "y_m", *(f"y_{m}" for m in _human_columns(samples))]
    return labels.merge(samples.loc[samples["split"] == "train", cols], on="sample_id", how="inner", validate="m:1")


# --------------------------------------------------------------------------------------------------------------
# generated vs human unimodal labels


def label_agreement(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Generated vs human unimodal labels, per (epoch, modality).

    Returns columns: epoch (int), modality (T/A/V), n, pearson_r (NaN when a side is constant), mae,
    acc_2 and acc_3 (fraction of samples whose 2-/3-class polarity agrees). Sorted by (epoch, modality T, A, V).
    Empty (with these columns) when the samples have no human unimodal labels.
    """
    cols = ["epoch", "modality", "n", "pearson_r", "mae", "acc_2", "acc_3"]
    human = _human_columns(samples)
    if not human or labels.empty:
        return pd.DataFrame(columns=cols)
    df = _with_human(labels, samples)
    rows = []
    for epoch, g in df.groupby("epoch", sort=True):
        for m in human:
            gen, hum = g[f"label_{m}"].to_numpy(), g[f"y_{m}"].to_numpy()
            rows.append(
                {
                    "epoch": int(epoch),
                    "modality": m,
                    "n": len(g),
                    "pearson_r": pearson(gen, hum),
                    "mae": float(np.mean(np.abs(gen.astype(np.float64) - hum))),
                    "acc_2": float(np.mean(polarity(gen, 2) == polarity(hum, 2))),
                    "acc_3": float(np.mean(polarity(gen, 3) == polarity(hum, 3))),
                }
            )
    return pd.DataFrame(rows, columns=cols)


def label_confusion(labels: pd.DataFrame, samples: pd.DataFrame, epoch: int, modality: str) -> pd.DataFrame:
    """3×3 counts of human (rows) vs generated (columns) 3-class polarity for one epoch and modality.

    Index and columns are ``CLASS3`` (negative, neutral, positive); index name "human", columns name "generated".
    """
    if f"y_{modality}" not in samples.columns:
        raise ValueError(f"label_confusion: samples have no human label y_{modality}")
    df = _with_human(labels[labels["epoch"] == epoch], samples)
    h = polarity(df[f"y_{modality}"].to_numpy(), 3)
    g = polarity(df[f"label_{modality}"].to_numpy(), 3)
    counts = np.zeros((3, 3), dtype=np.int64)
    np.add.at(counts, (h, g), 1)
    out = pd.DataFrame(counts, index=list(CLASS3), columns=list(CLASS3))
    out.index.name, out.columns.name = "human", "generated"
    return out


def label_distance_by_epoch(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: mean |label_s − y_m| (``dist_T/A/V``) and mean loss weight (``weight_T/A/V``).

    The Self-MM signature curve: 0 at epochs 0-1, then growing and stabilising. Columns: epoch, dist_T, dist_A,
    dist_V, weight_T, weight_A, weight_V; one row per epoch, sorted.
    """
    df = labels.merge(samples.loc[samples["split"] == "train", ["sample_id", "y_m"]], on="sample_id", validate="m:1")
    for m in UNIMODAL:
        df[f"dist_{m}"] = np.abs(df[f"label_{m}"].astype(np.float64) - df["y_m"])
    cols = [f"dist_{m}" for m in UNIMODAL] + [f"weight_{m}" for m in UNIMODAL]
    return df.groupby("epoch", sort=True)[cols].mean().reset_index()


# --------------------------------------------------------------------------------------------------------------
# label dynamics


def _label_cube(labels: pd.DataFrame, modality: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(epochs (E,), ids (S,), index (S,), values (E, S) float64) with samples ordered by index."""
    epochs = np.sort(labels["epoch"].unique())
    index = np.sort(labels["index"].unique())
    e_pos = np.searchsorted(epochs, labels["epoch"].to_numpy())
    s_pos = np.searchsorted(index, labels["index"].to_numpy())
    cube = np.full((len(epochs), len(index)), np.nan)
    cube[e_pos, s_pos] = labels[f"label_{modality}"].to_numpy(dtype=np.float64)
    ids = np.empty(len(index), dtype=object)
    ids[s_pos] = labels["sample_id"].to_numpy(dtype=object)
    return epochs, ids, index, cube


def sign_flips(cube: np.ndarray) -> np.ndarray:
    """Number of sign changes (+ to − or − to +) along axis 0 of (E, S); zeros keep the previous sign."""
    last = np.zeros(cube.shape[1])
    flips = np.zeros(cube.shape[1], dtype=np.int64)
    for row in np.sign(cube):
        flips += (row * last) < 0
        last = np.where(row != 0, row, last)
    return flips


def settle_epochs(epochs: np.ndarray, cube: np.ndarray, tol: float = SETTLE_TOL) -> np.ndarray:
    """Per column of (E, S): the first epoch from which every later value is within ``tol`` of the final one."""
    within = np.abs(cube - cube[-1]) <= tol + 1e-6  # float32 labels: 0.05 must count as within 0.05
    trailing = np.cumprod(within[::-1], axis=0).sum(axis=0)  # length of the final run of "within"
    return np.asarray(epochs)[len(epochs) - trailing]


def label_dynamics(labels: pd.DataFrame, tol: float = SETTLE_TOL) -> pd.DataFrame:
    """Per (train sample, modality), how its generated label moved across all epochs in ``labels``.

    Returns columns: sample_id, index, modality (T/A/V), initial (label at the first epoch), final (at the last),
    change (final − initial), mean, std (population, ddof=0), sign_flips (see :func:`sign_flips`),
    settle_epoch (first epoch after which the label stays within ``tol`` of its final value; the last epoch if it
    never does). Sorted by (modality T, A, V, index). Epochs missing for a sample are not allowed.
    """
    parts = []
    for m in UNIMODAL:
        epochs, ids, index, cube = _label_cube(labels, m)
        if np.isnan(cube).any():
            raise ValueError("label_dynamics: every sample needs a label at every epoch")
        parts.append(
            pd.DataFrame(
                {
                    "sample_id": ids,
                    "index": index.astype(np.int32),
                    "modality": m,
                    "initial": cube[0],
                    "final": cube[-1],
                    "change": cube[-1] - cube[0],
                    "mean": cube.mean(axis=0),
                    "std": cube.std(axis=0),
                    "sign_flips": sign_flips(cube),
                    "settle_epoch": settle_epochs(epochs, cube, tol).astype(np.int32),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------------------------
# conflicts


def _conflict_kind(y_s: np.ndarray, y_m: np.ndarray) -> np.ndarray:
    """ "none" | "differ" (3-class polarity differs) | "opposite" (both non-neutral, opposite signs)."""
    cs, cm = polarity(y_s, 3), polarity(y_m, 3)
    out = np.where(cs != cm, "differ", "none").astype(object)
    out[(cs != 1) & (cm != 1) & (cs != cm)] = "opposite"
    return out


def _category(kinds: dict[str, np.ndarray]) -> np.ndarray:
    n = len(next(iter(kinds.values())))
    cat = np.full(n, "", dtype=object)
    for m in UNIMODAL:
        if m in kinds:
            cat = cat + np.where(kinds[m] != "none", m, "")
    cat[cat == ""] = "none"
    return cat


def conflicts(samples: pd.DataFrame, labels: pd.DataFrame | None = None, epoch: int | None = None) -> pd.DataFrame:
    """Which unimodal labels disagree with the multimodal label y_m, in the human and in the generated labels.

    A modality conflicts when its 3-class polarity differs from y_m's; the kind is "opposite" when both are
    non-neutral with opposite signs, else "differ"; "none" when they agree. Strength = |y_s − y_m|.
    The category is the conflicting modalities in T, A, V order ("T", "AV", "TAV") or "none".

    Args:
        samples: ``reader.samples()``; human columns are produced when it has y_T/y_A/y_V.
        labels: ``reader.labels()`` (or None: human conflicts only, for every split).
        epoch: which epoch's generated labels (default: the last in ``labels``).

    Returns one row per sample (train only when ``labels`` is given), sorted by (split, index): sample_id, split,
    index, y_m, then per modality m: human_conflict_m, human_strength_m (if human labels), gen_conflict_m,
    gen_strength_m (if labels), and human_category / gen_category.
    """
    has_human = len(_human_columns(samples)) == 3
    df = samples[["sample_id", "split", "index", "y_m", *(f"y_{m}" for m in _human_columns(samples))]]
    if labels is not None:
        e = int(labels["epoch"].max()) if epoch is None else int(epoch)
        lab = labels.loc[labels["epoch"] == e, ["sample_id", *(f"label_{m}" for m in UNIMODAL)]]
        if lab.empty:
            raise ValueError(f"conflicts: no labels for epoch {e}")
        df = df[df["split"] == "train"].merge(lab, on="sample_id", how="inner", validate="1:1")
    df = df.reset_index(drop=True)
    y_m = df["y_m"].to_numpy(dtype=np.float64)
    out = df[["sample_id", "split", "index", "y_m"]].copy()
    for source, col, present in (("human", "y_{}", has_human), ("gen", "label_{}", labels is not None)):
        if not present:
            continue
        kinds = {}
        for m in UNIMODAL:
            y_s = df[col.format(m)].to_numpy()
            kinds[m] = _conflict_kind(y_s, df["y_m"].to_numpy())
            out[f"{source}_conflict_{m}"] = kinds[m]
            out[f"{source}_strength_{m}"] = np.abs(y_s.astype(np.float64) - y_m)
        out[f"{source}_category"] = _category(kinds)
    return out


def conflict_confusion(conflict_table: pd.DataFrame) -> pd.DataFrame:
    """Counts of human_category (rows) × gen_category (columns), every category of ``CATEGORIES`` present.

    Input: :func:`conflicts` with labels and human labels. Index name "human", columns name "generated".
    """
    for c in ("human_category", "gen_category"):
        if c not in conflict_table.columns:
            raise ValueError(
                f"conflict_confusion: column {c!r} missing; call conflicts(samples, labels) with human labels"
            )
    tab = pd.crosstab(conflict_table["human_category"], conflict_table["gen_category"])
    tab = tab.reindex(index=list(CATEGORIES), columns=list(CATEGORIES), fill_value=0).astype(np.int64)
    tab.index.name, tab.columns.name = "human", "generated"
    return tab


def conflict_recovery(conflict_table: pd.DataFrame) -> pd.DataFrame:
    """Per (sample, modality) where the human or the generated label conflicts with y_m, the outcome:

    "recovered" (both conflict), "missed" (human conflict, generated agrees with y_m), "spurious" (generated
    conflict without a human one). Columns: sample_id, index, modality, outcome, human_conflict, gen_conflict,
    human_strength, gen_strength. Sorted by (modality T, A, V, outcome, human_strength descending).
    """
    parts = []
    for m in UNIMODAL:
        h, g = conflict_table[f"human_conflict_{m}"], conflict_table[f"gen_conflict_{m}"]
        keep = (h != "none") | (g != "none")
        part = conflict_table.loc[keep, ["sample_id", "index"]].copy()
        part["modality"] = m
        hk, gk = h[keep].to_numpy() != "none", g[keep].to_numpy() != "none"
        part["outcome"] = np.where(hk & gk, "recovered", np.where(hk, "missed", "spurious"))
        part["human_conflict"] = h[keep].to_numpy()
        part["gen_conflict"] = g[keep].to_numpy()
        part["human_strength"] = conflict_table.loc[keep, f"human_strength_{m}"].to_numpy()
        part["gen_strength"] = conflict_table.loc[keep, f"gen_strength_{m}"].to_numpy()
        parts.append(part.sort_values(["outcome", "human_strength"], ascending=[True, False], kind="stable"))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------------------------
# wide per-sample table


def sample_table(
    samples: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    predictions: pd.DataFrame | None = None,
    epoch: int | None = None,
) -> pd.DataFrame:
    """One row per sample (every split) for browsing: the dashboard's main table.

    Columns: sample_id, split, index, raw_text, y_m, [y_T, y_A, y_V]; with ``labels`` (train rows only, NaN
    elsewhere): label_T/A/V and weight_T/A/V at ``epoch`` (default: last label epoch), gen_minus_ym_T/A/V
    (label − y_m), sign_flips_T/A/V and settle_epoch_T/A/V over all epochs in ``labels``, and, with human labels,
    abs_err_T/A/V (|label − y_s|), human_category, gen_category; with ``predictions``: pred_M/T/A/V at
    ``epoch`` (default: its last epoch). Sorted like ``samples`` (split, index).
    """
    out = samples.copy()
    has_human = len(_human_columns(samples)) == 3
    if labels is not None and not labels.empty:
        e = int(labels["epoch"].max()) if epoch is None else int(epoch)
        at = labels.loc[labels["epoch"] == e].drop(columns=["epoch", "index"])
        out = out.merge(at, on="sample_id", how="left", validate="1:1")
        for m in UNIMODAL:
            out[f"gen_minus_ym_{m}"] = out[f"label_{m}"].astype(np.float64) - out["y_m"]
            if has_human:
                out[f"abs_err_{m}"] = np.abs(out[f"label_{m}"].astype(np.float64) - out[f"y_{m}"])
        dyn = label_dynamics(labels).pivot(index="sample_id", columns="modality", values=["sign_flips", "settle_epoch"])
        dyn.columns = [f"{a}_{b}" for a, b in dyn.columns]
        dyn = dyn[[f"{a}_{m}" for a in ("sign_flips", "settle_epoch") for m in UNIMODAL]]
        out = out.merge(dyn.reset_index(), on="sample_id", how="left", validate="1:1")
        if has_human:
            cats = conflicts(samples, labels, e)[["sample_id", "human_category", "gen_category"]]
            out = out.merge(cats, on="sample_id", how="left", validate="1:1")
    if predictions is not None and not predictions.empty:
        pe = int(predictions["epoch"].max()) if epoch is None or epoch not in set(predictions["epoch"]) else int(epoch)
        at = predictions.loc[predictions["epoch"] == pe, ["sample_id", *(f"pred_{m}" for m in "MTAV")]]
        out = out.merge(at, on="sample_id", how="left", validate="1:1")
    return out
