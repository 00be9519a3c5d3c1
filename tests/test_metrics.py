"""selfmm.metrics: hand-computed values, bin edges, round-half-even, F1 against scikit-learn, edge cases."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score

from selfmm.metrics import (
    MOSI_KEYS,
    SIMS_KEYS,
    metric_keys,
    mosi_metrics,
    pearson,
    regression_metrics,
    sims_bins,
    sims_metrics,
    weighted_f1,
)


def _pearson_by_hand(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def test_mosi_hand_values():
    true = [-1.5, 0.0, 0.4, 2.6, -0.3, 1.0]
    pred = [-0.5, 0.2, -0.1, 2.4, 0.0, 0.5]
    r = mosi_metrics(np.array(pred), np.array(true))
    assert tuple(r) == MOSI_KEYS
    assert r["Has0_acc_2"] == pytest.approx(4 / 6)  # rows 2 (0.4 vs -0.1) and 4 (-0.3 vs 0.0) wrong
    # F1: class "<0" (n=2): tp 1, fp 1, fn 1 -> 0.5; class ">=0" (n=4): tp 3, fp 1, fn 1 -> 0.75
    assert r["Has0_F1_score"] == pytest.approx((2 * 0.5 + 4 * 0.75) / 6)
    # Non0 drops row 1 (y = 0); pred 0.0 is not > 0
    assert r["Non0_acc_2"] == pytest.approx(4 / 5)
    assert r["Non0_F1_score"] == pytest.approx(0.8)
    # acc-5: round(clip(.,-2,2)): true -2,0,0,2,-0,1 vs pred -0,0,-0,2,0,0 -> rows 0 and 5 wrong
    assert r["Mult_acc_5"] == pytest.approx(4 / 6)
    # acc-7: true 2.6 -> 3, pred 2.4 -> 2 also wrong
    assert r["Mult_acc_7"] == pytest.approx(3 / 6)
    assert r["MAE"] == pytest.approx((1 + 0.2 + 0.5 + 0.2 + 0.3 + 0.5) / 6)
    assert r["Corr"] == pytest.approx(_pearson_by_hand(pred, true), abs=1e-12)


def test_mosi_round_half_to_even_and_clip():
    # np.round: 2.5 -> 2, -0.5 -> -0, 1.5 -> 2; 3.7 clips to 3 (acc-7) and 2 (acc-5)
    r = mosi_metrics([2.5, -0.5, 1.5, 3.7], [2.0, 0.0, 2.0, 3.0])
    assert r["Mult_acc_5"] == 1.0 and r["Mult_acc_7"] == 1.0
    assert r["MAE"] == pytest.approx((0.5 + 0.5 + 0.5 + 0.7) / 4)  # unclipped


def test_sims_bin_edges():
    x = [-0.1, 0.1, -0.7, 0.7, 0.0, -1.0, 1.0, 0.3]
    for dtype in (np.float32, np.float64):
        v = np.array(x, dtype=dtype)
        assert sims_bins(v, 2).tolist() == [0, 1, 0, 1, 0, 0, 1, 1]
        assert sims_bins(v, 3).tolist() == [0, 1, 0, 2, 1, 0, 2, 2]  # -0.1 lowest, 0.1 middle
        assert sims_bins(v, 5).tolist() == [1, 2, 0, 3, 2, 0, 4, 3]


def test_sims_hand_values_on_clipped():
    pred = [0.0, 0.1, -0.05, 1.5, -0.75, 0.5]
    true = [0.2, 0.1, -0.2, 0.8, -1.0, -0.1]
    r = sims_metrics(np.array(pred), np.array(true))
    assert tuple(r) == SIMS_KEYS
    # 2-class pred 0,1,0,1,0,1 vs true 1,1,0,1,0,0
    assert r["Mult_acc_2"] == pytest.approx(4 / 6)
    assert r["F1_score"] == pytest.approx(4 / 6)  # both classes: tp 2, fp 1, fn 1
    # 3-class pred 1,1,1,2,0,2 vs true 2,1,0,2,0,0
    assert r["Mult_acc_3"] == pytest.approx(3 / 6)
    # 5-class pred 2,2,2,4,0,3 vs true 3,2,1,4,0,1
    assert r["Mult_acc_5"] == pytest.approx(3 / 6)
    clipped = [0.0, 0.1, -0.05, 1.0, -0.75, 0.5]  # MAE and Corr on clipped values (1.5 -> 1.0)
    assert r["MAE"] == pytest.approx(sum(abs(a - b) for a, b in zip(clipped, true)) / 6)
    assert r["Corr"] == pytest.approx(_pearson_by_hand(clipped, true), abs=1e-12)


def test_weighted_f1_matches_sklearn():
    g = np.random.default_rng(0)
    for n, k in [(10, 2), (57, 2), (100, 3), (300, 5), (5, 4)]:
        t, p = g.integers(0, k, n), g.integers(0, k, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns about classes missing from pred
            expected = f1_score(t, p, average="weighted")
        assert weighted_f1(t, p) == pytest.approx(expected, abs=1e-12)
    # a class only in pred weighs 0; argument order matters
    t, p = np.array([0, 0, 0, 1]), np.array([0, 2, 1, 1])
    assert weighted_f1(t, p) == pytest.approx(f1_score(t, p, average="weighted", zero_division=0))
    assert weighted_f1(t, p) != pytest.approx(weighted_f1(p, t))
    assert weighted_f1([True, True], [True, True]) == 1.0


def test_undefined_values_are_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = mosi_metrics([0.3, 0.3, 0.3], [1.0, -1.0, 0.0])
        assert math.isnan(r["Corr"]) and r["MAE"] == pytest.approx((0.7 + 1.3 + 0.3) / 3)
        assert math.isnan(sims_metrics([0.2, 0.4], [0.5, 0.5])["Corr"])
        assert math.isnan(pearson([1.0], [2.0]))
        z = mosi_metrics([0.5, -0.5], [0.0, 0.0])  # no non-zero truth
        assert math.isnan(z["Non0_acc_2"]) and math.isnan(z["Non0_F1_score"]) and z["Has0_acc_2"] == 0.5


def test_dispatch_and_errors():
    p, t = [0.1, -0.2, 0.3], [0.2, -0.4, 0.0]
    assert regression_metrics("MOSEI", p, t) == mosi_metrics(p, t)
    assert regression_metrics("simsv2", p, t) == sims_metrics(p, t)
    assert metric_keys("mosi") == MOSI_KEYS and metric_keys("sims") == SIMS_KEYS
    assert all(isinstance(v, float) for v in regression_metrics("sims", p, t).values())
    with pytest.raises(ValueError, match="unknown dataset 'iemocap'"):
        regression_metrics("iemocap", p, t)
    with pytest.raises(ValueError, match="pred has 3 values but true has 2"):
        mosi_metrics(p, t[:2])
    with pytest.raises(ValueError, match="empty input"):
        sims_metrics([], [])


def test_no_torch_or_sklearn_at_import():
    code = "import sys, selfmm.metrics; assert 'torch' not in sys.modules and 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_pearson_hand_computed():
    # x = [1, 2, 3], y = [2, 4, 7]: dx = [-1, 0, 1], dy = [-7/3, -1/3, 8/3]; sum dx*dy = 5, |dx|^2 = 2,
    # |dy|^2 = (49 + 1 + 64) / 9 = 114/9  ->  r = 5 / sqrt(2 * 114 / 9) = 15 / sqrt(228)
    assert pearson(np.array([1, 2, 3]), np.array([2, 4, 7])) == pytest.approx(15 / np.sqrt(228), abs=1e-12)
    assert pearson(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
    assert np.isnan(pearson(np.array([1.0, 1.0]), np.array([0.0, 1.0])))
