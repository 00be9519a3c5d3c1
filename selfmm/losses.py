"""The Self-MM training objective (MMSA 2.2.1 ``trains/multiTask/SELF_MM.py``: ``SELF_MM.weighted_loss`` summed in ``do_train``): weighted L1 over the four heads.

    L = mean_B |ŷ_m − y_m| + Σ_{s ∈ tasks ∩ {T,A,V}} mean_B (w_s · |ŷ_s − y_s|)

Each mean divides by the batch size B (not by the sum of the weights), exactly as the authors'
``weighted_loss``; the terms are summed in M, T, A, V order like the reference loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfmm.config import MODALITIES, UNIMODAL


def selfmm_loss(
    pred: dict[str, Tensor], targets: dict[str, Tensor], weights: dict[str, Tensor], tasks: str = "MTAV"
) -> tuple[Tensor, dict[str, Tensor]]:
    """Total loss and its per-head terms.

    Args:
        pred: ``{"M","T","A","V"} -> (B,)`` or (B, 1) head outputs (a head not in ``tasks`` may be absent).
        targets: same keys, (B,) labels: y_m for M, the (pre-update) generated/human labels for T/A/V.
        weights: ``{"T","A","V"} -> (B,)`` per-sample weights of the unimodal terms, typically
            ``ULGM.weights(index)`` = tanh(|y_s − y_m|) of the labels before this batch's update; all ones for
            unweighted training. Targets and weights are treated as constants (detached).
        tasks: ``"M"`` followed by any of T, A, V; a unimodal head not listed contributes nothing.

    Returns:
        ``(total, {"M": L_M, "T": L_T, "A": L_A, "V": L_V})``: scalar tensors; a term outside ``tasks`` is a
        zero tensor (no graph). ``total`` carries the gradient of ``pred``.
    """
    if not tasks.startswith("M") or set(tasks) - set(MODALITIES) or len(set(tasks)) != len(tasks):
        raise ValueError(f"selfmm_loss: tasks={tasks!r} must be 'M' followed by any of T, A, V (e.g. 'MTAV')")
    if "M" not in pred or "M" not in targets:
        raise KeyError("selfmm_loss: pred and targets need the 'M' (multimodal) entry")
    p_m = pred["M"].reshape(-1)
    B = p_m.numel()
    if B == 0:
        raise ValueError("selfmm_loss: empty batch")

    def _vec(d: dict, m: str, what: str) -> Tensor:
        if m not in d:
            raise KeyError(f"selfmm_loss: {what} lacks {m!r}, which tasks={tasks!r} trains")
        v = d[m].reshape(-1)
        if v.numel() != B:
            raise ValueError(f"selfmm_loss: {what}[{m!r}] has {v.numel()} values, expected the batch size {B}")
        return v

    y_m = _vec(targets, "M", "targets").detach().to(p_m.dtype)
    # M weight is 1; the reference multiplies by ones, which is exact, so plain mean is bitwise equal.
    parts = {"M": torch.mean(torch.abs(p_m - y_m))}
    total = parts["M"]
    zero = torch.zeros((), dtype=p_m.dtype, device=p_m.device)
    for m in UNIMODAL:
        if m not in tasks:
            parts[m] = zero
            continue
        p = _vec(pred, m, "pred")
        y = _vec(targets, m, "targets").detach().to(p.dtype)
        w = _vec(weights, m, "weights").detach().to(p.dtype)
        parts[m] = torch.mean(w * torch.abs(p - y))
        total = total + parts[m]
    return total, parts


__all__ = ["selfmm_loss"]
