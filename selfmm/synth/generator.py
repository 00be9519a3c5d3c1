"""The generator: every clip's labels, transcript and features, drawn from seed-keyed streams.

Every draw comes from ``numpy.random.default_rng([seed, purpose, split, chunk])``, so a seed gives identical bytes
whether the arrays live in memory (:func:`generate`) or in memory maps (:func:`selfmm.synth.io.write`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from selfmm.synth.features import _frames, _make_modality, _token_features
from selfmm.synth.labels import sample_labels
from selfmm.synth.profiles import CHUNK, SPLITS, UNI, Profile, SynthError, _resolve
from selfmm.synth.text import make_sentence
from selfmm.tokenizer import WordPieceTokenizer

Stream = Callable[..., np.random.Generator]


@dataclass
class _Clips:
    """Per-clip arrays of the whole file (the splits concatenated in train/valid/test order), ``n`` clips."""

    labels: dict[str, np.ndarray]  # "M", "T", "A", "V" -> (n,) float32 ground truth
    e: dict[str, np.ndarray]  # "T", "A", "V" -> (n,) float32 perceived labels
    video: np.ndarray  # (n,) video index (speaker)
    n_videos: int
    ids: np.ndarray  # (n,) str "video_XXXX$_$N"
    raw_text: list[str]
    text_bert: np.ndarray  # (n, 3, L) float32
    audio_len: np.ndarray  # (n,) int64 true frame counts
    vision_len: np.ndarray  # (n,) int64
    annotations: np.ndarray  # (n,) str Negative / Neutral / Positive


def _videos(profile: Profile, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Consecutive clips share a video (speaker); video sizes ~ 1 + Poisson(mean - 1). Returns video, ids, count."""
    vid_sizes = []
    while sum(vid_sizes) < n:
        vid_sizes.append(1 + int(rng.poisson(profile.clips_per_video - 1)))
    video = np.repeat(np.arange(len(vid_sizes)), vid_sizes)[:n]
    clip_no = np.concatenate([np.arange(1, s + 1) for s in vid_sizes])[:n]
    width = max(4, len(str(len(vid_sizes))))
    ids = np.array([f"video_{v + 1:0{width}d}$_${c}" for v, c in zip(video, clip_no)])
    return video, ids, len(vid_sizes)


def _clips(profile: Profile, sig: dict, ln: dict, n: int, tok: WordPieceTokenizer, stream: Stream) -> _Clips:
    """Draw every per-clip quantity (streams 1-5)."""
    R = float(profile.label_range)
    labels = sample_labels(profile, n, stream(1))
    video, ids, n_videos = _videos(profile, n, stream(2))

    # perceived labels: e_s = y_s / range + eta_s / signal_s  (signal 0 -> pure noise)
    eta = stream(3).standard_normal((3, n))
    e = {}
    for j, (mkey, skey) in enumerate(zip(UNI, ("text", "audio", "vision"))):
        s = sig[skey]
        noisy = labels[mkey] / R + eta[j] / s if s > 0 else 0.5 * eta[j]  # signal 0: no label information at all
        e[mkey] = np.asarray(noisy, dtype=np.float32)

    rng = stream(4)
    raw_text = [make_sentence(float(np.clip(x, -1, 1)), rng, profile.language, tok) for x in e["T"]]
    text_bert = tok.encode_batch(raw_text, ln["text"])  # (n, 3, L)

    # true frame counts: duration follows the transcript length (+ jitter), clipped to [1, T]
    rng = stream(5)
    n_words = text_bert[:, 1].sum(1) - 2
    frac = np.clip(n_words / 31.0 * rng.uniform(0.6, 1.1, n) + 0.05, 0.02, 1.0)
    audio_len = np.clip(np.round(frac * ln["audio"] * rng.uniform(0.9, 1.1, n)), 1, ln["audio"]).astype(np.int64)
    vision_len = np.clip(np.round(frac * ln["vision"] * rng.uniform(0.9, 1.1, n)), 1, ln["vision"]).astype(np.int64)
    # one array for the whole file, sliced per split: the pickle then shares its dtype object (identical bytes)
    annotations = np.where(labels["M"] > 0, "Positive", np.where(labels["M"] < 0, "Negative", "Neutral"))
    return _Clips(labels, e, video, n_videos, ids, raw_text, text_bert, audio_len, vision_len, annotations)


def _split_keys(c: _Clips, lo: int, hi: int) -> dict:
    """The small per-clip keys of one split (labels, ids, lengths, ``text_bert``)."""
    sl = slice(lo, hi)
    m = c.labels["M"]
    return {
        "raw_text": np.array(c.raw_text[lo:hi]),
        "id": c.ids[sl].copy(),
        "annotations": c.annotations[sl].copy(),
        "classification_labels": (np.sign(m[sl]) + 1).astype(np.float32),  # 0 neg, 1 neu, 2 pos
        "regression_labels": m[sl].copy(),
        **{f"regression_labels_{k}": c.labels[k][sl].copy() for k in UNI},
        "text_bert": c.text_bert[sl].copy(),
        "audio_lengths": c.audio_len[sl].copy(),
        "vision_lengths": c.vision_len[sl].copy(),
    }


