"""ULGM: the Unimodal Label Generation Module of Self-MM (reference §2, §3).

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
from torch import Tensor, nn

from selfmm.config import MODALITIES, UNIMODAL

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


def subtask_weight(y_s: Tensor, y_m: Tensor) -> Tensor:
    """Per-sample weight tanh(|y_s − y_m|) of a unimodal loss term: 0 where the labels agree."""
    return torch.tanh(torch.abs(y_s - y_m))


# --------------------------------------------------------------------------------------------------------------
# the stateful module


class ULGM(nn.Module):
    """Feature bank, generated labels and class centres of all four heads, as buffers (saved with ``state_dict``).

    Buffers, for X in M, T, A, V:

    - ``features_X`` (N, d_X): the last F*_X stored for each training row (zeros until the row is visited);
    - ``labels_X`` (N,): ``labels_M`` is y_m and never changes; ``labels_T|A|V`` are the generated labels;
    - ``center_pos_X``, ``center_neg_X`` (d_X,): plain means of the stored features over the rows whose label
      (y_m for M, the current generated label for T/A/V) is positive (``> 0`` if ``exclude_zero`` else ``>= 0``)
      or negative (``< 0``). Zeros until the first ``step``.

    Deviation from the reference: a class with no rows keeps its previous centre (the reference gets NaN).

    Args:
        n_train: number of training rows N; ``index`` values address rows 0..N-1 of the train split.
        dims: feature size per head, ``{"M": post_fusion_dim, "T": post_text_dim, "A": ..., "V": ...}``.
        H: generated labels are clamped to [−H, H] before the momentum step.
        exclude_zero: the reference's ``excludeZero``: label 0 counts as positive when False.
        generate: False freezes the T/A/V labels (e.g. human or y_m labels given to ``init_labels``); ``step``
            then only stores features and recomputes the centres.
        exact_centers: True (default) recomputes each centre as the reference does (boolean row selection +
            float32 ``torch.mean`` over the whole bank): bitwise equal to MMSA, O(N·d) per batch. False keeps
            float64 per-class sums and counts updated from the batch's rows only, O(B·d) per batch (~10x faster
            at MOSEI size on CPU). Its centres differ from the reference's float32 means by float32 rounding
            (~1e-7), but the label formula divides by α_m, which amplifies that to ~1e-5 on the labels over a few
            epochs (measured against MMSA in ``tests/test_reference_equivalence.py``). The sums are derived
            state, rebuilt after ``init_labels`` and ``load_state_dict``.
    """

    def __init__(
        self,
        n_train: int,
        dims: dict[str, int],
        H: float,
        exclude_zero: bool,
        generate: bool = True,
        exact_centers: bool = True,
    ):
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
        self.generate = bool(generate)
        for m in MODALITIES:
            d = self.dims[m]
            self.register_buffer(f"features_{m}", torch.zeros(self.n_train, d))
            self.register_buffer(f"labels_{m}", torch.zeros(self.n_train))
            self.register_buffer(f"center_pos_{m}", torch.zeros(d))
            self.register_buffer(f"center_neg_{m}", torch.zeros(d))
            # derived, not saved: float64 class sums (2, d) [pos, neg] and counts (2,) of the bank rows
            self.register_buffer(f"_sums_{m}", torch.zeros(2, d, dtype=torch.float64), persistent=False)
            self.register_buffer(f"_counts_{m}", torch.zeros(2, dtype=torch.float64), persistent=False)
        self.exact_centers = bool(exact_centers)
        self._sums_valid = False  # rebuilt from the bank on the next step (after init or load_state_dict)
        self.register_load_state_dict_post_hook(lambda module, _keys: setattr(module, "_sums_valid", False))

    # -- helpers ---------------------------------------------------------------------------------------------

    def _buf(self, kind: str, m: str) -> Tensor:
        return getattr(self, f"{kind}_{m}")

    def _index(self, index) -> Tensor:
        """``index`` as a long tensor on the buffers' device, range-checked."""
        device = self.labels_M.device
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1).to(device)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n_train):
            raise IndexError(
                f"ULGM: index out of range [0, {self.n_train}): min {int(idx.min())}, max {int(idx.max())}; "
                "index must be the row position inside the train split"
            )
        return idx

    # -- public API --------------------------------------------------------------------------------------------

    @torch.no_grad()
    def init_labels(self, y_m: Tensor, unimodal: dict[str, Tensor] | None = None) -> None:
        """Set every label to y_m (N,) in dataset index order; ``unimodal`` optionally overrides T/A/V labels.

        Also resets the feature bank and the centres to zero (the reference's fresh trainer state).
        """
        y = torch.as_tensor(y_m, dtype=torch.float32).reshape(-1)
        if y.numel() != self.n_train:
            raise ValueError(f"ULGM.init_labels: y_m has {y.numel()} rows, expected n_train={self.n_train}")
        if not torch.isfinite(y).all():
            raise ValueError("ULGM.init_labels: y_m contains NaN or inf; fix the dataset's regression_labels")
        for m in MODALITIES:
            src = y
            if unimodal is not None and m in unimodal and m != "M":
                src = torch.as_tensor(unimodal[m], dtype=torch.float32).reshape(-1)
                if src.numel() != self.n_train:
                    raise ValueError(
                        f"ULGM.init_labels: unimodal[{m!r}] has {src.numel()} rows, expected {self.n_train}"
                    )
            self._buf("labels", m).copy_(src)
            self._buf("features", m).zero_()
            self._buf("center_pos", m).zero_()
            self._buf("center_neg", m).zero_()
        self._sums_valid = False

    def labels(self, index) -> dict[str, Tensor]:
        """Current labels ``{"M","T","A","V"} -> (B,)`` of these rows (copies; later steps do not change them)."""
        idx = self._index(index)
        return {m: self._buf("labels", m)[idx] for m in MODALITIES}

    def weights(self, index) -> dict[str, Tensor]:
        """Loss weights ``{"T","A","V"} -> (B,)`` = tanh(|y_s − y_m|) from the current (pre-update) labels."""
        idx = self._index(index)
        y_m = self.labels_M[idx]
        return {m: subtask_weight(self._buf("labels", m)[idx], y_m) for m in UNIMODAL}

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
        incremental = not self.exact_centers
        if incremental and not self._sums_valid:
            self._rebuild_sums()
        # the rows' class memberships and features before this batch, to take them out of the class sums
        old = (
            {m: (self._masks(self._buf("labels", m)[idx]), self._buf("features", m)[idx]) for m in MODALITIES}
            if incremental
            else {}
        )
        if epoch > 1 and self.generate:
            y_m = self.labels_M[idx]
            alpha_m = relative_distance(f["M"], self.center_pos_M, self.center_neg_M)
            for m in UNIMODAL:
                alpha_s = relative_distance(f[m], self._buf("center_pos", m), self._buf("center_neg", m))
                new = new_unimodal_label(alpha_s, alpha_m, y_m, self.H)
                lab = self._buf("labels", m)
                lab[idx] = momentum_update(lab[idx], new, epoch)
        for m in MODALITIES:
            self._buf("features", m)[idx] = f[m]
        if not incremental:
            self._update_centers()
            self._sums_valid = False  # the class sums were not kept up to date
            return
        for m in MODALITIES:
            w_old, f_old = old[m]
            w_new = self._masks(self._buf("labels", m)[idx])  # (2, B) float64
            sums, counts = self._buf("_sums", m), self._buf("_counts", m)
            sums += w_new @ f[m].double() - w_old @ f_old.double()  # (2, d)
            counts += w_new.sum(1) - w_old.sum(1)
            self._centers_from_sums(m)

    def _masks(self, lab: Tensor) -> Tensor:
        """(2, len(lab)) float64 class indicators [positive, negative] of these labels."""
        pos = lab > 0 if self.exclude_zero else lab >= 0
        return torch.stack([pos, lab < 0]).double()

    @torch.no_grad()
    def _rebuild_sums(self) -> None:
        """Class sums and counts from the whole bank (after init, load_state_dict, or when switching modes)."""
        for m in MODALITIES:
            w = self._masks(self._buf("labels", m))  # (2, N)
            self._buf("_sums", m).copy_(w @ self._buf("features", m).double())
            self._buf("_counts", m).copy_(w.sum(1))
        self._sums_valid = True

    def _centers_from_sums(self, m: str) -> None:
        sums, counts = self._buf("_sums", m), self._buf("_counts", m)
        # counts are exact integers in float64; an empty class keeps its previous centre (torch.where: no host sync)
        means = (sums / counts.clamp(min=1.0)[:, None]).float()  # (2, d)
        for k, kind in enumerate(("center_pos", "center_neg")):
            c = self._buf(kind, m)
            c.copy_(torch.where(counts[k] > 0.5, means[k], c))

    def _update_centers(self) -> None:
        """``exact_centers``: plain means over the whole bank, as the reference (row selection + ``torch.mean``).

        Bitwise equal to MMSA, but O(N·d) per batch (~3.6 ms at MOSEI size on 2 CPU cores).
        """
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

    def snapshot(self) -> dict:
        """Numpy copies for recording: ``{"labels": {X: (N,) float32}, "centers": {X: {"pos": (d,), "neg": (d,)}}}``."""
        return {
            "labels": {m: self._buf("labels", m).detach().cpu().numpy().copy() for m in MODALITIES},
            "centers": {
                m: {
                    "pos": self._buf("center_pos", m).detach().cpu().numpy().copy(),
                    "neg": self._buf("center_neg", m).detach().cpu().numpy().copy(),
                }
                for m in MODALITIES
            },
        }

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
