"""Synthetic MMSA feature pickles with ground-truth unimodal labels.

``python -m selfmm synth --profile sims|simsv2|mosi|mosei --out PATH.pkl [--scale F] [--seed S]`` writes a file
that the MMSA loaders (and :func:`selfmm.data.load_mmsa`) accept unchanged: the keys of reference §5.1, the
profile's split sizes, padded lengths and feature dims (§5.2), zero padding at the end, true frame counts in
``audio_lengths``/``vision_lengths``, ids ``video_XXXX$_$N``, and ``regression_labels_T/A/V`` holding the
ground-truth unimodal labels (for the SIMS profiles they play the role of the human unimodal labels).

How a clip is made (see ``docs/synthetic-data.md``):

1. **Labels.** ``(y_M, y_T, y_A, y_V)`` come from a Gaussian copula with a "copy" and a "shrink" component, fitted
   once (offline, by simulation) so that the *discretised* labels reproduce the CH-SIMS v2 human-label table
   (``/work/shared/reference/sims-label-statistics.md``): value shares on the grid of fifths, Pearson matrix and
   modality-conflict rates. MOSI/MOSEI reuse the same dependence with their own margins on [-3, 3].
2. **Perceived label.** Each modality s of clip i carries ``e_s = y_s / range + eta_s / signal_s`` with
   ``eta ~ N(0, 1)`` per clip: ``signal_s`` (``--signal``) sets how well the modality can reveal its label at
   best (Pearson ceiling ``sd(y/range) / sqrt(sd(y/range)^2 + 1/signal^2)``).
3. **Audio / vision frames** ``x[t] = e_s * u * g[t] + speaker[video] + nuisance_i @ N + noise[t]`` then a fixed
   per-dim scale and offset, zero after the clip's true length. ``u`` is non-zero on ~30 % of the dims and ``g``
   opens a window over 30-80 % of the valid frames, so the label lives in some dims and frames only; speaker
   (per video) and clip nuisance factors do not average out over frames.
4. **Text**: a readable sentence (Chinese for SIMS, English for MOSI/MOSEI) whose sentiment phrases follow
   ``e_T`` (polarity, intensity, count), padded with neutral filler to the real token-length distribution, then
   tokenised by :class:`selfmm.tokenizer.WordPieceTokenizer` into ``text_bert``. The precomputed ``text`` key is
   ``(N, L, Dt)`` float32: a token embedding plus ``e_T * u_T`` plus nuisance, zero at padding.

Everything is drawn from ``numpy.random.default_rng`` streams keyed by (seed, purpose, split, chunk), so a seed
gives identical bytes whether the file is built in memory (:func:`generate`) or streamed (:func:`write`).
:func:`write` fills memory-mapped arrays chunk by chunk and pickles them with protocol 5, so memory stays bounded
by one chunk, whatever the profile.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from selfmm.tokenizer import WordPieceTokenizer

SPLITS = ("train", "valid", "test")
UNI = ("T", "A", "V")
CHUNK = 256  # clips per feature chunk; fixed so that generate() and write() draw identical numbers


class SynthError(ValueError):
    """Bad generator options; the message names the option and the fix."""


# ---------------------------------------------------------------------------------------------------------------
# profiles


@dataclass(frozen=True)
class Profile:
    name: str
    splits: tuple[int, int, int]  # train / valid / test clips (reference §5.2)
    text_len: int
    audio_len: int
    vision_len: int
    audio_dim: int
    vision_dim: int
    label_range: float  # 1 (SIMS) or 3 (MOSI/MOSEI)
    language: str  # zh | en
    vocab: str  # shipped vocabulary name
    clips_per_video: float  # mean clips per video (speaker factor)
    signal: dict = field(default_factory=dict)  # default per-modality signal strength
    neg_inf_rate: float = 0.0  # share of valid audio frames with one -inf value (real MOSEI has some)


# Text is the strongest modality by default, as in real data where BERT features dominate; audio is the hardest.
_SIG_ZH = {"text": 3.0, "audio": 1.5, "vision": 2.0}
_SIG_EN = {"text": 3.0, "audio": 1.2, "vision": 1.5}

PROFILES: dict[str, Profile] = {
    "sims": Profile("sims", (1368, 456, 457), 39, 400, 55, 33, 709, 1.0, "zh", "bert-base-chinese", 38.0, _SIG_ZH),
    "simsv2": Profile("simsv2", (2722, 647, 1034), 50, 925, 232, 25, 177, 1.0, "zh", "bert-base-chinese", 30.0, _SIG_ZH),
    "mosi": Profile("mosi", (1284, 229, 686), 50, 375, 500, 5, 20, 3.0, "en", "bert-base-uncased", 24.0, _SIG_EN),
    "mosei": Profile(
        "mosei", (16326, 1871, 4659), 50, 500, 500, 74, 35, 3.0, "en", "bert-base-uncased", 7.0, _SIG_EN, 1e-3
    ),
}  # fmt: skip

# ---------------------------------------------------------------------------------------------------------------
# labels

SIMS_GRID = np.round(np.arange(-5, 6) / 5, 1)  # {-1.0, -0.8, ..., 1.0}: mean of 5 annotators choosing -1/0/+1

# Value shares of the CH-SIMS v2 human labels (sims-label-statistics.md), in SIMS_GRID order.
SIMS_SHARES = {
    "M": (0.167, 0.083, 0.102, 0.061, 0.069, 0.121, 0.058, 0.050, 0.140, 0.080, 0.069),
    "T": (0.096, 0.104, 0.111, 0.065, 0.066, 0.191, 0.058, 0.060, 0.122, 0.080, 0.047),
    "A": (0.132, 0.090, 0.099, 0.054, 0.082, 0.166, 0.082, 0.080, 0.124, 0.056, 0.035),
    "V": (0.151, 0.070, 0.087, 0.059, 0.079, 0.183, 0.051, 0.043, 0.115, 0.075, 0.087),
}

# Copula parameters fitted offline (Nelder-Mead over 200k simulated clips, loss = squared standardised errors of
# the 6 correlations, 12 per-modality conflict rates and 2 all-modality rates). Latent z ~ N(0, R) over
# (M, T, A, V); then per modality U: with prob COPY[U] z_U := z_M (the annotators agree), else with prob
# SHRINK[U] z_U := SHRINK_A * z_M + 0.3 * noise (a weaker version of M, mostly neutral), else z_U keeps its own
# correlated draw. Copy flags are correlated across modalities (equicorrelation COPY_KAPPA of their latents).
LATENT_R = np.array(
    [
        [1.0, 0.7321, 0.8535, 0.8321],
        [0.7321, 1.0, 0.6536, 0.2746],
        [0.8535, 0.6536, 1.0, 0.7386],
        [0.8321, 0.2746, 0.7386, 1.0],
    ]
)
COPY = np.array([0.3240, 0.3792, 0.2963])
COPY_KAPPA = 0.5
SHRINK = np.array([0.1526, 0.0653, 0.0541])
SHRINK_A = 0.3948


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (Acklam's rational approximation, |rel err| < 1.2e-9); avoids needing scipy."""
    p = np.asarray(p, dtype=np.float64)
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)  # fmt: skip
    out = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1
    )
    for sel, sign in ((lo, 1.0), (hi, -1.0)):
        pp = np.where(sign > 0, p[sel], 1 - p[sel])
        q = np.sqrt(-2 * np.log(pp))
        out[sel] = (
            sign
            * (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        )
    return out


def _mosi_like_margin(profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Value set and shares for MOSI/MOSEI-like labels on [-3, 3] (approximate shapes, not calibrated).

    MOSI: means of 3 or 5 annotators' integer scores, so multiples of 1/3 and 1/5, bimodal around -1.4 and +1.1,
    few exact zeros. MOSEI: means of 3 annotators (multiples of 1/3), skewed positive, about 20 % exact zeros.
    """
    if profile == "mosi":
        vals = np.unique(np.round(np.concatenate([np.arange(-9, 10) / 3, np.arange(-15, 16) / 5]), 6))
        dens = 0.43 * np.exp(-0.5 * ((vals + 1.4) / 0.8) ** 2) + 0.57 * np.exp(-0.5 * ((vals - 1.1) / 0.9) ** 2)
        dens = dens / dens.sum() * 0.97
        dens[vals == 0] += 0.03
    else:
        vals = np.round(np.arange(-9, 10) / 3, 6)
        dens = 0.35 * np.exp(-0.5 * ((vals + 1.0) / 0.7) ** 2) + 0.65 * np.exp(-0.5 * ((vals - 0.9) / 0.8) ** 2)
        dens[vals == 0] = 0.0
        dens = dens / dens.sum() * 0.8
        dens[vals == 0] = 0.2
    return vals, dens / dens.sum()


def _margins(profile: Profile) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if profile.label_range == 1.0:
        return {k: (SIMS_GRID, np.asarray(v) / np.sum(v)) for k, v in SIMS_SHARES.items()}
    vals, shares = _mosi_like_margin(profile.name)
    return {k: (vals, shares) for k in "MTAV"}


def sample_labels(profile: Profile, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``n`` clips' ground-truth labels ``{"M","T","A","V"} -> (n,) float32`` on the profile's value set."""
    w, vecs = np.linalg.eigh(LATENT_R)
    z = rng.standard_normal((n, 4)) @ (vecs * np.sqrt(np.clip(w, 0, None))).T  # (n, 4) ~ N(0, R)
    g = rng.standard_normal((n, 4))
    g = math.sqrt(COPY_KAPPA) * g[:, :1] + math.sqrt(1 - COPY_KAPPA) * g[:, 1:]  # (n, 3) copy latents
    u_shrink = rng.random((n, 3))
    shrink_noise = rng.standard_normal((n, 3))
    copy = g < _norm_ppf(COPY)
    for j in range(3):
        shrink = ~copy[:, j] & (u_shrink[:, j] < SHRINK[j] / (1 - COPY[j]))
        z[:, j + 1] = np.where(copy[:, j], z[:, 0], z[:, j + 1])
        z[:, j + 1] = np.where(shrink, SHRINK_A * z[:, 0] + 0.3 * shrink_noise[:, j], z[:, j + 1])
    out = {}
    for j, (k, (vals, shares)) in enumerate(_margins(profile).items()):
        # quantile thresholds of the target value shares under the latent's mixture margin
        nu = 0.0 if j == 0 else float(SHRINK[j - 1])
        thresholds = _mixture_quantiles(np.cumsum(shares)[:-1], nu, math.hypot(SHRINK_A, 0.3))
        out[k] = vals[np.searchsorted(thresholds, z[:, j])].astype(np.float32)
    return out


def _mixture_quantiles(p: np.ndarray, nu: float, sd: float) -> np.ndarray:
    """Quantiles of ``(1 - nu) N(0, 1) + nu N(0, sd^2)`` (the latent margin of a unimodal label), by bisection."""

    def cdf(x: float) -> float:
        return (1 - nu) * 0.5 * math.erfc(-x / math.sqrt(2)) + nu * 0.5 * math.erfc(-x / (sd * math.sqrt(2)))

    out = []
    for q in p:
        lo, hi = -10.0, 10.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
        out.append(0.5 * (lo + hi))
    return np.array(out)


# ---------------------------------------------------------------------------------------------------------------
# text

_ZH = {
    "subjects": ["这个", "我觉得这件事", "说实话这部剧", "他的表现", "今天的安排", "这个结果", "我们的生活", "这家店",
                 "那个人", "这种感觉"],
    "pos2": ["非常好", "太棒了", "特别让人喜欢", "真的很精彩", "让我超级开心", "好极了", "简直完美"],
    "pos1": ["还不错", "挺好的", "比较让人满意", "有点意思", "还可以", "算是喜欢"],
    "neu": ["一般", "说不上好坏", "普普通通", "没什么感觉", "就那样吧"],
    "neg1": ["不太好", "有点让人失望", "不怎么样", "有些无聊", "不太让人满意"],
    "neg2": ["很差", "太糟糕了", "非常讨厌", "特别让人失望", "烂透了", "真让人生气"],
    "filler": ["我们昨天去了那边", "然后大家一起聊了聊", "这个事情是上周发生的", "他说他明天再来", "我们先看看情况",
               "其实我也不知道", "后来我们就回家了", "你知道吗", "当时人很多", "那个地方离这里不远", "我妈妈也在",
               "就是这样", "反正是这么回事", "我记得是下午三点"],
    "sep": "，", "end": ["。", "！", "。"], "space": "",
}  # fmt: skip
_EN = {
    "subjects": ["the movie was", "honestly the plot was", "i think the acting was", "the ending was",
                 "the whole thing was", "the soundtrack was", "the main character was", "this film is"],
    "pos2": ["absolutely amazing", "really wonderful", "fantastic", "the best thing ever", "truly brilliant"],
    "pos1": ["pretty good", "kind of nice", "fairly enjoyable", "not bad at all", "somewhat fun"],
    "neu": ["okay", "just average", "neither good nor bad", "fine i guess", "nothing special"],
    "neg1": ["a bit disappointing", "not very good", "somewhat boring", "kind of dull", "a little weak"],
    "neg2": ["terrible", "really awful", "a complete waste of time", "absolutely horrible", "the worst"],
    "filler": ["so i went to see it last weekend", "with a couple of friends", "and we talked about it afterwards",
               "you know", "um", "it was playing at the theater downtown", "i heard about it from my sister",
               "there were a lot of people there", "and then we went home", "it is about a family in texas"],
    "sep": ", ", "end": [".", "!", "."], "space": " ",
}  # fmt: skip

# Real CH-SIMS v2 transcripts: 5th pct 7, median 16, 95th pct 31 tokens. The filler target is lognormal(ln 11, 0.6);
# sentiment clauses and whole-clause rounding add the rest (measured: 8 / 17 / 32 tokens at full SIMS size).
_LEN_MEDIAN, _LEN_SIGMA = 11.0, 0.60


def _sentiment_phrases(e: float, rng: np.random.Generator, lex: dict) -> list[str]:
    """Phrases for a perceived text label ``e`` in [-1, 1]: count ~ 3|e|, strong words for |e| >= 0.7."""
    if abs(e) < 0.1:
        return [lex["neu"][rng.integers(len(lex["neu"]))]]
    key = ("pos" if e > 0 else "neg") + ("2" if abs(e) >= 0.7 else "1")
    count = int(np.clip(round(3 * abs(e) + rng.uniform(-0.5, 0.5)), 1, 3))
    words = lex[key]
    return [words[i] for i in rng.choice(len(words), size=min(count, len(words)), replace=False)]


def make_sentence(e: float, rng: np.random.Generator, language: str, tokenizer: WordPieceTokenizer) -> str:
    """A transcript whose sentiment phrases follow ``e`` and whose token length follows the real distribution."""
    lex = _ZH if language == "zh" else _EN
    target = int(np.clip(round(math.exp(math.log(_LEN_MEDIAN) + _LEN_SIGMA * rng.standard_normal())), 4, 60))
    clauses = []
    for i, p in enumerate(_sentiment_phrases(e, rng, lex)):
        # the first sentiment phrase always gets a subject; later ones only sometimes (keeps short clips short)
        subj = (
            lex["subjects"][rng.integers(len(lex["subjects"]))] + lex["space"] if i == 0 or rng.random() < 0.3 else ""
        )
        clauses.append(subj + p)
    n_tok = sum(len(tokenizer.tokenize(c)) + 1 for c in clauses)
    fillers = []
    while n_tok < target - 2:  # add neutral filler clauses until the transcript reaches its target length
        f = lex["filler"][rng.integers(len(lex["filler"]))]
        fillers.append(f)
        n_tok += len(tokenizer.tokenize(f)) + 1
    order = clauses + fillers
    perm = rng.permutation(len(order))
    text = lex["sep"].join(order[i] for i in perm) + lex["end"][rng.integers(3)]
    return text[0].upper() + text[1:] if language == "en" else text


# ---------------------------------------------------------------------------------------------------------------
# features


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


# ---------------------------------------------------------------------------------------------------------------
# the generator


def _resolve(profile, scale, signal, dims, lengths, text_dim) -> tuple[Profile, dict, dict, dict, list[int]]:
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise SynthError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
        profile = PROFILES[profile]
    if not scale > 0:
        raise SynthError(f"scale={scale}: must be > 0 (1 = the real split sizes)")
    sig = dict(profile.signal)
    for k, v in (signal or {}).items():
        if k not in sig:
            raise SynthError(f"signal key {k!r}: expected text, audio or vision")
        if not v >= 0:
            raise SynthError(f"signal {k}={v}: must be >= 0 (0 = no label information)")
        sig[k] = float(v)
    dm = {"text": int(text_dim), "audio": profile.audio_dim, "vision": profile.vision_dim}
    for k, v in (dims or {}).items():
        if k not in dm:
            raise SynthError(f"dims key {k!r}: expected text, audio or vision")
        dm[k] = int(v)
    ln = {"text": profile.text_len, "audio": profile.audio_len, "vision": profile.vision_len}
    for k, v in (lengths or {}).items():
        if k not in ln:
            raise SynthError(f"lengths key {k!r}: expected text, audio or vision")
        ln[k] = int(v)
    if min(dm.values()) < 1 or min(ln["audio"], ln["vision"]) < 1 or ln["text"] < 4:
        raise SynthError(f"dims {dm} and lengths {ln}: dims and audio/vision lengths must be >= 1, text >= 4")
    sizes = [max(2, round(n * scale)) for n in profile.splits]
    return profile, sig, dm, ln, sizes


def _build(profile, scale, seed, signal, dims, lengths, text_dim, neg_inf_rate, alloc: Callable) -> dict:
    """Fill the MMSA dict; ``alloc(split, key, shape, dtype)`` provides each big array (RAM or memory map)."""
    profile, sig, dm, ln, sizes = _resolve(profile, scale, signal, dims, lengths, text_dim)
    inf_rate = profile.neg_inf_rate if neg_inf_rate is None else float(neg_inf_rate)
    if not 0 <= inf_rate < 1:
        raise SynthError(f"neg_inf_rate={inf_rate}: must be in [0, 1)")
    n = sum(sizes)
    R = float(profile.label_range)

    def stream(*key: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), *key])

    labels = sample_labels(profile, n, stream(1))
    # videos: consecutive clips share a video (speaker); sizes ~ 1 + Poisson(mean - 1)
    rng = stream(2)
    vid_sizes = []
    while sum(vid_sizes) < n:
        vid_sizes.append(1 + int(rng.poisson(profile.clips_per_video - 1)))
    video = np.repeat(np.arange(len(vid_sizes)), vid_sizes)[:n]
    clip_no = np.concatenate([np.arange(1, s + 1) for s in vid_sizes])[:n]
    width = max(4, len(str(len(vid_sizes))))
    ids = np.array([f"video_{v + 1:0{width}d}$_${c}" for v, c in zip(video, clip_no)])

    # perceived labels: e_s = y_s / range + eta_s / signal_s  (signal 0 -> pure noise)
    eta = stream(3).standard_normal((3, n))
    e = {}
    for j, (mkey, skey) in enumerate(zip(UNI, ("text", "audio", "vision"))):
        s = sig[skey]
        noisy = labels[mkey] / R + eta[j] / s if s > 0 else 0.5 * eta[j]  # signal 0: no label information at all
        e[mkey] = np.asarray(noisy, dtype=np.float32)

    tok = WordPieceTokenizer.from_name(profile.vocab)
    rng = stream(4)
    raw_text = [make_sentence(float(np.clip(x, -1, 1)), rng, profile.language, tok) for x in e["T"]]
    text_bert = tok.encode_batch(raw_text, ln["text"])  # (n, 3, L)

    # true frame counts: duration follows the transcript length (+ jitter), clipped to [1, T]
    rng = stream(5)
    n_words = text_bert[:, 1].sum(1) - 2
    frac = np.clip(n_words / 31.0 * rng.uniform(0.6, 1.1, n) + 0.05, 0.02, 1.0)
    audio_len = np.clip(np.round(frac * ln["audio"] * rng.uniform(0.9, 1.1, n)), 1, ln["audio"]).astype(np.int64)
    vision_len = np.clip(np.round(frac * ln["vision"] * rng.uniform(0.9, 1.1, n)), 1, ln["vision"]).astype(np.int64)

    rng = stream(6)
    n_videos = len(vid_sizes)
    mods = {
        "text": _make_modality(rng, dm["text"], ln["text"], sig["text"], n_videos),
        "audio": _make_modality(rng, dm["audio"], ln["audio"], sig["audio"], n_videos),
        "vision": _make_modality(rng, dm["vision"], ln["vision"], sig["vision"], n_videos),
    }
    emb = (0.5 * stream(7).standard_normal((len(tok), dm["text"]), dtype=np.float32)) if dm["text"] else None

    annotations = np.where(labels["M"] > 0, "Positive", np.where(labels["M"] < 0, "Negative", "Neutral"))
    out: dict = {}
    lo = 0
    for si, split in enumerate(SPLITS):
        hi = lo + sizes[si]
        sl = slice(lo, hi)
        N = hi - lo
        d = {
            "raw_text": np.array(raw_text[lo:hi]),
            "id": ids[sl].copy(),
            "annotations": annotations[sl].copy(),
            "classification_labels": (np.sign(labels["M"][sl]) + 1).astype(np.float32),  # 0 neg, 1 neu, 2 pos
            "regression_labels": labels["M"][sl].copy(),
            **{f"regression_labels_{k}": labels[k][sl].copy() for k in UNI},
            "text_bert": text_bert[sl].copy(),
            "audio_lengths": audio_len[sl].copy(),
            "vision_lengths": vision_len[sl].copy(),
        }
        d["text"] = alloc(split, "text", (N, ln["text"], dm["text"]), np.float32)
        d["audio"] = alloc(split, "audio", (N, ln["audio"], dm["audio"]), np.float32)
        d["vision"] = alloc(split, "vision", (N, ln["vision"], dm["vision"]), np.float32)
        for ci, c0 in enumerate(range(0, N, CHUNK)):
            c1 = min(N, c0 + CHUNK)
            g = slice(lo + c0, lo + c1)
            bert = text_bert[g]
            d["text"][c0:c1] = _token_features(
                bert[:, 0].astype(np.int64), bert[:, 1], e["T"][g], video[g], mods["text"], emb, stream(10, si, ci)
            )
            a = _frames(mods["audio"], e["A"][g], video[g], audio_len[g], stream(11, si, ci))
            if inf_rate > 0:
                r = stream(13, si, ci)
                valid = np.arange(ln["audio"])[None, :] < audio_len[g][:, None]
                hit = valid & (r.random(valid.shape) < inf_rate)
                b_idx, t_idx = np.nonzero(hit)
                a[b_idx, t_idx, r.integers(0, dm["audio"], len(b_idx))] = -np.inf
            d["audio"][c0:c1] = a
            d["vision"][c0:c1] = _frames(mods["vision"], e["V"][g], video[g], vision_len[g], stream(12, si, ci))
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
        ``{"train"|"valid"|"test": {key: array}}`` with the keys of reference §5.1 plus
        ``regression_labels_T/A/V`` (ground truth). Features ``text (N, L, Dt)``, ``audio (N, Ta, Da)``,
        ``vision (N, Tv, Dv)`` and ``text_bert (N, 3, L)`` are float32; lengths int64; labels float32.
    """
    return _build(
        profile, scale, seed, signal, dims, lengths, text_dim, neg_inf_rate, lambda s, k, shape, dt: np.zeros(shape, dt)
    )


def write(path: str | Path, profile: str | Profile = "sims", **kwargs) -> dict:
    """Generate (see :func:`generate` for ``kwargs``) and write the pickle atomically with bounded memory.

    The big feature arrays are filled chunk by chunk into memory maps in a temporary folder next to ``path``,
    then pickled with protocol 5, which streams each array's buffer to the file without copying it
    (``numpy._core.numeric._frombuffer``, readable by any Python >= 3.8 / numpy pickle loader).

    Returns a summary: ``{"path", "size_bytes", "seconds", "n": {split: N}}``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmpdir = Path(tempfile.mkdtemp(prefix=".synth-", dir=path.parent))
    try:

        def alloc(split, key, shape, dtype):
            return np.lib.format.open_memmap(tmpdir / f"{split}-{key}.npy", mode="w+", dtype=dtype, shape=shape)

        data = _build(profile, **_build_kwargs(kwargs), alloc=alloc)
        for d in data.values():  # plain ndarray views: pickle must not record the numpy.memmap class
            for k, v in d.items():
                if isinstance(v, np.memmap):
                    d[k] = v.view(np.ndarray)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(data, f, protocol=5)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "seconds": time.perf_counter() - t0,
        "n": {s: int(len(data[s]["id"])) for s in SPLITS},
    }


