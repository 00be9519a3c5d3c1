"""Analyses of a run's records, the single source of truth for every derived number selfmm and the dashboard show.

Pure numpy/pandas (no torch, no I/O): arrays in, numbers out. The functions work on 1-D ``(N,)`` vectors and wide
``(N, E)`` arrays, rows = samples, columns = epochs, NaN = "not recorded" (e.g. valid/test rows of generated
labels), vectorised over both axes (no Python loop over samples or epochs). :mod:`dashboard.data` builds the one
per-sample table from a run folder and calls these; the conflict summaries at the end take that table.

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

from selfmm.config import UNIMODAL
from selfmm.metrics import sims_bins

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
    return nanmean_by_epoch(np.abs(np.asarray(gen, np.float64) - np.asarray(y_m, np.float64)[:, None]))


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
    """The derived per-sample columns of the dashboard's per-sample table (``dashboard.data.sample_table``).

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
# long -> wide


def to_wide(row: np.ndarray, col: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Long (row, col, value) triples -> a (rows, cols) array in ``values``' float dtype, NaN where no triple."""
    values = np.asarray(values)
    a = np.full(shape, np.nan, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    a[row, col] = values
    return a


# ==============================================================================================================
# conflict summaries of a per-sample table


def _category_axis(*columns: pd.Series) -> list[str]:
    present = set().union(*(set(c.astype(str)) for c in columns))
    return list(CATEGORIES) + sorted(present - set(CATEGORIES))  # "n/a" (missing labels) only when present


def conflict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Samples per conflict category: columns category (every one of ``CATEGORIES``, plus "n/a" when present),
    human (0 without human labels), generated. Input: any frame with ``gen_conflict`` [and ``human_conflict``]
    (the dashboard's per-sample table; pass the train rows)."""
    if "gen_conflict" not in table.columns:
        raise ValueError("conflict_counts: column 'gen_conflict' missing; pass a per-sample table with it")
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
                f"conflict_confusion: column {c!r} missing; pass a per-sample table of a run with human labels"
            )
    cats = _category_axis(table["human_conflict"], table["gen_conflict"])
    tab = pd.crosstab(table["human_conflict"].astype(str), table["gen_conflict"].astype(str))
    tab = tab.reindex(index=cats, columns=cats, fill_value=0).astype(np.int64)
    tab.index.name, tab.columns.name = "human", "generated"
    return tab


def conflict_recovery(table: pd.DataFrame, gen_prefix: str = "label_") -> pd.DataFrame:
    """Per (sample, modality) where the human or the generated label conflicts with y_m: the
    :func:`conflict_outcome`.

    Input: a frame with sample_id, y_m, y_T/A/V and the generated labels ``{gen_prefix}T/A/V`` (the dashboard's
    table: ``gen_``); pass the train rows.
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
