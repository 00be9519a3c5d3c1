"""PLGM (CMC's pseudo-label module): schedules, α, target and update against hand-computed values; the plgm
label source for Self-MM (state, snapshot, resume after a kill)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfmm.config import ConfigError, preset
from selfmm.labels.plgm import (
    PLGM,
    calibrate,
    classes_of,
    expected_label,
    flip_epochs,
    label_momentum,
    momentum_schedule,
    regression_probs,
    reversed_class,
    soft_update,
    teacher_momentum,
)

T = torch.tensor
pytestmark = pytest.mark.usefixtures("one_thread")  # the killed-run test compares with a 1-thread subprocess


# --------------------------------------------------------------------------------------------------------------
# schedules (CMC's ``train_pseudo_pretrain.py``; values by hand: 1 - (1 - m0) / e^gamma)


@pytest.mark.parametrize(
    ("fn", "mod", "epoch", "by_hand", "table"),
    [
        (label_momentum, "T", 1, 0.8, 0.800),
        (label_momentum, "T", 2, 1 - 0.2 / math.sqrt(2), 0.859),
        (label_momentum, "T", 5, 1 - 0.2 / math.sqrt(5), 0.911),
        (label_momentum, "T", 10, 1 - 0.2 / math.sqrt(10), 0.937),
        (label_momentum, "T", 20, 1 - 0.2 / math.sqrt(20), 0.955),
        (label_momentum, "A", 1, 0.99, 0.990),
        (label_momentum, "A", 2, 1 - 0.01 / math.sqrt(2), 0.993),
        (label_momentum, "V", 5, 1 - 0.01 / math.sqrt(5), 0.996),
        (label_momentum, "V", 10, 1 - 0.01 / math.sqrt(10), 0.997),
        (label_momentum, "A", 20, 1 - 0.01 / math.sqrt(20), 0.998),
        (teacher_momentum, "T", 1, 0.8, 0.800),
        (teacher_momentum, "T", 2, 1 - 0.2 / 2**2.5, 0.965),
        (teacher_momentum, "T", 5, 1 - 0.2 / 5**2.5, 0.996),
        (teacher_momentum, "A", 1, 0.9, 0.900),
        (teacher_momentum, "A", 2, 1 - 0.1 / 32, 0.997),
        (teacher_momentum, "A", 5, 1 - 0.1 / 3125, 1.000),
        (teacher_momentum, "V", 1, 0.6, 0.600),
        (teacher_momentum, "V", 2, 0.9, 0.900),
        (teacher_momentum, "V", 5, 0.984, 0.984),
        (teacher_momentum, "V", 10, 0.996, 0.996),
    ],
)
def test_schedule_table(fn, mod, epoch, by_hand, table):
    v = fn(mod, epoch)
    assert v == pytest.approx(by_hand, abs=1e-12)
    assert round(v, 3) == pytest.approx(table, abs=1e-9)


def test_teacher_text_epoch10_and_bad_epoch():
    assert round(teacher_momentum("T", 10), 4) == 0.9994  # table: 0.9994; 1 - 0.2/316.23 = 0.99937
    assert momentum_schedule(0.5, 1.0, 4) == pytest.approx(1 - 0.5 / 4)
    with pytest.raises(ValueError, match="1-based"):
        momentum_schedule(0.8, 0.5, 0)


# --------------------------------------------------------------------------------------------------------------
# classes, α, target, update


def test_classes_of_bins_at_exact_zero():
    assert classes_of(T([-0.2, 0.0, 0.2, -1e-7, 1e-7, -3.0])).tolist() == [0, 1, 2, 0, 2, 0]
    assert classes_of(np.array([0.0, -0.0, 0.6])).tolist() == [1, 1, 2]


@pytest.mark.parametrize(
    ("p", "alpha"),
    [
        # b = class 0, r = class 2. (0.1, 0.1, 0.8): g_b = sqrt(.81+.01+.64) = sqrt(1.46), g_r = sqrt(.06)
        ((0.1, 0.1, 0.8), (math.sqrt(1.46) - math.sqrt(0.06)) / (math.sqrt(1.46) + math.sqrt(0.06))),  # 0.66
        ((0.2, 0.2, 0.6), (math.sqrt(1.04) - math.sqrt(0.24)) / (math.sqrt(1.04) + math.sqrt(0.24))),  # 0.35
        ((0.3, 0.3, 0.4), (math.sqrt(0.74) - math.sqrt(0.54)) / (math.sqrt(0.74) + math.sqrt(0.54))),  # 0.08
    ],
)
def test_alpha_table_and_target(p, alpha):
    target, a = calibrate(T([p]), T([0]))
    assert a.item() == pytest.approx(alpha, abs=1e-6)
    assert round(a.item(), 2) == {0.8: 0.66, 0.6: 0.35, 0.4: 0.08}[p[2]]  # the reference table's values
    assert torch.allclose(target, T([[1 - alpha, 0.0, alpha]]), atol=1e-6)


def test_alpha_zero_when_prediction_agrees_with_base():
    probs = T([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])  # last: exactly one-hot (reference: 0/0)
    target, a = calibrate(probs, T([1, 0, 2]))
    assert a.tolist() == [0.0, 0.0, 0.0]
    assert torch.equal(target, T([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))


def test_reversed_class_ties_go_to_lowest_index():
    probs = T([[0.4, 0.4, 0.2], [0.25, 0.375, 0.375], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.3, 0.5]])
    assert reversed_class(probs).tolist() == [0, 1, 0, 2]
    # tie (0.4, 0.4, 0.2) with base 1: r = class 0 != b, both gaps sqrt(0.36+0.16+0.04) -> α = 0, target = b
    target, a = calibrate(probs[:1], T([1]))
    assert a.item() == pytest.approx(0.0, abs=1e-7)
    assert torch.allclose(target, T([[0.0, 1.0, 0.0]]), atol=1e-7)


def test_soft_update_hand_values():
    s = T([[1.0, 0.0, 0.0]])
    t = T([[0.34, 0.0, 0.66]])
    # m = 0.8: 0.8·(1, 0, 0) + 0.2·(0.34, 0, 0.66) = (0.868, 0, 0.132)
    assert torch.allclose(soft_update(s, t, 0.8), T([[0.868, 0.0, 0.132]]), atol=1e-7)
    assert torch.equal(soft_update(s, t, 1.0), s)


def test_expected_label_and_regression_probs():
    assert torch.allclose(expected_label(T([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]), 3.0), T([0.9, -3.0]))
    p = regression_probs(T([1.0, 0.5, 0.0, -0.5]), H=1.0, temperature=0.25)
    # ŷ = 1: logits -(4, 1, 0)/0.25 = (-16, -4, 0) -> p_pos = 1 / (1 + e^-4 + e^-16)
    assert p[0, 2].item() == pytest.approx(1 / (1 + math.exp(-4) + math.exp(-16)), rel=1e-6)
    # ŷ = ±H/2: the neutral / polar boundary, equal probabilities there
    assert p[1, 1].item() == pytest.approx(p[1, 2].item(), rel=1e-6)
    assert p[3, 0].item() == pytest.approx(p[3, 1].item(), rel=1e-6)
    assert reversed_class(p).tolist() == [2, 1, 1, 0]  # ties to the lower index
    assert torch.allclose(p.sum(-1), torch.ones(4))


def test_flip_epochs_reproduces_reference_claim():
    # text flips after ~5 epochs at α≈1, ~11 at α=0.75, ~25 at α=0.6; A/V (m0 0.99) never within 100
    assert flip_epochs(0.8, 0.5, 1.0, 100) == 5
    assert flip_epochs(0.8, 0.5, 0.75, 100) == 11
    assert flip_epochs(0.8, 0.5, 0.6, 100) == 25
    assert flip_epochs(0.99, 0.5, 1.0, 100) is None


# --------------------------------------------------------------------------------------------------------------
# the generator


def test_generator_init_targets_and_update():
    y = T([-0.4, 0.0, 0.6, 0.2])
    gen = PLGM(y, H=1.0, temperature=0.25)
    labels, weights = gen.targets(T([0, 1, 2, 3]))
    for m in "TAV":
        assert labels[m].tolist() == [-1.0, 0.0, 1.0, 1.0]  # one-hot(class(y_m)) -> sign(y_m)·H
        assert weights[m].tolist() == [1.0, 1.0, 1.0, 1.0]
    # row 0 (class 0) predicted at ŷ = +1 by T: p = softmax(-(4, 1, 0)/0.25)
    pred = {"M": torch.zeros(2), "T": T([1.0, -1.0]), "A": T([-1.0, -1.0]), "V": T([0.0, 0.0])}
    gen.update(T([0, 2]), None, pred, epoch=1)
    p0 = regression_probs(T([1.0]), 1.0, 0.25)[0]
    b = T([1.0, 0.0, 0.0])
    r = T([0.0, 0.0, 1.0])
    g_b, g_r = torch.linalg.vector_norm(p0 - b), torch.linalg.vector_norm(p0 - r)
    a = ((g_b - g_r) / (g_b + g_r)).item()
    assert gen.alpha_T[0].item() == pytest.approx(a, rel=1e-6)
    exp_soft = 0.8 * b + 0.2 * ((1 - a) * b + a * r)
    assert torch.allclose(gen.soft_T[0], exp_soft, atol=1e-7)
    assert gen.targets(T([0]))[0]["T"].item() == pytest.approx((exp_soft[2] - exp_soft[0]).item(), abs=1e-7)
    assert gen.alpha_A[0].item() == 0.0 and torch.equal(gen.soft_A[0], b)  # A agrees with the base class
    assert math.isnan(gen.alpha_T[1].item())  # row 1 never visited
    snap = gen.snapshot()
    ex = snap.extra
    assert list(ex["index"]) == [0, 1, 2, 3]
    assert ex["class_T"].tolist() == [0, 1, 2, 2] and ex["soft_T_pos"].iloc[0] == pytest.approx(exp_soft[2].item())
    assert snap.labels["T"][0] == pytest.approx((exp_soft[2] - exp_soft[0]).item(), abs=1e-7)
    with pytest.raises(ValueError, match="repeated"):
        gen.update(T([1, 1]), None, pred, epoch=1)
    with pytest.raises(IndexError, match="out of range"):
        gen.targets(T([4]))


def test_generator_from_config_and_tanh_weighting():
    y = torch.linspace(-0.8, 0.8, 5)
    cfg = preset("tiny", label_source="plgm", plgm_m0_A=0.5, plgm_gamma=1.0, unimodal_weighting="tanh")
    gen = PLGM.from_config(cfg, 5, y, None, {})
    assert gen.momentum == {"T": (0.8, 1.0), "A": (0.5, 1.0), "V": (0.99, 1.0)}
    labels, weights = gen.targets(torch.arange(5))
    assert torch.allclose(weights["T"], torch.tanh((labels["T"] - y).abs()))
    assert preset("tiny", label_source="plgm").weighting == "none"
    with pytest.raises(ConfigError, match="plgm_m0_T"):
        preset("tiny", plgm_m0_T=1.5)


def test_state_dict_roundtrip_is_exact():
    y = torch.linspace(-1, 1, 9)
    a = PLGM(y, H=1.0)
    g = torch.Generator().manual_seed(0)
    for e in (1, 2):
        a.update(torch.arange(9), None, {m: torch.randn(9, generator=g) for m in "TAV"}, epoch=e)
    b = PLGM(y, H=1.0)
    b.load_state_dict(a.state_dict())
    sa, sb = a.snapshot(), b.snapshot()
    for m in "TAV":
        assert np.array_equal(sa.labels[m], sb.labels[m])
    assert sa.extra.equals(sb.extra)


# --------------------------------------------------------------------------------------------------------------
# a plgm training run killed mid-epoch resumes to identical labels (the kill machinery of tests/test_train.py)


@pytest.mark.timeout(150)
def test_killed_plgm_run_resumes_to_identical_labels(tmp_path):
    import os
    import subprocess
    import sys

    import pandas as pd

    from selfmm.runs.reader import RunReader
    from selfmm.train import fit
    from tests.mmsa_fixture import make_mmsa_dict, write_pickle
    from tests.test_labels import ROOT, SETTINGS, _cfg

    pkl = write_pickle(make_mmsa_dict(n=(22, 6, 6), seed=3, human=True), tmp_path / "h.pkl")
    full, killed = tmp_path / "full", tmp_path / "killed"
    fit(_cfg("plgm"), pkl, full, verbose=False)
    cmd = [sys.executable, "-m", "selfmm", "train", "--data", str(pkl), "--preset", "tiny", "--out", str(killed)]
    cmd += ["-q", "--set", "label_source=plgm", *SETTINGS]
    env = {**os.environ, "SELFMM_DEBUG_SIGKILL_AT": "3:1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert RunReader(killed).epochs_completed == 2
    fit(_cfg("plgm"), pkl, killed, resume=True, verbose=False)
    a, b = RunReader(full), RunReader(killed)
    pd.testing.assert_frame_equal(a.labels(), b.labels())
    pd.testing.assert_frame_equal(a.labels_extra(), b.labels_extra())
    pd.testing.assert_frame_equal(a.predictions(), b.predictions())
    ex = a.labels_extra(3)
    assert {"soft_T_neg", "class_A", "alpha_V"} <= set(ex.columns) and ex["alpha_T"].notna().all()
    # the recorded labels are E[s]·(−1, 0, 1)·H of the recorded soft vectors
    lab = a.labels(3).sort_values("index")
    ex = ex.sort_values("index")
    assert np.allclose(lab["label_T"].to_numpy(), (ex["soft_T_pos"] - ex["soft_T_neg"]).to_numpy(), atol=1e-6)
