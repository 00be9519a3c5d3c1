"""Analyses of a run's records, the single source of truth for every derived number selfmm and the dashboard show.

Pure numpy/pandas (no torch, no I/O). Two layers:

- **Array layer** (what the dashboard calls on :class:`dashboard.data.RunData`): functions over 1-D ``(N,)``
  vectors and wide ``(N, E)`` arrays, rows = samples, columns = epochs, NaN = "not recorded" (e.g. valid/test rows
  of generated labels). Vectorised over both axes: no Python loop over samples or epochs.
- **Frame layer** (for researchers and scripts on :class:`selfmm.runs.reader.RunReader` frames): thin wrappers that
  pivot the long frames into those arrays (joined on ``sample_id``, never on position) and call the array layer.

  - ``samples``: ``reader.samples()``: sample_id, split, index, raw_text, y_m, [y_T, y_A, y_V];
  - ``labels``: ``reader.labels()``: long, one row per (epoch, train sample): epoch, sample_id, index,
    label_T/A/V, weight_T/A/V;
  - ``predictions``: ``reader.predictions()``: epoch, split, sample_id, index, pred_M/T/A/V.

Definitions (one each, used everywhere):

- **Polarity** (:func:`polarity`): the bins of ``selfmm.metrics.sims_bins``, the SIMS metrics of MMSA: 2-class
  negative ``x <= 0`` / positive ``x > 0`` (SIMS Acc-2); 3-class negative ``x <= -0.1``, neutral
  ``-0.1 < x <= 0.1``, positive ``x > 0.1`` (bins (−1.01, −0.1], (−0.1, 0.1], (0.1, 1.01], open on the left,
  closed on the right: −0.1 is negative, 0.1 is neutral). Compared in the input's own float precision, like the
  metrics (float32 0.1 is neutral). NaN gets class ``MISSING`` (−1). The same ±0.1 band and the same 2-class split
  are used for MOSI/MOSEI-range labels ([−3, 3]) too; there the band is narrower than one rating step, so "neutral"
  essentially means "about 0". (The MOSI/MOSEI *metrics* Has0/Non0 are a different split: see selfmm.metrics.)
- **Agreement** (:func:`agreement`) of two label vectors over the pairs where both are recorded: ``n``,
  ``pearson_r`` (NaN when either side is constant or n < 2), ``mae``, ``acc_2`` / ``acc_3`` (fraction of samples
  whose 2-/3-class polarity is the same).
- **Conflict** of a unimodal label y_s with the multimodal label y_m: their 3-class polarities differ. Per
  modality the *strength* is ``"strong"`` (both non-neutral, opposite signs), ``"weak"`` (one is neutral),
  ``"none"`` (same polarity) or ``"n/a"`` (a label is missing); the numeric *gap* is |y_s − y_m|. Per sample the
  *conflict category* lists the conflicting modalities joined by "+" in T, A, V order (``"T"``, ``"A+V"``,
  ``"T+A+V"``) or ``"none"``; its strength is the strongest over its modalities. ``"n/a"`` when any label needed
  is missing.
- **Conflict outcome** of a (sample, modality), generated label against the human one (:func:`conflict_outcome`):
  ``recovered`` (human conflicts with y_m and the generated label has the human polarity), ``partial`` (both
  conflict, with different polarities), ``missed`` (human conflicts, generated agrees with y_m), ``spurious``
  (generated conflicts, human agrees with y_m).
- **Sign flip** (:func:`sign_flips`): a reversal of the 3-class polarity between negative and positive from one
  epoch to a later one; neutral epochs in between neither count nor break it (−0.5, 0.0, 0.3 is one flip;
  0.0, 0.05, −0.2 is none). A label wobbling inside the neutral band never flips.
- **Settle epoch** (:func:`settle_epochs`): the first epoch from which the label stays within ``SETTLE_TOL`` (0.05,
  plus 1e-6 so a float32 0.05 counts) of its final value.
- **Label drift** (:func:`drift_by_epoch`): mean |generated − y_m| per epoch (0 at epochs 0-1 in Self-MM).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from selfmm.metrics import sims_bins

UNIMODAL = ("T", "A", "V")
CLASS3 = ("negative", "neutral", "positive")
MISSING = -1  # polarity class of NaN
NA = "n/a"
# every conflict category, in display order: "none", single modalities, pairs, all three
CATEGORIES = ("none", "T", "A", "V", "T+A", "T+V", "A+V", "T+A+V")
STRENGTHS = ("none", "weak", "strong")
OUTCOMES = ("recovered", "partial", "missed", "spurious")
AGREEMENT_COLUMNS = ("n", "pearson_r", "mae", "acc_2", "acc_3")
SETTLE_TOL = 0.05
# bitmask of conflicting modalities (T=1, A=2, V=4) -> category name
_CATEGORY_OF_CODE = np.array(["none", "T", "A", "T+A", "V", "T+V", "A+V", "T+A+V"], dtype=object)


# ==============================================================================================================
# array layer: polarity and agreement


def polarity(x, n_classes: int = 3) -> np.ndarray:
    """int8 class ids of sentiment values, same shape as ``x``: 2-class 0 = (<= 0), 1 = (> 0); 3-class
    0 = (<= −0.1), 1 = neutral, 2 = (> 0.1); ``MISSING`` (−1) for NaN. Compared in ``x``'s float precision."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    ids = sims_bins(x, n_classes).astype(np.int8)
    ids[np.isnan(x)] = MISSING
    return ids


