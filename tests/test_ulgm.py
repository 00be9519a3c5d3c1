"""ULGM: label math against hand-computed numbers, the batch order, state, and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfmm.ulgm import ULGM, momentum_update, new_unimodal_label, relative_distance, subtask_weight

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


def _scenario(exclude_zero=False, exact_centers=True):
    u = ULGM(4, DIMS, H=1.0, exclude_zero=exclude_zero, exact_centers=exact_centers)
    u.init_labels(Y_M)
    m = T([[1.0, 0.0], [0.0, 1.0]])
    # epoch 1, rows 0 and 1; rows 2, 3 stay zero vectors in the bank
    u.step(T([0, 1]), {"M": m, "T": 2 * m, "A": m, "V": m}, epoch=1)
    return u


@pytest.mark.parametrize("exact_centers", [True, False])
def test_epoch1_centres_and_no_label_change(exact_centers):
    u = _scenario(exact_centers=exact_centers)
    labels = u.labels(range(4))
    for m in "MTAV":
        assert torch.equal(labels[m], Y_M)
    # >= 0 rows: 0, 2, 3 -> mean((1,0),(0,0),(0,0)); < 0: row 1
    assert close(u.center_pos_M, [1 / 3, 0.0]) and close(u.center_neg_M, [0.0, 1.0])
    assert close(u.center_pos_T, [2 / 3, 0.0]) and close(u.center_neg_T, [0.0, 2.0])
    # excludeZero: the y = 0 row 2 leaves the positive class
    v = _scenario(exclude_zero=True, exact_centers=exact_centers)
    assert close(v.center_pos_M, [0.5, 0.0]) and close(v.center_neg_M, [0.0, 1.0])
    for m in "TAV":
        assert torch.equal(u.weights(range(4))[m], torch.zeros(4))


@pytest.mark.parametrize("exact_centers", [True, False])
def test_epoch2_label_update_uses_previous_centres(exact_centers):
    u = _scenario(exact_centers=exact_centers)
    f_m = T([[1.0, 0.0]])
    u.step(T([0]), {"M": f_m, "T": T([[0.0, 2.0]]), "A": f_m, "V": T([[0.0, 0.0]])}, epoch=2)
    # alpha_m from the epoch-1 centres pos (1/3, 0), neg (0, 1): d_p = 2/3, d_n = sqrt(2)
    a_m = (math.sqrt(2) - 2 / 3) / (2 / 3)
    # T: on the negative centre (0, 2): d_n = 0 -> alpha_t = -1; new = 0.5*(-1/a_m)*0.5 + 0.5*(0.5-1-a_m) < -1
    new_t = max(-1.0, 0.5 * (-1 / a_m) * 0.5 + 0.5 * (0.5 - 1 - a_m))
    assert new_t == -1.0
    # A: same feature as M -> ratio 1 -> new = y_m -> unchanged after momentum
    # V: (0, 0) vs pos (1/3, 0), neg (0, 1): alpha_v = (1 - 1/3)/(1/3) = 2; new clamps to 1
    new_v = min(1.0, 0.5 * (2 / a_m) * 0.5 + 0.5 * (0.5 + 2 - a_m))
    lab = u.labels(T([0]))
    assert close(lab["T"], [1 / 3 * 0.5 + 2 / 3 * new_t])  # = -0.5
    assert close(lab["T"], [-0.5])
    assert close(lab["A"], [0.5])
    assert close(lab["V"], [1 / 3 * 0.5 + 2 / 3 * new_v])  # = 0.8333
    assert close(lab["M"], [0.5])
    # untouched rows keep y_m
    assert torch.equal(u.labels(T([1, 2, 3]))["T"], Y_M[1:])
    # weights from the current labels
    w = u.weights(T([0]))
    assert close(w["T"], [math.tanh(1.0)]) and close(w["A"], [0.0]) and close(w["V"], [math.tanh(1 / 3)])
    # centres AFTER the update: T row 0 is now negative with feature (0, 2): pos = rows 2, 3 (zeros), neg = rows 0, 1
    assert close(u.center_pos_T, [0.0, 0.0]) and close(u.center_neg_T, [0.0, 2.0])
    # V row 0 stays positive with the new feature (0, 0): pos = mean of three zero rows
    assert close(u.center_pos_V, [0.0, 0.0]) and close(u.center_neg_V, [0.0, 1.0])


def test_empty_class_keeps_previous_centre():
    u = ULGM(3, DIMS, H=1.0, exclude_zero=True)
    u.init_labels(T([0.2, 0.0, 0.4]))  # no negative label; with exclude_zero the zero is in no class
    f = T([[1.0, 1.0], [5.0, 5.0], [3.0, 1.0]])
    u.step(T([0, 1, 2]), {m: f for m in "MTAV"}, epoch=1)
    assert close(u.center_pos_M, [2.0, 1.0])  # rows 0, 2
    assert torch.equal(u.center_neg_M, torch.zeros(2))  # previous (initial) centre, not NaN
    u.step(T([0, 1, 2]), {m: f + 1 for m in "MTAV"}, epoch=2)
    snap = u.snapshot()
    for m in "MTAV":
        assert np.isfinite(snap["labels"][m]).all()
        assert np.isfinite(snap["centers"][m]["neg"]).all()


def test_labels_are_copies_and_snapshot_shapes():
    u = _scenario()
    before = u.labels(T([0]))
    snap = u.snapshot()
    u.step(T([0]), {m: T([[0.0, 3.0]]) for m in "MTAV"}, epoch=3)
    assert before["T"].item() == 0.5 and snap["labels"]["T"][0] == 0.5  # not views of the buffers
    assert snap["labels"]["M"].dtype == np.float32 and snap["labels"]["M"].shape == (4,)
    assert snap["centers"]["V"]["pos"].shape == (2,)
    assert u.labels(T([0]))["T"].item() != 0.5


def test_state_dict_round_trip_resumes_identically():
    g = torch.Generator().manual_seed(0)
    n, dims = 20, {"M": 5, "T": 4, "A": 3, "V": 2}
    y = torch.randint(-2, 3, (n,), generator=g).float() / 2
    batches = [
        (torch.randperm(n, generator=g)[:6], {m: torch.rand(6, d, generator=g) for m, d in dims.items()})
        for _ in range(12)
    ]
    for exact in (True, False):
        a = ULGM(n, dims, H=1.0, exclude_zero=False, exact_centers=exact)
        a.init_labels(y)
        for i, (idx, f) in enumerate(batches[:6]):
            a.step(idx, f, epoch=1 + i // 2)
        sd = a.state_dict()
        assert not any(k.startswith("_") for k in sd)  # derived sums are not saved
        assert set(sd) >= {"features_M", "labels_T", "center_pos_A", "center_neg_V"}
        b = ULGM(n, dims, H=1.0, exclude_zero=False, exact_centers=exact)
        b.load_state_dict(sd)
        for i, (idx, f) in enumerate(batches[6:]):
            a.step(idx, f, epoch=4 + i // 2)
            b.step(idx, f, epoch=4 + i // 2)
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k


def test_incremental_centres_match_recompute():
    g = torch.Generator().manual_seed(1)
    n, dims = 200, {"M": 16, "T": 8, "A": 4, "V": 8}
    y = (torch.randint(-5, 6, (n,), generator=g) / 5).float()
    a = ULGM(n, dims, H=1.0, exclude_zero=True, exact_centers=True)
    b = ULGM(n, dims, H=1.0, exclude_zero=True, exact_centers=False)
    a.init_labels(y)
    b.init_labels(y)
    for epoch in (1, 2, 3):
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, 32):
            idx = perm[s : s + 32]
            f = {m: torch.relu(torch.randn(len(idx), d, generator=g) + y[idx, None]) for m, d in dims.items()}
            a.step(idx, f, epoch)
            b.step(idx, f, epoch)
            for m in "MTAV":
                for kind in ("pos", "neg"):
                    assert close(a.centers()[m][kind], b.centers()[m][kind], tol=1e-5)
    for m in "TAV":
        assert close(a.labels(range(n))[m], b.labels(range(n))[m], tol=1e-4)


def test_generate_false_freezes_given_labels():
    u = ULGM(4, DIMS, H=1.0, exclude_zero=False, generate=False)
    u.init_labels(Y_M, unimodal={"T": T([-1.0, 1.0, 0.2, 0.0])})
    assert torch.equal(u.labels(range(4))["T"], T([-1.0, 1.0, 0.2, 0.0]))
    assert torch.equal(u.labels(range(4))["A"], Y_M)
    u.step(T([0, 1]), {m: T([[1.0, 0.0], [0.0, 1.0]]) for m in "MTAV"}, epoch=3)
    assert torch.equal(u.labels(range(4))["T"], T([-1.0, 1.0, 0.2, 0.0]))
    # the T centres use the given labels: negative = row 0 only
    assert close(u.center_neg_T, [1.0, 0.0])


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
