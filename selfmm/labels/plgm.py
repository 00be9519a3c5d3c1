"""PLGM: the Pseudo Label Generation Module of CMC (gw-zhong/CMC ``src/train_pseudo_pretrain.py``), its pure math and a Self-MM label source.

Pure functions (no state), as the authors' ``src/train_pseudo_pretrain.py`` computes them (gw-zhong/CMC ee0c296):

- :func:`momentum_schedule`: m(e) = 1 − (1 − m0) / e^γ, used for the soft-label momentum (:data:`LABEL_MOMENTUM`)
  and for the EMA teachers (:data:`TEACHER_MOMENTUM`); e is the 1-based epoch;
- :func:`classes_of`: CMC's 3 classes of a regression label: 0 if y < 0, 1 if y == 0 exactly, 2 if y > 0;
- :func:`calibrate`: the calibrated target of one visit: base one-hot b = one-hot(argmax s), "reversed" one-hot
  r = the one-hot nearest to p in L2 (= one-hot(argmax p), ties to the lowest index), α = (g_b − g_r)/(g_b + g_r)
  with g = L2 gaps to p, target t = (1 − α)·b + α·r;
- :func:`soft_update`: s ← m·s + (1 − m)·t.

One deliberate deviation: when p is exactly one-hot in float32 and equals b, g_b = g_r = 0 and the reference's α is
0/0 = NaN, which would poison that soft vector for good; here α = 0 (the target is b, as it is for every other p
whose argmax is b).

:class:`PLGM` (``label_source=plgm``) is an ADAPTATION of PLGM to the Self-MM model, not CMC: Self-MM's
unimodal heads are regression heads, so

- each head output ŷ (a number) is mapped to CMC's 3 classes by :func:`regression_probs`, a softmax over negative
  squared distances to the class anchors (−H, 0, H): p_c ∝ exp(−((ŷ − a_c)/H)² / τ), with τ =
  ``cfg.plgm_temperature`` (default 0.25: ŷ = ±H gives p(that class) ≈ 0.98, ŷ = ±H/2 sits on the boundary
  between that class and neutral, p = 0.5/0.5);
- a soft 3-vector per train sample and modality is kept in buffers, initialised one-hot(class(y_m)) (the
  reference's lazy first-visit init, done up front), and updated once per visit (:func:`soft_update`) from the
  detached training-forward head outputs, with the label momentum m(e) of ``cfg.plgm_m0_T/A/V`` and
  ``cfg.plgm_gamma`` (defaults: the reference's 0.8 / 0.99 / 0.99 and 0.5, so A/V classes barely move:
  :func:`flip_epochs`);
- its regression target is the expected value E_s[(−1, 0, 1)]·H = (s_pos − s_neg)·H;
- its loss weights: 1 by default (``unimodal_weighting=auto`` resolves to ``none`` for plgm). Self-MM's
  tanh(|y_s − y_m|) measures how far a unimodal label has moved from y_m; PLGM's targets start at sign(y_m)·H, so
  that weight would mostly measure the quantisation gap |sign(y_m)·H − y_m| (largest for small |y_m|), not a
  disagreement. ``unimodal_weighting=tanh`` gives Self-MM's weight on these targets.

Shapes: N train samples, B batch size, classes in the order (negative, neutral, positive).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from selfmm.config import UNIMODAL
from selfmm.labels.base import LabelGenerator, LabelSnapshot, loss_weights, to_numpy

N_CLASSES = 3
CLASS_NAMES = ("neg", "neu", "pos")  # column suffixes of the snapshot's extra table
# (m0, γ) per modality: argparse defaults of CMC's main.py (init_{t,a,v}_momentum, {t,a,v}_momentum_gamma) ...
LABEL_MOMENTUM = {"T": (0.8, 0.5), "A": (0.99, 0.5), "V": (0.99, 0.5)}
# ... and of its EMA teachers (init_ema_{t,a,v}_model_momentum, ema_{t,a,v}_model_momentum_gamma)
TEACHER_MOMENTUM = {"T": (0.8, 2.5), "A": (0.9, 5.0), "V": (0.6, 2.0)}


# --------------------------------------------------------------------------------------------------------------
# pure functions


def momentum_schedule(m0: float, gamma: float, epoch: int) -> float:
    """m(e) = 1 − (1 − m0) / e^γ for the 1-based epoch e (the reference's ``get_momentum``); m(1) = m0, m -> 1."""
    e = int(epoch)
    if e < 1:
        raise ValueError(f"momentum_schedule: epoch must be >= 1 (1-based), got {epoch}")
    return 1 - (1 - m0) / (e**gamma)


def label_momentum(modality: str, epoch: int) -> float:
    """The reference's soft-label momentum of ``modality`` ("T", "A", "V") at ``epoch`` (:data:`LABEL_MOMENTUM`)."""
    m0, gamma = LABEL_MOMENTUM[modality]
    return momentum_schedule(m0, gamma, epoch)


def teacher_momentum(modality: str, epoch: int) -> float:
    """The reference's EMA-teacher momentum of ``modality`` at ``epoch`` (:data:`TEACHER_MOMENTUM`)."""
    m0, gamma = TEACHER_MOMENTUM[modality]
    return momentum_schedule(m0, gamma, epoch)


def classes_of(y) -> Tensor:
    """CMC's classes of regression labels: 0 if y < 0, 1 if y == 0 (exactly), 2 if y > 0. (B,) -> (B,) long."""
    y = torch.as_tensor(y)
    return torch.where(y < 0, 0, torch.where(y == 0, 1, 2)).long()


def one_hot(classes: Tensor) -> Tensor:
    """(B,) long -> (B, 3) float32 one-hot."""
    return nn.functional.one_hot(classes.long(), N_CLASSES).float()


def reversed_class(probs: Tensor) -> Tensor:
    """The class of the one-hot nearest to p in L2, ties to the lowest index (the reference's ``reverse_labels``,
    which scans the candidates with a strict ``<``). Since ‖p − e_c‖² = ‖p‖² + 1 − 2·p_c this is argmax p.

    probs (B, 3) -> (B,) long.
    """
    eye = torch.eye(N_CLASSES, dtype=probs.dtype, device=probs.device)
    dist = torch.linalg.vector_norm(probs[:, None, :] - eye[None], dim=-1)  # (B, 3): ‖p − e_c‖
    return torch.argmin(dist, dim=-1)  # first minimum on ties, as the reference's strict "<" scan


def calibrate(probs: Tensor, base: Tensor) -> tuple[Tensor, Tensor]:
    """Calibrated target of one visit (the reference's ``generate_unified_pseudo_labels``).

    Args:
        probs: (B, 3) p = softmax of the (detached) prediction's logits.
        base: (B,) long, the base class argmax s (the current hard pseudo label).

    Returns:
        ``(target (B, 3), alpha (B,))`` with b = one-hot(base), r = one-hot(:func:`reversed_class` (p)),
        α = (‖p − b‖ − ‖p − r‖) / (‖p − b‖ + ‖p − r‖) ∈ [0, 1) and target = (1 − α)·b + α·r. α = 0 whenever
        argmax p == base (then r = b); where both gaps are 0 (p exactly one-hot) α = 0 too (the reference: NaN).
    """
    probs = probs.float()
    b = one_hot(base).to(probs.device)
    r = one_hot(reversed_class(probs))
    g_b = torch.linalg.vector_norm(probs - b, dim=-1)  # (B,)
    g_r = torch.linalg.vector_norm(probs - r, dim=-1)
    denom = g_b + g_r
    alpha = torch.where(denom > 0, (g_b - g_r) / torch.where(denom > 0, denom, 1.0), 0.0)
    target = (1 - alpha[:, None]) * b + alpha[:, None] * r
    return target, alpha


def soft_update(soft: Tensor, target: Tensor, m: float) -> Tensor:
    """s ← m·s + (1 − m)·t (the reference's operation order). soft, target (B, 3); m a float in [0, 1]."""
    return m * soft + (1 - m) * target


def expected_label(soft: Tensor, H: float) -> Tensor:
    """E_s[(−1, 0, 1)]·H = (s_pos − s_neg)·H: a soft 3-vector as a regression label. (..., 3) -> (...)."""
    anchors = torch.tensor((-1.0, 0.0, 1.0), dtype=soft.dtype, device=soft.device)
    return (soft @ anchors) * H


def regression_probs(pred: Tensor, H: float, temperature: float) -> Tensor:
    """The adaptation's map of regression outputs to CMC's 3 classes (not in CMC, whose heads are classifiers).

    p_c = softmax_c(−((ŷ − a_c)/H)² / τ) with anchors a = (−H, 0, H). pred (B,) -> (B, 3). Adjacent classes
    split at ŷ = ±H/2; τ sets how sharp: the logit gap between neighbours is (2|ŷ|/H − 1)/τ.
    """
    anchors = torch.tensor((-1.0, 0.0, 1.0), dtype=torch.float32, device=pred.device) * H
    d2 = ((pred.float()[:, None] - anchors[None]) / H) ** 2  # (B, 3)
    return torch.softmax(-d2 / temperature, dim=-1)


# --------------------------------------------------------------------------------------------------------------
# the Self-MM label source (an adaptation)


class PLGM(LabelGenerator):
    """``label_source=plgm``: PLGM's soft labels as Self-MM's unimodal regression targets (an ADAPTATION, module doc).

    Buffers (all state, so ``state_dict`` save/load resumes bit-identically), X in T, A, V:

    - ``soft_X`` (N, 3) float32: the soft vector of each train row, initially one-hot(class(y_m));
    - ``alpha_X`` (N,) float32: the α of the row's last update (NaN before its first);
    - ``y_m`` (N,) float32: the multimodal labels (for the tanh weighting).

    Args:
        y_m: (N,) the train split's regression labels.
        H: label range: anchors (−H, 0, H), targets in [−H, H].
        temperature: τ of :func:`regression_probs`.
        momentum: ``{"T": (m0, γ), "A": ..., "V": ...}`` label-momentum schedules (default :data:`LABEL_MOMENTUM`).
        weighting: ``"none"`` (weights 1) or ``"tanh"`` (tanh(|label − y_m|), Self-MM's).
    """

    name: ClassVar[str] = "plgm"

    def __init__(
        self,
        y_m,
        H: float,
        temperature: float = 0.25,
        momentum: dict[str, tuple[float, float]] | None = None,
        weighting: str = "none",
    ):
        super().__init__()
        y = torch.as_tensor(y_m, dtype=torch.float32).reshape(-1)
        if y.numel() < 1:
            raise ValueError("PLGM: y_m is empty")
        if not torch.isfinite(y).all():
            raise ValueError("PLGM: y_m contains NaN or inf; fix the dataset's regression_labels")
        if H <= 0 or temperature <= 0:
            raise ValueError(f"PLGM: H and temperature must be > 0, got H={H}, temperature={temperature}")
        self.n_train = int(y.numel())
        self.H = float(H)
        self.temperature = float(temperature)
        self.momentum = dict(momentum or LABEL_MOMENTUM)
        for m in UNIMODAL:
            m0, gamma = self.momentum[m]
            if not (0.0 <= m0 <= 1.0) or gamma < 0:
                raise ValueError(f"PLGM: momentum[{m!r}] = ({m0}, {gamma}); need 0 <= m0 <= 1 and gamma >= 0")
        loss_weights({m: y[:1] for m in UNIMODAL}, y[:1], weighting)  # fails early on a bad weighting
        self.weighting = weighting
        self.register_buffer("y_m", y.clone())
        init = one_hot(classes_of(y))
        for m in UNIMODAL:
            self.register_buffer(f"soft_{m}", init.clone())
            self.register_buffer(f"alpha_{m}", torch.full((self.n_train,), float("nan")))

    @classmethod
    def from_config(cls, cfg, n_train: int, y_m: Tensor, human, dims) -> PLGM:
        """From ``cfg.H``, ``cfg.plgm_temperature``, ``cfg.plgm_m0_T/A/V``, ``cfg.plgm_gamma`` and ``cfg.weighting``."""
        y = torch.as_tensor(y_m, dtype=torch.float32).reshape(-1)
        if y.numel() != n_train:
            raise ValueError(f"PLGM: y_m has {y.numel()} rows, expected n_train={n_train}")
        momentum = {m: (float(getattr(cfg, f"plgm_m0_{m}")), float(cfg.plgm_gamma)) for m in UNIMODAL}
        return cls(y, cfg.H, cfg.plgm_temperature, momentum, cfg.weighting)

    def soft(self, m: str) -> Tensor:
        """The (N, 3) soft-vector buffer of modality ``m``."""
        return getattr(self, f"soft_{m}")

    def targets(self, index) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """index (B,) -> (labels {"T","A","V"} -> (B,), weights {"T","A","V"} -> (B,)), before this step's update."""
        idx = self.check_index(index, self.n_train, self.y_m.device)
        labels = {m: expected_label(self.soft(m)[idx], self.H) for m in UNIMODAL}
        return labels, loss_weights(labels, self.y_m[idx], self.weighting)

    @torch.no_grad()
    def update(self, index, feat: dict[str, Tensor] | None, pred: dict[str, Tensor], epoch: int) -> None:
        """One visit of these rows: s ← m(e)·s + (1 − m(e))·t from the detached head predictions.

        index (B,) unique rows; pred ``{"T","A","V"} -> (B,)`` regression outputs (``"M"`` is ignored); ``feat``
        is not used (PLGM looks at predictions only); epoch 1-based (the momentum's e).
        """
        idx = self.check_index(index, self.n_train, self.y_m.device)
        if idx.numel() != torch.unique(idx).numel():
            raise ValueError("PLGM.update: index has repeated rows; each sample may appear once per batch")
        for m in UNIMODAL:
            y_hat = pred[m].detach().reshape(-1).to(self.y_m.device)
            if y_hat.numel() != idx.numel():
                raise ValueError(f"PLGM.update: pred[{m!r}] has {y_hat.numel()} rows, index has {idx.numel()}")
            s = self.soft(m)[idx]  # (B, 3)
            probs = regression_probs(y_hat, self.H, self.temperature)
            target, alpha = calibrate(probs, torch.argmax(s, dim=-1))
            m0, gamma = self.momentum[m]
            self.soft(m)[idx] = soft_update(s, target, momentum_schedule(m0, gamma, epoch))
            getattr(self, f"alpha_{m}")[idx] = alpha

    def extra_frame(self) -> pd.DataFrame:
        """One row per train sample: ``index``, ``soft_X_neg/neu/pos`` (float32), ``class_X`` (int8, argmax s),
        ``alpha_X`` (float32, α of the last update; NaN before the first) for X in T, A, V."""
        d: dict[str, np.ndarray] = {"index": np.arange(self.n_train, dtype=np.int32)}
        for m in UNIMODAL:
            s = self.soft(m).detach().cpu()
            for c, cname in enumerate(CLASS_NAMES):
                d[f"soft_{m}_{cname}"] = s[:, c].numpy().copy()
            d[f"class_{m}"] = torch.argmax(s, dim=-1).numpy().astype(np.int8)
            d[f"alpha_{m}"] = to_numpy(getattr(self, f"alpha_{m}"))
        return pd.DataFrame(d)

    def snapshot(self) -> LabelSnapshot:
        """Labels E[s]·(−1, 0, 1)·H and weights of the whole train split, and :meth:`extra_frame` as ``extra``."""
        labels, weights = self.targets(torch.arange(self.n_train))
        return LabelSnapshot(
            labels={m: to_numpy(labels[m]) for m in UNIMODAL},
            weights={m: to_numpy(weights[m]) for m in UNIMODAL},
            extra=self.extra_frame(),
        )

    def extra_repr(self) -> str:
        return f"n_train={self.n_train}, H={self.H}, temperature={self.temperature}, momentum={self.momentum}"


def flip_epochs(m0: float, gamma: float, alpha: float, n_epochs: int) -> int | None:
    """Epoch at which a soft vector that starts one-hot(b) and is updated once per epoch towards a constant other
    class c with mix α first changes its argmax (mass on c > mass on b), or None within ``n_epochs``.

    The argument for "A/V pseudo classes never change under the defaults": pure arithmetic on
    :func:`soft_update`, α held fixed; the target while b is the argmax is (1 − α)·b + α·c.
    """
    s_b, s_c = 1.0, 0.0
    for e in range(1, n_epochs + 1):
        m = momentum_schedule(m0, gamma, e)
        s_b, s_c = m * s_b + (1 - m) * (1 - alpha), m * s_c + (1 - m) * alpha
        if s_c > s_b:
            return e
    return None


__all__ = [
    "CLASS_NAMES",
    "LABEL_MOMENTUM",
    "N_CLASSES",
    "TEACHER_MOMENTUM",
    "PLGM",
    "calibrate",
    "classes_of",
    "expected_label",
    "flip_epochs",
    "label_momentum",
    "momentum_schedule",
    "one_hot",
    "regression_probs",
    "reversed_class",
    "soft_update",
    "teacher_momentum",
]
