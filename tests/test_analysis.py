"""selfmm.analysis on a hand-built 4-sample run; every expected value is computed by hand in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from selfmm import analysis as A
from selfmm.metrics import mae, pearson, sims_bins

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
    x = np.array([-0.5, -0.1, -0.05, 0.0, 0.1, 0.11, np.nan], np.float32)
    assert list(A.polarity(x, 3)) == [0, 0, 1, 1, 1, 2, A.MISSING]  # float32 0.1 is neutral, -0.1 negative
    assert list(A.polarity(x, 2)) == [0, 0, 0, 0, 1, 1, A.MISSING]  # SIMS Acc-2: <= 0 vs > 0
    assert list(A.polarity([-1, 0, 1])) == [0, 1, 2]  # ints are compared as float64


def test_agreement_arrays():
    # 1-D: the NaN pairs (index 1 and 4) are dropped: gen [.6, .3, -.05], human [.6, .4, 0] -> |d| .0, .1, .05
    g = np.array([0.6, np.nan, 0.3, -0.05, 0.2], np.float32)
    h = np.array([0.6, 0.1, 0.4, 0.0, np.nan], np.float32)
    a = A.agreement(g, h)
    assert a["n"] == 3 and a["mae"] == pytest.approx(0.05, abs=1e-6)
    # means .85/3 and 1/3; deviations (.95, .05, -1)/3 and (.8, .2, -1)/3 -> r = .59 / sqrt(.635 * .56)
    assert a["pearson_r"] == pytest.approx(0.59 / np.sqrt(0.635 * 0.56), abs=1e-6)
    assert a["acc_3"] == 1.0 and a["acc_2"] == 1.0  # -0.05 and 0.0 are both <= 0: the same 2-class
    assert A.agreement(np.array([0.05, 0.3]), np.array([0.0, 0.3]))["acc_2"] == 0.5  # 0.05 > 0, 0.0 <= 0
    # (N, E): constant column -> r NaN; all-NaN column -> n 0 and NaN everywhere
    cube = np.array([[0.5, 1.0, np.nan], [0.5, -1.0, np.nan], [0.5, 0.2, np.nan]])
    b = A.agreement(cube, np.array([0.4, -0.2, 0.0]))
    assert list(b["n"]) == [3, 3, 0] and np.isnan(b["pearson_r"][0]) and np.isnan(b["mae"][2])
    assert b["mae"][1] == pytest.approx((0.6 + 0.8 + 0.2) / 3) and b["acc_3"][1] == pytest.approx(2 / 3)
    # the vectorised columns equal the metrics' definitions
    rng = np.random.default_rng(0)
    big, hum = rng.uniform(-1, 1, (50, 4)).astype(np.float32), rng.uniform(-1, 1, 50).astype(np.float32)
    c = A.agreement(big, hum)
    for j in range(4):
        assert c["pearson_r"][j] == pytest.approx(pearson(big[:, j], hum), abs=1e-6)
        assert c["mae"][j] == pytest.approx(mae(big[:, j], hum), abs=1e-7)
        assert c["acc_3"][j] == np.mean(sims_bins(big[:, j], 3) == sims_bins(hum, 3))


def test_confusion3_skips_nan():
    cm = A.confusion3([0.5, 0.5, -0.5, 0.0, np.nan], [0.5, -0.2, -0.1, 0.1, 0.3])
    assert cm.loc["positive", "positive"] == 1 and cm.loc["positive", "negative"] == 1
    assert cm.loc["negative", "negative"] == 1 and cm.loc["neutral", "neutral"] == 1 and cm.to_numpy().sum() == 4


def test_conflict_arrays():
    y_m = np.array([0.5, 0.5, 0.0, -0.5, 0.5, np.nan])
    t = np.array([-0.5, 0.0, 0.5, -0.3, 0.5, 0.5])
    assert list(A.conflict_strength(t, y_m)) == ["strong", "weak", "weak", "none", "none", "n/a"]
    cat, strength = A.conflict_category(y_m, {"T": t, "A": np.array([0.5, -0.5, 0.0, 0.0, 0.5, 0.5]), "V": y_m})
    assert list(cat) == ["T", "T+A", "T", "A", "none", "n/a"]
    assert list(strength) == ["strong", "strong", "weak", "weak", "none", "n/a"]
    # human vs generated, against y_m = +0.5 (and 0.0 for the last but one)
    y_m = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.5])
    hum = np.array([-0.5, -0.5, -0.5, 0.5, 0.5, 0.0, np.nan])
    gen = np.array([-0.2, 0.0, 0.4, -0.3, 0.6, 0.0, -0.5])
    assert list(A.conflict_outcome(y_m, hum, gen)) == ["recovered", "partial", "missed", "spurious", "", "", ""]


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
    assert len(ag) == 9 and list(ag.index[:3]) == [(0, "T"), (0, "A"), (0, "V")]
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
    a = np.array(
        [
            [0.2, 0.0, -0.1, -0.2, 0.3],  # + (neutral carries +) - - +: 2 flips
            [0.05, -0.05, 0.08, -0.09, 0.0],  # wobbling inside the neutral band: 0
            [0.0, 0.05, -0.2, -0.2, -0.2],  # neutral to negative is no reversal: 0
            [-0.5, 0.0, np.nan, 0.0, 0.3],  # - (neutral, missing, neutral) +: 1
        ],
        np.float32,
    )
    assert list(A.sign_flips(a)) == [2, 0, 0, 1]
    b = np.array([[0.0, 0.5, 0.3, 0.33], [1.0, 0.31, 0.3, 0.3], [0.0, 0.0, 0.0, np.nan]])
    # row 0: final .33; .3 within .05, .5 not -> epoch 12 (epochs 10..13); row 1: 1.0 not -> 11; NaN final -> 13
    assert list(A.settle_epochs(np.array([10, 11, 12, 13]), b)) == [12, 11, 13]
    # float32 -0.05 is within 0.05 of 0
    assert A.settle_epochs([0, 1], np.array([[0.0, -0.05]], np.float32))[0] == 0


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
    with pytest.raises(ValueError, match="every epoch"):
        A.label_dynamics(_labels().iloc[1:])


def test_conflicts_confusion_and_recovery():
    c = A.conflicts(SAMPLES, _labels()).set_index("sample_id")
    assert list(c.index) == ["s0", "s1", "s2", "s3"]
    assert list(c["human_conflict"]) == ["V", "T", "A+V", "A"]
    assert list(c["human_strength"]) == ["weak", "strong", "weak", "strong"]
    assert list(c["gen_conflict"]) == ["V", "T", "A", "A"]
    assert c.loc["s1", "human_strength_T"] == "strong" and c.loc["s2", "human_strength_A"] == "weak"
    assert c.loc["s3", "human_strength_A"] == "strong" and c.loc["s1", "human_strength_V"] == "none"
    assert c.loc["s1", "human_gap_T"] == pytest.approx(0.9, abs=1e-6)
    assert c.loc["s1", "gen_gap_T"] == pytest.approx(0.8, abs=1e-6)
    assert c.loc["s2", "gen_strength_V"] == "none"
    # at epoch 0 the generated labels are y_m: no generated conflict at all
    assert set(A.conflicts(SAMPLES, _labels(), epoch=0)["gen_conflict"]) == {"none"}
    # human only: every split
    h = A.conflicts(SAMPLES)
    assert len(h) == 5 and h.loc[h["sample_id"] == "v0", "human_conflict"].item() == "none"
    assert "gen_conflict" not in h.columns

    cm = A.conflict_confusion(c.reset_index())
    assert list(cm.index) == list(A.CATEGORIES) and cm.to_numpy().sum() == 4
    assert cm.loc["A+V", "A"] == 1 and cm.loc["T", "T"] == 1 and cm.loc["V", "V"] == 1 and cm.loc["A", "A"] == 1
    counts = A.conflict_counts(c.reset_index()).set_index("category")
    assert list(counts.index) == list(A.CATEGORIES)
    assert counts.loc["A", "human"] == 1 and counts.loc["A", "generated"] == 2 and counts.loc["none", "human"] == 0

    rec = A.conflict_recovery(c.reset_index())
    got = {(r.modality, r.sample_id): r.outcome for r in rec.itertuples()}
    assert got == {
        ("T", "s1"): "recovered",
        ("A", "s2"): "recovered",
        ("A", "s3"): "recovered",
        ("V", "s0"): "recovered",
        ("V", "s2"): "missed",  # human -0.6 (neg), generated 0.0 = y_m's neutral
    }
    assert list(rec["modality"]) == ["T", "A", "A", "V", "V"] and list(rec["outcome"])[-1] == "missed"


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
    assert t.loc["s1", "sign_flips_T"] == 1 and t.loc["s1", "settle_epoch_T"] == 2 and t.loc["s1", "sign_flips"] == 1
    assert t.loc["s2", "gen_conflict"] == "A" and t.loc["s2", "human_conflict"] == "A+V"
    assert t.loc["s1", "gen_minus_ym_T"] == pytest.approx(0.8, abs=1e-6)
    assert t.loc["s1", "weight_T"] == pytest.approx(0.2)
    # s1 at epoch 2: |gen - y_m| T .8, A 0, V .4 -> .8; |gen - human| T .1, A 0, V 0 -> .1
    assert t.loc["s1", "gen_ym_max"] == pytest.approx(0.8, abs=1e-6)
    assert t.loc["s1", "gen_human_max"] == pytest.approx(0.1, abs=1e-6)
    assert np.isnan(t.loc["v0", "label_T"]) and t.loc["v0", "pred_M"] == 9.0 and t.loc["s3", "pred_V"] == 3.0
    assert pd.isna(t.loc["v0", "sign_flips_T"]) and t.loc["v0", "gen_conflict"] == "n/a"
    t0 = A.sample_table(SAMPLES, _labels(), epoch=0).set_index("sample_id")
    assert t0.loc["s1", "label_T"] == pytest.approx(-0.5) and t0.loc["s1", "gen_conflict"] == "none"
    with pytest.raises(ValueError, match="epoch 7"):
        A.sample_table(SAMPLES, _labels(), epoch=7)
    # human labels only: the human categories for every split
    h = A.sample_table(SAMPLES).set_index("sample_id")
    assert h.loc["s2", "human_conflict"] == "A+V" and h.loc["v0", "human_conflict"] == "none"
