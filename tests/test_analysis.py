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
EPOCHS = np.array([0, 1, 2])
# wide (train samples, epochs) generated labels; loss weights 0.1 * epoch for T, 0 for A and V
GEN = {m: np.array([d[e] for e in EPOCHS], np.float32).T for m, d in (("T", T), ("A", A_), ("V", V))}
WEIGHT_T = np.tile(np.float32(0.1) * EPOCHS.astype(np.float32), (4, 1))
TRAIN = SAMPLES.iloc[:4]
Y_M = TRAIN["y_m"].to_numpy()
HUMAN = {m: TRAIN[f"y_{m}"].to_numpy() for m in "TAV"}


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


def test_agreement_frame_hand_values():
    ag = A.agreement_frame(EPOCHS, {m: (GEN[m], HUMAN[m]) for m in "TAV"}).set_index(["epoch", "modality"])
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
    empty = A.agreement_frame([], {})
    assert empty.empty and list(empty.columns) == ["epoch", "modality", "n", "pearson_r", "mae", "acc_2", "acc_3"]


def test_confusion_distance_and_weights_by_epoch():
    cm = A.confusion3(HUMAN["T"], GEN["T"][:, 0])
    # human [pos, pos, neu, pos] vs generated at epoch 0 [pos, neg, neu, pos]
    assert cm.loc["positive", "positive"] == 2 and cm.loc["positive", "negative"] == 1
    assert cm.loc["neutral", "neutral"] == 1 and cm.to_numpy().sum() == 4
    dist_t, dist_v = A.drift_by_epoch(GEN["T"], Y_M), A.drift_by_epoch(GEN["V"], Y_M)
    assert dist_t[0] == 0.0 and dist_v[1] == 0.0
    assert dist_t[2] == pytest.approx((0.1 + 0.8 + 0.05 + 0.0) / 4, abs=1e-6)
    # valid rows have no generated labels (NaN): left out of the mean, and an all-NaN epoch is NaN
    with_valid = np.vstack([GEN["T"], [np.nan] * 3])
    np.testing.assert_array_equal(A.drift_by_epoch(with_valid, np.append(Y_M, 0.3)), dist_t)
    assert np.isnan(A.nanmean_by_epoch(np.full((2, 1), np.nan))[0])
    assert A.nanmean_by_epoch(WEIGHT_T)[2] == pytest.approx(0.2)


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


def test_label_stats_hand_values():
    st = A.label_stats(EPOCHS, GEN["T"])
    # s1: [-.5, -.5, .3]
    assert st["sign_flips"][1] == 1 and st["settle_epoch"][1] == 2
    assert st["change"][1] == pytest.approx(0.8, abs=1e-6) and st["mean"][1] == pytest.approx(-0.7 / 3, abs=1e-6)
    assert st["std"][1] == pytest.approx(np.sqrt(3.84 / 27), abs=1e-6)
    # s2: [0, 0, -.05]: within .05 of the final value from the start
    assert st["sign_flips"][2] == 0 and st["settle_epoch"][2] == 0
    assert st["settle_epoch"][0] == 2 and st["settle_epoch"][3] == 0
    assert A.label_stats(EPOCHS, GEN["A"])["sign_flips"][3] == 1  # A of s3: .2, .2, -.2


def _conflict_table() -> pd.DataFrame:
    """The train samples at epoch 2 with their human and generated conflict categories."""
    t = TRAIN[["sample_id", "index", "y_m", "y_T", "y_A", "y_V"]].reset_index(drop=True)
    for m in "TAV":
        t[f"gen_{m}"] = GEN[m][:, 2]
    t["human_conflict"], t["human_strength"] = A.conflict_category(Y_M, HUMAN)
    t["gen_conflict"], t["gen_strength"] = A.conflict_category(Y_M, {m: GEN[m][:, 2] for m in "TAV"})
    return t


def test_conflicts_confusion_and_recovery():
    c = _conflict_table().set_index("sample_id")
    assert list(c["human_conflict"]) == ["V", "T", "A+V", "A"]
    assert list(c["human_strength"]) == ["weak", "strong", "weak", "strong"]
    assert list(c["gen_conflict"]) == ["V", "T", "A", "A"]
    strength = {m: A.conflict_strength(HUMAN[m], Y_M) for m in "TAV"}
    assert strength["T"][1] == "strong" and strength["A"][2] == "weak"
    assert strength["A"][3] == "strong" and strength["V"][1] == "none"
    assert A.conflict_strength(GEN["V"][:, 2], Y_M)[2] == "none"
    # at epoch 0 the generated labels are y_m: no generated conflict at all
    assert set(A.conflict_category(Y_M, {m: GEN[m][:, 0] for m in "TAV"})[0]) == {"none"}

    cm = A.conflict_confusion(c.reset_index())
    assert list(cm.index) == list(A.CATEGORIES) and cm.to_numpy().sum() == 4
    assert cm.loc["A+V", "A"] == 1 and cm.loc["T", "T"] == 1 and cm.loc["V", "V"] == 1 and cm.loc["A", "A"] == 1
    counts = A.conflict_counts(c.reset_index()).set_index("category")
    assert list(counts.index) == list(A.CATEGORIES)
    assert counts.loc["A", "human"] == 1 and counts.loc["A", "generated"] == 2 and counts.loc["none", "human"] == 0

    rec = A.conflict_recovery(c.reset_index(), gen_prefix="gen_")
    got = {(r.modality, r.sample_id): r.outcome for r in rec.itertuples()}
    assert got == {
        ("T", "s1"): "recovered",
        ("A", "s2"): "recovered",
        ("A", "s3"): "recovered",
        ("V", "s0"): "recovered",
        ("V", "s2"): "missed",  # human -0.6 (neg), generated 0.0 = y_m's neutral
    }
    assert list(rec["modality"]) == ["T", "A", "A", "V", "V"] and list(rec["outcome"])[-1] == "missed"


def test_sample_columns_hand_values():
    # the 4 train samples at epoch 2 plus one valid sample without generated labels (NaN)
    y_m = np.append(Y_M, np.float32(0.3))
    human = {m: np.append(HUMAN[m], np.float32(0.3)) for m in "TAV"}
    history = {m: np.vstack([GEN[m], np.full((1, 3), np.nan, np.float32)]) for m in "TAV"}
    gen = {m: history[m][:, 2] for m in "TAV"}
    t = A.sample_columns(y_m, human, gen, history, EPOCHS)
    # s1 at epoch 2: gen T .3 vs y_m -.5 and human .4; A = y_m = human; V -.1 vs y_m -.5, human -.1
    assert t["gen_minus_ym_T"][1] == pytest.approx(0.8, abs=1e-6) and t["abs_err_T"][1] == pytest.approx(0.1, abs=1e-6)
    assert t["gen_ym_max"][1] == pytest.approx(0.8, abs=1e-6) and t["gen_human_max"][1] == pytest.approx(0.1, abs=1e-6)
    assert t["sign_flips_T"][1] == 1 and t["settle_epoch_T"][1] == 2 and t["sign_flips"][1] == 1
    assert t["gen_conflict"][2] == "A" and t["human_conflict"][2] == "A+V"
    assert pd.isna(t["sign_flips_T"][4]) and pd.isna(t["settle_epoch_T"][4]) and t["gen_conflict"][4] == "n/a"
    assert np.isnan(t["gen_ym_max"][4]) and t["human_conflict"][4] == "none"
    no_history = A.sample_columns(y_m, None, gen)
    assert (
        "sign_flips" not in no_history and "abs_err_T" not in no_history and no_history["gen_strength"][1] == "strong"
    )
