"""Typed run configuration, per-dataset presets and type-checked command-line overrides.

The presets carry the MMSA 2.2.1 regression values (MMSA 2.2.1 ``config/config_regression.json``, ``self_mm`` datasetParams). ``tiny`` is a small, fast
configuration for tests and demos: a from-scratch 2-layer BERT and small LSTMs.

Usage::

    cfg = preset("sims")
    cfg = apply_overrides(cfg, ["batch_size=16", "exclude_zero=false"])
    json.dumps(cfg.to_dict())
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
import warnings
from dataclasses import dataclass

from selfmm.errors import UserError

MODALITIES = ("M", "T", "A", "V")  # M = multimodal (fusion) head
UNIMODAL = ("T", "A", "V")
LABEL_SOURCES = ("ulgm", "human", "multimodal", "plgm")
SPLITS = ("train", "valid", "test")
DATASETS = ("mosi", "mosei", "sims", "simsv2")
_LABEL_RANGES = {"mosi": 3.0, "mosei": 3.0, "sims": 1.0, "simsv2": 1.0}


def label_range(dataset: str) -> float:
    """Labels of ``dataset`` lie in [-r, r]: 1.0 for sims / simsv2, 3.0 for mosi / mosei."""
    if dataset not in _LABEL_RANGES:
        raise ConfigError(f"dataset={dataset!r}: expected one of {', '.join(DATASETS)}")
    return _LABEL_RANGES[dataset]


class ConfigError(UserError, ValueError):
    """A config value or override is invalid; the message says which key and why."""


@dataclass
class SelfMMConfig:
    # --- data -------------------------------------------------------------------------------
    dataset: str = "sims"  # metric set and label range: mosi | mosei | sims | simsv2
    text_mode: str = "bert"  # bert: `text_bert` ids through BERT; precomputed: `text` features through an LSTM
    # --- text encoder -----------------------------------------------------------------------
    text_model: str = "bert-base-chinese"  # hub id, local directory, or "tiny" (from-scratch small BERT)
    finetune_bert: bool = True  # False runs BERT under no_grad (reference `use_finetune`)
    tiny_bert_layers: int = 2  # only for text_model="tiny"
    tiny_bert_hidden: int = 64
    tiny_bert_heads: int = 2
    text_lstm_hidden: int = 64  # only for text_mode="precomputed"
    # --- audio / vision subnets -------------------------------------------------------------
    audio_out: int = 16
    video_out: int = 32
    a_lstm_hidden_size: int = 16
    v_lstm_hidden_size: int = 64
    a_lstm_dropout: float = 0.0
    v_lstm_dropout: float = 0.0
    # --- heads ------------------------------------------------------------------------------
    post_fusion_dim: int = 128
    post_text_dim: int = 64
    post_audio_dim: int = 16
    post_video_dim: int = 32
    post_fusion_dropout: float = 0.0
    post_text_dropout: float = 0.1
    post_audio_dropout: float = 0.1
    post_video_dropout: float = 0.0
    # --- ULGM -------------------------------------------------------------------------------
    H: float = 1.0  # generated labels are clamped to [-H, H]
    exclude_zero: bool = False  # True: positive centre uses label > 0 (MMSA v2); False: >= 0 (runs behind MMSA table)
    label_source: str = "ulgm"  # ulgm | human (dataset's regression_labels_T/A/V) | multimodal (y_m copied) | plgm
    # --- PLGM as a Self-MM label source (selfmm.labels.plgm, an adaptation of CMC's module) -------------------------
    plgm_temperature: float = 0.25  # τ of the head-output -> 3-class softmax over -((ŷ - a_c)/H)², a = (-H, 0, H)
    plgm_m0_T: float = 0.8  # label momentum m(e) = 1 - (1 - m0)/e^gamma per modality (CMC's defaults)
    plgm_m0_A: float = 0.99
    plgm_m0_V: float = 0.99
    plgm_gamma: float = 0.5  # CMC's t/a/v gammas, all 0.5 by default
    tasks: str = "MTAV"  # which heads are trained: M plus any subset of T, A, V
    # tanh: w = tanh(|y_s - y_m|) (Self-MM); none: w = 1; auto: none for label_source=multimodal (where tanh
    # would zero every unimodal loss) and plgm (selfmm.labels.plgm says why), tanh otherwise
    unimodal_weighting: str = "auto"
    # --- optimisation -----------------------------------------------------------------------
    batch_size: int = 32
    learning_rate_bert: float = 5e-5
    learning_rate_audio: float = 5e-3
    learning_rate_video: float = 5e-3
    learning_rate_other: float = 1e-3
    weight_decay_bert: float = 1e-3
    weight_decay_audio: float = 1e-2
    weight_decay_video: float = 1e-2
    weight_decay_other: float = 1e-3
    update_epochs: int = 4  # gradient accumulation: optimizer.step() every this many batches, summed losses
    drop_tail_batches: bool = True  # reference bug: last n_batches % update_epochs batches never stepped
    early_stop: int = 8  # patience in epochs on validation loss
    max_epochs: int = 0  # 0 = no cap (reference: run until early stopping)
    # --- run --------------------------------------------------------------------------------
    seed: int = 1111
    device: str = "cpu"  # cpu | cuda | cuda:N
    eval_test_every_epoch: bool = True  # record test predictions each epoch (reference only tests the best model)
    record_representations: str = "first_last"  # all | first_last | none | every:N
    projection: str = "umap"  # umap | pca | none : computed at the end of training
    # --- speed switches (docs/speed.md): the defaults compute what MMSA's trainer does, to float32 rounding; ------
    # --- lstm_backward=exact with bert_last_layer=full trains bitwise equal to MMSA 2.2.1 --------------------------
    # fused: the audio/vision LSTM's forward without autograd and a hand-written backward (selfmm/lstm.py), gradients
    # within float32 rounding of nn.LSTM's; exact: a backward replaying autograd's kernels, bitwise nn.LSTM's
    lstm_backward: str = "fused"
    # cls: BERT's last layer computes only the [CLS] row Self-MM reads (same dropout draws; float32 rounding from
    # the full layer; CPU training, selfmm/bert_cls.py); full: the whole layer, as MMSA
    bert_last_layer: str = "cls"
    amp: str = "none"  # none | bf16: forward under torch.autocast(bfloat16) (CUDA; on the CPU too, but slow there)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field: its type (an int is accepted for a float field and stored as a float), then its
        range or choices (:data:`_CHOICES`, :data:`_RULES`). Raises :class:`ConfigError` naming the key."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, _typed(f.name, getattr(self, f.name), _hints()[f.name]))
        for key, choices in _CHOICES.items():
            if getattr(self, key) not in choices:
                raise ConfigError(f"{key}={getattr(self, key)!r}: expected one of {', '.join(choices)}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name}={value!r}: must be a finite number")
            rule = _RULES.get(f.name) or (_NON_NEGATIVE if type(value) in (int, float) else None)
            if rule is not None and not rule[0](value):
                raise ConfigError(f"{f.name}={value!r}: must be {rule[1]}")
        if (
            not self.tasks.startswith("M")
            or set(self.tasks) - set(MODALITIES)
            or len(set(self.tasks)) != len(self.tasks)
        ):
            raise ConfigError(
                f"tasks={self.tasks!r}: must start with 'M' followed by any of T, A, V (e.g. 'MT', 'MTAV')"
            )
        if self.tiny_bert_hidden % self.tiny_bert_heads:
            raise ConfigError(
                f"tiny_bert_hidden={self.tiny_bert_hidden}: must be a multiple of tiny_bert_heads={self.tiny_bert_heads}"
            )
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"device={self.device!r}: expected cpu, cuda or cuda:N")
        rr = self.record_representations
        if rr not in ("all", "first_last", "none") and not (
            rr.startswith("every:") and rr[6:].isdigit() and int(rr[6:]) > 0
        ):
            raise ConfigError(f"record_representations={rr!r}: expected all, first_last, none or every:N (N >= 1)")
        if not self.text_model.strip():
            raise ConfigError(f"text_model={self.text_model!r}: expected a hub id, a local directory or 'tiny'")

    @property
    def trained_unimodal(self) -> tuple[str, ...]:
        """Unimodal heads that receive a loss, in T, A, V order."""
        return tuple(m for m in UNIMODAL if m in self.tasks)

    @property
    def weighting(self) -> str:
        """The resolved unimodal loss weighting: 'tanh' or 'none'."""
        if self.unimodal_weighting != "auto":
            return self.unimodal_weighting
        return "none" if self.label_source in ("multimodal", "plgm") else "tanh"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SelfMMConfig:
        """Build from a saved manifest; unknown keys are ignored with a warning (older/newer runs). A key the
        saved dict lacks takes :data:`LEGACY_DEFAULTS`' value where it has one (what runs written before the field
        existed did), else the field's default."""
        return known_fields(cls, {**LEGACY_DEFAULTS, **d}, "config")