def _fill_features(d: dict, c: _Clips, lo: int, si: int, mods: dict, emb, inf_rate: float, stream: Stream) -> None:
    """Fill ``d["text"|"audio"|"vision"]`` (already allocated) chunk by chunk from streams 10-13."""
    N = len(d["id"])
    for ci, c0 in enumerate(range(0, N, CHUNK)):
        c1 = min(N, c0 + CHUNK)
        g = slice(lo + c0, lo + c1)
        bert = c.text_bert[g]
        d["text"][c0:c1] = _token_features(
            bert[:, 0].astype(np.int64), bert[:, 1], c.e["T"][g], c.video[g], mods["text"], emb, stream(10, si, ci)
        )
        a = _frames(mods["audio"], c.e["A"][g], c.video[g], c.audio_len[g], stream(11, si, ci))
        if inf_rate > 0:
            r = stream(13, si, ci)
            valid = np.arange(mods["audio"].length)[None, :] < c.audio_len[g][:, None]
            hit = valid & (r.random(valid.shape) < inf_rate)
            b_idx, t_idx = np.nonzero(hit)
            a[b_idx, t_idx, r.integers(0, mods["audio"].dim, len(b_idx))] = -np.inf
        d["audio"][c0:c1] = a
        d["vision"][c0:c1] = _frames(mods["vision"], c.e["V"][g], c.video[g], c.vision_len[g], stream(12, si, ci))


def _build(profile, scale, seed, signal, dims, lengths, text_dim, neg_inf_rate, alloc: Callable) -> dict:
    """Fill the MMSA dict; ``alloc(split, key, shape, dtype)`` provides each big array (RAM or memory map)."""
    profile, sig, dm, ln, sizes = _resolve(profile, scale, signal, dims, lengths, text_dim)
    inf_rate = profile.neg_inf_rate if neg_inf_rate is None else float(neg_inf_rate)
    if not 0 <= inf_rate < 1:
        raise SynthError(f"neg_inf_rate={inf_rate}: must be in [0, 1)")

    def stream(*key: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), *key])

    tok = WordPieceTokenizer.from_name(profile.vocab)
    c = _clips(profile, sig, ln, sum(sizes), tok, stream)
    rng = stream(6)
    mods = {k: _make_modality(rng, dm[k], ln[k], sig[k], c.n_videos) for k in ("text", "audio", "vision")}
    emb = (0.5 * stream(7).standard_normal((len(tok), dm["text"]), dtype=np.float32)) if dm["text"] else None

    out: dict = {}
    lo = 0
    for si, split in enumerate(SPLITS):
        hi = lo + sizes[si]
        d = _split_keys(c, lo, hi)
        for k in ("text", "audio", "vision"):
            d[k] = alloc(split, k, (hi - lo, ln[k], dm[k]), np.float32)
        _fill_features(d, c, lo, si, mods, emb, inf_rate, stream)
        out[split] = d
        lo = hi
    return out


def generate(
    profile: str | Profile = "sims",
    scale: float = 1.0,
    seed: int = 0,
    signal: dict | None = None,
    dims: dict | None = None,
    lengths: dict | None = None,
    text_dim: int = 768,
    neg_inf_rate: float | None = None,
) -> dict:
    """Build a synthetic MMSA pickle dict in memory.

    Args:
        profile: ``sims | simsv2 | mosi | mosei`` (or a :class:`Profile`).
        scale: multiplies every split size (at least 2 clips per split).
        seed: all randomness derives from it; the same arguments give identical arrays.
        signal: ``{"text"|"audio"|"vision": strength}`` overriding the profile default (0 = no information).
        dims: ``{"audio": Da, "vision": Dv, "text": Dt}`` feature dims (shrink for tests).
        lengths: ``{"text": L, "audio": Ta, "vision": Tv}`` padded lengths.
        text_dim: Dt of the precomputed ``text`` key (768 as BERT-base; ``dims["text"]`` wins).
        neg_inf_rate: share of valid audio frames with one ``-inf`` value (profile default: MOSEI 1e-3, else 0).

    Returns:
        ``{"train"|"valid"|"test": {key: array}}`` with the keys of an MMSA pickle plus
        ``regression_labels_T/A/V`` (ground truth). Features ``text (N, L, Dt)``, ``audio (N, Ta, Da)``,
        ``vision (N, Tv, Dv)`` and ``text_bert (N, 3, L)`` are float32; lengths int64; labels float32.
    """
    return _build(
        profile, scale, seed, signal, dims, lengths, text_dim, neg_inf_rate, lambda s, k, shape, dt: np.zeros(shape, dt)
    )
