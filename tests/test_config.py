"""selfmm.config: every field validated, overrides typed, presets valid, resume compared through the dataclass."""

from __future__ import annotations

import dataclasses
import math

import pytest

from selfmm.config import (
    LABEL_SOURCES,
    PRESETS,
    ConfigError,
    SelfMMConfig,
    apply_overrides,
    config_changes,
    label_range,
    preset,
)

FIELDS = {f.name: f for f in dataclasses.fields(SelfMMConfig)}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid(name):
    cfg = preset(name)
    assert cfg.dataset in ("mosi", "mosei", "sims", "simsv2")
    assert SelfMMConfig.from_dict(cfg.to_dict()) == cfg


# one refused value per field, as a command-line override (the strings a user types)
BAD = {
    "dataset": "sims3",
    "text_mode": "bertt",
    "text_model": " ",
    "finetune_bert": "maybe",
    "tiny_bert_layers": "0",
    "tiny_bert_hidden": "0",
    "tiny_bert_heads": "0",
    "text_lstm_hidden": "-4",
    "audio_out": "0",
    "video_out": "0",
    "a_lstm_hidden_size": "0",
    "v_lstm_hidden_size": "0",
    "a_lstm_dropout": "1.0",
    "v_lstm_dropout": "-0.1",
    "post_fusion_dim": "0",
    "post_text_dim": "0",
    "post_audio_dim": "0",
    "post_video_dim": "0",
    "post_fusion_dropout": "nan",
    "post_text_dropout": "1.5",
    "post_audio_dropout": "inf",
    "post_video_dropout": "-1",
    "H": "nan",
    "exclude_zero": "2",
    "label_source": "ulgmm",
    "plgm_temperature": "0",
    "plgm_m0_T": "1.01",
    "plgm_m0_A": "-0.5",
    "plgm_m0_V": "nan",
    "plgm_gamma": "-1",
    "tasks": "TAV",
    "unimodal_weighting": "tahn",
    "batch_size": "0",
    "learning_rate_bert": "-1",  # 0 is allowed: it freezes a group
    "learning_rate_audio": "-1e-3",
    "learning_rate_video": "inf",
    "learning_rate_other": "nan",
    "weight_decay_bert": "-1",
    "weight_decay_audio": "nan",
    "weight_decay_video": "-inf",
    "weight_decay_other": "-0.01",
    "update_epochs": "0",
    "drop_tail_batches": "yesno",
    "early_stop": "0",
    "max_epochs": "-1",
    "seed": "-1",
    "device": "gpu",
    "eval_test_every_epoch": "sometimes",
    "record_representations": "every:0",
    "projection": "tsne",
    "lstm_backward": "fast",
    "bert_last_layer": "first",
    "amp": "fp16",
}


def test_every_field_has_a_refused_value():
    assert set(BAD) == set(FIELDS), set(FIELDS) ^ set(BAD)


@pytest.mark.parametrize("key", sorted(BAD))
def test_bad_value_refused_naming_the_key(key):
    with pytest.raises(ConfigError) as ei:
        apply_overrides(preset("tiny"), [f"{key}={BAD[key]}"])
    msg = str(ei.value)
    assert key in msg and "\n" not in msg


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_wrong_type_refused_in_the_constructor(key):
    """A dict from JSON (or a caller) with a value of the wrong type for every field."""
    typ = type(getattr(SelfMMConfig(), key))
    wrong = {bool: 1, int: True, float: "1.0", str: 3}[typ]
    with pytest.raises(ConfigError, match=key):
        SelfMMConfig(**{key: wrong})


def test_reported_cases():
    """Issue 9 item 5: both were accepted; tahn trained with unit weights."""
    with pytest.raises(ConfigError, match="unimodal_weighting='tahn': expected one of auto, tanh, none"):
        apply_overrides(preset("sims"), ["unimodal_weighting=tahn"])
    with pytest.raises(ConfigError, match="H=nan: must be a finite number"):
        apply_overrides(preset("sims"), ["H=nan"])
    with pytest.raises(ConfigError, match="H="):
        SelfMMConfig(H=math.inf)


