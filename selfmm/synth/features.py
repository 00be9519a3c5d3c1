"""Feature streams of the synthetic clips: audio/vision frames and precomputed text features.

``x[t] = e_s * u * g[t] + speaker[video] + nuisance_i @ N + noise[t]``, then a fixed per-dim scale and offset,
zero after the clip's true length (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Modality:
    """Fixed per-file parameters of one feature stream (drawn once per seed)."""

    dim: int
    length: int
    signal: float
    u: np.ndarray  # (D,) label direction, non-zero on ~30 % of dims
    speaker: np.ndarray  # (n_videos, D)
    nuis_dirs: np.ndarray  # (k, D)
    scale: np.ndarray  # (D,)
    offset: np.ndarray  # (D,)


def _make_modality(rng: np.random.Generator, dim: int, length: int, signal: float, n_videos: int) -> _Modality:
    u = np.zeros(dim, dtype=np.float32)
    n_sig = max(1, round(0.3 * dim))
    u[rng.choice(dim, size=n_sig, replace=False)] = rng.standard_normal(n_sig) + np.sign(rng.standard_normal(n_sig))
    k = max(1, min(4, dim // 2))
    return _Modality(
        dim=dim,
        length=length,
        signal=signal,
        u=u,
        speaker=(0.4 * rng.standard_normal((n_videos, dim))).astype(np.float32),
        nuis_dirs=(0.4 * rng.standard_normal((k, dim))).astype(np.float32),
        scale=np.exp(rng.uniform(-0.7, 0.7, dim)).astype(np.float32),
        offset=(0.5 * rng.standard_normal(dim)).astype(np.float32),
    )


def _frames(
    mod: _Modality, e: np.ndarray, video: np.ndarray, lengths: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One chunk of a frame stream: ``(B, T, D)`` float32, zero after each clip's length.

    ``e`` (B,) perceived labels, ``video`` (B,) video indices, ``lengths`` (B,) true frame counts.
    """
    B, T, D = len(e), mod.length, mod.dim
    t = np.arange(T)[None, :]
    # the label is expressed in one window covering 30-80 % of the valid frames
    win = np.maximum(1, np.round(lengths * rng.uniform(0.3, 0.8, B))).astype(np.int64)
    start = (rng.random(B) * (lengths - win + 1)).astype(np.int64)
    gate = ((t >= start[:, None]) & (t < (start + win)[:, None])).astype(np.float32)  # (B, T)
    nuis = rng.standard_normal((B, mod.nuis_dirs.shape[0])).astype(np.float32) @ mod.nuis_dirs  # (B, D)
    x = rng.standard_normal((B, T, D), dtype=np.float32)  # frame noise
    x += (e[:, None] * gate)[:, :, None] * mod.u[None, None, :]
    x += (mod.speaker[video] + nuis)[:, None, :]
    x *= mod.scale
    x += mod.offset
    x *= (t < lengths[:, None])[:, :, None]  # zero padding at the end
    return x


def _token_features(
    ids: np.ndarray, mask: np.ndarray, e: np.ndarray, video: np.ndarray, mod: _Modality, emb: np.ndarray, rng
) -> np.ndarray:
    """Precomputed text features ``(B, L, Dt)``: token embedding + e_T * u_T + speaker/nuisance + noise."""
    B, L = ids.shape
    nuis = rng.standard_normal((B, mod.nuis_dirs.shape[0])).astype(np.float32) @ mod.nuis_dirs
    x = 0.5 * rng.standard_normal((B, L, mod.dim), dtype=np.float32)
    x += emb[ids]
    x += (e[:, None, None] * mod.u[None, None, :]) + (mod.speaker[video] + nuis)[:, None, :]
    x *= mask[:, :, None]
    return x
