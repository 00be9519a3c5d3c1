"""Synthetic MMSA feature pickles with ground-truth unimodal labels.

``python -m selfmm synth --profile sims|simsv2|mosi|mosei --out PATH.pkl [--scale F] [--seed S]`` writes a file
that the MMSA loaders (and :func:`selfmm.data.load_mmsa`) accept unchanged: the keys that MMSA's
``data_loader.py`` (``MMDataset.__init_mosi``) reads, the profile's split sizes, padded lengths and feature
dims (those of the MMSA release pickles, e.g. ``SIMS/Processed/unaligned_39.pkl``), zero padding at the end, true
frame counts in ``audio_lengths``/``vision_lengths``, ids ``video_XXXX$_$N``, and ``regression_labels_T/A/V``
holding the ground-truth unimodal labels (for the SIMS profiles they play the role of the human unimodal labels).

How a clip is made (see ``docs/synthetic-data.md``):

1. **Labels** (:mod:`.labels`). ``(y_M, y_T, y_A, y_V)`` come from a Gaussian copula with a "copy" and a "shrink"
   component, fitted once (offline, by simulation) so that the *discretised* labels reproduce the CH-SIMS v2
   human-label table: value shares on the grid of fifths, Pearson matrix and modality-conflict rates. MOSI/MOSEI
   reuse the same dependence with their own margins on [-3, 3].
2. **Perceived label** (:mod:`.generator`). Each modality s of clip i carries ``e_s = y_s / range + eta_s /
   signal_s`` with ``eta ~ N(0, 1)`` per clip: ``signal_s`` (``--signal``) sets how well the modality can reveal
   its label at best (Pearson ceiling ``sd(y/range) / sqrt(sd(y/range)^2 + 1/signal^2)``).
3. **Audio / vision frames** (:mod:`.features`) ``x[t] = e_s * u * g[t] + speaker[video] + nuisance_i @ N +
   noise[t]`` then a fixed per-dim scale and offset, zero after the clip's true length. ``u`` is non-zero on ~30 %
   of the dims and ``g`` opens a window over 30-80 % of the valid frames, so the label lives in some dims and
   frames only; speaker (per video) and clip nuisance factors do not average out over frames.
4. **Text** (:mod:`.text`): a readable sentence (Chinese for SIMS, English for MOSI/MOSEI) whose sentiment
   phrases follow ``e_T`` (polarity, intensity, count), padded with neutral filler to the real token-length
   distribution, then tokenised by :class:`selfmm.tokenizer.WordPieceTokenizer` into ``text_bert``. The
   precomputed ``text`` key is ``(N, L, Dt)`` float32: a token embedding plus ``e_T * u_T`` plus nuisance, zero at
   padding.

Everything is drawn from ``numpy.random.default_rng`` streams keyed by (seed, purpose, split, chunk), so a seed
gives identical bytes whether the file is built in memory (:func:`generate`) or streamed (:func:`write`).
:func:`write` (:mod:`.io`) fills memory-mapped arrays chunk by chunk and pickles them with protocol 5, so memory
stays bounded by one chunk, whatever the profile. :mod:`.cli` is the command; :mod:`.profiles` the dataset layouts.
"""

from selfmm.synth.cli import _kv, main
from selfmm.synth.generator import generate
from selfmm.synth.io import write
from selfmm.synth.labels import (
    COPY,
    COPY_KAPPA,
    COPY_Z,
    LATENT_R,
    SHRINK,
    SHRINK_A,
    SIMS_GRID,
    SIMS_SHARES,
    label_statistics,
    sample_labels,
)
from selfmm.synth.profiles import CHUNK, PROFILES, SPLITS, UNI, Profile, SynthError
from selfmm.synth.text import _EN, _ZH, make_sentence

__all__ = [
    "CHUNK",
    "COPY",
    "COPY_KAPPA",
    "COPY_Z",
    "LATENT_R",
    "SHRINK",
    "SHRINK_A",
    "PROFILES",
    "SIMS_GRID",
    "SIMS_SHARES",
    "SPLITS",
    "UNI",
    "Profile",
    "SynthError",
    "_EN",
    "_ZH",
    "_kv",
    "generate",
    "label_statistics",
    "main",
    "make_sentence",
    "sample_labels",
    "write",
]
