"""ULGM: label math against hand-computed numbers, the batch order, state, and input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfmm.labels.ulgm import ULGM, momentum_update, new_unimodal_label, relative_distance, subtask_weight

T = torch.tensor


def close(a, b, tol=1e-6):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), atol=tol)


# --------------------------------------------------------------------------------------------------------------
# pure functions


def test_relative_distance_plain_l2():
    feat = T([[3.0, 4.0], [0.0, 0.0]])
    # row 0: d_p = |(3,4)| = 5, d_n = |(3,4)-(6,8)| = 5 -> 0; row 1: d_p = 5, d_n = 10 -> (10-5)/5 = 1
    a = relative_distance(feat, T([0.0, 0.0]), T([6.0, 8.0]))
    assert close(a[0], 0.0)
    b = relative_distance(feat[1:], T([3.0, 4.0]), T([0.0, 10.0]))
    assert close(b, [1.0])
    # on the positive centre: d_p = 0 -> d_n / 1e-8
    c = relative_distance(T([[1.0, 0.0]]), T([1.0, 0.0]), T([1.0, 2.0]))
    assert close(c / 1e8, [2.0], tol=1e-5)


def test_new_unimodal_label_hand_values():
    # ratio 0.5/0.25 = 2: 0.5*2*0.4 + 0.5*(0.4+0.5-0.25) = 0.4 + 0.325
    assert close(new_unimodal_label(T([0.5]), T([0.25]), T([0.4]), H=1.0), [0.725])
    # y_m = 0: only the difference term, (0.6-0.2)/2
    assert close(new_unimodal_label(T([0.6]), T([0.2]), T([0.0]), H=1.0), [0.2])
    # negative: ratio -1: 0.5*(-1)*(-0.6) + 0.5*(-0.6-0.5-0.5) = 0.3 - 0.8
    assert close(new_unimodal_label(T([-0.5]), T([0.5]), T([-0.6]), H=1.0), [-0.5])
    # 0.5*6*0.8 + 0.5*(0.8+3-0.5) = 4.05: clamped to H
    assert close(new_unimodal_label(T([3.0]), T([0.5]), T([0.8]), H=1.0), [1.0])
    assert close(new_unimodal_label(T([3.0]), T([0.5]), T([0.8]), H=3.0), [3.0])
    assert close(new_unimodal_label(T([-3.0]), T([0.5]), T([0.8]), H=3.0), [-3.0])  # -2.4 - 1.35 = -3.75


def test_momentum_and_weight():
    assert close(momentum_update(T([0.3]), T([0.9]), 2), [0.7])  # 1/3*0.3 + 2/3*0.9
    assert close(momentum_update(T([0.5]), T([-1.0]), 4), [-0.1])  # 3/5*0.5 + 2/5*(-1)
    assert close(momentum_update(T([0.5]), T([-1.0]), 1), [-1.0])  # n = 1 would replace
    with pytest.raises(ValueError, match="epoch must be >= 1"):
        momentum_update(T([0.0]), T([0.0]), 0)
    assert close(subtask_weight(T([0.2, 0.4]), T([-0.3, 0.4])), [0.46211715726000974, 0.0])
    # closed form: applied at n = 2..4 to g_1 = y_m it is sum_j 2j/(n(n+1)) g_j
    g = [0.2, -0.4, 0.9, 0.1]
    lab = T([g[0]])
    for n in (2, 3, 4):
        lab = momentum_update(lab, T([g[n - 1]]), n)
    assert close(lab, [sum(2 * j / 20 * g[j - 1] for j in range(1, 5))])


# --------------------------------------------------------------------------------------------------------------
# the module: a 4-sample scenario worked out by hand

DIMS = {"M": 2, "T": 2, "A": 2, "V": 2}
Y_M = T([0.5, -0.5, 0.0, 1.0])


def _scenario(exclude_zero=False):
    u = ULGM(4, DIMS, H=1.0, exclude_zero=exclude_zero)
    u.init_labels(Y_M)
    m = T([[1.0, 0.0], [0.0, 1.0]])
    # epoch 1, rows 0 and 1; rows 2, 3 stay zero vectors in the bank
    u.step(T([0, 1]), {"M": m, "T": 2 * m, "A": m, "V": m}, epoch=1)
    return u


def test_epoch1_centres_and_no_label_change():
    u = _scenario()
    labels = u.labels(range(4))
    for m in "MTAV":
        assert torch.equal(labels[m], Y_M)
    # >= 0 rows: 0, 2, 3 -> mean((1,0),(0,0),(0,0)); < 0: row 1
    assert close(u.center_pos_M, [1 / 3, 0.0]) and close(u.center_neg_M, [0.0, 1.0])
    assert close(u.center_pos_T, [2 / 3, 0.0]) and close(u.center_neg_T, [0.0, 2.0])
    # excludeZero: the y = 0 row 2 leaves the positive class
    v = _scenario(exclude_zero=True)
    assert close(v.center_pos_M, [0.5, 0.0]) and close(v.center_neg_M, [0.0, 1.0])
    for m in "TAV":
        assert torch.equal(u.weights(range(4))[m], torch.zeros(4))


def test_epoch2_label_update_uses_previous_centres():
    """Row 0 (y_m = 0.5) at epoch 2, against the epoch-1 centres M pos (1/3, 0), neg (0, 1); worked by hand.

    alpha_m: d_p = 2/3, d_n = sqrt(2) -> (sqrt(2) - 2/3) / (2/3) = 1.5 sqrt(2) - 1 = 1.12132034.
    T (0, 2) sits on its negative centre (0, 2): d_n = 0 -> alpha_t = -1;
      new = 0.5 (-1 / 1.12132) 0.5 + 0.5 (0.5 - 1 - 1.12132) = -0.22295 - 0.81066 = -1.03361 -> clamped to -1;
      label = 1/3 * 0.5 + 2/3 * (-1) = -0.5.
    A = F_M -> alpha_a = alpha_m -> ratio 1 -> new = y_m = 0.5 -> label 0.5.
    V (0.5, 0.5) vs pos (1/3, 0), neg (0, 1): d_p = sqrt(5/18), d_n = sqrt(1/2) -> alpha_v = sqrt(1.8) - 1 = 0.34164;
      new = 0.5 (0.34164 / 1.12132) 0.5 + 0.5 (0.5 + 0.34164 - 1.12132) = 0.07617 - 0.13984 = -0.06367;
      label = 1/3 * 0.5 + 2/3 * (-0.06367) = 0.12422.
    """
    u = _scenario()
    f_m = T([[1.0, 0.0]])
    u.step(T([0]), {"M": f_m, "T": T([[0.0, 2.0]]), "A": f_m, "V": T([[0.5, 0.5]])}, epoch=2)
    lab = u.labels(T([0]))
    assert close(lab["T"], [-0.5])
    assert close(lab["A"], [0.5])
    assert close(lab["V"], [0.12421969], tol=1e-6)
    assert close(lab["M"], [0.5])
    # untouched rows keep y_m
    assert torch.equal(u.labels(T([1, 2, 3]))["T"], Y_M[1:])
    # weights from the current labels: tanh(|-0.5 - 0.5|), 0, tanh(|0.12422 - 0.5|)
    w = u.weights(T([0]))
    assert close(w["T"], [0.76159416]) and close(w["A"], [0.0]) and close(w["V"], [0.35903731])
    # centres AFTER the update: T row 0 is now negative with feature (0, 2): pos = rows 2, 3 (zeros), neg = rows 0, 1
    assert close(u.center_pos_T, [0.0, 0.0]) and close(u.center_neg_T, [0.0, 2.0])
    # V row 0 stays positive with its new feature (0.5, 0.5): pos = mean of (0.5, 0.5), (0, 0), (0, 0)
    assert close(u.center_pos_V, [1 / 6, 1 / 6]) and close(u.center_neg_V, [0.0, 1.0])


def test_empty_class_keeps_previous_centre():
    u = ULGM(3, DIMS, H=1.0, exclude_zero=True)
    u.init_labels(T([0.2, 0.0, 0.4]))  # no negative label; with exclude_zero the zero is in no class
    f = T([[1.0, 1.0], [5.0, 5.0], [3.0, 1.0]])
    u.step(T([0, 1, 2]), {m: f for m in "MTAV"}, epoch=1)
    assert close(u.center_pos_M, [2.0, 1.0])  # rows 0, 2
    assert torch.equal(u.center_neg_M, torch.zeros(2))  # previous (initial) centre, not NaN
    u.step(T([0, 1, 2]), {m: f + 1 for m in "MTAV"}, epoch=2)
    snap = u.snapshot()
    for m in "TAV":
        assert np.isfinite(snap.labels[m]).all()
    for m in "MTAV":
        assert np.isfinite(snap.centers[m]["neg"]).all()


def test_labels_are_copies_and_snapshot_shapes():
    u = _scenario()
    before = u.labels(T([0]))
    snap = u.snapshot()
    u.step(T([0]), {m: T([[0.0, 3.0]]) for m in "MTAV"}, epoch=3)
    assert before["T"].item() == 0.5 and snap.labels["T"][0] == 0.5  # not views of the buffers
    assert snap.labels["T"].dtype == np.float32 and snap.labels["T"].shape == (4,) and set(snap.labels) == set("TAV")
    assert snap.centers["V"]["pos"].shape == (2,) and snap.extra is None
    assert snap.weights["T"].tolist() == [0.0] * 4  # every label still equals y_m
    assert u.labels(T([0]))["T"].item() != 0.5


def test_state_dict_round_trip_resumes_identically():
    g = torch.Generator().manual_seed(0)
    n, dims = 20, {"M": 5, "T": 4, "A": 3, "V": 2}
    y = torch.randint(-2, 3, (n,), generator=g).float() / 2
    batches = [
        (torch.randperm(n, generator=g)[:6], {m: torch.rand(6, d, generator=g) for m, d in dims.items()})
        for _ in range(12)
    ]
    a = ULGM(n, dims, H=1.0, exclude_zero=False)
    a.init_labels(y)
    for i, (idx, f) in enumerate(batches[:6]):
        a.step(idx, f, epoch=1 + i // 2)
    sd = a.state_dict()
    assert set(sd) >= {"features_M", "labels_T", "center_pos_A", "center_neg_V"}
    b = ULGM(n, dims, H=1.0, exclude_zero=False)
    b.load_state_dict(sd)
    for i, (idx, f) in enumerate(batches[6:]):
        a.step(idx, f, epoch=4 + i // 2)
        b.step(idx, f, epoch=4 + i // 2)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_targets_follow_weighting():
    u = _scenario()
    u.step(T([0]), {"M": T([[1.0, 0.0]]), "T": T([[0.0, 2.0]]), "A": T([[1.0, 0.0]]), "V": T([[0.0, 0.0]])}, 2)
    labels, weights = u.targets(T([0, 1]))
    assert close(labels["T"], [-0.5, -0.5]) and close(weights["T"], [0.76159416, 0.0])
    u.weighting = "none"
    assert torch.equal(u.targets(T([0, 1]))[1]["T"], torch.ones(2))


def test_bad_inputs_name_the_problem():
    u = _scenario()
    f = {m: torch.zeros(2, 2) for m in "MTAV"}
    with pytest.raises(IndexError, match="out of range"):
        u.step(T([0, 4]), f, epoch=1)
    with pytest.raises(ValueError, match="repeated rows"):
        u.step(T([1, 1]), f, epoch=1)
    with pytest.raises(ValueError, match=r"feat\['T'\] has shape"):
        u.step(T([0, 1]), {**f, "T": torch.zeros(2, 3)}, epoch=1)
    with pytest.raises(KeyError, match="lacks 'V'"):
        u.step(T([0, 1]), {m: f[m] for m in "MTA"}, epoch=1)
    with pytest.raises(ValueError, match="n_train=4"):
        u.init_labels(T([0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        u.init_labels(T([0.0, float("nan"), 0.0, 0.0]))
    with pytest.raises(ValueError, match="dims lacks"):
        ULGM(4, {"M": 2}, H=1.0, exclude_zero=False)
