"""CMC's classification metrics from 3-class logits (``src/eval_metrics.py``).

Differences from the reference: values are not rounded to 4 decimals. Reference bug, kept by default: Non0_acc_2
and Non0_F1_score compare the (neg, pos) argmax (0/1) with the untouched 3-class truth (0/2), so a positive sample
never counts as correct; ``fix_non0=True`` maps the truth to 0/1 first.
"""

from __future__ import annotations

import numpy as np

from selfmm.metrics import accuracy, weighted_f1

KEYS = ("Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score", "Acc_3", "F1_score_3")


def classification_metrics(dataset: str, logits, true, fix_non0: bool = False) -> dict[str, float]:
    """logits (N, 3), true (N,) classes 0/1/2 -> {KEYS}. Has0 truth: SIMS non-positive vs positive (class <= 1 ->
    0), MOSI/MOSEI negative vs non-negative (class < 1 -> 0); the prediction drops the neutral logit."""
    logits = np.asarray(logits, dtype=np.float64)
    true = np.asarray(true).astype(np.int64).reshape(-1)
    pred3 = np.argmax(logits, axis=1)
    two = logits[:, [0, 2]]
    pred2 = np.argmax(two, axis=1)
    true2 = (true > 1).astype(np.int64) if dataset in ("sims", "simsv2") else (true >= 1).astype(np.int64)
    nz = true != 1
    t_nz = (true[nz] > 1).astype(np.int64) if fix_non0 else true[nz]
    return {
        "Has0_acc_2": accuracy(true2, pred2),
        "Has0_F1_score": weighted_f1(true2, pred2),
        "Non0_acc_2": accuracy(t_nz, pred2[nz]),
        "Non0_F1_score": weighted_f1(t_nz, pred2[nz]),
        "Acc_3": accuracy(true, pred3),
        "F1_score_3": weighted_f1(true, pred3),
    }


__all__ = ["KEYS", "classification_metrics"]