def _build_kwargs(kw: dict) -> dict:
    allowed = ("scale", "seed", "signal", "dims", "lengths", "text_dim", "neg_inf_rate")
    bad = sorted(set(kw) - set(allowed))
    if bad:
        raise SynthError(f"unknown options {bad}: expected some of {', '.join(allowed)}")
    return {
        "scale": kw.get("scale", 1.0),
        "seed": kw.get("seed", 0),
        "signal": kw.get("signal"),
        "dims": kw.get("dims"),
        "lengths": kw.get("lengths"),
        "text_dim": kw.get("text_dim", 768),
        "neg_inf_rate": kw.get("neg_inf_rate"),
    }


# ---------------------------------------------------------------------------------------------------------------
# statistics (used by the tests and the calibration report)


def label_statistics(y: dict[str, np.ndarray]) -> dict:
    """The calibration-table statistics of labels ``{"M","T","A","V"} -> (N,)`` on [-1, 1].

    Keys: ``mean``/``std`` per modality, ``share`` (per modality, 11 values on the grid of fifths), ``corr``
    (4x4 Pearson, MTAV order), per unimodal U: ``sign_diff``, ``opposite``, ``mae``, ``agree3``; and
    ``all_agree3``, ``any_opposite3`` (shares of clips).
    """

    def c3(x):
        return np.where(x > 0.1, 1, np.where(x < -0.1, -1, 0))

    m = y["M"]
    out = {
        "mean": {k: float(np.mean(v)) for k, v in y.items()},
        "std": {k: float(np.std(v)) for k, v in y.items()},
        "share": {k: [float(np.mean(np.isclose(v, g))) for g in SIMS_GRID] for k, v in y.items()},
        "corr": np.corrcoef(np.stack([y[k] for k in "MTAV"])),
    }
    for k in UNI:
        u = y[k]
        out[k] = {
            "sign_diff": float(np.mean(np.sign(u) != np.sign(m))),
            "opposite": float(np.mean(u * m < 0)),
            "mae": float(np.mean(np.abs(u - m))),
            "agree3": float(np.mean(c3(u) == c3(m))),
        }
    out["all_agree3"] = float(np.mean(np.all([c3(y[k]) == c3(m) for k in UNI], axis=0)))
    out["any_opposite3"] = float(np.mean(np.any([c3(y[k]) * c3(m) < 0 for k in UNI], axis=0)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# CLI


def _kv(option: str, text: str, conv=float) -> dict:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise SynthError(f"{option} {text!r}: expected key=value pairs, e.g. {option} text=3,audio=1.5,vision=2")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = conv(v)
        except ValueError:
            raise SynthError(f"{option} {item!r}: {v!r} is not a number") from None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m selfmm synth",
        description="Write a synthetic MMSA feature pickle with ground-truth unimodal labels.",
    )
    p.add_argument("--profile", required=True, choices=sorted(PROFILES), help="real dataset whose layout to copy")
    p.add_argument("--out", required=True, help="output .pkl path (written atomically)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every split size (default 1 = real sizes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--signal", default="", help="per-modality signal strength, e.g. text=3,audio=1.5,vision=2")
    p.add_argument("--dims", default="", help="feature dims, e.g. audio=8,vision=16 (shrink for tests)")
    p.add_argument("--lengths", default="", help="padded lengths, e.g. text=24,audio=40,vision=20")
    p.add_argument("--text-dim", type=int, default=768, help="Dt of the precomputed `text` key (default 768)")
    p.add_argument("--neg-inf-rate", type=float, default=None, help="share of audio frames with a -inf value")
    args = p.parse_args(argv)
    try:
        summary = write(
            args.out,
            args.profile,
            scale=args.scale,
            seed=args.seed,
            signal=_kv("--signal", args.signal),
            dims=_kv("--dims", args.dims, int),
            lengths=_kv("--lengths", args.lengths, int),
            text_dim=args.text_dim,
            neg_inf_rate=args.neg_inf_rate,
        )
    except SynthError as err:
        print(f"selfmm synth: {err}", file=sys.stderr)
        return 2
    n = summary["n"]
    print(
        f"wrote {summary['path']}: {n['train']}/{n['valid']}/{n['test']} clips, "
        f"{summary['size_bytes'] / 2**20:.1f} MiB in {summary['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