def agreement(pred, true) -> dict[str, float | np.ndarray]:
    """Agreement of ``pred`` (N,) or (N, E) with ``true`` (N,), column by column, over the non-NaN pairs.

    Returns ``{"n", "pearson_r", "mae", "acc_2", "acc_3"}``: floats for 1-D ``pred``, else (E,) arrays. Pearson r
    is NaN when a side is constant or n < 2; everything is NaN when n = 0. Accumulated in float64.
    """
    p, t = np.asarray(pred), np.asarray(true)
    one = p.ndim == 1
    if one:
        p = p[:, None]
    if p.ndim != 2 or t.shape != (p.shape[0],):
        raise ValueError(f"agreement: pred {np.shape(pred)} needs (N,) or (N, E) and true (N,), got true {t.shape}")
    ok = ~np.isnan(p) & ~np.isnan(t)[:, None]  # (N, E)
    n = ok.sum(axis=0)
    p64 = np.where(ok, p, 0.0)
    t64 = np.where(ok, t[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mp, mt = p64.sum(axis=0) / n, t64.sum(axis=0) / n
        dp, dt = np.where(ok, p64 - mp, 0.0), np.where(ok, t64 - mt, 0.0)
        r = (dp * dt).sum(axis=0) / np.sqrt((dp * dp).sum(axis=0) * (dt * dt).sum(axis=0))
        # constant = max == min over the valid entries (exact; a variance test would see rounding noise)
        constant = (np.where(ok, p64, -np.inf).max(axis=0) == np.where(ok, p64, np.inf).min(axis=0)) | (
            np.where(ok, t64, -np.inf).max(axis=0) == np.where(ok, t64, np.inf).min(axis=0)
        )
        out = {
            "n": n.astype(np.int64),
            "pearson_r": np.where((n >= 2) & ~constant, np.clip(r, -1.0, 1.0), np.nan),
            "mae": np.abs(p64 - t64).sum(axis=0) / n,
            "acc_2": ((polarity(p, 2) == polarity(t, 2)[:, None]) & ok).sum(axis=0) / n,
            "acc_3": ((polarity(p, 3) == polarity(t, 3)[:, None]) & ok).sum(axis=0) / n,
        }
    if one:
        return {k: (int(v[0]) if k == "n" else float(v[0])) for k, v in out.items()}
    return out


def agreement_frame(epochs, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Long agreement table from ``{modality: (pred (N, E), true (N,))}``: columns epoch, modality, n, pearson_r,
    mae, acc_2, acc_3; sorted by (epoch, modality in the order of ``pairs``)."""
    cols = ["epoch", "modality", *AGREEMENT_COLUMNS]
    epochs = np.asarray(epochs, dtype=np.int64)
    parts = []
    for k, (m, (pred, true)) in enumerate(pairs.items()):
        if pred.shape[1] != len(epochs):
            raise ValueError(f"agreement_frame: {m} has {pred.shape[1]} epoch columns for {len(epochs)} epochs")
        part = pd.DataFrame({"epoch": epochs, "modality": m, **agreement(pred, true)})
        part["_k"] = k
        parts.append(part)
    if not parts or len(epochs) == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c in ("epoch", "n") else None) for c in cols})
    df = pd.concat(parts, ignore_index=True).sort_values(["epoch", "_k"], kind="stable")
    return df[cols].reset_index(drop=True)


def confusion3(true, pred) -> pd.DataFrame:
    """3×3 counts: rows = 3-class polarity of ``true`` (e.g. the human label), columns = that of ``pred``; index
    and columns are ``CLASS3``. Pairs with a NaN are left out."""
    t, p = polarity(true, 3).reshape(-1), polarity(pred, 3).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"confusion3: true has {t.size} values, pred {p.size}")
    ok = (t != MISSING) & (p != MISSING)
    counts = np.bincount(t[ok].astype(np.int64) * 3 + p[ok], minlength=9).reshape(3, 3)
    return pd.DataFrame(counts.astype(np.int64), index=list(CLASS3), columns=list(CLASS3))


# ==============================================================================================================
# array layer: conflicts


def conflict_strength(y_s, y_m) -> np.ndarray:
    """Per element: "none" | "weak" (3-class polarities differ, one neutral) | "strong" (opposite non-neutral
    polarities) | "n/a" (a value is NaN). Object array shaped like the inputs."""
    ps, pm = polarity(y_s, 3), polarity(y_m, 3)
    differ = ps != pm
    out = np.where(differ, np.where((ps != 1) & (pm != 1), "strong", "weak"), "none").astype(object)
    out[(ps == MISSING) | (pm == MISSING)] = NA
    return out


def conflict_category(y_m, uni: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: which of the unimodal labels in ``uni`` (``{"T": (N,), ...}``) conflict with ``y_m`` (N,).

    Returns ``(category, strength)`` object arrays (N,): category in ``CATEGORIES`` ("none", "T", "T+A" ...),
    strength "none" | "weak" | "strong" (the strongest modality); both "n/a" where any label is NaN.
    """
    pm = polarity(y_m, 3)
    code = np.zeros(pm.shape, dtype=np.int64)
    strong = np.zeros(pm.shape, dtype=bool)
    missing = pm == MISSING
    for bit, m in enumerate(UNIMODAL):
        if m not in uni:
            continue
        ps = polarity(uni[m], 3)
        code |= (ps != pm).astype(np.int64) << bit
        strong |= (ps != pm) & (ps != 1) & (pm != 1)
        missing |= ps == MISSING
    category = _CATEGORY_OF_CODE[code]
    strength = np.where(code == 0, "none", np.where(strong, "strong", "weak")).astype(object)
    category[missing] = NA
    strength[missing] = NA
    return category, strength


def conflict_outcome(y_m, human, gen) -> np.ndarray:
    """Per element, the generated label's outcome against the human one (both against ``y_m``): one of
    ``OUTCOMES`` or "" (neither conflicts with y_m, or a value is NaN). Object array."""
    pm, ph, pg = polarity(y_m, 3), polarity(human, 3), polarity(gen, 3)
    hd, gd = ph != pm, pg != pm
    out = np.select(
        [hd & (pg == ph), hd & gd, hd, gd], ["recovered", "partial", "missed", "spurious"], default=""
    ).astype(object)
    out[(pm == MISSING) | (ph == MISSING) | (pg == MISSING)] = ""
    return out


# ==============================================================================================================
# array layer: label dynamics (rows = samples, columns = epochs)


def sign_flips(a) -> np.ndarray:
    """(N, E) -> (N,) int64: reversals of the 3-class polarity between negative and positive along each row.

    A neutral (or NaN) epoch carries the last non-neutral polarity, so it neither counts nor breaks a flip.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"sign_flips: expected (samples, epochs), got shape {a.shape}")
    p = polarity(a, 3)
    s = np.where(p == MISSING, 0, p - 1).astype(np.int8)  # -1 / 0 / +1
    cols = np.arange(a.shape[1], dtype=np.int32)
    last = np.maximum.accumulate(np.where(s != 0, cols, np.int32(-1)), axis=1)  # column of the last non-neutral
    carried = np.where(last >= 0, np.take_along_axis(s, np.maximum(last, 0), axis=1), 0)
    return ((carried[:, 1:] * carried[:, :-1]) < 0).sum(axis=1).astype(np.int64)


def settle_epochs(epochs, a, tol: float = SETTLE_TOL) -> np.ndarray:
    """(E,), (N, E) -> (N,): per row, the first epoch from which every later value is within ``tol`` of the final
    one (the last epoch when the final value is NaN)."""
    a = np.asarray(a, dtype=np.float64)
    epochs = np.asarray(epochs)
    if a.ndim != 2 or a.shape[1] != len(epochs) or len(epochs) == 0:
        raise ValueError(f"settle_epochs: expected (samples, {len(epochs)} epochs) with E > 0, got {a.shape}")
    with np.errstate(invalid="ignore"):
        outside = ~(np.abs(a - a[:, -1:]) <= tol + 1e-6)  # float32 labels: 0.05 must count as within 0.05
    n_e = len(epochs)
    last_outside = n_e - 1 - np.argmax(outside[:, ::-1], axis=1)  # only meaningful where any is outside
    start = np.where(outside.any(axis=1), last_outside + 1, 0)
    return epochs[np.minimum(start, n_e - 1)]  # a NaN final value is "outside" everywhere: the last epoch


def label_stats(epochs, a, tol: float = SETTLE_TOL) -> dict[str, np.ndarray]:
    """Per row of (N, E): initial, final, change (final − initial), mean, std (population), sign_flips,
    settle_epoch. Float64 statistics; NaN in a row propagates to its mean/std."""
    a = np.asarray(a)
    a64 = a.astype(np.float64)
    return {
        "initial": a64[:, 0],
        "final": a64[:, -1],
        "change": a64[:, -1] - a64[:, 0],
        "mean": a64.mean(axis=1),
        "std": a64.std(axis=1),
        "sign_flips": sign_flips(a),
        "settle_epoch": settle_epochs(epochs, a, tol),
    }


def drift_by_epoch(gen, y_m) -> np.ndarray:
    """(N, E), (N,) -> (E,): mean |gen − y_m| per epoch over the recorded (non-NaN) entries, in float64."""
    d = np.abs(np.asarray(gen, np.float64) - np.asarray(y_m, np.float64)[:, None])
    ok = ~np.isnan(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, d, 0.0).sum(axis=0) / ok.sum(axis=0)


def nanmean_by_epoch(a) -> np.ndarray:
    """(N, E) -> (E,) mean over the non-NaN entries (NaN for an all-NaN epoch, without a warning)."""
    a = np.asarray(a, np.float64)
    ok = ~np.isnan(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=0) / ok.sum(axis=0)


def _nanmax_rows(cols: list[np.ndarray]) -> np.ndarray:
    """Element-wise max over equal-length vectors, ignoring NaN (NaN where all are NaN), without warnings."""
    a = np.stack(cols)
    allnan = np.isnan(a).all(axis=0)
    return np.where(allnan, np.nan, np.where(np.isnan(a), -np.inf, a).max(axis=0))


def _nullable(values: np.ndarray, valid: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 values with <NA> where not ``valid`` (an integer column that is "not applicable" for some rows)."""
    return pd.arrays.IntegerArray(np.asarray(values, np.int64), ~np.asarray(valid, bool))


def sample_columns(
    y_m,
    human: dict[str, np.ndarray] | None,
    gen: dict[str, np.ndarray],
    history: dict[str, np.ndarray] | None = None,
    epochs=None,
    tol: float = SETTLE_TOL,
) -> dict[str, np.ndarray]:
    """The derived per-sample columns both sample tables show (selfmm :func:`sample_table` and the dashboard's).

    Args:
        y_m: (N,) multimodal labels.
        human: ``{"T": (N,), "A", "V"}`` human unimodal labels, or None.
        gen: ``{"T": (N,), ...}`` generated labels at the chosen epoch (NaN where a sample has none).
        history: ``{"T": (N, E), ...}`` generated labels at every epoch ``epochs`` (E,), NaN rows for samples
            without labels; None skips the dynamics columns.

    Returns columns: gen_minus_ym_T/A/V (gen − y_m), gen_ym_max (max |gen − y_m|), gen_conflict, gen_strength;
    with human: abs_err_T/A/V (|gen − y_s|), gen_human_max, human_conflict, human_strength; with history:
    sign_flips_T/A/V, sign_flips (T + A + V), settle_epoch_T/A/V (nullable Int64, <NA> for rows without labels).
    Differences are float64.
    """
    y_m64 = np.asarray(y_m, np.float64)
    out: dict[str, np.ndarray] = {}
    for m in UNIMODAL:
        out[f"gen_minus_ym_{m}"] = np.asarray(gen[m], np.float64) - y_m64
    out["gen_ym_max"] = _nanmax_rows([np.abs(out[f"gen_minus_ym_{m}"]) for m in UNIMODAL])
    if human is not None:
        for m in UNIMODAL:
            out[f"abs_err_{m}"] = np.abs(np.asarray(gen[m], np.float64) - np.asarray(human[m], np.float64))
        out["gen_human_max"] = _nanmax_rows([out[f"abs_err_{m}"] for m in UNIMODAL])
        out["human_conflict"], out["human_strength"] = conflict_category(y_m, human)
    out["gen_conflict"], out["gen_strength"] = conflict_category(y_m, gen)
    if history is not None and len(epochs):
        has = ~np.isnan(np.asarray(history[UNIMODAL[0]])).all(axis=1)  # rows with generated labels
        total = np.zeros(len(y_m64), np.int64)
        for m in UNIMODAL:
            flips, settle = np.zeros(len(y_m64), np.int64), np.zeros(len(y_m64), np.int64)
            rows = np.asarray(history[m])[has]  # only the rows with labels (the train split): less work
            flips[has], settle[has] = sign_flips(rows), settle_epochs(epochs, rows, tol)
            total += flips
            out[f"sign_flips_{m}"], out[f"settle_epoch_{m}"] = _nullable(flips, has), _nullable(settle, has)
        out["sign_flips"] = _nullable(total, has)
    return out


# ==============================================================================================================
# frame layer: pivots of RunReader frames


def _human_columns(samples: pd.DataFrame) -> list[str]:
    return [m for m in UNIMODAL if f"y_{m}" in samples.columns]


def to_wide(row: np.ndarray, col: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Long (row, col, value) triples -> a (rows, cols) array in ``values``' float dtype, NaN where no triple."""
    values = np.asarray(values)
    a = np.full(shape, np.nan, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    a[row, col] = values
    return a


def wide_labels(labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Pivot ``reader.labels()`` to ``(epochs (E,), sample_ids (N,), index (N,), {column: (N, E)})`` for the
    label_*/weight_* columns present, rows ordered by train index, values in their stored dtype (float32), NaN
    where a (sample, epoch) has no row."""
    epochs = np.sort(labels["epoch"].unique()).astype(np.int64)
    index = np.sort(labels["index"].unique()).astype(np.int64)
    e_pos = np.searchsorted(epochs, labels["epoch"].to_numpy())
    s_pos = np.searchsorted(index, labels["index"].to_numpy())
    ids = np.empty(len(index), dtype=object)
    ids[s_pos] = labels["sample_id"].to_numpy(dtype=object)
    values = {}
    for c in [f"{k}_{m}" for k in ("label", "weight") for m in UNIMODAL]:
        if c in labels.columns:
            values[c] = to_wide(s_pos, e_pos, labels[c].to_numpy(), (len(index), len(epochs)))
    return epochs, ids, index, values


def _train_lookup(samples: pd.DataFrame, ids: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The train samples' ``columns`` in the row order of ``ids`` (joined on sample_id)."""
    tr = samples.loc[samples["split"] == "train"].set_index("sample_id")
    missing = pd.Index(ids).difference(tr.index)
    if len(missing):
        raise ValueError(f"labels name {len(missing)} sample ids not in the train split of samples, e.g. {missing[0]}")
    return tr.loc[ids, columns]


# ==============================================================================================================
# frame layer: generated vs human unimodal labels


def label_agreement(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Generated vs human unimodal labels, per (epoch, modality): :func:`agreement` as a frame.

    Returns columns: epoch, modality (T/A/V), n, pearson_r, mae, acc_2, acc_3. Sorted by (epoch, modality T, A, V).
    Empty (with these columns) when the samples have no human unimodal labels.
    """
    human = _human_columns(samples)
    if not human or labels.empty:
        return agreement_frame([], {})
    epochs, ids, _, values = wide_labels(labels)
    hum = _train_lookup(samples, ids, [f"y_{m}" for m in human])
    return agreement_frame(epochs, {m: (values[f"label_{m}"], hum[f"y_{m}"].to_numpy()) for m in human})


def label_confusion(labels: pd.DataFrame, samples: pd.DataFrame, epoch: int, modality: str) -> pd.DataFrame:
    """3×3 counts of human (rows) vs generated (columns) 3-class polarity for one epoch and modality.

    Index and columns are ``CLASS3`` (negative, neutral, positive); index name "human", columns name "generated".
    """
    if f"y_{modality}" not in samples.columns:
        raise ValueError(f"label_confusion: samples have no human label y_{modality}")
    at = labels[labels["epoch"] == epoch]
    if at.empty:
        raise ValueError(f"label_confusion: no labels for epoch {epoch}")
    hum = _train_lookup(samples, at["sample_id"].to_numpy(dtype=object), [f"y_{modality}"])
    out = confusion3(hum[f"y_{modality}"].to_numpy(), at[f"label_{modality}"].to_numpy())
    out.index.name, out.columns.name = "human", "generated"
    return out


def label_distance_by_epoch(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: mean |label_s − y_m| (``dist_T/A/V``, :func:`drift_by_epoch`) and mean loss weight
    (``weight_T/A/V``). The Self-MM signature curve: 0 at epochs 0-1, then growing and stabilising.

    Columns: epoch, dist_T, dist_A, dist_V, weight_T, weight_A, weight_V; one row per epoch, sorted.
    """
    epochs, ids, _, values = wide_labels(labels)
    y_m = _train_lookup(samples, ids, ["y_m"])["y_m"].to_numpy()
    out = pd.DataFrame({"epoch": epochs})
    for m in UNIMODAL:
        out[f"dist_{m}"] = drift_by_epoch(values[f"label_{m}"], y_m)
    for m in UNIMODAL:
        out[f"weight_{m}"] = nanmean_by_epoch(values[f"weight_{m}"])
    return out


# ==============================================================================================================
# frame layer: label dynamics


def label_dynamics(labels: pd.DataFrame, tol: float = SETTLE_TOL) -> pd.DataFrame:
    """Per (train sample, modality), how its generated label moved across all epochs in ``labels``
    (:func:`label_stats`; filter ``labels`` first to exclude e.g. epoch 0 = y_m).

    Returns columns: sample_id, index, modality (T/A/V), initial, final, change (final − initial), mean, std
    (population, ddof=0), sign_flips (:func:`sign_flips`), settle_epoch (:func:`settle_epochs`). Sorted by
    (modality T, A, V, index). Every sample needs a label at every epoch.
    """
    epochs, ids, index, values = wide_labels(labels)
    parts = []
    for m in UNIMODAL:
        a = values[f"label_{m}"]
        if np.isnan(a).any():
            raise ValueError("label_dynamics: every sample needs a label at every epoch")
        stats = label_stats(epochs, a, tol)
        part = pd.DataFrame({"sample_id": ids, "index": index.astype(np.int32), "modality": m, **stats})
        part["settle_epoch"] = part["settle_epoch"].astype(np.int32)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# ==============================================================================================================
# frame layer: conflicts


def conflicts(samples: pd.DataFrame, labels: pd.DataFrame | None = None, epoch: int | None = None) -> pd.DataFrame:
    """Which unimodal labels conflict with y_m (3-class polarity differs), in the human and the generated labels.

    Args:
        samples: ``reader.samples()``; the human columns are produced when it has y_T, y_A and y_V.
        labels: ``reader.labels()`` (or None: human conflicts only, for every split).
        epoch: which epoch's generated labels (default: the last in ``labels``).

    Returns one row per sample (train only when ``labels`` is given), sorted like ``samples``: sample_id, split,
    index, y_m, [y_T/A/V], [label_T/A/V], then for each source ``human`` (human labels) and ``gen`` (generated):
    ``{src}_strength_{m}`` (:func:`conflict_strength`), ``{src}_gap_{m}`` (|y_s − y_m|), ``{src}_conflict``
    (category) and ``{src}_strength`` (:func:`conflict_category`).
    """
    human = _human_columns(samples)
    has_human = len(human) == 3
    df = samples[["sample_id", "split", "index", "y_m", *(f"y_{m}" for m in human)]]
    if labels is not None:
        e = int(labels["epoch"].max()) if epoch is None else int(epoch)
        lab = labels.loc[labels["epoch"] == e, ["sample_id", *(f"label_{m}" for m in UNIMODAL)]]
        if lab.empty:
            raise ValueError(f"conflicts: no labels for epoch {e}")
        df = df[df["split"] == "train"].merge(lab, on="sample_id", how="inner", validate="1:1")
    out = df.reset_index(drop=True).copy()
    y_m = out["y_m"].to_numpy()
    for source, col, present in (("human", "y_{}", has_human), ("gen", "label_{}", labels is not None)):
        if not present:
            continue
        uni = {m: out[col.format(m)].to_numpy() for m in UNIMODAL}
        for m in UNIMODAL:
            out[f"{source}_strength_{m}"] = conflict_strength(uni[m], y_m)
            out[f"{source}_gap_{m}"] = np.abs(uni[m].astype(np.float64) - y_m)
        out[f"{source}_conflict"], out[f"{source}_strength"] = conflict_category(y_m, uni)
    return out


def _category_axis(*columns: pd.Series) -> list[str]:
    present = set().union(*(set(c.astype(str)) for c in columns))
    return list(CATEGORIES) + sorted(present - set(CATEGORIES))  # "n/a" (missing labels) only when present


def conflict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Samples per conflict category: columns category (every one of ``CATEGORIES``, plus "n/a" when present),
    human (0 without human labels), generated. Input: any frame with ``gen_conflict`` [and ``human_conflict``]
    (:func:`conflicts`, :func:`sample_table`, the dashboard's table; pass the train rows)."""
    if "gen_conflict" not in table.columns:
        raise ValueError("conflict_counts: column 'gen_conflict' missing; call conflicts(samples, labels)")
    has_human = "human_conflict" in table.columns
    cols = [table["gen_conflict"]] + ([table["human_conflict"]] if has_human else [])
    cats = _category_axis(*cols)
    gen = table["gen_conflict"].value_counts()
    hum = table["human_conflict"].value_counts() if has_human else pd.Series(dtype=np.int64)
    return pd.DataFrame(
        {
            "category": cats,
            "human": np.array([hum.get(c, 0) for c in cats], dtype=np.int64),
            "generated": np.array([gen.get(c, 0) for c in cats], dtype=np.int64),
        }
    )


def conflict_confusion(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of human_conflict (rows) × gen_conflict (columns), every category of ``CATEGORIES`` present (plus
    "n/a" when some label is missing). Index name "human", columns name "generated"."""
    for c in ("human_conflict", "gen_conflict"):
        if c not in table.columns:
            raise ValueError(
                f"conflict_confusion: column {c!r} missing; call conflicts(samples, labels) with human labels"
            )
    cats = _category_axis(table["human_conflict"], table["gen_conflict"])
    tab = pd.crosstab(table["human_conflict"].astype(str), table["gen_conflict"].astype(str))
    tab = tab.reindex(index=cats, columns=cats, fill_value=0).astype(np.int64)
    tab.index.name, tab.columns.name = "human", "generated"
    return tab


def conflict_recovery(table: pd.DataFrame, gen_prefix: str = "label_") -> pd.DataFrame:
    """Per (sample, modality) where the human or the generated label conflicts with y_m: the
    :func:`conflict_outcome`.

    Input: a frame with sample_id, y_m, y_T/A/V and the generated labels ``{gen_prefix}T/A/V`` (:func:`conflicts`
    or :func:`sample_table` output: ``label_``; the dashboard's table: ``gen_``); pass the train rows.
    Returns columns: sample_id, [index], modality, y_m, human, generated, outcome, [raw_text]; sorted by
    (modality T, A, V, outcome in ``OUTCOMES`` order), input order within.
    """
    cols = ["sample_id", *(["index"] if "index" in table.columns else []), "modality", "y_m", "human", "generated",
            "outcome", *(["raw_text"] if "raw_text" in table.columns else [])]  # fmt: skip
    if not all(f"y_{m}" in table.columns for m in UNIMODAL):
        return pd.DataFrame(columns=cols)
    y_m = table["y_m"].to_numpy()
    parts = []
    for m in UNIMODAL:
        h, g = table[f"y_{m}"].to_numpy(), table[f"{gen_prefix}{m}"].to_numpy()
        outcome = conflict_outcome(y_m, h, g)
        keep = outcome != ""
        part = table.loc[keep, [c for c in ("sample_id", "index") if c in table.columns]].copy()
        part["modality"] = m
        part["y_m"], part["human"], part["generated"], part["outcome"] = y_m[keep], h[keep], g[keep], outcome[keep]
        if "raw_text" in table.columns:
            part["raw_text"] = table["raw_text"].to_numpy()[keep]
        part["_o"] = pd.Categorical(part["outcome"], categories=list(OUTCOMES), ordered=True).codes
        parts.append(part.sort_values("_o", kind="stable"))
    return pd.concat(parts, ignore_index=True)[cols]


# ==============================================================================================================
# frame layer: wide per-sample table


def sample_table(
    samples: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    predictions: pd.DataFrame | None = None,
    epoch: int | None = None,
) -> pd.DataFrame:
    """One row per sample (every split), sorted like ``samples``: the researcher's version of the dashboard table.

    Columns: the ``samples`` columns; with ``labels``: label_T/A/V and weight_T/A/V at ``epoch`` (default: the
    last label epoch; NaN outside train) and the :func:`sample_columns` (gen_minus_ym_*, gen_ym_max,
    gen_conflict/strength, sign_flips_*, settle_epoch_* over all epochs in ``labels``, and with human labels
    abs_err_*, gen_human_max, human_conflict/strength); without labels but with human labels: human_conflict and
    human_strength; with ``predictions``: pred_M/T/A/V at ``epoch`` (its last epoch when ``epoch`` has none).
    """
    out = samples.reset_index(drop=True).copy()
    human_cols = _human_columns(samples)
    human = {m: out[f"y_{m}"].to_numpy() for m in UNIMODAL} if len(human_cols) == 3 else None
    if labels is not None and not labels.empty:
        epochs, ids, _, values = wide_labels(labels)
        e = int(epochs[-1]) if epoch is None else int(epoch)
        if e not in set(epochs.tolist()):
            raise ValueError(f"sample_table: no labels for epoch {e}; recorded epochs: {epochs.tolist()}")
        j = int(np.searchsorted(epochs, e))
        # row of each sample in the wide arrays (-1: no labels), joined on sample_id
        row = pd.Series(np.arange(len(ids)), index=pd.Index(ids)).reindex(out["sample_id"]).to_numpy()
        has = ~np.isnan(row)
        r = np.where(has, row, 0).astype(np.int64)
        history = {}
        for c, a in values.items():
            full = np.where(has[:, None], a[r], np.nan).astype(a.dtype)
            out[c] = full[:, j]
            if c.startswith("label_"):
                history[c[len("label_") :]] = full
        gen = {m: out[f"label_{m}"].to_numpy() for m in UNIMODAL}
        derived = sample_columns(out["y_m"].to_numpy(), human, gen, history, epochs)
        out = pd.concat([out, pd.DataFrame(derived, index=out.index)], axis=1)
    elif human is not None:
        out["human_conflict"], out["human_strength"] = conflict_category(out["y_m"].to_numpy(), human)
    if predictions is not None and not predictions.empty:
        pe = int(predictions["epoch"].max()) if epoch is None or epoch not in set(predictions["epoch"]) else int(epoch)
        at = predictions.loc[predictions["epoch"] == pe, ["sample_id", *(f"pred_{m}" for m in "MTAV")]]
        out = out.merge(at, on="sample_id", how="left", validate="1:1")
    return out
