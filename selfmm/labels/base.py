"""The label-generator contract: where the Self-MM heads' unimodal targets and loss weights come from.

The training loop (``selfmm.train``) talks to a generator through three calls, per training batch and epoch::

    labels, weights = gen.targets(index)        # before the loss: this batch's targets and weights
    loss = selfmm_loss(pred, {"M": y_m, **labels}, weights, tasks); loss.backward()
    gen.update(index, feat, pred, epoch)         # after the batch: the generator sees features and predictions
    ...
    snap = gen.snapshot()                        # at the end of each epoch: what the run folder records

Every generator keeps ALL its state in registered buffers, so ``state_dict()`` saved with the model and loaded
into a fresh generator resumes bit-identically (``tests/test_labels.py`` kills and resumes each one).

Generators (``cfg.label_source`` selects one through :func:`build_generator`):

- ``ulgm``: Self-MM's Unimodal Label Generation Module, bit-identical to MMSA 2.2.1 (:mod:`selfmm.labels.ulgm`);
- ``human``: the dataset's human unimodal labels, fixed (:mod:`selfmm.labels.fixed`);
- ``multimodal``: y_m copied to every head, fixed (:mod:`selfmm.labels.fixed`);
- ``plgm``: CMC's PLGM adapted to the regression heads (:mod:`selfmm.labels.plgm`; its ``extra`` table holds the
  soft 3-class vectors, classes and α).

Adding a generator: write a :class:`LabelGenerator` subclass with a ``from_config`` classmethod, add ONE line
``"name": "module:Class"`` to :data:`GENERATORS` below, and its name to
``selfmm.config.LABEL_SOURCES`` (``tests/test_labels.py`` checks that the two agree and runs the contract tests on
every registered generator).

Shapes: N = training rows (the train split, dataset index order), B = batch size, d_X = feature size of head X.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from selfmm.config import UNIMODAL

# label_source -> "module:Class". Register a new generator here (one line) and in config.LABEL_SOURCES.
GENERATORS: dict[str, str] = {
    "ulgm": "selfmm.labels.ulgm:ULGM",
    "human": "selfmm.labels.fixed:HumanLabels",
    "multimodal": "selfmm.labels.fixed:MultimodalLabels",
    "plgm": "selfmm.labels.plgm:PLGM",
}


@dataclass(frozen=True)
class LabelSnapshot:
    """A generator's state over the whole train split, as numpy copies (later updates do not change them).

    labels: ``{"T","A","V"} -> (N,) float32``, the current unimodal labels in index order.
    weights: ``{"T","A","V"} -> (N,) float32``, the weights :meth:`LabelGenerator.targets` would hand out for each
        row now. (The run folder's ``weight_T/A/V`` are the weights each row's loss USED during the epoch, which the
        training loop records from ``targets``; for ulgm, human and multimodal they equal the previous epoch's
        snapshot weights.)
    extra: ``None`` or a frame with one row per train sample: column ``index`` (int) plus generator-specific
        columns; the run folder stores it as ``labels_extra/epoch_NNNN.parquet``.
    centers: ulgm only, ``{"M"|"T"|"A"|"V": {"pos": (d_X,), "neg": (d_X,)}}``; ``None`` for the others.
    """

    labels: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    extra: pd.DataFrame | None = None
    centers: dict[str, dict[str, np.ndarray]] | None = None


class LabelGenerator(nn.Module, ABC):
    """Unimodal targets and subtask weights for the Self-MM heads. ALL state in registered buffers."""

    name: ClassVar[str]  # "ulgm" | "human" | "multimodal" | ...

    @classmethod
    @abstractmethod
    def from_config(
        cls, cfg, n_train: int, y_m: Tensor, human: dict[str, Tensor] | None, dims: dict[str, int]
    ) -> LabelGenerator:
        """Build from a :class:`~selfmm.config.SelfMMConfig`; y_m (N,), human ``{"T","A","V"} -> (N,)`` or None,
        dims the head feature sizes ``{"M","T","A","V"} -> d_X`` (``SelfMM.feat_dims``)."""

    @abstractmethod
    def targets(self, index: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """index (B,) long train rows -> (labels ``{"T","A","V"} -> (B,)``, weights ``{"T","A","V"} -> (B,)``).

        What this batch's loss uses, before this batch's :meth:`update`. Returns copies, not views of the state.
        """

    @abstractmethod
    def update(self, index: Tensor, feat: dict[str, Tensor], pred: dict[str, Tensor], epoch: int) -> None:
        """After the batch's backward pass: feat ``{"M","T","A","V"} -> (B, d_X)`` (F*, detached by the callee),
        pred ``{"M","T","A","V"} -> (B,)`` head outputs, epoch 1-based."""

    @abstractmethod
    def snapshot(self) -> LabelSnapshot:
        """The whole train split now (see :class:`LabelSnapshot`)."""

    # -- shared helpers ---------------------------------------------------------------------------------------

    def check_index(self, index, n_train: int, device: torch.device) -> Tensor:
        """``index`` as a (B,) long tensor on ``device``, range-checked against [0, n_train)."""
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1).to(device)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n_train):
            raise IndexError(
                f"{type(self).__name__}: index out of range [0, {n_train}): min {int(idx.min())}, max "
                f"{int(idx.max())}; index must be the row position inside the train split"
            )
        return idx


def subtask_weight(y_s: Tensor, y_m: Tensor) -> Tensor:
    """Per-sample weight tanh(|y_s − y_m|) of a unimodal loss term (Self-MM eq. 9): 0 where the labels agree."""
    return torch.tanh(torch.abs(y_s - y_m))


def loss_weights(labels: dict[str, Tensor], y_m: Tensor, weighting: str) -> dict[str, Tensor]:
    """``weighting`` "tanh": :func:`subtask_weight` per head; "none": ones. labels (B,) per head, y_m (B,)."""
    if weighting == "tanh":
        return {m: subtask_weight(labels[m], y_m) for m in UNIMODAL}
    if weighting == "none":
        return {m: torch.ones_like(labels[m]) for m in UNIMODAL}
    raise ValueError(f"weighting={weighting!r}: expected 'tanh' or 'none'")


def to_numpy(t: Tensor) -> np.ndarray:
    """A detached CPU numpy copy."""
    return t.detach().cpu().numpy().copy()


def generator_class(label_source: str) -> type[LabelGenerator]:
    """The registered class of ``label_source`` (imported on first use)."""
    if label_source not in GENERATORS:
        raise ValueError(f"label_source={label_source!r}: no generator registered; known: {', '.join(GENERATORS)}")
    module, _, cls = GENERATORS[label_source].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_generator(
    cfg, n_train: int, y_m: Tensor, human: dict[str, Tensor] | None, dims: dict[str, int]
) -> LabelGenerator:
    """The generator ``cfg.label_source`` names, initialised for a train split of ``n_train`` rows.

    y_m (N,) float32 multimodal labels; human ``{"T","A","V"} -> (N,)`` or None when the data has none;
    dims ``{"M","T","A","V"} -> d_X``. To register a new generator, add its line to :data:`GENERATORS`.
    """
    return generator_class(cfg.label_source).from_config(cfg, n_train, y_m, human, dims)


__all__ = [
    "GENERATORS",
    "LabelGenerator",
    "LabelSnapshot",
    "build_generator",
    "generator_class",
    "loss_weights",
    "subtask_weight",
    "to_numpy",
]
