"""The validated form of an MMSA file: :class:`MMSAData` holding one :class:`SplitData` per split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from selfmm.config import SPLITS

BERT_HIDDEN = (
    768  # feature_dims["text"] in bert mode, as the MMSA loader reports it (MMSA 2.2.1 ``data_loader.MMDataset``)
)


@dataclass
class SplitData:
    """One split of an MMSA file, validated. ``N`` samples, rows in the pickle's order (row = ``index``)."""

    name: str  # train | valid | test
    ids: np.ndarray  # (N,) object array of str, the pickle's `id`
    raw_text: list[str]  # (N,)
    text_bert: np.ndarray | None  # (N, 3, L) float32: input ids, attention mask, segment ids
    text: np.ndarray | None  # (N, L, Dt) float32 precomputed features (None in bert mode: not needed)
    audio: np.ndarray  # (N, Ta, Da) float32, non-finite replaced by 0
    vision: np.ndarray  # (N, Tv, Dv) float32, non-finite replaced by 0
    audio_lengths: np.ndarray  # (N,) int64, 1 <= len <= Ta (aligned files: attention-mask sums)
    vision_lengths: np.ndarray  # (N,) int64, 1 <= len <= Tv
    y_m: np.ndarray  # (N,) float32 regression_labels
    y_human: dict[str, np.ndarray] = field(default_factory=dict)  # "T","A","V" -> (N,) float32, or {}

    def __len__(self) -> int:
        return len(self.y_m)


@dataclass
class MMSAData:
    """A validated MMSA file: three :class:`SplitData` plus the facts the model and the run manifest need."""

    path: Path
    splits: dict[str, SplitData]  # train, valid, test
    aligned: bool  # True when the file has no *_lengths keys
    label_range: float  # 1.0 (sims, simsv2) or 3.0 (mosi, mosei)
    text_mode: str = "bert"  # bert | precomputed: which text input feature_dims/seq_lens describe
    dataset: str = "sims"

    @property
    def has_human_unimodal(self) -> bool:
        """True when every split carries regression_labels_T/A/V."""
        return all(bool(s.y_human) for s in self.splits.values())

    @property
    def feature_dims(self) -> dict:
        """{"text": 768 (bert mode) or Dt, "audio": Da, "vision": Dv}."""
        tr = self.splits["train"]
        text = BERT_HIDDEN if self.text_mode == "bert" else int(tr.text.shape[2])
        return {"text": text, "audio": int(tr.audio.shape[2]), "vision": int(tr.vision.shape[2])}

    @property
    def seq_lens(self) -> dict:
        """Padded lengths of the train arrays: {"text": L, "audio": Ta, "vision": Tv}."""
        tr = self.splits["train"]
        L = tr.text_bert.shape[2] if self.text_mode == "bert" else tr.text.shape[1]
        return {"text": int(L), "audio": int(tr.audio.shape[1]), "vision": int(tr.vision.shape[1])}

    def summary(self) -> dict:
        """The manifest's ``dataset`` facts (without path hashing): sizes, dims, lengths, flags."""
        return {
            "name": self.dataset,
            **{f"n_{s}": len(self.splits[s]) for s in SPLITS},
            "feature_dims": self.feature_dims,
            "seq_lens": self.seq_lens,
            "has_human_unimodal": self.has_human_unimodal,
            "label_range": self.label_range,
            "aligned": self.aligned,
        }
