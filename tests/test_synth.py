"""Synthetic MMSA pickles: calibration against the CH-SIMS v2 label table, layout, loader acceptance, corruption."""

import pickle
import re
import statistics

import numpy as np
import pytest

from selfmm import synth
from selfmm.data import DataError, load_mmsa, safe_load_pickle
from selfmm.tokenizer import WordPieceTokenizer

SMALL = {"dims": {"text": 8, "audio": 6, "vision": 10}, "lengths": {"audio": 30, "vision": 12}}
KEYS = {
    "raw_text", "text", "text_bert", "audio", "vision", "audio_lengths", "vision_lengths", "id", "annotations",
    "classification_labels", "regression_labels", "regression_labels_T", "regression_labels_A", "regression_labels_V",
}  # fmt: skip

# sims-label-statistics.md (CH-SIMS v2 human labels)
TARGET_MEAN = {"M": -0.084, "T": -0.064, "A": -0.099, "V": -0.055}
TARGET_STD = {"M": 0.666, "T": 0.605, "A": 0.599, "V": 0.650}
TARGET_CORR = {("M", "T"): 0.776, ("M", "A"): 0.876, ("M", "V"): 0.841, ("T", "A"): 0.729, ("T", "V"): 0.567,
               ("A", "V"): 0.785}  # fmt: skip
TARGET_CONFLICT = {  # sign differs, opposite signs, mean |U - M|, 3-class agreement
    "T": (0.252, 0.056, 0.286, 0.748),
    "A": (0.189, 0.036, 0.206, 0.811),
    "V": (0.222, 0.049, 0.231, 0.778),
}


def _all_labels(d):
    return {
        k: np.concatenate([d[s]["regression_labels" + ("" if k == "M" else f"_{k}")] for s in synth.SPLITS])
        for k in "MTAV"
    }


@pytest.fixture(scope="module")
def sims_full():
    """The full-size SIMS profile (2,281 clips) with shrunk feature dims so that it builds in about a second."""
    return synth.generate("sims", seed=0, **SMALL)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [0, 7])
def test_sims_labels_match_the_calibration_table(seed, sims_full):
    d = sims_full if seed == 0 else synth.generate("sims", seed=seed, **SMALL)
    y = _all_labels(d)
    assert len(y["M"]) == 2281
    for v in y.values():  # every label is a mean of five -1/0/+1 votes
        assert np.allclose(v * 5, np.round(v * 5), atol=1e-5) and np.abs(v).max() <= 1.0
    st = synth.label_statistics(y)
    for k in "MTAV":
        assert abs(st["mean"][k] - TARGET_MEAN[k]) < 0.05, (k, st["mean"][k])
        assert abs(st["std"][k] - TARGET_STD[k]) < 0.05, (k, st["std"][k])
        target_share = np.array(synth.SIMS_SHARES[k]) / sum(synth.SIMS_SHARES[k])
        assert np.abs(np.array(st["share"][k]) - target_share).max() < 0.03, k
    order = "MTAV"
    for (a, b), r in TARGET_CORR.items():
        assert abs(st["corr"][order.index(a), order.index(b)] - r) < 0.05, (a, b, st["corr"])
    for k, (sign_diff, opposite, mae, agree3) in TARGET_CONFLICT.items():
        got = st[k]
        assert abs(got["sign_diff"] - sign_diff) < 0.04, (k, got)
        assert abs(got["opposite"] - opposite) < 0.04, (k, got)
        assert abs(got["mae"] - mae) < 0.05, (k, got)
        assert abs(got["agree3"] - agree3) < 0.04, (k, got)
    assert abs(st["all_agree3"] - 0.537) < 0.04, st["all_agree3"]
    # The copula over-produces clips with an opposite-polarity modality: 14.7 % at 1M clips vs 11.5 % real (a
    # known +3.2 point bias); the tolerance is that bias plus 3 sampling s.d. at N = 2,281 (0.7 points each).
    assert abs(st["any_opposite3"] - 0.115) < 0.055, st["any_opposite3"]


def test_label_statistics_on_hand_computed_labels():
    y = {"M": np.array([0.2, -0.4, 0.0, 1.0]), "T": np.array([0.0, 0.4, 0.0, 0.8]),
         "A": np.array([0.2, -0.4, 0.0, 1.0]), "V": np.array([-0.2, -0.2, 0.2, 0.6])}  # fmt: skip
    st = synth.label_statistics(y)
    assert st["T"]["sign_diff"] == 0.5 and st["T"]["opposite"] == 0.25  # rows 0, 1 differ; row 1 opposite
    assert st["T"]["mae"] == pytest.approx((0.2 + 0.8 + 0 + 0.2) / 4)
    assert st["T"]["agree3"] == 0.5  # 3-class (±0.1): T=(0,1,0,1) vs M=(1,-1,0,1)
    assert st["V"]["opposite"] == 0.25 and st["V"]["agree3"] == 0.5
    assert st["all_agree3"] == 0.25 and st["any_opposite3"] == 0.5


