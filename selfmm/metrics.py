"""Regression metrics of MMSA 2.2.1 (``utils/metricsTop.py``: ``MetricsTop.__eval_mosi_regression`` and ``__eval_sims_regression``), in numpy only.

No torch and no scikit-learn at import: this module is read by the dashboard. The weighted F1 is implemented
here and cross-checked against ``sklearn.metrics.f1_score`` in the tests.

Two metric sets:

- MOSI / MOSEI (:func:`mosi_metrics`): Has0 = negative vs non-negative (ŷ ≥ 0 vs y ≥ 0) over all samples;
  Non0 = negative vs positive (> 0) over the samples with y ≠ 0; F1 is weighted with (true, pred) order (the
  post-2021-05 fixed order); Mult_acc_5 / _7 clip both to [−2, 2] / [−3, 3] and compare ``np.round`` (half to
  even); MAE and Corr on unclipped values.
- SIMS / SIMS v2 (:func:`sims_metrics`): clip both to [−1, 1] first; MAE and Corr on the clipped values; bins open
  on the left and closed on the right: 2-class edge 0; 3-class edges −0.1, 0.1; 5-class edges −0.7, −0.1, 0.1, 0.7
  (so y = −0.1 is in the lowest 3-class bin and y = 0.1 in the middle one); F1 weighted on the 2-class bins.

Conventions (where the reference is undefined or crashes):

- ``Corr`` is NaN, silently, when either vector is constant or has fewer than 2 values (np.corrcoef gives NaN with
  a RuntimeWarning). NaN, not 0: a correlation that cannot be measured is not "no correlation". Constant outputs
  do happen (a collapsed unimodal head), and writers of JSON must allow NaN.
- ``Non0_acc_2`` / ``Non0_F1_score`` are NaN when every y is 0 (the reference raises IndexError).
- Bin edges and clip bounds are applied in the inputs' own float precision (float32 stays float32), the way the
  reference compares a float32 array with Python floats under NumPy 2, so a float32 prediction of exactly
  ``np.float32(0.1)`` lands in the same bin as the reference puts it (the middle one). Integer inputs become
  float64.

All values are unrounded Python floats; MMSA rounds to 4 decimals.
"""

from __future__ import annotations

import numpy as np

MOSI_KEYS = (
    "Has0_acc_2",
    "Has0_F1_score",
    "Non0_acc_2",
    "Non0_F1_score",
    "Mult_acc_5",
    "Mult_acc_7",
    "MAE",
    "Corr",
)
SIMS_KEYS = ("Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE", "Corr")

SIMS_EDGES = {2: (0.0,), 3: (-0.1, 0.1), 5: (-0.7, -0.1, 0.1, 0.7)}  # interior edges; outer (-1.01, 1.01]

_DATASET_SET = {"mosi": "mosi", "mosei": "mosi", "sims": "sims", "simsv2": "sims"}


# --------------------------------------------------------------------------------------------------------------
# building blocks


