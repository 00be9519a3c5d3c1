"""selfmm_loss: hand-computed values, the divide-by-B rule, task selection and gradients."""

from __future__ import annotations

import pytest
import torch

from selfmm.losses import selfmm_loss

T = torch.tensor


def _batch():
    pred = {
        "M": T([[1.0], [2.0]], requires_grad=True),  # (B, 1) accepted
        "T": T([1.0, 1.0], requires_grad=True),
        "A": T([0.5, -0.5], requires_grad=True),
        "V": T([3.0, 0.0], requires_grad=True),
    }
    targets = {"M": T([0.0, 0.0]), "T": T([0.0, 2.0]), "A": T([0.0, 0.0]), "V": T([1.0, 1.0])}
    weights = {"T": T([0.5, 1.0]), "A": T([1.0, 0.0]), "V": T([0.25, 0.25])}
    return pred, targets, weights


def test_hand_values_all_tasks():
    pred, targets, weights = _batch()
    total, parts = selfmm_loss(pred, targets, weights, tasks="MTAV")
    assert parts["M"].item() == pytest.approx(1.5, abs=1e-7)  # (1 + 2) / 2
    # divides by B = 2, not by the weight sum 1.5 (which would give 1.0)
    assert parts["T"].item() == pytest.approx((0.5 * 1 + 1.0 * 1) / 2, abs=1e-7)
    assert parts["A"].item() == pytest.approx((1.0 * 0.5 + 0.0) / 2, abs=1e-7)
    assert parts["V"].item() == pytest.approx((0.25 * 2 + 0.25 * 1) / 2, abs=1e-7)
    assert total.item() == pytest.approx(1.5 + 0.75 + 0.25 + 0.375, abs=1e-6)


def test_tasks_select_terms_and_gradients():
    pred, targets, weights = _batch()
    total, parts = selfmm_loss(pred, targets, {"T": weights["T"]}, tasks="MT")
    assert total.item() == pytest.approx(2.25, abs=1e-6)
    assert parts["A"].item() == 0.0 and parts["V"].item() == 0.0
    total.backward()
    assert torch.allclose(pred["M"].grad, T([[0.5], [0.5]]))  # sign / B
    assert torch.allclose(pred["T"].grad, T([0.25, -0.5]))  # w * sign / B
    assert pred["A"].grad is None and pred["V"].grad is None
    # M only: absent unimodal heads are fine
    total_m, parts_m = selfmm_loss({"M": pred["M"]}, {"M": targets["M"]}, {}, tasks="M")
    assert total_m.item() == pytest.approx(1.5) and all(parts_m[m].item() == 0.0 for m in "TAV")


def test_zero_weights_give_zero_unimodal_loss_and_constants_are_detached():
    pred, targets, _ = _batch()
    tgt = {k: v.clone().requires_grad_(True) for k, v in targets.items()}
    w = {m: torch.zeros(2, requires_grad=True) for m in "TAV"}  # epochs 1-2 of Self-MM
    total, parts = selfmm_loss(pred, tgt, w)
    assert all(parts[m].item() == 0.0 for m in "TAV")
    total.backward()
    assert all(t.grad is None for t in tgt.values()) and all(x.grad is None for x in w.values())
    assert torch.equal(pred["T"].grad, torch.zeros(2))  # zero gradient, not None: Adam still steps (MMSA do_train)


def test_bad_inputs():
    pred, targets, weights = _batch()
    with pytest.raises(ValueError, match="tasks='TA'"):
        selfmm_loss(pred, targets, weights, tasks="TA")
    with pytest.raises(KeyError, match="weights lacks 'A'"):
        selfmm_loss(pred, targets, {"T": weights["T"]}, tasks="MTA")
    with pytest.raises(ValueError, match=r"targets\['T'\] has 3 values"):
        selfmm_loss(pred, {**targets, "T": T([0.0, 0.0, 0.0])}, weights)
