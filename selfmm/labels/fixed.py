"""Label sources whose unimodal labels never change: ``human`` and ``multimodal``.

- ``human``: each head learns the dataset's human unimodal label (``regression_labels_T/A/V``, SIMS / SIMS v2);
- ``multimodal``: each head learns y_m (the plain multi-task baseline without label generation).

The weights follow ``cfg.weighting``: "tanh" gives tanh(|y_s − y_m|) (zero everywhere for ``multimodal``, which is
why its ``auto`` weighting resolves to "none"), "none" gives ones. :meth:`update` only checks its index: nothing
is learnt, so the state (buffers ``y_m`` and ``labels_T/A/V``, (N,) each) resumes trivially.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfmm.config import UNIMODAL
from selfmm.labels.base import LabelGenerator, LabelSnapshot, loss_weights, to_numpy


class FixedLabels(LabelGenerator):
    """Constant unimodal labels. y_m (N,), labels ``{"T","A","V"} -> (N,)``; weighting "tanh" | "none"."""

    def __init__(self, y_m: Tensor, labels: dict[str, Tensor], weighting: str):
        super().__init__()
        y = torch.as_tensor(y_m, dtype=torch.float32).reshape(-1)
        self.n_train = int(y.numel())
        if self.n_train < 1:
            raise ValueError(f"{type(self).__name__}: y_m is empty")
        self.register_buffer("y_m", y.clone())
        for m in UNIMODAL:
            lab = torch.as_tensor(labels[m], dtype=torch.float32).reshape(-1)
            if lab.numel() != self.n_train:
                raise ValueError(
                    f"{type(self).__name__}: labels[{m!r}] has {lab.numel()} rows, expected {self.n_train}"
                )
            if not torch.isfinite(lab).all():
                raise ValueError(f"{type(self).__name__}: labels[{m!r}] contains NaN or inf")
            self.register_buffer(f"labels_{m}", lab.clone())
        loss_weights({m: y[:1] for m in UNIMODAL}, y[:1], weighting)  # fails early on a bad weighting
        self.weighting = weighting

    def targets(self, index) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        idx = self.check_index(index, self.n_train, self.y_m.device)
        labels = {m: getattr(self, f"labels_{m}")[idx] for m in UNIMODAL}
        return labels, loss_weights(labels, self.y_m[idx], self.weighting)

    def update(self, index, feat: dict[str, Tensor], pred: dict[str, Tensor], epoch: int) -> None:
        self.check_index(index, self.n_train, self.y_m.device)

    def snapshot(self) -> LabelSnapshot:
        labels, weights = self.targets(torch.arange(self.n_train))
        return LabelSnapshot(
            labels={m: to_numpy(labels[m]) for m in UNIMODAL}, weights={m: to_numpy(weights[m]) for m in UNIMODAL}
        )


class HumanLabels(FixedLabels):
    """label_source "human": the dataset's human unimodal labels."""

    name = "human"

    @classmethod
    def from_config(cls, cfg, n_train, y_m, human, dims) -> HumanLabels:
        if human is None:
            raise ValueError("label_source=human needs the human unimodal labels (regression_labels_T/A/V)")
        return cls(y_m, human, cfg.weighting)


class MultimodalLabels(FixedLabels):
    """label_source "multimodal": y_m for every head."""

    name = "multimodal"

    @classmethod
    def from_config(cls, cfg, n_train, y_m, human, dims) -> MultimodalLabels:
        return cls(y_m, {m: y_m for m in UNIMODAL}, cfg.weighting)


__all__ = ["FixedLabels", "HumanLabels", "MultimodalLabels"]
