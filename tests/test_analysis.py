"""selfmm.analysis on a hand-built 4-sample run; every expected value is computed by hand in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from selfmm import analysis as A

# train: y_m classes (3-class, edges -0.1 / 0.1): s0 pos, s1 neg, s2 neutral, s3 pos
SAMPLES = pd.DataFrame(
    {
        "sample_id": ["s0", "s1", "s2", "s3", "v0"],
        "split": ["train"] * 4 + ["valid"],
        "index": np.array([0, 1, 2, 3, 0], np.int32),
        "raw_text": ["a", "b", "c", "d", "e"],
        "y_m": np.array([0.5, -0.5, 0.0, 0.2, 0.3], np.float32),
        "y_T": np.array([0.6, 0.4, 0.0, 0.2, 0.3], np.float32),
        "y_A": np.array([0.5, -0.5, 0.2, -0.2, 0.3], np.float32),
        "y_V": np.array([0.1, -0.1, -0.6, 0.2, 0.3], np.float32),  # -0.1 is negative (bins closed on the right)
    }
)
T = {0: [0.5, -0.5, 0.0, 0.2], 1: [0.5, -0.5, 0.0, 0.2], 2: [0.6, 0.3, -0.05, 0.2]}
A_ = {0: [0.5, -0.5, 0.0, 0.2], 1: [0.5, -0.5, 0.0, 0.2], 2: [0.5, -0.5, 0.2, -0.2]}
V = {0: [0.5, -0.5, 0.0, 0.2], 1: [0.5, -0.5, 0.0, 0.2], 2: [0.1, -0.1, 0.0, 0.2]}


def _labels() -> pd.DataFrame:
    parts = []
    for e in (0, 1, 2):
        parts.append(
            pd.DataFrame(
                {
                    "epoch": np.int32(e),
                    "sample_id": ["s0", "s1", "s2", "s3"],
                    "index": np.arange(4, dtype=np.int32),
                    "label_T": np.array(T[e], np.float32),
                    "label_A": np.array(A_[e], np.float32),
                    "label_V": np.array(V[e], np.float32),
                    "weight_T": np.float32(0.1 * e),
                    "weight_A": np.float32(0.0),
                    "weight_V": np.float32(0.0),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    return df.iloc[np.random.default_rng(1).permutation(len(df))]  # order must not matter


def test_polarity_bins():
    x = np.array([-0.5, -0.1, -0.05, 0.0, 0.1, 0.11], np.float32)
    assert list(A.polarity(x, 3)) == [0, 0, 1, 1, 1, 2]
    assert list(A.polarity(x, 2)) == [0, 0, 0, 0, 1, 1]


def test_label_agreement_hand_values():
    ag = A.label_agreement(_labels(), SAMPLES).set_index(["epoch", "modality"])
    # epoch 0, T: gen = y_m = [.5,-.5,0,.2] vs human [.6,.4,0,.2]: |d| = .1,.9,0,0
    assert ag.loc[(0, "T"), "mae"] == pytest.approx(0.25, abs=1e-6)
    assert ag.loc[(0, "T"), "acc_2"] == 0.75 and ag.loc[(0, "T"), "acc_3"] == 0.75 and ag.loc[(0, "T"), "n"] == 4
    # epoch 2, T: gen [.6,.3,-.05,.2]: |d| = 0,.1,.05,0 ; deviations give r = .205 / sqrt(.216875 * .2)
    assert ag.loc[(2, "T"), "mae"] == pytest.approx(0.0375, abs=1e-6)
    assert ag.loc[(2, "T"), "pearson_r"] == pytest.approx(0.205 / np.sqrt(0.216875 * 0.2), abs=1e-5)
    assert ag.loc[(2, "T"), "acc_3"] == 1.0
    assert ag.loc[(2, "A"), "mae"] == 0.0 and ag.loc[(2, "A"), "pearson_r"] == pytest.approx(1.0)
    # epoch 2, V: gen [.1,-.1,0,.2] vs human [.1,-.1,-.6,.2]: 3-class [1,0,1,2] vs [1,0,0,2]
    assert ag.loc[(2, "V"), "acc_3"] == 0.75 and ag.loc[(2, "V"), "mae"] == pytest.approx(0.15, abs=1e-6)
    assert len(ag) == 9
    assert A.label_agreement(_labels(), SAMPLES.drop(columns=["y_T", "y_A", "y_V"])).empty


def test_label_confusion_and_distance():
    cm = A.label_confusion(_labels(), SAMPLES, epoch=0, modality="T")
    # human [pos, pos, neu, pos] vs generated [pos, neg, neu, pos]
    assert cm.loc["positive", "positive"] == 2 and cm.loc["positive", "negative"] == 1
    assert cm.loc["neutral", "neutral"] == 1 and cm.to_numpy().sum() == 4
    dist = A.label_distance_by_epoch(_labels(), SAMPLES).set_index("epoch")
    assert dist.loc[0, "dist_T"] == 0.0 and dist.loc[1, "dist_V"] == 0.0
    assert dist.loc[2, "dist_T"] == pytest.approx((0.1 + 0.8 + 0.05 + 0.0) / 4, abs=1e-6)
    assert dist.loc[2, "weight_T"] == pytest.approx(0.2)


def test_sign_flips_and_settle():
    cube = np.array([[0.2], [0.0], [-0.1], [-0.2], [0.3]])
    assert A.sign_flips(cube)[0] == 2  # + (0 keeps +) - - +
    cube = np.array([[0.0, 1.0], [0.5, 0.31], [0.3, 0.3], [0.33, 0.3]])
    # col 0: final .33; .3 within .05, .5 not -> settles at epoch 2 (epochs 10..13 -> 12); col 1: 1.0 not -> 11
    assert list(A.settle_epochs(np.array([10, 11, 12, 13]), cube)) == [12, 11]


def test_label_dynamics_hand_values():
    dyn = A.label_dynamics(_labels()).set_index(["modality", "sample_id"])
    s1 = dyn.loc[("T", "s1")]  # [-.5, -.5, .3]
    assert s1["sign_flips"] == 1 and s1["settle_epoch"] == 2 and s1["index"] == 1
    assert s1["change"] == pytest.approx(0.8, abs=1e-6) and s1["mean"] == pytest.approx(-0.7 / 3, abs=1e-6)
    assert s1["std"] == pytest.approx(np.sqrt(3.84 / 27), abs=1e-6)
    s2 = dyn.loc[("T", "s2")]  # [0, 0, -.05]: within .05 of the final value from the start
    assert s2["sign_flips"] == 0 and s2["settle_epoch"] == 0
    assert dyn.loc[("T", "s0"), "settle_epoch"] == 2 and dyn.loc[("T", "s3"), "settle_epoch"] == 0
    assert dyn.loc[("A", "s3"), "sign_flips"] == 1 and len(dyn) == 12


def test_conflicts_confusion_and_recovery():
    c = A.conflicts(SAMPLES, _labels()).set_index("sample_id")
    assert list(c.index) == ["s0", "s1", "s2", "s3"]
    assert list(c["human_category"]) == ["V", "T", "AV", "A"]
    assert list(c["gen_category"]) == ["V", "T", "A", "A"]
    assert c.loc["s1", "human_conflict_T"] == "opposite" and c.loc["s2", "human_conflict_A"] == "differ"
    assert c.loc["s3", "human_conflict_A"] == "opposite" and c.loc["s1", "human_conflict_V"] == "none"
    assert c.loc["s1", "human_strength_T"] == pytest.approx(0.9, abs=1e-6)
    assert c.loc["s1", "gen_strength_T"] == pytest.approx(0.8, abs=1e-6)
    assert c.loc["s2", "gen_conflict_V"] == "none"
    # at epoch 0 the generated labels are y_m: no generated conflict at all
    assert set(A.conflicts(SAMPLES, _labels(), epoch=0)["gen_category"]) == {"none"}
    # human only: every split
    h = A.conflicts(SAMPLES)
    assert len(h) == 5 and h.loc[h["sample_id"] == "v0", "human_category"].item() == "none"
    assert "gen_category" not in h.columns

    cm = A.conflict_confusion(c.reset_index())
    assert list(cm.index) == list(A.CATEGORIES) and cm.to_numpy().sum() == 4
    assert cm.loc["AV", "A"] == 1 and cm.loc["T", "T"] == 1 and cm.loc["V", "V"] == 1 and cm.loc["A", "A"] == 1

    rec = A.conflict_recovery(c.reset_index())
    got = {(r.modality, r.sample_id): r.outcome for r in rec.itertuples()}
    assert got == {
        ("T", "s1"): "recovered",
        ("A", "s2"): "recovered",
        ("A", "s3"): "recovered",
        ("V", "s0"): "recovered",
        ("V", "s2"): "missed",
    }


def test_sample_table_aligned_by_id():
    preds = pd.DataFrame(
        {
            "epoch": np.int32(2),
            "split": ["valid", "train", "train", "train", "train"],
            "sample_id": ["v0", "s3", "s2", "s1", "s0"],
            "index": np.array([0, 3, 2, 1, 0], np.int32),
            **{f"pred_{m}": np.array([9.0, 3.0, 2.0, 1.0, 0.0], np.float32) for m in "MTAV"},
        }
    )
    t = A.sample_table(SAMPLES, _labels(), preds).set_index("sample_id")
    assert list(t.index) == ["s0", "s1", "s2", "s3", "v0"]
    assert t.loc["s1", "label_T"] == pytest.approx(0.3) and t.loc["s1", "abs_err_T"] == pytest.approx(0.1, abs=1e-6)
    assert t.loc["s1", "sign_flips_T"] == 1 and t.loc["s1", "settle_epoch_T"] == 2
    assert t.loc["s2", "gen_category"] == "A" and t.loc["s2", "human_category"] == "AV"
    assert t.loc["s1", "gen_minus_ym_T"] == pytest.approx(0.8, abs=1e-6) and t.loc["s1", "weight_T"] == pytest.approx(
        0.2
    )
    assert np.isnan(t.loc["v0", "label_T"]) and t.loc["v0", "pred_M"] == 9.0 and t.loc["s3", "pred_V"] == 3.0
    t0 = A.sample_table(SAMPLES, _labels(), epoch=0).set_index("sample_id")
    assert t0.loc["s1", "label_T"] == pytest.approx(-0.5) and t0.loc["s1", "gen_category"] == "none"