def test_transcript_lengths_follow_the_real_distribution(sims_full):
    n_tok = np.concatenate([d["text_bert"][:, 1].sum(1) - 2 for d in sims_full.values()])  # minus [CLS], [SEP]
    p5, p50, p95 = np.percentile(n_tok, [5, 50, 95])
    assert abs(p5 - 7) <= 2 and abs(p50 - 16) <= 2 and abs(p95 - 31) <= 3, (p5, p50, p95)


def test_full_profiles_have_the_reference_layout():
    # the MMSA release pickles: splits, text L, audio Ta x Da, vision Tv x Dv
    expected = {
        "sims": ((1368, 456, 457), 39, 400, 33, 55, 709),
        "simsv2": ((2722, 647, 1034), 50, 925, 25, 232, 177),
        "mosi": ((1284, 229, 686), 50, 375, 5, 500, 20),
        "mosei": ((16326, 1871, 4659), 50, 500, 74, 500, 35),
    }
    for name, (splits, L, Ta, Da, Tv, Dv) in expected.items():
        p = synth.PROFILES[name]
        assert (p.splits, p.text_len, p.audio_len, p.audio_dim, p.vision_len, p.vision_dim) == (
            splits,
            L,
            Ta,
            Da,
            Tv,
            Dv,
        )


@pytest.mark.parametrize("profile", ["sims", "simsv2", "mosi", "mosei"])
def test_keys_dtypes_padding_and_ids(profile):
    d = synth.generate(profile, scale=0.01, seed=1, **SMALL)
    p = synth.PROFILES[profile]
    for si, split in enumerate(synth.SPLITS):
        s = d[split]
        n = max(2, round(p.splits[si] * 0.01))
        assert set(s) == KEYS
        assert s["text_bert"].shape == (n, 3, p.text_len) and s["text_bert"].dtype == np.float32
        assert s["text"].shape == (n, p.text_len, 8) and s["text"].dtype == np.float32
        assert s["audio"].shape == (n, 30, 6) and s["vision"].shape == (n, 12, 10)
        assert s["audio_lengths"].dtype == np.int64 and s["regression_labels"].dtype == np.float32
        assert all(re.fullmatch(r"video_\d{4,}\$_\$\d+", i) for i in s["id"])
        assert np.abs(s["regression_labels"]).max() <= p.label_range
        for key, lens in (("audio", s["audio_lengths"]), ("vision", s["vision_lengths"])):
            x = s[key]
            assert ((lens >= 1) & (lens <= x.shape[1])).all()
            t = np.arange(x.shape[1])[None, :]
            assert (x[t >= lens[:, None]] == 0).all()  # zero padding at the end
            assert (np.abs(x[t < lens[:, None]]).sum(-1) > 0).all()  # no all-zero valid frame
        mask = s["text_bert"][:, 1]
        assert (s["text"][mask == 0] == 0).all() and (np.abs(s["text"][mask == 1]).sum(-1) > 0).all()
        ann = np.where(
            s["regression_labels"] > 0, "Positive", np.where(s["regression_labels"] < 0, "Negative", "Neutral")
        )
        assert (s["annotations"] == ann).all()
    all_ids = np.concatenate([d[s]["id"] for s in synth.SPLITS])
    assert len(set(all_ids)) == len(all_ids)


def test_mosi_mosei_labels_use_their_value_sets():
    y = _all_labels(synth.generate("mosei", scale=0.05, seed=0, **SMALL))
    for v in y.values():
        assert np.allclose(v * 3, np.round(v * 3), atol=1e-4) and np.abs(v).max() <= 3
    assert 0.1 < np.mean(y["M"] == 0) < 0.3  # MOSEI's many exact zeros
    y = _all_labels(synth.generate("mosi", scale=0.5, seed=0, **SMALL))["M"]
    on_grid = np.isclose(y * 3, np.round(y * 3), atol=1e-4) | np.isclose(y * 5, np.round(y * 5), atol=1e-4)
    assert on_grid.all() and np.abs(y).max() <= 3 and y.std() > 1.0


