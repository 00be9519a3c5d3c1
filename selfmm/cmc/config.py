"""CMC's configuration: one typed dataclass, per-dataset presets from the authors' README, a ``tiny`` test preset.

Defaults are the argparse defaults and fixed values of CMC's ``main.py``; presets set the
README's layers / heads / out_dropout per dataset (the README's commands and ``script.sh``). Switches marked "fix" default to the reference's
behaviour; setting them changes what is computed and is recorded in run.json.

Not reproduced: the authors' grid search (``main_tune.py``) picks the point with the best TEST accuracy. Here
nothing looks at the test split for a decision: phase 1 selects on the teachers' valid CE, phase 2 on valid
(``phase2_select``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from selfmm.config import ConfigError, _parse_value, known_fields


@dataclass
class CMCConfig:
    # --- data -------------------------------------------------------------------------------------------------
    dataset: str = "sims"  # sims | simsv2 | mosi | mosei: SupCon binarisation, Has0 truth, label range H
    # --- text encoder -----------------------------------------------------------------------------------------
    text_model: str = "bert-base-chinese"  # hub id (local cache), local folder, or "tiny" (from-scratch BERT)
    tiny_bert_layers: int = 2  # only for text_model="tiny"
    tiny_bert_hidden: int = 64
    tiny_bert_heads: int = 2
    finetune_bert_phase1: bool = False  # reference: CMC phase-1 commands omit --finetune (BERT frozen)
    finetune_bert_phase2: bool = True  # reference: phase-2 commands pass --finetune
    # --- encoders and heads -----------------------------------------------------------------------------------
    embed_dim: int = 32  # main.py fixes 32
    transformer_layers: int = 5
    nhead: int = 4
    out_dropout: float = 0.4  # dropout inside the residual heads
    # fix: False (reference) means over ALL frames, padding included, and no key-padding mask; True masks padding
    # in attention and in the temporal mean (text: attention mask; audio/vision: *_lengths). BatchNorm statistics
    # still include padded frames either way.
    mask_padding: bool = False
    # --- PFM / MCR --------------------------------------------------------------------------------------------
    pfm_temperature: float = 0.07  # `--temperature`
    top_k: int = 3  # experts kept by the router (3 = dense softmax gate)
    # --- PLGM and SupCon --------------------------------------------------------------------------------------
    supcon_temperature: float = 0.07  # `--pretrain_temperature` (both phases)
    label_m0_T: float = 0.8
    label_m0_A: float = 0.99
    label_m0_V: float = 0.99
    label_gamma_T: float = 0.5
    label_gamma_A: float = 0.5
    label_gamma_V: float = 0.5
    teacher_m0_T: float = 0.8
    teacher_m0_A: float = 0.9
    teacher_m0_V: float = 0.6
    teacher_gamma_T: float = 2.5
    teacher_gamma_A: float = 5.0
    teacher_gamma_V: float = 2.0
    # --- optimisation -----------------------------------------------------------------------------------------
    batch_size: int = 64
    lr: float = 1e-3  # non-BERT lr of the text model (phase 1) and of everything but BERT (phase 2)
    lr_bert: float = 5e-5
    weight_decay_bert: float = 1e-3
    phase1_epochs: int = 100  # `--num_epochs` (each phase)
    phase2_epochs: int = 100
    patience: int = 10
    # phase-2 selection. "last" (reference): train_run.py never updates valid_best_loss, so every epoch counts as
    # an improvement, patience never runs out and the model kept is the last epoch's. "valid_loss" (fix): the
    # epoch with the lowest valid total loss, early stopping after `patience` epochs without improvement.
    phase2_select: str = "last"
    # fix: the reference's Non0_acc_2 / Non0_F1 compare the (neg, pos) argmax (0/1) with the 3-class truth
    # (0/2), so no positive sample counts as correct. True compares with the truth mapped to 0/1.
    fix_non0_metrics: bool = False
    # --- run --------------------------------------------------------------------------------------------------
    seed: int = 1111
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.dataset not in ("mosi", "mosei", "sims", "simsv2"):
            raise ConfigError(f"dataset={self.dataset!r}: expected one of mosi, mosei, sims, simsv2")
        if self.embed_dim < 1 or self.nhead < 1 or self.embed_dim % self.nhead:
            raise ConfigError(f"embed_dim={self.embed_dim} must be a positive multiple of nhead={self.nhead}")
        if self.transformer_layers < 1:
            raise ConfigError(f"transformer_layers={self.transformer_layers}: must be >= 1")
        if not 0.0 <= self.out_dropout < 1.0:
            raise ConfigError(f"out_dropout={self.out_dropout}: must be in [0, 1)")
        if not 1 <= self.top_k <= 3:
            raise ConfigError(f"top_k={self.top_k}: must be 1, 2 or 3 (three experts)")
        if self.pfm_temperature <= 0 or self.supcon_temperature <= 0:
            raise ConfigError("pfm_temperature and supcon_temperature must be > 0")
        for m in "TAV":
            for kind in ("label", "teacher"):
                m0, g = getattr(self, f"{kind}_m0_{m}"), getattr(self, f"{kind}_gamma_{m}")
                if not 0.0 <= m0 <= 1.0 or g < 0:
                    raise ConfigError(f"{kind}_m0_{m}={m0} must be in [0, 1] and {kind}_gamma_{m}={g} >= 0")
        if self.batch_size < 1 or self.phase1_epochs < 1 or self.phase2_epochs < 1 or self.patience < 1:
            raise ConfigError("batch_size, phase1_epochs, phase2_epochs and patience must be >= 1")
        if self.phase2_select not in ("last", "valid_loss"):
            raise ConfigError(f"phase2_select={self.phase2_select!r}: expected 'last' (reference) or 'valid_loss'")

    def momentum(self, kind: str, m: str) -> tuple[float, float]:
        """(m0, γ) of the ``kind`` ("label" | "teacher") schedule of modality ``m``."""
        return getattr(self, f"{kind}_m0_{m}"), getattr(self, f"{kind}_gamma_{m}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CMCConfig:
        return known_fields(cls, d, "CMC config")


# README commands (the CMC rows); everything else is main.py's default.
PRESETS: dict[str, dict] = {
    "sims": dict(dataset="sims", text_model="bert-base-chinese", transformer_layers=5, nhead=4, out_dropout=0.4),
    "simsv2": dict(dataset="simsv2", text_model="bert-base-chinese", transformer_layers=4, nhead=2, out_dropout=0.3),
    "mosi": dict(dataset="mosi", text_model="bert-base-uncased", transformer_layers=2, nhead=4, out_dropout=0.5),
    "mosei": dict(dataset="mosei", text_model="bert-base-uncased", transformer_layers=2, nhead=4, out_dropout=0.0),
    # tests and demos: SIMS semantics, a from-scratch 1-layer BERT, one transformer layer, a few epochs
    "tiny": dict(
        dataset="sims", text_model="tiny", tiny_bert_layers=1, tiny_bert_hidden=16, tiny_bert_heads=2,
        transformer_layers=1, nhead=2, embed_dim=8, out_dropout=0.1, batch_size=8, phase1_epochs=2,
        phase2_epochs=2, patience=3, lr_bert=1e-3,
    ),
}  # fmt: skip


def preset(name: str, **overrides) -> CMCConfig:
    """The CMC preset ``name`` (sims, simsv2, mosi, mosei, tiny) with keyword overrides."""
    if name not in PRESETS:
        raise ConfigError(f"unknown CMC preset {name!r}: expected one of {', '.join(PRESETS)}")
    return CMCConfig(**{**PRESETS[name], **overrides})


def apply_overrides(cfg: CMCConfig, items: list[str]) -> CMCConfig:
    """A copy of ``cfg`` with ``key=value`` strings applied, type-checked; unknown keys raise ConfigError."""
    hints = typing.get_type_hints(CMCConfig)
    changes = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in hints:
            close = [n for n in hints if key.lower() in n.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown CMC config key {key!r}{hint}")
        changes[key] = _parse_value(key, raw, hints[key])
    return dataclasses.replace(cfg, **changes)


__all__ = ["PRESETS", "CMCConfig", "apply_overrides", "preset"]
