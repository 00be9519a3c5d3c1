"""Equivalence with the authors' code: MMSA 2.2.1 (PyPI, MIT), installed by ``tests/reference_setup.sh``.

Two modules of MMSA are loaded by file location under a private package name (``_mmsa_ref``) with stub parent
packages, because MMSA's package ``__init__`` imports its whole model zoo (and with it the legacy
``pytorch_transformers`` and ``pynvml``):

- ``trains/multiTask/SELF_MM.py``: the trainer whose ``init_labels``, ``weighted_loss``, ``update_labels``,
  ``update_features`` and ``update_centers`` are replayed batch by batch against ``selfmm.labels.ulgm`` +
  ``selfmm.losses``;
- ``utils/metricsTop.py``: ``MetricsTop('regression').getMetics(...)`` against ``selfmm.metrics``.

If MMSA is missing the tests FAIL (they never skip): CI installs it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from selfmm.labels.ulgm import ULGM
from selfmm.losses import selfmm_loss
from selfmm.metrics import mosi_metrics, sims_metrics

NAME = {"M": "fusion", "T": "text", "A": "audio", "V": "vision"}


# --------------------------------------------------------------------------------------------------------------
# ULGM + loss replay


def _replay_data(seed: int, n: int, dims: dict, H: float, epochs: int, batch: int):
    """y_m (N,) with exact zeros, and per epoch a shuffled list of (index, feat, pred) batches.

    Features are label-dependent (a class direction plus noise, through a ReLU like the real heads) so that α's are
    informative and the generated labels drift away from y_m; T/A/V get different signal strengths.
    """
    g = torch.Generator().manual_seed(seed)
    steps = torch.arange(-5, 6, dtype=torch.float32) * (H / 5)  # SIMS-like grid incl. 0 and ±H
    y_m = steps[torch.randint(0, len(steps), (n,), generator=g)]
    y_m[:4] = torch.tensor([0.0, 0.0, H, -H])
    direction = {m: torch.randn(d, generator=g) for m, d in dims.items()}
    signal = {"M": 1.0, "T": 0.8, "A": 0.2, "V": -0.3}
    batches = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        ep = []
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            b = len(idx)
            feat = {
                m: torch.relu(
                    signal[m] * y_m[idx, None] / H * direction[m] + 0.7 * torch.randn(b, d, generator=g) + 0.3
                )
                for m, d in dims.items()
            }
            pred = {m: (y_m[idx] + 0.5 * torch.randn(b, generator=g)).reshape(b, 1) for m in dims}
            ep.append((idx, feat, pred))
        batches.append(ep)
    return y_m, batches


@pytest.mark.timeout(60)
@pytest.mark.parametrize("exclude_zero, H, seed", [(False, 1.0, 0), (True, 1.0, 1), (False, 3.0, 2), (True, 3.0, 3)])
def test_ulgm_and_loss_match_mmsa_self_mm(mmsa, exclude_zero, H, seed):
    SELF_MM, _ = mmsa
    n, batch, epochs = 70, 16, 5  # 5 batches per epoch, the last one smaller
    dims = {"M": 12, "T": 8, "A": 4, "V": 6}
    args = SimpleNamespace(
        train_mode="regression", dataset_name="sims", train_samples=n, post_fusion_dim=dims["M"],
        post_text_dim=dims["T"], post_audio_dim=dims["A"], post_video_dim=dims["V"], device=torch.device("cpu"),
        excludeZero=exclude_zero, H=H,
    )  # fmt: skip
    ref = SELF_MM(args)
    ours = ULGM(n, dims, H=H, exclude_zero=exclude_zero)
    y_m, batches = _replay_data(seed, n, dims, H, epochs, batch)

    # init: the reference walks the train loader once; ours takes y_m in index order
    for s in range(0, n, batch):
        idx = torch.arange(s, min(s + batch, n))
        ref.init_labels(idx, y_m[idx])
    ours.init_labels(y_m)

    worst = {"labels": 0.0, "centers": 0.0, "loss": 0.0}
    for epoch, ep in enumerate(batches, start=1):
        for idx, feat, pred in ep:
            # loss with the pre-update labels and weights
            ref_parts = {
                m: ref.weighted_loss(pred[m], ref.label_map[NAME[m]][idx], indexes=idx, mode=NAME[m]) for m in "MTAV"
            }
            ref_total = 0.0
            for m in "MTAV":
                ref_total += ref_parts[m]
            total, parts = selfmm_loss(pred, ours.labels(idx), ours.weights(idx), tasks="MTAV")
            for m in "MTAV":
                worst["loss"] = max(worst["loss"], abs(float(parts[m]) - float(ref_parts[m])))
            worst["loss"] = max(worst["loss"], abs(float(total) - float(ref_total)))
            if epoch <= 2:  # the unimodal terms are exactly zero in epochs 1-2 (reference §3)
                assert all(float(parts[m]) == 0.0 for m in "TAV")

            # the reference's batch tail, in its order
            f = {m: feat[m].detach() for m in "MTAV"}
            if epoch > 1:
                ref.update_labels(f["M"], f["T"], f["A"], f["V"], epoch, idx, None)
            ref.update_features(f["M"], f["T"], f["A"], f["V"], idx)
            ref.update_centers()
            ours.step(idx, feat, epoch)

            for m in "MTAV":
                worst["labels"] = max(
                    worst["labels"], float((ours.labels(range(n))[m] - ref.label_map[NAME[m]]).abs().max())
                )
                for kind in ("pos", "neg"):
                    rc = ref.center_map[NAME[m]][kind]
                    # the reference's NaN centre (empty class) must not arise in this replay: our deviation there
                    # would make the comparison meaningless
                    assert torch.isfinite(rc).all(), f"reference centre {m}/{kind} is NaN at epoch {epoch}"
                    worst["centers"] = max(worst["centers"], float((ours.centers()[m][kind] - rc).abs().max()))

    # the same float32 operations in the same order: bitwise equal
    assert worst == {"labels": 0.0, "centers": 0.0, "loss": 0.0}, worst
    # the replay is not trivial: labels moved away from y_m, in both directions, and M stayed y_m
    snap = {m: t.numpy() for m, t in ours.labels(range(n)).items()}
    for m in "TAV":
        dev = snap[m] - y_m.numpy()
        assert np.abs(dev).max() > 0.05 * H and (dev > 1e-3).any() and (dev < -1e-3).any(), m
        assert np.abs(snap[m]).max() <= H + 1e-6
    np.testing.assert_array_equal(snap["M"], y_m.numpy())


# --------------------------------------------------------------------------------------------------------------
# metrics


def _mosi_case(g: np.random.Generator, n: int):
    true = np.round(g.uniform(-3, 3, n) * 3) / 3  # MOSEI-style thirds
    true[: n // 8] = 0.0
    pred = g.normal(0, 1.6, n)
    specials = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.2, -3.7, 2.0, -2.0]  # ties, clips, zeros
    pred[: len(specials)] = specials
    g.shuffle(pred)
    return pred.astype(np.float32), true.astype(np.float32)


def _sims_case(g: np.random.Generator, n: int):
    true = np.round(g.uniform(-1, 1, n) * 5) / 5  # SIMS grid of 0.2 steps incl. 0
    true[:6] = [-0.1, 0.1, -0.7, 0.7, 0.0, 1.0]  # edge values as labels too
    pred = g.normal(0, 0.6, n)
    specials = [-0.7, -0.1, 0.0, 0.1, 0.7, 1.0, -1.0, 1.4, -2.0, 0.1000001, -0.0999999]
    pred[: len(specials)] = specials
    g.shuffle(pred)
    return pred.astype(np.float32), true.astype(np.float32)


def _compare(ref_res: dict, ours: dict):
    assert set(ref_res) == set(ours)
    for k, v in ref_res.items():
        if np.isnan(v):
            assert np.isnan(ours[k]), k
        else:
            # MMSA rounds to 4 decimals; ours is unrounded (and MAE accumulates in float64)
            assert abs(ours[k] - v) <= 5e-5 + 1e-7, (k, ours[k], v)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dataset", ["MOSI", "MOSEI", "SIMS"])
def test_metrics_match_mmsa(mmsa, dataset):
    _, MetricsTop = mmsa
    ref_fn = MetricsTop("regression").getMetics(dataset)
    ours_fn = sims_metrics if dataset == "SIMS" else mosi_metrics
    case = _sims_case if dataset == "SIMS" else _mosi_case
    g = np.random.default_rng(7)
    for n in (13, 20, 50, 200, 1000):
        pred, true = case(g, n)
        _compare(ref_fn(torch.from_numpy(pred), torch.from_numpy(true)), ours_fn(pred, true))
    # a constant prediction: Corr is NaN in both (ours without the warning)
    pred, true = case(g, 30)
    pred[:] = 0.25
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_res = ref_fn(torch.from_numpy(pred), torch.from_numpy(true))
    _compare(ref_res, ours_fn(pred, true))
    assert np.isnan(ours_fn(pred, true)["Corr"])


@pytest.mark.timeout(30)
def test_sims_bin_edges_match_mmsa_in_float32(mmsa):
    """Each edge value alone against a fixed truth: the bins agree for float32 edge predictions."""
    _, MetricsTop = mmsa
    ref_fn = MetricsTop("regression").getMetics("SIMS")
    true = np.array([-1.0, -0.7, -0.1, 0.0, 0.1, 0.7, 1.0, -0.4, 0.4], dtype=np.float32)
    for v in (-0.7, -0.1, 0.0, 0.1, 0.7):
        pred = np.full_like(true, v)
        pred[0] = -0.9  # not constant, so Corr is defined
        _compare(ref_fn(torch.from_numpy(pred), torch.from_numpy(true)), sims_metrics(pred, true))