# Fields whose default changed when they were added: the value a run saved without the key was trained with.
LEGACY_DEFAULTS = {"bert_last_layer": "full", "lstm_backward": "exact"}


def known_fields(cls, d: dict, what: str):
    """``cls(**d)`` over the fields ``cls`` has; other keys (a run saved by an older or newer selfmm) are ignored
    with a warning naming them, so that a saved config always loads and its fields are validated as usual."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        warnings.warn(f"ignoring unknown {what} keys {unknown}", stacklevel=3)
    return cls(**{k: v for k, v in d.items() if k in names})


_CHOICES = {
    "dataset": DATASETS,
    "text_mode": ("bert", "precomputed"),
    "label_source": LABEL_SOURCES,
    "unimodal_weighting": ("auto", "tanh", "none"),
    "projection": ("umap", "pca", "none"),
    "lstm_backward": ("exact", "fused"),
    "bert_last_layer": ("cls", "full"),
    "amp": ("none", "bf16"),
}
_NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
_POSITIVE = (lambda v: v > 0, "> 0")
_AT_LEAST_1 = (lambda v: v >= 1, ">= 1")
_DROPOUT = (lambda v: 0.0 <= v < 1.0, "in [0, 1)")
_UNIT = (lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
# Range of each numeric field; a numeric field not named here must be >= 0 (and every float finite): learning
# rates may be 0 (a frozen group), weight decays, max_epochs (0 = no cap) and plgm_gamma too.
_RULES: dict[str, tuple] = {
    **dict.fromkeys(
        ("tiny_bert_layers", "tiny_bert_hidden", "tiny_bert_heads", "text_lstm_hidden", "audio_out", "video_out",
         "a_lstm_hidden_size", "v_lstm_hidden_size", "post_fusion_dim", "post_text_dim", "post_audio_dim",
         "post_video_dim", "batch_size", "update_epochs", "early_stop"),
        _AT_LEAST_1,
    ),
    **dict.fromkeys(
        ("a_lstm_dropout", "v_lstm_dropout", "post_fusion_dropout", "post_text_dropout", "post_audio_dropout",
         "post_video_dropout"),
        _DROPOUT,
    ),
    **dict.fromkeys(("H", "plgm_temperature"), _POSITIVE),
    **dict.fromkeys(("plgm_m0_T", "plgm_m0_A", "plgm_m0_V"), _UNIT),
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 2**32) (numpy's seed range)"),
}  # fmt: skip


@functools.cache
def _hints() -> dict:
    return typing.get_type_hints(SelfMMConfig)


def _typed(key: str, value, typ):
    """``value`` as the field type ``typ``: exact bool / int / str, or a float (from an int too)."""
    if typ is float and type(value) is int:
        return float(value)
    if typ is int and type(value) is bool or type(value) is not typ and not (typ is str and isinstance(value, str)):
        name = getattr(typ, "__name__", str(typ))
        raise ConfigError(f"{key}={value!r}: expected {name}, got {type(value).__name__}")
    return value


def config_changes(saved: dict, cfg: SelfMMConfig) -> list[str]:
    """The fields whose value differs between a saved config (a run's ``run.json`` ``config``) and ``cfg``.

    The saved dict is read through the dataclass: a key it lacks (a field added in a later version) takes its
    default, a key the dataclass lacks (a field since removed) is ignored. Raises :class:`ConfigError` when the
    saved values are themselves invalid.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown keys: dropped on purpose here
        old = SelfMMConfig.from_dict(saved)
    return sorted(f.name for f in dataclasses.fields(SelfMMConfig) if getattr(old, f.name) != getattr(cfg, f.name))


_SIMS = dict(
    dataset="sims", text_model="bert-base-chinese", a_lstm_hidden_size=16, v_lstm_hidden_size=64,
    post_fusion_dim=128, post_text_dim=64, post_audio_dim=16, post_video_dim=32,
    post_fusion_dropout=0.0, post_text_dropout=0.1, post_audio_dropout=0.1, post_video_dropout=0.0,
    batch_size=32, learning_rate_bert=5e-5, learning_rate_audio=5e-3, learning_rate_video=5e-3,
    learning_rate_other=1e-3, weight_decay_bert=1e-3, weight_decay_audio=1e-2, weight_decay_video=1e-2,
    weight_decay_other=1e-3, H=1.0,
)  # fmt: skip

PRESETS: dict[str, dict] = {
    "mosi": dict(
        dataset="mosi", text_model="bert-base-uncased", a_lstm_hidden_size=16, v_lstm_hidden_size=32,
        post_fusion_dim=128, post_text_dim=32, post_audio_dim=16, post_video_dim=32,
        post_fusion_dropout=0.0, post_text_dropout=0.1, post_audio_dropout=0.1, post_video_dropout=0.0,
        batch_size=16, learning_rate_bert=5e-5, learning_rate_audio=5e-3, learning_rate_video=5e-3,
        learning_rate_other=1e-3, weight_decay_bert=1e-3, weight_decay_audio=1e-3, weight_decay_video=1e-3,
        weight_decay_other=1e-3, H=3.0,
    ),
    "mosei": dict(
        dataset="mosei", text_model="bert-base-uncased", a_lstm_hidden_size=16, v_lstm_hidden_size=32,
        post_fusion_dim=128, post_text_dim=32, post_audio_dim=16, post_video_dim=32,
        post_fusion_dropout=0.1, post_text_dropout=0.0, post_audio_dropout=0.0, post_video_dropout=0.0,
        batch_size=32, learning_rate_bert=5e-5, learning_rate_audio=5e-3, learning_rate_video=1e-4,
        learning_rate_other=1e-3, weight_decay_bert=1e-3, weight_decay_audio=0.0, weight_decay_video=0.0,
        weight_decay_other=1e-2, H=3.0,
    ),
    "sims": dict(_SIMS),
    "simsv2": dict(
        dataset="simsv2", text_model="bert-base-chinese", a_lstm_hidden_size=16, v_lstm_hidden_size=64,
        post_fusion_dim=128, post_text_dim=64, post_audio_dim=32, post_video_dim=32,
        post_fusion_dropout=0.0, post_text_dropout=0.0, post_audio_dropout=0.1, post_video_dropout=0.0,
        batch_size=16, learning_rate_bert=5e-5, learning_rate_audio=1e-3, learning_rate_video=1e-3,
        learning_rate_other=1e-3, weight_decay_bert=1e-2, weight_decay_audio=0.0, weight_decay_video=0.0,
        weight_decay_other=1e-3, H=3.0,
    ),
    # Small and fast: SIMS semantics, from-scratch 2-layer BERT, small LSTMs, short patience.
    "tiny": dict(
        _SIMS, text_model="tiny", a_lstm_hidden_size=8, v_lstm_hidden_size=16, post_fusion_dim=32,
        post_text_dim=16, post_audio_dim=8, post_video_dim=8, batch_size=16, early_stop=3, max_epochs=6,
        learning_rate_bert=1e-3, record_representations="first_last", projection="pca",
    ),
}  # fmt: skip


def preset(name: str, **overrides) -> SelfMMConfig:
    """The preset ``name`` (mosi, mosei, sims, simsv2, tiny) with keyword overrides applied."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")
    return SelfMMConfig(**{**PRESETS[name], **overrides})


def _parse_value(key: str, raw: str, typ) -> object:
    if typ is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}={raw!r}: expected a boolean (true/false)")
    if typ is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected an integer") from None
    if typ is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected a number") from None
    if typ is str:
        return raw
    raise ConfigError(f"{key}: cannot be set from the command line")  # pragma: no cover


def apply_overrides(cfg: SelfMMConfig, items: list[str] | dict) -> SelfMMConfig:
    """Return a copy of ``cfg`` with ``key=value`` overrides (strings) or a dict of typed values applied.

    Unknown keys and values of the wrong type raise :class:`ConfigError`.
    """
    hints = typing.get_type_hints(SelfMMConfig)
    pairs: list[tuple[str, object]] = []
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        for item in items:
            if "=" not in item:
                raise ConfigError(f"override {item!r}: expected key=value")
            k, v = item.split("=", 1)
            pairs.append((k.strip().replace("-", "_"), v))
    changes = {}
    for key, value in pairs:
        if key not in hints:
            close = [n for n in hints if key.lower() in n.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint}")
        typ = hints[key]
        if isinstance(typ, types.UnionType):  # pragma: no cover - no optional fields today
            typ = next(t for t in typing.get_args(typ) if t is not type(None))
        if isinstance(value, str) and typ is not str:
            value = _parse_value(key, value, typ)
        elif typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ConfigError(f"{key}={value!r}: expected {typ.__name__}")
        changes[key] = value
    return dataclasses.replace(cfg, **changes)