def test_good_values_accepted_and_ints_become_floats():
    cfg = apply_overrides(preset("tiny"), ["H=2", "seed=0", "device=cuda:1", "record_representations=every:3"])
    assert cfg.H == 2.0 and isinstance(cfg.H, float) and cfg.seed == 0 and cfg.device == "cuda:1"
    assert SelfMMConfig(H=3).H == 3.0 and isinstance(SelfMMConfig(H=3).H, float)
    assert apply_overrides(cfg, {"learning_rate_bert": 1}).learning_rate_bert == 1.0
    for src in LABEL_SOURCES:
        assert SelfMMConfig(label_source=src).label_source == src
    with pytest.raises(ConfigError, match="tiny_bert_hidden=64: must be a multiple of tiny_bert_heads=3"):
        SelfMMConfig(tiny_bert_heads=3)


def test_unknown_override_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'batch' \(did you mean batch_size"):
        apply_overrides(preset("tiny"), ["batch=3"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(preset("tiny"), ["batch_size"])


def test_from_dict_ignores_unknown_keys_with_a_warning():
    d = preset("tiny").to_dict() | {"from_the_future": 1}
    with pytest.warns(UserWarning, match="from_the_future"):
        assert SelfMMConfig.from_dict(d) == preset("tiny")


def test_config_changes_through_the_dataclass():
    """A run saved before a field existed resumes: the missing key takes its default (it blocked resume)."""
    now = preset("tiny")
    older = now.to_dict()
    for k in ("plgm_temperature", "plgm_gamma", "plgm_m0_T"):
        del older[k]  # fields added after the run was written
    assert config_changes(older, now) == []
    assert config_changes(older | {"removed_since": 5}, now) == []
    assert config_changes(older | {"seed": 7, "batch_size": 8}, now) == ["batch_size", "seed"]
    # the new field set away from its default does count as a change against the old run
    assert config_changes(older, apply_overrides(now, ["plgm_gamma=1.0"])) == ["plgm_gamma"]
    with pytest.raises(ConfigError, match="unimodal_weighting"):
        config_changes(older | {"unimodal_weighting": "tahn"}, now)


def test_run_saved_before_bert_last_layer_resumes_only_with_the_full_layer(tmp_path):
    """Runs written before bert_last_layer existed computed BERT's whole last layer: their saved config reads as
    "full", so resuming one under the new default (cls) is refused with the fix named, and "full" resumes."""
    from selfmm.checkpoint import check_resume_config

    now = preset("tiny")
    older = now.to_dict()
    del older["bert_last_layer"]
    assert SelfMMConfig.from_dict(older).bert_last_layer == "full"
    assert config_changes(older, now) == ["bert_last_layer"]
    with pytest.raises(ConfigError, match="bert_last_layer: 'full' -> 'cls'"):
        check_resume_config(tmp_path, older, now)
    check_resume_config(tmp_path, older, apply_overrides(now, ["bert_last_layer=full"]))


def test_label_range():
    assert [label_range(d) for d in ("sims", "simsv2", "mosi", "mosei")] == [1.0, 1.0, 3.0, 3.0]
    with pytest.raises(ConfigError, match="dataset='iemocap'"):
        label_range("iemocap")


@pytest.mark.parametrize(
    "saved, fragment",
    [({"unimodal_weighting": "tahn"}, "unimodal_weighting='tahn': expected one of"),
     ({"H": float("nan")}, "H=nan: must be a finite number"),
     ([1, 2], "a list, not a mapping"),
     ({1: 2, "x": 3}, "")],
)  # fmt: skip
def test_resume_with_an_invalid_saved_config_names_run_json(tmp_path, saved, fragment):
    """A run.json config that the dataclass refuses (an older version accepted 'tahn'; a hand edit): one line naming
    run.json and the fix, not the bare field error (or an AttributeError/TypeError traceback)."""
    from selfmm.train import _check_resume_config

    with pytest.raises(ConfigError) as ei:
        _check_resume_config(tmp_path, saved, preset("tiny"))
    msg = str(ei.value)
    assert msg.startswith(f"{tmp_path / 'run.json'}: the run's saved config is invalid (") and fragment in msg
    assert msg.endswith("it cannot be resumed: start a new run folder") and "\n" not in msg


def test_resume_change_shows_the_default_for_a_key_the_run_lacks(tmp_path):
    from selfmm.train import _check_resume_config

    saved = preset("tiny").to_dict()
    del saved["plgm_gamma"]  # a field added after the run was written: the run used the default, 0.5
    with pytest.raises(ConfigError, match=r"plgm_gamma: 0\.5 -> 1\.0"):
        _check_resume_config(tmp_path, saved, apply_overrides(preset("tiny"), ["plgm_gamma=1.0"]))
