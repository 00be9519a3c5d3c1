"""Label health: are a run's generated unimodal labels any good, and are they inverted?

Pure numpy/pandas (no torch, no training code): the dashboard imports this module. Three layers:

- **Array layer**: one (generator, modality, epoch) at a time, over 1-D ``(N,)`` vectors of the train samples:
  ``gen`` (generated labels ``label_<m>``), ``y_m`` (the multimodal label), ``human`` (the human unimodal label
  ``y_<m>``, where the dataset has one). :func:`human_health`, :func:`self_health`, :func:`shrink_factor`,
  :func:`partial_corr`.
- **Frame layer**: :func:`health_frame` over ``reader.labels()`` / ``reader.samples()`` frames (joined on
  ``sample_id``, never on position), one row per (modality, epoch); :func:`run_health` does that for a run
  reader; :func:`inversion_alarms` / :func:`run_alarm` turn a frame into alarms.

Definitions (every figure is computed over the train samples whose gen, y_m (and human) are all finite; the
labels of ``labels/epoch_NNNN.parquet`` exist only for the train split). One Pearson:
:func:`selfmm.metrics.pearson` (NaN when a side is constant or n < 2).

With human unimodal labels ``h`` (SIMS, SIMS v2, the synthetic profiles):

- ``r_gen_human`` = r(gen, h); ``r_ym_human`` = r(y_m, h), the baseline a generator has to beat (y_m is what
  every head would learn from without a generator).
- ``mae_gen`` = mean |gen − h|; ``mae_ym`` = mean |y_m − h|.
- ``acc3_gen`` / ``acc3_ym``: the share of samples whose 3-class polarity equals the human one. The 3 classes
  are those of the SIMS metrics (:func:`selfmm.metrics.sims_bins`, reference Mult_acc_3): negative x <= −0.1,
  neutral −0.1 < x <= 0.1, positive x > 0.1, compared in the inputs' own float precision (float32 0.1 is
  neutral), as the metrics do.
- ``partial_r``: the partial correlation of gen with h given y_m, i.e. r of the residuals of gen and of h after
  a least-squares regression of each on (1, y_m). It says what gen knows about h beyond y_m. It is NOT the raw
  correlation of the deviations r(gen − y_m, h − y_m): both deviations contain −y_m, so that figure is inflated
  by y_m's own variance and can be high for labels that carry nothing (or are inverted). NaN when gen or h is
  (numerically) an affine function of y_m: a residual with norm below ``AFFINE_TOL`` × the norm of the centred
  vector has no direction to correlate. A constant y_m conditions on nothing, so partial_r = r(gen, h).
- ``gap`` = mean |gen − y_m|: how far the generator moved the labels away from y_m.
- ``k_star``: with d = gen − y_m, the k minimising Σ (y_m + k·d − h)², in closed form k* = <d, h − y_m> / <d, d>.
  k* = 1 means gen's deviations are the right size, 0 < k* < 1 that they overshoot (shrink them), k* < 0 that
  they point the wrong way. Degenerate d == 0 everywhere (gen equals y_m, e.g. the ``multimodal`` source or
  Self-MM's epochs 0-1): every k gives the same labels, so k* is undefined: NaN, and ``r_at_k`` = r(y_m, h).
- ``r_at_k`` = r(y_m + k*·d, h), the best r this generator's direction can reach by rescaling its deviations.
- ``n_human``: the number of samples these figures use.

Without human labels (always computed, the only figures for MOSI/MOSEI):

- ``r_gen_ym`` = r(gen, y_m).
- ``sign_agree``: over the samples with y_m != 0 (a zero y_m has no sign, so it is left out; ``n_sign`` counts
  the samples used), the share with sign(gen) == sign(y_m); a gen of exactly 0 there disagrees. NaN when every
  y_m is 0.
- ``pinned``: the share of labels at the clamp, |gen| >= H − ``PIN_TOL``·H (H: the run's config H, the bound
  Self-MM clamps generated labels to).
- ``outside_range``: the share of labels outside the human label range, |gen| > R·(1 + ``RANGE_TOL``) with R the
  dataset's label range (1 for SIMS, 3 for MOSI/MOSEI).
- ``flips`` / ``flip_share``: the number / share of samples whose label changed sign against the previous
  recorded epoch of the same run, i.e. sign(prev)·sign(gen) < 0 (a 0 on either side is no flip). NaN at the
  first recorded epoch. (Not :func:`selfmm.analysis.sign_flips`, which counts 3-class polarity reversals over a
  whole trajectory per sample; this is a per-epoch count over samples.)

**Inversion alarm**: :mod:`selfmm.label_alarm` (re-exported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from selfmm.config import UNIMODAL
from selfmm.label_alarm import ALARM_COLUMNS, _empty, alarm_held, inversion_alarms, run_alarm
from selfmm.metrics import pearson, sims_bins

PIN_TOL = 1e-3  # relative to H: |gen| >= H·(1 − PIN_TOL) counts as pinned at ±H
RANGE_TOL = 1e-6  # relative to the label range: a float32 label of exactly ±R is inside
AFFINE_TOL = 1e-9  # relative residual norm under which a vector counts as an affine function of y_m
HUMAN_COLUMNS = (
    "n_human",
    "r_gen_human",
    "r_ym_human",
    "mae_gen",
    "mae_ym",
    "acc3_gen",
    "acc3_ym",
    "partial_r",
    "gap",
    "k_star",
    "r_at_k",
)
SELF_COLUMNS = ("n", "r_gen_ym", "sign_agree", "n_sign", "pinned", "outside_range", "flips", "flip_share")
KEY_COLUMNS = ("run_id", "label_source", "model", "seed", "modality", "epoch")
HEALTH_COLUMNS = KEY_COLUMNS + SELF_COLUMNS + HUMAN_COLUMNS


# ==============================================================================================================
# array layer


def _vec(x, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"label_health: {what} must be 1-D (N,), got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"label_health: {what} must be numbers, got dtype {a.dtype}")
    return a


def _same_length(**arrays: np.ndarray) -> None:
    sizes = {k: v.size for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"label_health: lengths differ {sizes}; pass one value per sample")


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def residuals(y, z) -> np.ndarray:
    """y − (a + b·z), the residuals of the least-squares fit of ``y`` (N,) on (1, ``z``) (N,), float64.

    A rank-deficient design (constant z) gives the minimum-norm fit, i.e. y minus its mean.
    """
    y64, z64 = _f64(y), _f64(z)
    design = np.column_stack([np.ones_like(z64), z64])
    coef, *_ = np.linalg.lstsq(design, y64, rcond=None)
    return y64 - design @ coef


def _is_affine(res: np.ndarray, y: np.ndarray) -> bool:
    centred = np.linalg.norm(y - y.mean())
    return bool(np.linalg.norm(res) <= AFFINE_TOL * max(centred, np.finfo(np.float64).tiny))


def partial_corr(x, y, z) -> float:
    """Partial correlation of ``x`` with ``y`` given ``z`` (all (N,)): r of their residuals after a least-squares
    regression of each on (1, z). NaN when n < 3, or when x or y is (numerically) affine in z (see the module
    docstring); equals r(x, y) when z is constant."""
    x, y, z = _vec(x, "x"), _vec(y, "y"), _vec(z, "z")
    _same_length(x=x, y=y, z=z)
    if x.size < 3:
        return float("nan")
    rx, ry = residuals(x, z), residuals(y, z)
    if _is_affine(rx, _f64(x)) or _is_affine(ry, _f64(y)):
        return float("nan")
    return pearson(rx, ry)


def shrink_factor(gen, y_m, human) -> float:
    """k* = <d, h − y_m> / <d, d> with d = gen − y_m: the least-squares k of y_m + k·d towards ``human``.

    All (N,). NaN when d is 0 everywhere (every k gives the same labels) or the input is empty.
    """
    gen, y_m, human = _vec(gen, "gen"), _vec(y_m, "y_m"), _vec(human, "human")
    _same_length(gen=gen, y_m=y_m, human=human)
    d = _f64(gen) - _f64(y_m)
    dd = float(d @ d)
    if dd == 0.0:
        return float("nan")
    return float(d @ (_f64(human) - _f64(y_m))) / dd


def _finite(*arrays: np.ndarray) -> np.ndarray:
    ok = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a)
    return ok


def human_health(gen, y_m, human) -> dict[str, float]:
    """The figures against human labels (``HUMAN_COLUMNS``, see the module docstring) of one (generator,
    modality, epoch). gen, y_m, human: (N,), the same train samples in the same order; samples where any is
    NaN are left out (``n_human`` counts the rest). Every figure is NaN when no sample is left."""
    gen, y_m, human = _vec(gen, "gen"), _vec(y_m, "y_m"), _vec(human, "human")
    _same_length(gen=gen, y_m=y_m, human=human)
    ok = _finite(gen, y_m, human)
    g, m, h = gen[ok], y_m[ok], human[ok]
    n = int(ok.sum())
    out: dict[str, float] = {c: float("nan") for c in HUMAN_COLUMNS}
    out["n_human"] = n
    if n == 0:
        return out
    g64, m64, h64 = _f64(g), _f64(m), _f64(h)
    k = shrink_factor(g, m, h)
    h3 = sims_bins(h, 3)
    out.update(
        r_gen_human=pearson(g64, h64),
        r_ym_human=pearson(m64, h64),
        mae_gen=float(np.mean(np.abs(g64 - h64))),
        mae_ym=float(np.mean(np.abs(m64 - h64))),
        acc3_gen=float(np.mean(sims_bins(g, 3) == h3)),
        acc3_ym=float(np.mean(sims_bins(m, 3) == h3)),
        partial_r=partial_corr(g, h, m),
        gap=float(np.mean(np.abs(g64 - m64))),
        k_star=k,
        r_at_k=pearson(m64 if np.isnan(k) else m64 + k * (g64 - m64), h64),
    )
    return out


def self_health(gen, y_m, *, H: float, label_range: float, prev=None) -> dict[str, float]:
    """The figures that need no human labels (``SELF_COLUMNS``, see the module docstring) of one (generator,
    modality, epoch). gen, y_m: (N,); prev: the same samples' labels at the previous recorded epoch, or None
    (then flips are NaN). H: the run's clamp bound; label_range: the dataset's label range (1 or 3)."""
    gen, y_m = _vec(gen, "gen"), _vec(y_m, "y_m")
    _same_length(gen=gen, y_m=y_m)
    if not (H > 0 and label_range > 0):
        raise ValueError(f"label_health: H={H} and label_range={label_range} must both be > 0")
    ok = _finite(gen, y_m)
    g, m = _f64(gen[ok]), _f64(y_m[ok])
    n = int(ok.sum())
    nan = float("nan")
    nz = m != 0
    n_sign = int(nz.sum())
    out: dict[str, float] = {
        "n": n,
        "r_gen_ym": pearson(g, m),
        "sign_agree": float(np.mean(np.sign(g[nz]) == np.sign(m[nz]))) if n_sign else nan,
        "n_sign": n_sign,
        "pinned": float(np.mean(np.abs(g) >= H * (1 - PIN_TOL))) if n else nan,
        "outside_range": float(np.mean(np.abs(g) > label_range * (1 + RANGE_TOL))) if n else nan,
        "flips": nan,
        "flip_share": nan,
    }
    if prev is not None:
        prev = _vec(prev, "prev")
        _same_length(gen=gen, prev=prev)
        both = _finite(gen, prev)
        flips = int(np.count_nonzero(np.sign(_f64(prev[both])) * np.sign(_f64(gen[both])) < 0))
        out["flips"] = flips
        out["flip_share"] = flips / int(both.sum()) if both.any() else nan
    return out


# ==============================================================================================================
# frame layer


def health_frame(
    labels: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    H: float,
    label_range: float,
    run_id: str = "",
    label_source: str = "",
    model: str = "selfmm",
    seed: int | None = None,
) -> pd.DataFrame:
    """Every figure of the module docstring for every (modality, epoch) of one run: a tidy frame.

    labels: ``reader.labels()`` (epoch, sample_id, label_T/A/V, ...; train samples); samples:
    ``reader.samples()`` (sample_id, split, y_m, [y_T, y_A, y_V]). Joined on sample_id against the train split;
    a label row naming a sample that is not a train sample raises ValueError. Flips compare each epoch with the
    previous recorded one (rows aligned by sample_id).

    Returns ``HEALTH_COLUMNS``: run_id, label_source, model, seed, modality, epoch, then ``SELF_COLUMNS`` and
    ``HUMAN_COLUMNS`` (the human ones NaN for a modality without a ``y_<m>`` column), sorted by (modality in T, A,
    V order, epoch). Empty (with those columns) when there are no labels.
    """
    mods = [m for m in UNIMODAL if f"label_{m}" in labels.columns]
    if labels.empty or not mods:
        return _empty(HEALTH_COLUMNS)
    train = samples.loc[samples["split"] == "train"]
    if train["sample_id"].duplicated().any():
        raise ValueError("label_health: samples has a duplicated train sample_id; the run's samples are corrupt")
    human = [m for m in mods if f"y_{m}" in train.columns]
    # join on sample_id through positions in the train samples sorted by id (no merge of the long frame: 3-5x
    # faster at MOSEI size); rows ordered by (epoch, sample_id) as before, so every figure is bit-identical
    train = train.sort_values("sample_id", kind="stable")
    pos = pd.Index(train["sample_id"]).get_indexer(labels["sample_id"])
    if (pos < 0).any():
        stray = labels["sample_id"][pos < 0]
        raise ValueError(
            f"label_health: labels name {stray.nunique()} sample ids not in the train split, e.g. {stray.iloc[0]!r}"
        )
    epoch = labels["epoch"].to_numpy()
    order = np.lexsort((pos, epoch))
    pos, epoch = pos[order], epoch[order]
    if len(pos) > 1 and ((np.diff(epoch) == 0) & (np.diff(pos) == 0)).any():
        raise ValueError("label_health: labels has a sample twice in one epoch; the run's label files are corrupt")
    starts = np.flatnonzero(np.r_[True, epoch[1:] != epoch[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(epoch)], strict=True))
    y_m = train["y_m"].to_numpy()
    rows: list[dict[str, Any]] = []
    key = {"run_id": run_id, "label_source": label_source, "model": model, "seed": seed}
    for m in mods:
        gen_all = labels[f"label_{m}"].to_numpy()[order]
        h = train[f"y_{m}"].to_numpy() if m in human else None
        prev: np.ndarray | None = None  # the previous recorded epoch's labels by train position (NaN: absent)
        for a, b in bounds:
            gen, at = gen_all[a:b], pos[a:b]
            before = None if prev is None else prev[at]
            row = {**key, "modality": m, "epoch": int(epoch[a])}
            row.update(self_health(gen, y_m[at], H=H, label_range=label_range, prev=before))
            if h is not None:
                row.update(human_health(gen, y_m[at], h[at]))
            rows.append(row)
            prev = np.full(len(train), np.nan, dtype=gen.dtype if gen.dtype.kind == "f" else np.float64)
            prev[at] = gen
    df = pd.DataFrame(rows)
    for c in HEALTH_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    return df[list(HEALTH_COLUMNS)].reset_index(drop=True)


def _recorded_range(manifest: dict) -> float | None:
    """run.json's dataset.label_range (written by every run), or None."""
    value = (manifest.get("dataset") or {}).get("label_range")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def run_info(manifest: dict, run_id: str) -> dict[str, Any]:
    """The keys and constants :func:`health_frame` needs from a run's run.json: run_id, label_source, model,
    seed, H (config.H), label_range (dataset.label_range; each falls back to the other when missing).
    label_source defaults to "ulgm" and model to "selfmm" (runs written before they were recorded)."""
    cfg = manifest.get("config") or {}
    exp = manifest.get("experiment") or {}
    H = cfg.get("H") if isinstance(cfg.get("H"), int | float) and cfg.get("H") > 0 else None
    R = _recorded_range(manifest)
    if H is None and R is None:
        raise ValueError(f"run {run_id}: run.json records neither config.H nor dataset.label_range; retrain the run")
    return {
        "run_id": run_id,
        "label_source": str(manifest.get("label_source") or cfg.get("label_source") or "ulgm"),
        "model": str(manifest.get("model") or cfg.get("model") or "selfmm"),
        "seed": cfg.get("seed", exp.get("seed")),
        "H": H if H is not None else R,
        "label_range": R if R is not None else H,
    }


def run_health(reader) -> pd.DataFrame:
    """:func:`health_frame` of a run: ``reader`` is a ``selfmm`` run reader (``RunReader``: manifest, run_id,
    labels(), samples()); every committed epoch. Read errors are the reader's (RunError)."""
    info = run_info(reader.manifest, reader.run_id)
    return health_frame(reader.labels(), reader.samples(), **info)


__all__ = [
    "ALARM_COLUMNS",
    "HEALTH_COLUMNS",
    "HUMAN_COLUMNS",
    "KEY_COLUMNS",
    "PIN_TOL",
    "RANGE_TOL",
    "SELF_COLUMNS",
    "alarm_held",
    "health_frame",
    "human_health",
    "inversion_alarms",
    "partial_corr",
    "residuals",
    "run_alarm",
    "run_health",
    "run_info",
    "self_health",
    "shrink_factor",
]