def test_deterministic_for_a_seed_and_write_equals_generate(tmp_path):
    kw = dict(scale=0.02, seed=5, **SMALL)
    a, b = synth.generate("sims", **kw), synth.generate("sims", **kw)
    c = synth.generate("sims", **{**kw, "seed": 6})
    for split in synth.SPLITS:
        for k in KEYS:
            assert np.array_equal(a[split][k], b[split][k]), k
    assert not np.array_equal(a["train"]["audio"], c["train"]["audio"])
    info = synth.write(tmp_path / "s.pkl", "sims", **kw)
    assert info["n"] == {"train": 27, "valid": 9, "test": 9} and info["size_bytes"] > 0
    assert not list(tmp_path.glob(".synth-*")) and not list(tmp_path.glob("*.tmp"))  # temp files cleaned up
    w = safe_load_pickle(tmp_path / "s.pkl")
    for split in synth.SPLITS:
        for k in KEYS:
            assert np.array_equal(np.asarray(w[split][k]), a[split][k]), k
    with open(tmp_path / "s.pkl", "rb") as f:  # the reference loaders use plain pickle.load
        assert pickle.load(f)["test"]["regression_labels"].shape == (9,)  # noqa: S301 - our own file


@pytest.mark.parametrize("profile", ["sims", "simsv2", "mosi", "mosei"])
def test_every_profile_loads_through_load_mmsa(tmp_path, profile):
    path = tmp_path / f"{profile}.pkl"
    synth.write(path, profile, scale=0.01, seed=2, neg_inf_rate=0.01 if profile == "mosei" else None, **SMALL)
    raw = safe_load_pickle(path)
    for mode in ("bert", "precomputed"):
        if profile == "mosei":  # the loader reports the -inf audio values it replaced
            with pytest.warns(RuntimeWarning, match=r"replaced \d+ non-finite .*train/audio"):
                data = load_mmsa(path, dataset=profile, text_mode=mode)
        else:
            data = load_mmsa(path, dataset=profile, text_mode=mode)
        assert data.has_human_unimodal and not data.aligned
        assert data.label_range == synth.PROFILES[profile].label_range
        assert data.seq_lens["audio"] == 30 and data.feature_dims["vision"] == 10
        assert [len(data.splits[s]) for s in synth.SPLITS] == [len(raw[s]["id"]) for s in synth.SPLITS]
        tr = data.splits["train"]
        assert np.array_equal(tr.y_human["T"], raw["train"]["regression_labels_T"])
        assert np.isfinite(tr.audio).all()
    if profile == "mosei":  # -inf audio frames, as in real MOSEI, become 0 in the loader
        bad = np.isneginf(raw["train"]["audio"])
        assert bad.any() and (data.splits["train"].audio[bad] == 0).all()
    else:
        assert np.isfinite(raw["train"]["audio"]).all()


def _corrupt(tmp_path, name, fn):
    d = synth.generate("sims", scale=0.01, seed=3, **SMALL)
    fn(d)
    path = tmp_path / f"{name}.pkl"
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=5)
    return path


@pytest.mark.parametrize(
    "name, fn, message",
    [
        ("no_lengths", lambda d: d["valid"].pop("vision_lengths"), r"'vision_lengths': is missing"),
        ("too_long", lambda d: d["train"]["audio_lengths"].__setitem__(0, 31), r"must not exceed the padded length"),
        ("zero_len", lambda d: d["test"]["vision_lengths"].__setitem__(1, 0), r"must be >= 1"),
        ("range", lambda d: d["train"].__setitem__("regression_labels_A", d["train"]["regression_labels_A"] * 3 + 0.5),
         r"'regression_labels_A': .*outside \[-1, 1\]"),
        ("nan_label", lambda d: d["valid"]["regression_labels"].__setitem__(0, np.nan), r"NaN/inf labels"),
        ("rows", lambda d: d["train"].__setitem__("audio", d["train"]["audio"][:-1]), r"'audio': has \d+ rows"),
        ("ids", lambda d: d["train"]["text_bert"].__setitem__((0, 0, 1), 0.5), r"not non-negative integers"),
        ("partial_uni", lambda d: d["test"].pop("regression_labels_V"), r"'regression_labels_V': is missing"),
    ],
)  # fmt: skip
def test_corrupted_files_are_rejected_with_their_specific_error(tmp_path, name, fn, message):
    with pytest.raises(DataError, match=message):
        load_mmsa(_corrupt(tmp_path, name, fn), dataset="sims")


def test_truncated_and_hostile_files_are_rejected(tmp_path):
    path = tmp_path / "ok.pkl"
    synth.write(path, "sims", scale=0.01, seed=3, **SMALL)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mmsa(cut, dataset="sims")

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    evil = _corrupt(tmp_path, "evil", lambda d: d["train"].__setitem__("raw_text", Evil()))
    with pytest.raises(DataError, match="refused to load the global"):
        load_mmsa(evil, dataset="sims")


