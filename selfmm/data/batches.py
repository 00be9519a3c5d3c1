"""BatchLoader: one split of a loaded MMSA file as dict batches of torch tensors (re-exported by selfmm.data)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

from selfmm.data.checks import TEXT_MODES
from selfmm.data.unpickle import DataError

if TYPE_CHECKING:
    from selfmm.data import SplitData


def _writable(a: np.ndarray) -> np.ndarray:
    """C-contiguous and writable (torch.from_numpy warns on read-only arrays); copies only when needed."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


class BatchLoader:
    """Yields dict batches of one split by gathering rows of arrays held once (no per-item collate).

    Each batch is ``{"index": (B,) long, "text": (B, 3, L) float (bert) or (B, L, Dt) float (precomputed),
    "audio": (B, Ta', Da) float, "audio_lengths": (B,) long CPU, "vision": (B, Tv', Dv), "vision_lengths",
    "y_m": (B,) float}`` plus ``"y_T", "y_A", "y_V"`` (B,) when the split has human unimodal labels.
    ``Ta'``/``Tv'`` are the batch's longest length (padding is at the end, so trimming loses nothing); with
    ``trim_text=True`` the text is likewise cut to the batch's longest attention mask (bert mode only).

    Shuffled order is ``torch.randperm(N, generator=generator)`` drawn at the start of each ``__iter__``, so saving
    and restoring the generator state reproduces the order exactly. The last batch may be smaller.
    """

    def __init__(
        self,
        split: SplitData,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        text_mode: str = "bert",
        trim_text: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if text_mode not in TEXT_MODES:
            raise ValueError(f"text_mode={text_mode!r}: expected one of {', '.join(TEXT_MODES)}")
        src = split.text_bert if text_mode == "bert" else split.text
        if src is None:
            key = "text_bert" if text_mode == "bert" else "text"
            raise DataError(
                f"split {split.name!r} has no {key!r}: load it with load_mmsa(..., text_mode={text_mode!r})"
            )
        self.split = split
        self.n = len(split)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.text_mode = text_mode
        self.trim_text = trim_text and text_mode == "bert"
        # Held once as C-contiguous writable arrays (no copy for what load_mmsa returns); each batch is one
        # gather per key whose result is wrapped by torch.from_numpy without another copy.
        self._text_np = _writable(src)
        self._audio_np = _writable(split.audio)
        self._vision_np = _writable(split.vision)
        self._audio_len = _writable(split.audio_lengths.astype(np.int64, copy=False))
        self._vision_len = _writable(split.vision_lengths.astype(np.int64, copy=False))
        self._labels = {"y_m": _writable(split.y_m.astype(np.float32, copy=False))}
        for m, y in split.y_human.items():
            self._labels[f"y_{m}"] = _writable(y.astype(np.float32, copy=False))
        if self.trim_text:
            self._text_len = np.rint(self._text_np[:, 1, :].sum(axis=1)).astype(np.int64)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[dict]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator)
        else:
            order = torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            idx = order[start : start + self.batch_size]
            rows = idx.numpy()
            a_len, v_len = self._audio_len[rows], self._vision_len[rows]
            ta, tv = int(a_len.max()), int(v_len.max())
            tl = max(1, int(self._text_len[rows].max())) if self.trim_text else self._text_np.shape[2]
            # The gathers run in numpy (advanced indexing on the row axis, then the time slice): a single-threaded
            # row memcpy of only the frames the batch needs. torch.index_select goes through the OpenMP pool,
            # which was 10-50x slower whenever the cores were busy (measured on the 2-core CI box).
            batch = {
                "index": idx,
                "text": torch.from_numpy(self._text_np[rows, :, :tl] if self.trim_text else self._text_np[rows]),
                "audio": torch.from_numpy(self._audio_np[rows, :ta]),
                "audio_lengths": torch.from_numpy(a_len),  # int64 on CPU, as pack_padded_sequence requires
                "vision": torch.from_numpy(self._vision_np[rows, :tv]),
                "vision_lengths": torch.from_numpy(v_len),
            }
            for k, y in self._labels.items():
                batch[k] = torch.from_numpy(y[rows])
            yield batch
