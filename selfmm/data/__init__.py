"""The MMSA feature-pickle reader and a fast tensor batch loader.

MMSA ships its processed datasets as pickles (MMSA 2.2.1 ``data_loader.py``, ``MMDataset``)::

    {"train" | "valid" | "test": {
        "raw_text": (N,) str,  "id": (N,) str "video_0001$_$3",
        "text_bert": (N, 3, L) float (input ids, attention mask, segment ids),
        "text": (N, L, Dt) float (precomputed BERT features),
        "audio": (N, Ta, Da) float, "vision": (N, Tv, Dv) float,
        "audio_lengths", "vision_lengths": (N,) int        # unaligned files only
        "regression_labels": (N,) float,                   # y_m
        "regression_labels_T" | "_A" | "_V": (N,) float,   # SIMS / SIMS v2 human unimodal labels
        "annotations", "classification_labels": ...}}     # not used

:func:`safe_load_pickle` reads such a file with a restricted unpickler (numpy arrays and builtins only, so a hostile
file cannot run code), :func:`load_mmsa` validates and normalises it into :class:`MMSAData`, and
:class:`BatchLoader` turns one split into torch tensors once and yields batches by index slicing.

Usage::

    data = load_mmsa("data/SIMS/unaligned_39.pkl", dataset="sims")
    gen = torch.Generator().manual_seed(1111)
    for batch in BatchLoader(data.splits["train"], batch_size=32, shuffle=True, generator=gen):
        batch["index"], batch["text"], batch["audio"], batch["audio_lengths"], batch["y_m"], ...
"""

from __future__ import annotations

import warnings
from pathlib import Path

from selfmm.data import checks
from selfmm.data.batches import BatchLoader
from selfmm.data.checks import TEXT_MODES, check_token_ids
from selfmm.data.checks import Ctx as _Ctx
from selfmm.data.containers import BERT_HIDDEN, SPLITS, MMSAData, SplitData
from selfmm.data.split import _float32_finite as _float32_finite  # re-exported: tests call it directly
from selfmm.data.split import _load_split
from selfmm.data.unpickle import DataError, Limits, safe_load_pickle

__all__ = [
    "BERT_HIDDEN",
    "SPLITS",
    "BatchLoader",
    "DataError",
    "Limits",
    "MMSAData",
    "SplitData",
    "check_token_ids",
    "load_mmsa",
    "safe_load_pickle",
]

DATASETS = ("mosi", "mosei", "sims", "simsv2")
LABEL_RANGES = {"mosi": 3.0, "mosei": 3.0, "sims": 1.0, "simsv2": 1.0}


def load_mmsa(path, dataset: str = "sims", text_mode: str = "bert") -> MMSAData:
    """Read, validate and normalise an MMSA feature pickle.

    Args:
        path: the ``*.pkl`` file (loaded with :func:`safe_load_pickle`).
        dataset: ``mosi | mosei | sims | simsv2``; sets the label range the labels are checked against.
        text_mode: ``bert`` needs ``text_bert``; ``precomputed`` needs ``text`` (then ``feature_dims["text"]`` is Dt).

    Returns:
        :class:`MMSAData`. Float features are float32 with ``-inf``/``inf``/``NaN`` replaced by 0 (one warning line
        for the whole file, with counts per split/key). Human unimodal labels (SIMS) land in ``y_human``.

    Warns:
        RuntimeWarning: one line each, naming the file, for replaced non-finite features, ``raw_text`` None, all-zero
            attention masks and human unimodal labels in some splits only (then dropped; :mod:`selfmm.data.checks`).

    Raises:
        DataError: naming the file, split and key, for an unsafe or corrupt pickle, missing splits/keys, disagreeing
            row counts, wrong ndim, a time or feature axis of size 0, feature dims that differ between splits,
            lengths < 1 or > the padded length, labels that are NaN or outside the dataset's range, ``text_bert``
            ids that are not integers, mask or segment values other than 0/1, None or duplicate ids (within a split
            or across splits). Token ids against the vocabulary are checked by :func:`check_token_ids`.
    """
    if dataset not in DATASETS:
        raise DataError(f"{path}: dataset={dataset!r}: expected one of {', '.join(DATASETS)}")
    if text_mode not in TEXT_MODES:
        raise DataError(f"{path}: text_mode={text_mode!r}: expected one of {', '.join(TEXT_MODES)}")
    path = Path(path)
    ctx = _Ctx(path)
    raw = safe_load_pickle(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: holds a {type(raw).__name__}, expected a dict with train/valid/test splits")
    for s in SPLITS:
        if s not in raw:
            raise DataError(f"{path}: split {s!r} is missing (found {checks.keys_of(raw)}); expected train/valid/test")
    label_range = LABEL_RANGES[dataset]

    train = raw["train"]
    has_len = [k for k in ("audio_lengths", "vision_lengths") if isinstance(train, dict) and k in train]
    aligned = not has_len  # one of the two present: the unaligned path reports the other as missing
    counts: dict[str, int] = {}
    notes: list[str] = []  # warned about, data used (selfmm.data.checks)
    splits = {}
    for s in SPLITS:
        splits[s] = _load_split(ctx, s, raw[s], text_mode, aligned, label_range, dataset, counts, notes)
        raw[s] = None  # free the original arrays of this split as soon as possible (MOSEI is 1.2 GB)
    del raw
    checks.unique_ids(ctx, {s: sp.ids for s, sp in splits.items()})
    checks.human_in_every_split(splits, notes)

    for s in ("valid", "test"):
        for key in ("audio", "vision", "text"):
            a, b = getattr(splits["train"], key), getattr(splits[s], key)
            if a is not None and b is not None and a.shape[2] != b.shape[2]:
                raise DataError(
                    f"{path}: split {s!r}, key {key!r}: feature dim {b.shape[2]} differs from train's {a.shape[2]}; "
                    "all splits must come from the same feature extractor"
                )
    if counts:
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        warnings.warn(
            f"{path}: replaced {sum(counts.values())} non-finite feature values (-inf/inf/NaN, or beyond float32) by 0: "
            f"{detail}",
            RuntimeWarning,
            stacklevel=2,
        )
    for note in notes:
        warnings.warn(f"{path}: {note}", RuntimeWarning, stacklevel=2)
    return MMSAData(
        path=path, splits=splits, aligned=aligned, label_range=label_range, text_mode=text_mode, dataset=dataset
    )
