"""Hyper-parameter search spaces: MMSA's own Self-MM space, space files, deterministic sampling, optuna.

A space maps :class:`selfmm.config.SelfMMConfig` fields to one of

- a list ``[v1, v2, ...]``: a uniform choice (MMSA's only kind; one element = a fixed value);
- ``{"uniform": [lo, hi]}`` / ``{"loguniform": [lo, hi]}``: a float in [lo, hi] (log-uniform: lo > 0);
- ``{"int": [lo, hi]}``: an integer in [lo, hi], both ends included;
- a scalar: a fixed value.

``--space FILE`` is a JSON object in that format, e.g. ``{"batch_size": [16, 32], "learning_rate_other":
{"loguniform": [1e-4, 1e-2]}}``. Every key must be a config field and every value must type-check against it.

``--space mmsa`` is :data:`MMSA_SELF_MM`: the ``self_mm`` ``debugParams`` of MMSA 2.2.1's
``MMSA/config/config_tune.json`` (github:thuiar/MMSA, ``src/MMSA/config/config_tune.json``), the space MMSA's tune
mode draws its 50 random trials from. MMSA has no per-dataset Self-MM tune parameters (no ``datasetParams``
entry), so the space is the same for MOSI, MOSEI and SIMS. Copied here (the MMSA package is a test-only
dependency; tests/test_sweep.py checks the copy against the installed file) with two keys left out because they
are not selfmm config fields: ``text_out`` (768, BERT's hidden size, fixed by the text model) and
``t_bert_dropout`` ([0.1], the pretrained BERT's own dropout). MMSA's tune ``commonParams`` (early_stop 8,
update_epochs 4, excludeZero true, use_finetune false, bert-base-uncased for every dataset) are not applied: the
preset's values stand; pass ``--set`` to change them. The single-valued entries are applied as MMSA applies them,
so ``--space mmsa`` sets H=3.0 on SIMS too (MMSA's regression config uses H=1.0 there).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from selfmm.config import ConfigError, SelfMMConfig, apply_overrides

# MMSA 2.2.1 config_tune.json, "self_mm" -> "debugParams" (minus text_out and t_bert_dropout; module docstring)
MMSA_SELF_MM: dict[str, list] = {
    "batch_size": [16, 32],
    "learning_rate_bert": [5e-05],
    "learning_rate_audio": [0.0001, 0.001, 0.005],
    "learning_rate_video": [0.0001, 0.001, 0.005],
    "learning_rate_other": [0.0001, 0.001],
    "weight_decay_bert": [0.001, 0.01],
    "weight_decay_other": [0.001, 0.01],
    "weight_decay_audio": [0.0, 0.001, 0.01],
    "weight_decay_video": [0.0, 0.001, 0.01],
    "a_lstm_hidden_size": [16, 32],
    "v_lstm_hidden_size": [32, 64],
    "audio_out": [16],
    "video_out": [32],
    "a_lstm_dropout": [0.0],
    "v_lstm_dropout": [0.0],
    "post_fusion_dim": [64, 128],
    "post_text_dim": [32, 64],
    "post_audio_dim": [16, 32],
    "post_video_dim": [16, 32],
    "post_fusion_dropout": [0.1, 0.0],
    "post_text_dropout": [0.1, 0.0],
    "post_audio_dropout": [0.1, 0.0],
    "post_video_dropout": [0.1, 0.0],
    "H": [3.0],
}
MMSA_LEFT_OUT = ("text_out", "t_bert_dropout")  # MMSA tune keys that are not selfmm config fields
KINDS = ("uniform", "loguniform", "int")


def _check_value(key: str, value, where: str) -> None:
    try:
        apply_overrides(SelfMMConfig(), {key: value})
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def validate_space(space: dict, where: str = "space") -> dict:
    """Check a space (module docstring format) against the config fields; returns it with keys in sorted order.

    Raises ConfigError naming ``where`` (the file) and the key.
    """
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{where}: expected a non-empty JSON object mapping config keys to choices")
    out = {}
    for key in sorted(space):
        v = space[key]
        if isinstance(v, list):
            if not v:
                raise ConfigError(f"{where}: {key!r} has an empty list of choices")
            for x in v:
                _check_value(key, x, where)
        elif isinstance(v, dict):
            if len(v) != 1 or next(iter(v)) not in KINDS:
                raise ConfigError(f"{where}: {key!r}: expected one of {{{', '.join(KINDS)}: [lo, hi]}}")
            kind, bounds = next(iter(v.items()))
            if not (isinstance(bounds, list) and len(bounds) == 2) or not all(
                isinstance(b, int | float) and not isinstance(b, bool) for b in bounds
            ):
                raise ConfigError(f"{where}: {key!r}: {kind} needs [lo, hi] numbers")
            lo, hi = bounds
            if not lo <= hi or (kind == "loguniform" and lo <= 0):
                raise ConfigError(f"{where}: {key!r}: {kind} [{lo}, {hi}] needs lo <= hi (and lo > 0 for log)")
            if kind == "int" and not (float(lo).is_integer() and float(hi).is_integer()):
                raise ConfigError(f"{where}: {key!r}: int bounds must be integers")
            _check_value(key, int(lo) if kind == "int" else float(lo), where)
        else:
            _check_value(key, v, where)
        out[key] = v
    return out


def load_space(spec: str) -> tuple[dict, str]:
    """``"mmsa"`` or a JSON file path -> (validated space, source description)."""
    if spec == "mmsa":
        return validate_space(dict(MMSA_SELF_MM), "MMSA_SELF_MM"), "mmsa"
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"--space {spec}: no such file; pass 'mmsa' or a JSON space file (see selfmm/sweep/spaces.py)"
        )
    try:
        space = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err}); fix the file") from None
    return validate_space(space, str(path)), str(path.resolve())


def _native(x):
    """numpy scalars -> Python (JSON- and config-friendly)."""
    return x.item() if isinstance(x, np.generic) else x


def sample(space: dict, sweep_seed: int, k: int) -> dict:
    """The k-th random configuration: a pure function of (space, sweep_seed, k), so a resumed or extended sweep
    draws the same configurations. Choices are uniform, as MMSA's ``random.choice``."""
    rng = np.random.default_rng([sweep_seed, k])
    out = {}
    for key in sorted(space):
        v = space[key]
        if isinstance(v, list):
            out[key] = _native(v[int(rng.integers(len(v)))])
        elif isinstance(v, dict):
            kind, (lo, hi) = next(iter(v.items()))
            if kind == "uniform":
                out[key] = float(rng.uniform(lo, hi))
            elif kind == "loguniform":
                out[key] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            else:
                out[key] = int(rng.integers(int(lo), int(hi) + 1))
        else:
            out[key] = v
    return out


def optuna_distributions(space: dict) -> tuple[dict, dict]:
    """(optuna distributions of the searched keys, fixed values of the single-valued/scalar keys)."""
    import optuna

    dists, fixed = {}, {}
    for key in sorted(space):
        v = space[key]
        if isinstance(v, list):
            if len(v) == 1:
                fixed[key] = v[0]
            else:
                dists[key] = optuna.distributions.CategoricalDistribution(v)
        elif isinstance(v, dict):
            kind, (lo, hi) = next(iter(v.items()))
            if kind == "int":
                dists[key] = optuna.distributions.IntDistribution(int(lo), int(hi))
            else:
                dists[key] = optuna.distributions.FloatDistribution(float(lo), float(hi), log=kind == "loguniform")
        else:
            fixed[key] = v
    return dists, fixed


def searched_keys(space: dict) -> list[str]:
    """Keys with more than one possible value (the columns worth showing in a ranking)."""
    return [
        k for k in sorted(space) if (isinstance(space[k], list) and len(space[k]) > 1) or isinstance(space[k], dict)
    ]


__all__ = [
    "MMSA_LEFT_OUT",
    "MMSA_SELF_MM",
    "load_space",
    "optuna_distributions",
    "sample",
    "searched_keys",
    "validate_space",
]