def _probe_corr(d, key: str, label: str) -> float:
    """Pearson r on test of a ridge probe over time-averaged valid frames (train fit): how learnable a modality is."""

    def feats(s):
        x, lens = s[key], s[f"{key}_lengths"]
        m = x.sum(1) / lens[:, None]
        return np.concatenate([m, np.ones((len(m), 1))], 1)

    xtr, ytr = feats(d["train"]), d["train"][label]
    w = np.linalg.solve(xtr.T @ xtr + 1.0 * np.eye(xtr.shape[1]), xtr.T @ ytr)
    return float(np.corrcoef(feats(d["test"]) @ w, d["test"][label])[0, 1])


@pytest.mark.timeout(120)
def test_signal_strength_sets_how_learnable_a_modality_is():
    kw = dict(scale=1.0, seed=4, dims={"text": 4, "audio": 33, "vision": 20}, lengths={"audio": 40, "vision": 20})
    strong = synth.generate("sims", signal={"audio": 6.0, "vision": 0.0}, **kw)
    weak = synth.generate("sims", signal={"audio": 0.7, "vision": 0.0}, **kw)
    r_strong = _probe_corr(strong, "audio", "regression_labels_A")
    r_weak = _probe_corr(weak, "audio", "regression_labels_A")
    # measured 0.83 and 0.28; the ceiling sd(y) / sqrt(sd(y)^2 + 1/s^2) with sd ~0.6 is 0.96 and 0.39
    assert r_strong > 0.75, r_strong
    assert 0.1 < r_weak < 0.39, r_weak
    assert abs(_probe_corr(strong, "vision", "regression_labels_V")) < 0.15  # signal 0: no label information
    # the probe sees the modality's own label: its r with y_A beats its r with y_M when A departs from M
    assert _probe_corr(strong, "audio", "regression_labels_A") > _probe_corr(strong, "audio", "regression_labels")


def test_transcript_sentiment_follows_the_text_label(sims_full):
    lex = synth._ZH

    def score(t):
        return sum(
            t.count(w) * v for key, v in (("pos2", 2), ("pos1", 1), ("neg1", -1), ("neg2", -2)) for w in lex[key]
        )

    s = sims_full["train"]
    scores = np.array([score(str(t)) for t in s["raw_text"]], dtype=float)
    assert np.corrcoef(scores, s["regression_labels_T"])[0, 1] > 0.7
    noisy = synth.generate("sims", scale=0.5, seed=0, signal={"text": 0.0}, **SMALL)["train"]
    scores = np.array([score(str(t)) for t in noisy["raw_text"]], dtype=float)
    assert abs(np.corrcoef(scores, noisy["regression_labels_T"])[0, 1]) < 0.15
    tok = WordPieceTokenizer.from_name("bert-base-chinese")
    ids, _, _ = tok.encode(str(s["raw_text"][0]), 39)
    assert np.array_equal(ids, s["text_bert"][0, 0].astype(np.int64))


def test_copy_thresholds_are_the_normal_quantiles_of_the_copy_rates():
    # COPY_Z is stored (as the offline fit computed it) rather than recomputed, so that seeds keep their bytes; it
    # must still be Phi^-1(COPY) to the 1.2e-9 relative accuracy of the approximation the fit used.
    from selfmm.synth.labels import COPY, COPY_Z

    exact = np.array([statistics.NormalDist().inv_cdf(float(p)) for p in COPY])
    np.testing.assert_allclose(COPY_Z, exact, rtol=1.2e-9, atol=0)


def test_cli_writes_the_file_and_rejects_bad_options(tmp_path, capsys):
    out = tmp_path / "cli.pkl"
    rc = synth.main(["--profile", "mosi", "--out", str(out), "--scale", "0.01", "--seed", "3",
                     "--signal", "text=2,audio=1,vision=1", "--dims", "audio=3,vision=4", "--text-dim", "4",
                     "--lengths", "text=20,audio=10,vision=8"])  # fmt: skip
    assert rc == 0 and "13/2/7 clips" in capsys.readouterr().out
    data = load_mmsa(out, dataset="mosi", text_mode="precomputed")
    assert data.feature_dims == {"text": 4, "audio": 3, "vision": 4}
    assert data.seq_lens == {"text": 20, "audio": 10, "vision": 8}
    assert synth.main(["--profile", "sims", "--out", str(out), "--signal", "smell=1"]) == 2
    assert "signal key 'smell'" in capsys.readouterr().err
    assert synth.main(["--profile", "sims", "--out", str(out), "--dims", "audio"]) == 2
    with pytest.raises(SystemExit):
        synth.main(["--profile", "imdb", "--out", str(out)])
