"""Synthetic-data profiles (the layout of each real dataset) and the validation of the generator's options."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfmm.config import SPLITS, UNIMODAL
from selfmm.errors import UserError

UNI = UNIMODAL  # the short name the generator modules use
CHUNK = 256  # clips per feature chunk; fixed so that generate() and write() draw identical numbers


class SynthError(UserError, ValueError):
    """Bad generator options; the message names the option and the fix."""


@dataclass(frozen=True)
class Profile:
    name: str
    splits: tuple[int, int, int]  # train / valid / test clips of the MMSA release pickle
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


__all__ = ["CHUNK", "PROFILES", "SPLITS", "UNI", "Profile", "SynthError"]
