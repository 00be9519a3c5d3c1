"""What the MMSA metric names mean, per dataset family (selfmm/metrics.py computes them; definitions from
/work/shared/reference/selfmm-reference.md §metrics). Pure text, no Streamlit."""

from __future__ import annotations

_COMMON = {
    "loss": "training objective (train) / L1 of the multimodal head, i.e. its MAE (valid, test)",
    "MAE": "mean absolute error of the prediction (label units; lower is better)",
    "Corr": "Pearson correlation of prediction and label",
}
_SIMS = {  # CH-SIMS / v2: labels in [-1, 1], classes by bins
    "Mult_acc_2": "2-class accuracy: non-positive (≤ 0) vs positive (> 0)",
    "Mult_acc_3": "3-class accuracy: negative (≤ −0.1), neutral, positive (> 0.1)",
    "Mult_acc_5": "5-class accuracy, bins at ±0.1 and ±0.7",
    "F1_score": "weighted F1 of the 2 classes of Mult_acc_2",
}
_MOSI = {  # MOSI / MOSEI: labels in [-3, 3]
    "Has0_acc_2": "2-class accuracy over all samples: negative (< 0) vs non-negative (≥ 0)",
    "Has0_F1_score": "weighted F1 of the Has0 classes",
    "Non0_acc_2": "2-class accuracy without the samples labelled 0: negative vs positive",
    "Non0_F1_score": "weighted F1 of the Non0 classes",
    "Mult_acc_5": "5-class accuracy: both clipped to [−2, 2] and rounded to integers",
    "Mult_acc_7": "7-class accuracy: both clipped to [−3, 3] and rounded to integers",
}


def metric_help(name: str, dataset: str | None = None) -> str:
    """One line for a metric key (``Mult_acc_2``, ``pred_M/MAE``, ...); the dataset picks the SIMS or the MOSI
    definitions (Mult_acc_5 differs). Unknown names: an empty string."""
    key = name.split("/", 1)[-1]
    family = _SIMS if str(dataset or "sims").lower().startswith("sims") else _MOSI
    return _COMMON.get(key) or family.get(key) or {**_MOSI, **_SIMS}.get(key, "")
