"""SupCon as CMC computes it (``SupConLoss`` in ``src/models.py``)."""

from __future__ import annotations

import torch
from torch import Tensor


def binarise(classes: Tensor, dataset: str) -> Tensor:
    """CMC's SupCon labels: SIMS / SIMS v2 positive vs non-positive (class > 1), MOSI / MOSEI non-negative vs
    negative (class >= 1). (N,) long -> (N,) float 0/1."""
    if dataset in ("sims", "simsv2"):
        return (classes > 1).float()
    return (classes >= 1).float()


def supcon(features: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """features (N, d) (unit rows in CMC: [h_t; h_a; h_v], N = 3B), labels (N,) -> scalar.

    Per anchor i: −log(Σ_{j≠i, y_j = y_i} e^{s_ij/τ} / Σ_{j≠i} e^{s_ij/τ}) with s = F Fᵀ, averaged over the
    anchors that have at least one positive; 0 when none has. Positives cross samples AND modalities.
    """
    sim = features @ features.T  # (N, N)
    lab = labels.contiguous().view(-1, 1)
    pos = torch.eq(lab, lab.T).float()
    pos.fill_diagonal_(0)
    e = torch.exp(sim / temperature)
    num = (e * pos).sum(dim=1)
    den = e.sum(dim=1) - e.diag()
    valid = pos.sum(dim=1) > 0
    if valid.sum() == 0:
        return torch.tensor(0.0, device=features.device)
    return -torch.log(num[valid] / den[valid]).mean()


__all__ = ["binarise", "supcon"]
