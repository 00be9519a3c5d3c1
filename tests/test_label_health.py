"""selfmm.label_health against hand-computed values.

The main hand-made example uses four mutually orthogonal, zero-mean vectors of length 4:
y_m = (−3, −1, 1, 3), e = (1, −1, −1, 1), n = (−1, 3, −3, 1); |y_m|² = 20, |e|² = |n|² = 4.
Human h = 0.5·y_m + e; an inverted generator gen = −0.5·y_m + n (it knows nothing about e). Then
- r(gen, h) = <gen, h> / (|gen|·|h|) = (−0.25·20) / (√25·√9) = −1/3 (|gen|² = 5 + 20, |h|² = 5 + 4);
- the deviations gen − y_m = −1.5·y_m + n and h − y_m = −0.5·y_m + e share y_m: their r is
  0.75·20 / √(65·9) = 5/√65 ≈ 0.62, high, although gen carries nothing about h beyond y_m;
- the partial r given y_m is r(n, e) = 0;
- k* = <d, h − y_m>/<d, d> = 15/65 = 3/13, and y_m + k*·d = (8.5/13)·y_m + (3/13)·n, whose r with h is
  (85/13) / (√1625/13 · 3) = 85 / (3·√1625);
- r(gen, y_m) = −10 / (5·√20) < 0 and every sign is opposite: the inversion alarm holds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from selfmm import label_health as lh
from selfmm.metrics import pearson

Y_M = np.array([-3.0, -1.0, 1.0, 3.0])
E = np.array([1.0, -1.0, -1.0, 1.0])
N = np.array([-1.0, 3.0, -3.0, 1.0])
HUMAN = 0.5 * Y_M + E
GEN = -0.5 * Y_M + N


def test_orthogonal_example_is_orthogonal():
    for a, b in ((Y_M, E), (Y_M, N), (E, N)):
        assert a @ b == 0
    assert Y_M.sum() == E.sum() == N.sum() == 0


# ---------------------------------------------------------------------------------------------- k*


def test_shrink_factor_hand_computed():
    # d = (1, 0, 2, 2), h − y_m = (0.5, 0, 1, 1): k* = 4.5 / 9 = 0.5, and y_m + 0.5·d equals h exactly
    y_m = np.array([0.0, 1.0, 0.0, 1.0])
    gen = np.array([1.0, 1.0, 2.0, 3.0])
    h = np.array([0.5, 1.0, 1.0, 2.0])
    assert lh.shrink_factor(gen, y_m, h) == 0.5
    out = lh.human_health(gen, y_m, h)
    assert out["k_star"] == 0.5
    assert out["r_at_k"] == pytest.approx(1.0, abs=1e-12)
    assert out["gap"] == pytest.approx((1 + 0 + 2 + 2) / 4)


def test_shrink_factor_inverted_example():
    assert lh.shrink_factor(GEN, Y_M, HUMAN) == pytest.approx(3 / 13, rel=1e-12)
    out = lh.human_health(GEN, Y_M, HUMAN)
    assert out["r_at_k"] == pytest.approx(85 / (3 * math.sqrt(1625)), rel=1e-12)
    # the human labels themselves as the "generator": k* = 1
    assert lh.shrink_factor(HUMAN, Y_M, HUMAN) == pytest.approx(1.0, rel=1e-12)


def test_shrink_factor_degenerate_d_zero():
    # gen == y_m: every k gives y_m, so k* is undefined (NaN) and r at k* is r(y_m, h)
    out = lh.human_health(Y_M.copy(), Y_M, HUMAN)
    assert math.isnan(out["k_star"])
    assert math.isnan(lh.shrink_factor(Y_M, Y_M, HUMAN))
    assert out["r_at_k"] == pytest.approx(out["r_ym_human"], rel=1e-12)
    assert out["r_ym_human"] == pytest.approx(10 / (math.sqrt(20) * 3), rel=1e-12)
    assert out["gap"] == 0.0
    assert math.isnan(out["partial_r"])  # gen is y_m itself: nothing left to correlate


# ---------------------------------------------------------------------------------------------- partial r


def test_partial_corr_hand_computed():
    # z = (0, 1, 2, 3); q = (1, −1, −1, 1) and c = (1, −3, 3, −1) are orthogonal to 1, z and each other.
    # x = z + q, y = −z + q + c: residuals q and q + c = (2, −4, 2, 0): r = 4 / (2·√24) = 1/√6
    z = np.array([0.0, 1.0, 2.0, 3.0])
    q = np.array([1.0, -1.0, -1.0, 1.0])
    c = np.array([1.0, -3.0, 3.0, -1.0])
    assert lh.partial_corr(z + q, -z + q + c, z) == pytest.approx(1 / math.sqrt(6), rel=1e-12)
    np.testing.assert_allclose(lh.residuals(-z + q + c, z), q + c, atol=1e-12)


def test_partial_corr_matches_pairwise_formula():
    rng = np.random.default_rng(7)
    z = rng.normal(size=200)
    x = 0.7 * z + rng.normal(size=200)
    y = -0.4 * z + 0.5 * x + rng.normal(size=200)
    rxy, rxz, ryz = pearson(x, y), pearson(x, z), pearson(y, z)
    formula = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert lh.partial_corr(x, y, z) == pytest.approx(formula, rel=1e-10)


def test_partial_corr_constant_z_is_plain_r():
    x, y = np.array([1.0, 2.0, 4.0, 3.0]), np.array([2.0, 1.0, 5.0, 4.0])
    assert lh.partial_corr(x, y, np.full(4, 0.3)) == pytest.approx(pearson(x, y), rel=1e-12)


def test_partial_corr_degenerate():
    z = np.array([0.0, 1.0, 2.0, 3.0])
    assert math.isnan(lh.partial_corr(2 * z + 1, np.array([1.0, 0.0, 3.0, 1.0]), z))  # x affine in z
    assert math.isnan(lh.partial_corr(z[:2], z[:2], z[:2]))  # n < 3
    with pytest.raises(ValueError, match="lengths differ"):
        lh.partial_corr(z, z[:3], z)


def test_inflation_deviation_r_high_partial_r_zero():
    deviation_r = pearson(GEN - Y_M, HUMAN - Y_M)
    assert deviation_r == pytest.approx(5 / math.sqrt(65), rel=1e-12)  # ≈ 0.62: looks like signal
    out = lh.human_health(GEN, Y_M, HUMAN)
    assert out["partial_r"] == pytest.approx(0.0, abs=1e-12)  # but there is none beyond y_m
    assert out["r_gen_human"] == pytest.approx(-1 / 3, rel=1e-12)


# ---------------------------------------------------------------------------------------------- MAE, 3 classes


def test_mae_and_three_class_agreement_float32_edges():
    # SIMS 3 classes: x <= -0.1 negative, -0.1 < x <= 0.1 neutral, x > 0.1 positive, in float32
    h = np.array([0.1, -0.1, 0.5, -0.5], dtype=np.float32)  # neutral, negative, positive, negative
    gen = np.array([0.05, -0.2, 0.11, 0.0], dtype=np.float32)  # neutral, negative, positive, neutral
    y_m = np.array([0.2, 0.0, 0.6, -0.4], dtype=np.float32)  # positive, neutral, positive, negative
    out = lh.human_health(gen, y_m, h)
    assert out["acc3_gen"] == 0.75
    assert out["acc3_ym"] == 0.5
    expect_mae = np.mean(np.abs(gen.astype(np.float64) - h.astype(np.float64)))
    assert out["mae_gen"] == pytest.approx(expect_mae, rel=1e-12)
    assert out["mae_gen"] == pytest.approx((0.05 + 0.1 + 0.39 + 0.5) / 4, abs=1e-6)
    assert out["mae_ym"] == pytest.approx((0.1 + 0.1 + 0.1 + 0.1) / 4, abs=1e-6)
    assert out["n_human"] == 4


def test_human_health_drops_nan_and_empty():
    gen = np.array([1.0, np.nan, 2.0, 3.0, 0.0])
    y_m = np.array([0.0, 1.0, 1.0, 1.0, 0.5])
    h = np.array([1.0, 2.0, np.nan, 3.0, 1.0])
    out = lh.human_health(gen, y_m, h)
    assert out["n_human"] == 3  # samples 0, 3, 4
    assert out["mae_gen"] == pytest.approx((0 + 0 + 1) / 3)
    empty = lh.human_health(np.array([]), np.array([]), np.array([]))
    assert empty["n_human"] == 0
    assert all(math.isnan(v) for k, v in empty.items() if k != "n_human")


def test_constant_generator_has_nan_r():
    out = lh.human_health(np.zeros(4), Y_M, HUMAN)
    assert math.isnan(out["r_gen_human"]) and math.isnan(out["partial_r"])
    assert math.isnan(lh.self_health(np.zeros(4), Y_M, H=1.0, label_range=1.0)["r_gen_ym"])


# ---------------------------------------------------------------------------------------------- no human labels


def test_self_health_hand_computed():
    y_m = np.array([0.0, 1.0, -1.0, 2.0, -2.0])
    gen = np.array([0.3, 0.5, 0.0, -1.0, -0.5])
    out = lh.self_health(gen, y_m, H=3.0, label_range=3.0)
    # y_m == 0 left out (n_sign 4); gen 0 against y_m -1 disagrees: agree at 0.5/1 and -0.5/-2 only
    assert out["n_sign"] == 4
    assert out["sign_agree"] == 0.5
    assert out["n"] == 5
    assert out["r_gen_ym"] == pytest.approx(pearson(gen, y_m))
    assert math.isnan(out["flips"]) and math.isnan(out["flip_share"])  # no previous epoch


def test_self_health_pinned_and_outside_range():
    gen = np.array([1.0, 0.9995, -0.9989, -1.0, 0.5, 1.2], dtype=np.float32)
    y_m = np.array([1.0, 1.0, -1.0, -1.0, 0.5, 1.0], dtype=np.float32)
    out = lh.self_health(gen, y_m, H=1.0, label_range=1.0)
    # threshold 0.999: 1.0, 0.9995, -1.0 and 1.2 are pinned; only 1.2 is outside [-1, 1]
    assert out["pinned"] == pytest.approx(4 / 6)
    assert out["outside_range"] == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="must both be > 0"):
        lh.self_health(gen, y_m, H=0.0, label_range=1.0)


def test_flips_against_previous_epoch():
    prev = np.array([0.5, -0.5, 0.0, 0.2])
    gen = np.array([-0.1, -0.3, 0.4, 0.2])
    out = lh.self_health(gen, np.ones(4), H=1.0, label_range=1.0, prev=prev)
    assert out["flips"] == 1  # 0.5 -> -0.1 only; 0 -> 0.4 is no flip
    assert out["flip_share"] == 0.25


def test_sign_agree_all_zero_y_m_is_nan():
    out = lh.self_health(np.array([0.1, -0.2]), np.zeros(2), H=1.0, label_range=1.0)
    assert out["n_sign"] == 0 and math.isnan(out["sign_agree"])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="1-D"):
        lh.human_health(np.zeros((2, 2)), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="lengths differ"):
        lh.self_health(np.zeros(3), np.zeros(2), H=1.0, label_range=1.0)
    with pytest.raises(ValueError, match="numbers"):
        lh.self_health(np.array(["a", "b"]), np.zeros(2), H=1.0, label_range=1.0)


# ---------------------------------------------------------------------------------------------- alarms


def test_alarm_condition_boundaries():
    held = lh.alarm_held([0.0, -1e-9, 0.3, np.nan, 0.5], [0.5, 0.9, 0.4999, np.nan, np.nan])
    assert held.tolist() == [False, True, True, False, False]


def test_inverted_example_raises_alarm():
    out = lh.self_health(GEN, Y_M, H=3.0, label_range=3.0)
    assert out["r_gen_ym"] == pytest.approx(-10 / (5 * math.sqrt(20)), rel=1e-12)
    assert out["sign_agree"] == 0.0
    assert lh.alarm_held(out["r_gen_ym"], out["sign_agree"])


def _frame(rows):
    base = {"run_id": "r1", "label_source": "ulgm", "model": "selfmm", "seed": 1}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_inversion_alarms_first_epoch_and_state():
    f = _frame(
        [
            {"modality": "T", "epoch": 0, "r_gen_ym": 1.0, "sign_agree": 1.0},
            {"modality": "T", "epoch": 1, "r_gen_ym": 0.2, "sign_agree": 0.45},
            {"modality": "T", "epoch": 2, "r_gen_ym": -0.1, "sign_agree": 0.6},
            {"modality": "T", "epoch": 3, "r_gen_ym": 0.3, "sign_agree": 0.7},
            {"modality": "A", "epoch": 0, "r_gen_ym": 1.0, "sign_agree": 1.0},
            {"modality": "A", "epoch": 1, "r_gen_ym": np.nan, "sign_agree": 0.5},
            {"modality": "V", "epoch": 2, "r_gen_ym": -0.5, "sign_agree": 0.3},  # rows out of order on purpose
            {"modality": "V", "epoch": 1, "r_gen_ym": 0.8, "sign_agree": 0.9},
        ]
    )
    a = lh.inversion_alarms(f).set_index("modality")
    assert list(a.index) == ["T", "A", "V"]
    assert a.loc["T", "alarm"] and a.loc["T", "first_epoch"] == 1
    assert a.loc["T", "reason"] == "sign agreement 45.0% < 50%"
    assert a.loc["T", "n_epochs"] == 2 and not a.loc["T", "active_at_last"] and a.loc["T", "last_epoch"] == 3
    assert not a.loc["A", "alarm"] and pd.isna(a.loc["A", "first_epoch"]) and a.loc["A", "n_epochs"] == 0
    assert a.loc["V", "first_epoch"] == 2 and a.loc["V", "active_at_last"]
    assert a.loc["V", "reason"] == "r(gen, y_m) = -0.500 < 0; sign agreement 30.0% < 50%"
    msg = lh.run_alarm(f)
    assert msg == (
        "Inversion alarm: T labels from epoch 1 (sign agreement 45.0% < 50%), gone by epoch 3; "
        "V labels from epoch 2 (r(gen, y_m) = -0.500 < 0; sign agreement 30.0% < 50%), still at epoch 2"
    )


def test_no_alarm_message_and_empty():
    f = _frame([{"modality": "T", "epoch": 1, "r_gen_ym": 0.9, "sign_agree": 0.9}])
    assert lh.run_alarm(f) is None
    assert lh.inversion_alarms(pd.DataFrame()).empty
    assert lh.run_alarm(pd.DataFrame()) is None


# ---------------------------------------------------------------------------------------------- frames


def _samples(human=True):
    df = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d", "z"],
            "split": ["train"] * 4 + ["test"],
            "index": [0, 1, 2, 3, 0],
            "y_m": [-3.0, -1.0, 1.0, 3.0, 9.0],
        }
    )
    if human:
        df["y_T"] = np.append(HUMAN, 9.0)
    return df


def _labels():
    # epoch 0: gen = y_m; epoch 1: the inverted generator; rows shuffled: the join is on sample_id
    ids = ["a", "b", "c", "d"]
    rows = [{"epoch": 0, "sample_id": s, "index": i, "label_T": Y_M[i]} for i, s in enumerate(ids)]
    rows += [{"epoch": 1, "sample_id": s, "index": i, "label_T": GEN[i]} for i, s in enumerate(ids)]
    return pd.DataFrame(rows).iloc[[5, 0, 7, 2, 1, 4, 6, 3]].reset_index(drop=True)


def test_health_frame_by_epoch():
    f = lh.health_frame(_labels(), _samples(), H=3.0, label_range=3.0, run_id="r", label_source="ulgm", seed=5)
    assert list(f.columns) == list(lh.HEALTH_COLUMNS)
    assert f["epoch"].tolist() == [0, 1] and f["modality"].tolist() == ["T", "T"]
    e0, e1 = f.iloc[0], f.iloc[1]
    assert e0["r_gen_ym"] == pytest.approx(1.0) and e0["sign_agree"] == 1.0 and math.isnan(e0["flips"])
    assert math.isnan(e0["k_star"]) and e0["gap"] == 0.0
    assert e1["k_star"] == pytest.approx(3 / 13) and e1["partial_r"] == pytest.approx(0.0, abs=1e-12)
    assert e1["r_gen_human"] == pytest.approx(-1 / 3)
    assert e1["flips"] == 4 and e1["flip_share"] == 1.0  # every sign reversed against epoch 0
    assert e1["n"] == 4 and e1["n_human"] == 4  # the test sample is not used
    assert (f["run_id"] == "r").all() and (f["seed"] == 5).all() and (f["model"] == "selfmm").all()
    assert lh.run_alarm(f).startswith("Inversion alarm: T labels from epoch 1 (r(gen, y_m) = -0.447 < 0;")


def test_health_frame_without_human_labels():
    f = lh.health_frame(_labels(), _samples(human=False), H=3.0, label_range=3.0)
    assert f[list(lh.HUMAN_COLUMNS)].isna().all().all()
    assert f["sign_agree"].tolist() == [1.0, 0.0]


def test_health_frame_rejects_unknown_sample_and_empty():
    bad = _labels()
    bad.loc[0, "sample_id"] = "z"  # a test sample
    with pytest.raises(ValueError, match="not in the train split"):
        lh.health_frame(bad, _samples(), H=1.0, label_range=1.0)
    empty = lh.health_frame(_labels().iloc[:0], _samples(), H=1.0, label_range=1.0)
    assert empty.empty and list(empty.columns) == list(lh.HEALTH_COLUMNS)


def test_health_frame_rejects_a_sample_twice_in_one_epoch():
    # a corrupt label file: sample b twice in epoch 0 (before: no error at epoch 0, pandas' reindex error later)
    bad = pd.concat([_labels(), _labels().query("epoch == 0 and sample_id == 'b'")], ignore_index=True)
    with pytest.raises(ValueError, match="sample twice in one epoch"):
        lh.health_frame(bad, _samples(), H=1.0, label_range=1.0)


def test_health_frame_flips_align_by_sample_when_an_epoch_lacks_one():
    # d has no label at epoch 1: no flip counted for it at epoch 2, the others compared with their own epoch 1
    rows = [(0, "a", -1.0), (0, "b", -1.0), (0, "c", 1.0), (0, "d", 1.0), (1, "c", -1.0), (1, "b", 1.0),
            (1, "a", -1.0), (2, "d", -1.0), (2, "b", -1.0), (2, "a", 1.0), (2, "c", -1.0)]  # fmt: skip
    labels = pd.DataFrame(rows, columns=["epoch", "sample_id", "label_T"])
    f = lh.health_frame(labels, _samples(), H=3.0, label_range=3.0).set_index("epoch")
    assert f.loc[1, "flips"] == 2 and f.loc[1, "flip_share"] == pytest.approx(2 / 3)  # b and c, of a, b, c
    assert f.loc[2, "flips"] == 2 and f.loc[2, "flip_share"] == pytest.approx(2 / 3)  # a and b; d had no epoch 1


def test_run_health_on_fake_run_matches_analysis(tmp_path):
    from selfmm.metrics import pearson, sims_bins
    from selfmm.runs.reader import RunReader
    from selfmm.testing import write_fake_run

    reader = RunReader(write_fake_run(tmp_path / "run", epochs=4, seed=3))
    f = lh.run_health(reader)
    assert len(f) == 3 * len(reader.epochs)
    assert set(f["label_source"]) == {"ulgm"} and set(f["run_id"]) == {reader.run_id}
    # r(gen, human) and 3-class agreement recomputed from the frames, joined on sample_id, with selfmm.metrics
    train = reader.samples().query("split == 'train'").set_index("sample_id")
    for row in f.itertuples():
        lab = reader.labels(row.epoch).set_index("sample_id")
        gen, human = lab[f"label_{row.modality}"].to_numpy(), train.loc[lab.index, f"y_{row.modality}"].to_numpy()
        assert row.r_gen_human == pytest.approx(pearson(gen, human), rel=1e-9, abs=1e-12)
        assert row.acc3_gen == np.mean(sims_bins(gen, 3) == sims_bins(human, 3))
    # k* recomputed by hand from the frames for one (modality, epoch)
    lab = reader.labels(3).set_index("sample_id")
    s = reader.samples().query("split == 'train'").set_index("sample_id").loc[lab.index]
    d = lab["label_A"].to_numpy(np.float64) - s["y_m"].to_numpy(np.float64)
    k = d @ (s["y_A"].to_numpy(np.float64) - s["y_m"].to_numpy(np.float64)) / (d @ d)
    row = f[(f["epoch"] == 3) & (f["modality"] == "A")].iloc[0]
    assert row["k_star"] == pytest.approx(k, rel=1e-12)


def test_run_info_defaults_and_fallbacks():
    info = lh.run_info({"config": {"H": 1.0, "seed": 4}, "dataset": {"label_range": 1.0}}, "x")
    assert info == {"run_id": "x", "label_source": "ulgm", "model": "selfmm", "seed": 4, "H": 1.0, "label_range": 1.0}
    info = lh.run_info({"label_source": "plgm", "model": "cmc", "dataset": {"label_range": 3.0}}, "y")
    assert (info["label_source"], info["model"], info["H"], info["label_range"]) == ("plgm", "cmc", 3.0, 3.0)
    with pytest.raises(ValueError, match="retrain"):
        lh.run_info({}, "z")