def _as_pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Flatten to 1-D float arrays of one common float dtype (float32 kept, ints -> float64)."""
    p = np.asarray(pred).reshape(-1)
    t = np.asarray(true).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"metrics: pred has {p.size} values but true has {t.size}; pass one value per sample")
    if p.size == 0:
        raise ValueError("metrics: empty input; pass at least one (pred, true) pair")
    dtype = np.result_type(p.dtype, t.dtype)
    if not np.issubdtype(dtype, np.floating):
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            raise ValueError(f"metrics: expected numbers, got dtype {dtype}")
        dtype = np.dtype(np.float64)
    elif dtype.itemsize < 4:  # float16 -> float32
        dtype = np.dtype(np.float32)
    return p.astype(dtype, copy=False), t.astype(dtype, copy=False)


def accuracy(true: np.ndarray, pred: np.ndarray) -> float:
    """Fraction of exact matches; NaN for empty input."""
    true, pred = np.asarray(true).reshape(-1), np.asarray(pred).reshape(-1)
    return float(np.mean(true == pred)) if true.size else float("nan")


def weighted_f1(true: np.ndarray, pred: np.ndarray) -> float:
    """``sklearn.metrics.f1_score(true, pred, average="weighted")`` for any discrete labels.

    Σ over the classes c present in ``true`` of (n_c / N) · 2·tp_c / (2·tp_c + fp_c + fn_c), with n_c the true
    support. Classes only in ``pred`` weigh 0 (sklearn's zero_division=0 gives the same). NaN for empty input.
    Argument order matters: (true, pred).
    """
    true, pred = np.asarray(true).reshape(-1), np.asarray(pred).reshape(-1)
    if true.shape != pred.shape:
        raise ValueError(f"weighted_f1: true has {true.size} values, pred {pred.size}")
    if true.size == 0:
        return float("nan")
    total = 0.0
    for c in np.unique(true):
        is_t, is_p = true == c, pred == c
        tp = int(np.count_nonzero(is_t & is_p))
        n_c = int(np.count_nonzero(is_t))
        fp = int(np.count_nonzero(is_p)) - tp
        fn = n_c - tp
        total += n_c * (2.0 * tp / (2 * tp + fp + fn))  # n_c > 0, so the denominator is > 0
    return total / true.size


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """``np.corrcoef(x, y)[0, 1]``, or NaN without a warning when undefined (constant input, < 2 values)."""
    x, y = np.asarray(x).reshape(-1), np.asarray(y).reshape(-1)
    if x.size < 2:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.corrcoef(x, y)[0][1])


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error, accumulated in float64."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(true, np.float64))))


def sims_bins(x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class ids 0..n_classes-1 of values in [−1, 1]: intervals open on the left, closed on the right.

    The class of x is the number of interior edges strictly below x, compared in x's own float precision.
    """
    x = np.asarray(x)
    edges = np.asarray(SIMS_EDGES[n_classes], dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else None)
    return np.searchsorted(edges, x, side="left")


# --------------------------------------------------------------------------------------------------------------
# metric sets


def mosi_metrics(pred, true) -> dict[str, float]:
    """The MOSI/MOSEI regression set: ``MOSI_KEYS``. pred, true: (N,) array-likes, same length."""
    p, t = _as_pair(pred, true)
    has0_t, has0_p = t >= 0, p >= 0
    nz = t != 0
    non0_t, non0_p = t[nz] > 0, p[nz] > 0
    p5, t5 = np.clip(p, -2.0, 2.0), np.clip(t, -2.0, 2.0)
    p7, t7 = np.clip(p, -3.0, 3.0), np.clip(t, -3.0, 3.0)
    return {
        "Has0_acc_2": accuracy(has0_t, has0_p),
        "Has0_F1_score": weighted_f1(has0_t, has0_p),
        "Non0_acc_2": accuracy(non0_t, non0_p),
        "Non0_F1_score": weighted_f1(non0_t, non0_p),
        "Mult_acc_5": accuracy(np.round(t5), np.round(p5)),
        "Mult_acc_7": accuracy(np.round(t7), np.round(p7)),
        "MAE": mae(p, t),
        "Corr": pearson(p, t),
    }


def sims_metrics(pred, true) -> dict[str, float]:
    """The SIMS / SIMS v2 regression set: ``SIMS_KEYS``. Both clipped to [−1, 1] before everything."""
    p, t = _as_pair(pred, true)
    p, t = np.clip(p, -1.0, 1.0), np.clip(t, -1.0, 1.0)
    p2, t2 = sims_bins(p, 2), sims_bins(t, 2)
    return {
        "Mult_acc_2": accuracy(t2, p2),
        "Mult_acc_3": accuracy(sims_bins(t, 3), sims_bins(p, 3)),
        "Mult_acc_5": accuracy(sims_bins(t, 5), sims_bins(p, 5)),
        "F1_score": weighted_f1(t2, p2),
        "MAE": mae(p, t),
        "Corr": pearson(p, t),
    }


def metric_keys(dataset: str) -> tuple[str, ...]:
    """The keys :func:`regression_metrics` returns for ``dataset``."""
    return MOSI_KEYS if _metric_set(dataset) == "mosi" else SIMS_KEYS


def _metric_set(dataset: str) -> str:
    key = str(dataset).lower()
    if key not in _DATASET_SET:
        raise ValueError(f"regression_metrics: unknown dataset {dataset!r}; expected one of {', '.join(_DATASET_SET)}")
    return _DATASET_SET[key]


def regression_metrics(dataset: str, pred, true) -> dict[str, float]:
    """Dispatch: ``mosi``/``mosei`` -> :func:`mosi_metrics`; ``sims``/``simsv2`` -> :func:`sims_metrics`."""
    return mosi_metrics(pred, true) if _metric_set(dataset) == "mosi" else sims_metrics(pred, true)


__all__ = [
    "MOSI_KEYS",
    "SIMS_EDGES",
    "SIMS_KEYS",
    "accuracy",
    "mae",
    "metric_keys",
    "mosi_metrics",
    "pearson",
    "regression_metrics",
    "sims_bins",
    "sims_metrics",
    "weighted_f1",
]
