"""Tiny, valid MMSA feature dicts for tests (the layout MMSA's ``data_loader.py`` ``MMDataset.__init_mosi`` reads), fast and deterministic.

Other test modules use this; keep the signature and the properties below stable:

* ``make_mmsa_dict(...)`` -> ``{"train"|"valid"|"test": {...}}`` with numpy arrays in the real dtypes: float32
  features, ``text_bert`` float32 (N, 3, L) = ([CLS]=101 ... [SEP]=102 then 0-padding, 0/1 mask, zero segments),
  object arrays of str for ``id`` ("video_0001$_$1"), ``raw_text`` and ``annotations``, int64
  ``classification_labels`` (0 neg, 1 neu, 2 pos), float32 ``regression_labels`` on the 0.2 grid times
  ``label_range`` with at least one exact zero per split, and (``human=True``) ``regression_labels_T/A/V``.
* Unaligned (default): ``audio_lengths``/``vision_lengths`` int64 in [1, T], every split holding one sample of
  length 1 and one of full length; frames past the length are exactly 0 (padding at the end).
* ``aligned=True``: no ``*_lengths`` keys, audio and vision have L steps and are zero past the text mask sum.

Run ``python -m tests.mmsa_fixture`` for the SIMS-size load + batch timing.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CLS_ID, SEP_ID = 101, 102
_SPLITS = ("train", "valid", "test")


def _lengths(rng: np.random.Generator, n: int, T: int) -> np.ndarray:
    lens = rng.integers(1, T + 1, size=n).astype(np.int64)
    lens[0] = T  # a full-length sample and a length-1 sample in every split (edge cases for packing)
    if n > 1:
        lens[1] = 1
    return lens


def _pad_after(x: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Zero every frame at or past each row's length (in place), as MMSA pads at the end."""
    t = np.arange(x.shape[1])
    x[t[None, :] >= lens[:, None]] = 0.0
    return x


def _split(rng, n, L, Ta, Da, Tv, Dv, Dt, human, aligned, label_range, video0) -> dict:
    # labels: multiples of 0.2 in [-1, 1] scaled to the dataset's range; exact zero at row 2 (or 0)
    grid = np.round(np.arange(-5, 6) * 0.2, 1)
    y = (rng.choice(grid, size=n) * label_range).astype(np.float32)
    y[min(2, n - 1)] = 0.0
    # text_bert: [CLS] tokens [SEP] then zeros; n_tok in [3, L]
    n_tok = rng.integers(min(3, L), L + 1, size=n)
    n_tok[0] = L
    ids = np.zeros((n, L), dtype=np.float32)
    mask = np.zeros((n, L), dtype=np.float32)
    for i, k in enumerate(n_tok):
        ids[i, 0] = CLS_ID
        ids[i, 1 : k - 1] = rng.integers(1000, 5000, size=k - 2)
        ids[i, k - 1] = SEP_ID
        mask[i, :k] = 1.0
    text_bert = np.stack([ids, mask, np.zeros_like(ids)], axis=1)  # (n, 3, L)
    if aligned:
        Ta = Tv = L
        a_len = v_len = n_tok.astype(np.int64)
    else:
        a_len, v_len = _lengths(rng, n, Ta), _lengths(rng, n, Tv)
    audio = _pad_after(rng.standard_normal((n, Ta, Da), dtype=np.float32), a_len)
    vision = _pad_after(rng.standard_normal((n, Tv, Dv), dtype=np.float32), v_len)
    text = _pad_after(rng.standard_normal((n, L, Dt), dtype=np.float32), n_tok)
    ann = np.array(["Negative" if v < 0 else "Neutral" if v == 0 else "Positive" for v in y], dtype=object)
    d = {
        "raw_text": np.array([f"clip {video0 + i} says {v:+.1f}" for i, v in enumerate(y)], dtype=object),
        "text": text,
        "text_bert": text_bert,
        "audio": audio,
        "vision": vision,
        "id": np.array([f"video_{video0 + i // 3:04d}$_${i % 3 + 1}" for i in range(n)], dtype=object),
        "annotations": ann,
        "classification_labels": (np.sign(y).astype(np.int64) + 1),
        "regression_labels": y,
    }
    if not aligned:
        d["audio_lengths"] = a_len
        d["vision_lengths"] = v_len
    if human:
        for m in "TAV":
            # human unimodal labels: y_m moved by up to ±0.4 on the grid, clipped to the range
            shift = rng.choice(np.array([-0.4, -0.2, 0.0, 0.2, 0.4]), size=n) * label_range
            d[f"regression_labels_{m}"] = np.clip(y + shift, -label_range, label_range).round(4).astype(np.float32)
    return d


def make_mmsa_dict(
    n=(24, 8, 8),
    L=10,
    Ta=12,
    Da=5,
    Tv=9,
    Dv=7,
    Dt=16,
    human=True,
    aligned=False,
    seed=0,
    label_range=1.0,
) -> dict:
    """A tiny valid MMSA dict with ``n = (n_train, n_valid, n_test)`` samples (see the module docstring).

    With ``aligned=True`` the audio/vision sequences have L steps (``Ta``/``Tv`` are ignored).
    """
    rng = np.random.default_rng(seed)
    out, video0 = {}, 1
    for name, k in zip(_SPLITS, n, strict=True):
        out[name] = _split(rng, k, L, Ta, Da, Tv, Dv, Dt, human, aligned, label_range, video0)
        video0 += (k + 2) // 3  # ids stay unique across splits
    return out


def write_pickle(d, path, protocol: int = 4) -> Path:
    """Pickle ``d`` to ``path`` (protocol 4, as MMSA's files) and return the path."""
    path = Path(path)
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=protocol)
    return path


if __name__ == "__main__":  # SIMS-size timing: load_mmsa + one full shuffled BatchLoader pass over train
    import tempfile
    import time

    import torch

    from selfmm.data import BatchLoader, load_mmsa

    t0 = time.perf_counter()
    d = make_mmsa_dict(n=(1368, 456, 457), L=39, Ta=400, Da=33, Tv=55, Dv=709, Dt=768, human=True)
    with tempfile.TemporaryDirectory() as tmp:
        p = write_pickle(d, Path(tmp) / "sims.pkl")
        size = p.stat().st_size
        del d
        t1 = time.perf_counter()
        data = load_mmsa(p, dataset="sims")
        t2 = time.perf_counter()
        n_batches = 0
        for _ in BatchLoader(data.splits["train"], 32, True, torch.Generator().manual_seed(0)):
            n_batches += 1
        t3 = time.perf_counter()
    print(f"generate+write {t1 - t0:.2f}s ({size / 2**20:.0f} MiB pickle)")
    print(f"load_mmsa {t2 - t1:.2f}s; BatchLoader build + {n_batches} train batches (bs 32) {t3 - t2:.2f}s")
