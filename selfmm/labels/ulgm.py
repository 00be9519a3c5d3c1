"""ULGM: the Unimodal Label Generation Module of Self-MM (Yu et al., AAAI 2021), label_source "ulgm".

ULGM has no parameters. It keeps, for every training sample, the last seen ULGM feature F* of each head
(the paper's "global representations"), the current label of each head, and one positive and one negative
class centre per head. From epoch 2 on it turns the relative distances of a batch's features to the centres into
new unimodal labels and folds them in with a momentum that makes the label a weighted average of all labels
generated so far.

Everything follows the authors' code (MMSA 2.2.1 ``trains/multiTask/SELF_MM.py``), operation for operation, so
that float32 results agree with it bit for bit (``tests/test_reference_equivalence.py`` replays both). The one
deliberate deviation: an empty class (no label < 0, or none >= 0 / > 0) keeps its previous centre, where the
reference's ``torch.mean`` over zero rows gives a NaN centre and from then on NaN labels.

Shapes: N = number of training samples, B = batch size, d_X = feature size of head X.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfmm.config import MODALITIES, UNIMODAL
from selfmm.labels.base import LabelGenerator, LabelSnapshot, loss_weights, subtask_weight, to_numpy

EPS = 1e-8  # the reference's MIN


# --------------------------------------------------------------------------------------------------------------
# pure functions (no state; all (B,) unless said)


def relative_distance(feat: Tensor, c_pos: Tensor, c_neg: Tensor, eps: float = EPS) -> Tensor:
    """α = (d_n − d_p) / (d_p + eps) with plain (unsquared, unscaled) L2 distances.

    feat (B, d), c_pos (d,), c_neg (d,) -> α (B,). α > 0 means nearer the positive centre; α ∈ (−1, ∞).
    """
    d_p = torch.norm(feat - c_pos, dim=-1)  # (B,)
    d_n = torch.norm(feat - c_neg, dim=-1)  # (B,)
    return (d_n - d_p) / (d_p + eps)


def new_unimodal_label(alpha_s: Tensor, alpha_m: Tensor, y_m: Tensor, H: float, eps: float = EPS) -> Tensor:
    """ŷ_s = 0.5·(α_s/(α_m+eps))·y_m + 0.5·(y_m + α_s − α_m), clamped to [−H, H].

    The average of the "ratio" hypothesis y_m·α_s/α_m and the "difference" hypothesis y_m + α_s − α_m
    (the difference form keeps y_m = 0 samples moving). All arguments (B,); returns (B,).
    """
    ratio = alpha_s / (alpha_m + eps)
    # Same operation order as the reference, so float32 results are bitwise equal.
    new = 0.5 * ratio * y_m + 0.5 * (y_m + alpha_s - alpha_m)
    return torch.clamp(new, min=-H, max=H)


def momentum_update(old: Tensor, new: Tensor, epoch: int) -> Tensor:
    """(n−1)/(n+1)·old + 2/(n+1)·new with n = ``epoch`` (1-based; used for n >= 2).

    Applied once per sample per epoch, this makes the label at epoch n equal to Σ_j 2j/(n(n+1))·g_j, a weighted
    average of the labels g_j generated so far (g_1 = y_m) in which later epochs weigh more.
    """
    n = int(epoch)
    if n < 1:
        raise ValueError(f"momentum_update: epoch must be >= 1 (1-based), got {epoch}")
    return (n - 1) / (n + 1) * old + 2 / (n + 1) * new


# --------------------------------------------------------------------------------------------------------------
# the stateful module


class ULGM(LabelGenerator):
    """Feature bank, generated labels and class centres of all four heads, as buffers (saved with ``state_dict``).

    Buffers, for X in M, T, A, V:

    - ``features_X`` (N, d_X): the last F*_X stored for each training row (zeros until the row is visited);
    - ``labels_X`` (N,): ``labels_M`` is y_m and never changes; ``labels_T|A|V`` are the generated labels;
    - ``center_pos_X``, ``center_neg_X`` (d_X,): plain means of the stored features over the rows whose label
      (y_m for M, the current generated label for T/A/V) is positive (``> 0`` if ``exclude_zero`` else ``>= 0``)
      or negative (``< 0``). Zeros until the first ``step``.

    Centres are recomputed as the reference does (boolean row selection + float32 ``torch.mean`` over the whole
    bank, O(N·d) per batch), which keeps them bitwise equal to MMSA. Deviation from the reference: a class with no
    rows keeps its previous centre (the reference gets NaN).

    Args:
        n_train: number of training rows N; ``index`` values address rows 0..N-1 of the train split.
        dims: feature size per head, ``{"M": post_fusion_dim, "T": post_text_dim, "A": ..., "V": ...}``.
        H: generated labels are clamped to [−H, H] before the momentum step.
        exclude_zero: the reference's ``excludeZero``: label 0 counts as positive when False.
        weighting: the loss weights :meth:`targets` hands out: "tanh" (Self-MM) or "none" (ones).
    """

    name = "ulgm"

    def __init__(self, n_train: int, dims: dict[str, int], H: float, exclude_zero: bool, weighting: str = "tanh"):
        super().__init__()
        if n_train < 1:
            raise ValueError(f"ULGM: n_train must be >= 1, got {n_train}")
        missing = [m for m in MODALITIES if m not in dims]
        if missing:
            raise ValueError(f"ULGM: dims lacks {missing}; expected a feature size for each of {MODALITIES}")
        if H <= 0:
            raise ValueError(f"ULGM: H must be > 0, got {H}")
        self.n_train = int(n_train)
        self.dims = {m: int(dims[m]) for m in MODALITIES}
        self.H = float(H)
        self.exclude_zero = bool(exclude_zero)
        self.weighting = weighting
        for m in MODALITIES:
            d = self.dims[m]
            self.register_buffer(f"features_{m}", torch.zeros(self.n_train, d))
            self.register_buffer(f"labels_{m}", torch.zeros(self.n_train))
            self.register_buffer(f"center_pos_{m}", torch.zeros(d))
            self.register_buffer(f"center_neg_{m}", torch.zeros(d))

    @classmethod
    def from_config(cls, cfg, n_train, y_m, human, dims) -> ULGM:
        """Labels start at y_m (the reference's ``init_labels``); ``human`` is not used."""
        gen = cls(n_train, dims, cfg.H, cfg.exclude_zero, weighting=cfg.weighting)
        gen.init_labels(y_m)
        return gen

    # -- helpers ---------------------------------------------------------------------------------------------

    def _buf(self, kind: str, m: str) -> Tensor:
        return getattr(self, f"{kind}_{m}")

    def _index(self, index) -> Tensor:
        return self.check_index(index, self.n_train, self.labels_M.device)

    # -- public API --------------------------------------------------------------------------------------------

    @torch.no_grad()
    def init_labels(self, y_m: Tensor) -> None:
        """Set every label to y_m (N,) in dataset index order; reset the feature bank and the centres to zero
        (the reference's fresh trainer state)."""
        y = torch.as_tensor(y_m, dtype=torch.float32).reshape(-1)
        if y.numel() != self.n_train:
            raise ValueError(f"ULGM.init_labels: y_m has {y.numel()} rows, expected n_train={self.n_train}")
        if not torch.isfinite(y).all():
            raise ValueError("ULGM.init_labels: y_m contains NaN or inf; fix the dataset's regression_labels")
        for m in MODALITIES:
            self._buf("labels", m).copy_(y)
            self._buf("features", m).zero_()
            self._buf("center_pos", m).zero_()
            self._buf("center_neg", m).zero_()

    def labels(self, index) -> dict[str, Tensor]:
        """Current labels ``{"M","T","A","V"} -> (B,)`` of these rows (copies; later steps do not change them)."""
        idx = self._index(index)
        return {m: self._buf("labels", m)[idx] for m in MODALITIES}

    def weights(self, index) -> dict[str, Tensor]:
        """Loss weights ``{"T","A","V"} -> (B,)`` = tanh(|y_s − y_m|) from the current (pre-update) labels."""
        idx = self._index(index)
        y_m = self.labels_M[idx]
        return {m: subtask_weight(self._buf("labels", m)[idx], y_m) for m in UNIMODAL}

    def targets(self, index) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The contract's targets: the current T/A/V labels and their ``weighting`` weights, (B,) each."""
        lab = self.labels(index)
        labels = {m: lab[m] for m in UNIMODAL}
        if self.weighting == "tanh":
            return labels, self.weights(index)
        return labels, loss_weights(labels, lab["M"], self.weighting)

    def update(self, index, feat: dict[str, Tensor], pred: dict[str, Tensor], epoch: int) -> None:
        """The contract's update: :meth:`step` (ULGM does not use the predictions)."""
        self.step(index, feat, epoch)

    @torch.no_grad()
    def step(self, index, feat: dict[str, Tensor], epoch: int) -> None:
        """One training batch, in the reference order.

        1. ``epoch > 1``: new T/A/V labels from the batch features and the PREVIOUS centres, momentum n = epoch;
        2. store ``feat`` (detached) into the feature bank at ``index``;
        3. recompute all 8 centres over the whole bank with the current labels.

        index (B,) long with unique rows; feat ``{"M": (B, d_M), "T": (B, d_T), "A": ..., "V": ...}``.
        """
        idx = self._index(index)
        if idx.numel() != torch.unique(idx).numel():
            raise ValueError("ULGM.step: index has repeated rows; each sample may appear once per batch")
        f = {}
        for m in MODALITIES:
            if m not in feat:
                raise KeyError(f"ULGM.step: feat lacks {m!r}; expected the ULGM features of {MODALITIES}")
            x = feat[m].detach().to(self.labels_M.device, torch.float32)
            if x.shape != (idx.numel(), self.dims[m]):
                raise ValueError(
                    f"ULGM.step: feat[{m!r}] has shape {tuple(x.shape)}, expected ({idx.numel()}, {self.dims[m]})"
                )
            f[m] = x
        if epoch > 1:
            y_m = self.labels_M[idx]
            alpha_m = relative_distance(f["M"], self.center_pos_M, self.center_neg_M)
            for m in UNIMODAL:
                alpha_s = relative_distance(f[m], self._buf("center_pos", m), self._buf("center_neg", m))
                new = new_unimodal_label(alpha_s, alpha_m, y_m, self.H)
                lab = self._buf("labels", m)
                lab[idx] = momentum_update(lab[idx], new, epoch)
        for m in MODALITIES:
            self._buf("features", m)[idx] = f[m]
        self._update_centers()

    def _update_centers(self) -> None:
        """Plain means over the whole bank, as the reference (row selection + ``torch.mean``)."""
        for m in MODALITIES:
            lab = self._buf("labels", m)
            bank = self._buf("features", m)
            neg = lab < 0
            pos = lab > 0 if self.exclude_zero else lab >= 0
            for mask, kind in ((pos, "center_pos"), (neg, "center_neg")):
                if bool(mask.any()):  # empty class: keep the previous centre (the reference would store NaN)
                    self._buf(kind, m).copy_(torch.mean(bank[mask], dim=0))

    def centers(self) -> dict[str, dict[str, Tensor]]:
        """``{"M": {"pos": (d_M,), "neg": (d_M,)}, "T": ..., ...}`` (views of the buffers)."""
        return {m: {"pos": self._buf("center_pos", m), "neg": self._buf("center_neg", m)} for m in MODALITIES}

    def snapshot(self) -> LabelSnapshot:
        """Labels and weights of every train row (T/A/V, (N,)) and the 8 centres, as numpy copies."""
        labels, weights = self.targets(torch.arange(self.n_train))
        return LabelSnapshot(
            labels={m: to_numpy(labels[m]) for m in UNIMODAL},
            weights={m: to_numpy(weights[m]) for m in UNIMODAL},
            extra=None,
            centers={m: {k: to_numpy(v) for k, v in c.items()} for m, c in self.centers().items()},
        )

    def extra_repr(self) -> str:
        return f"n_train={self.n_train}, dims={self.dims}, H={self.H}, exclude_zero={self.exclude_zero}"


__all__ = [
    "EPS",
    "ULGM",
    "momentum_update",
    "new_unimodal_label",
    "relative_distance",
    "subtask_weight",
]
