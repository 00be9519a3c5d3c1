"""The label-generator contract (selfmm.labels.base), checked on every registered generator.

- the registry and config.LABEL_SOURCES agree;
- targets have the contract's keys and shapes and are copies; snapshots cover the whole train split;
- state_dict -> safetensors -> a fresh generator continues bit-identically (what weights/last does);
- a training run of each generator SIGKILLed mid-epoch resumes to the same labels, weights and predictions as an
  uninterrupted run (ulgm: tests/test_train.py; here human and multimodal).
- the fixed generators' labels and weights against the data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from selfmm.config import LABEL_SOURCES, UNIMODAL, preset
from selfmm.labels import GENERATORS, LabelSnapshot, build_generator
from selfmm.runs.reader import RunReader
from selfmm.train import fit

ROOT = Path(__file__).resolve().parents[1]
DIMS = {"M": 6, "T": 5, "A": 3, "V": 4}
N = 30
# the killed runs train in a subprocess with OMP_NUM_THREADS=1; in-process runs need the same thread count to be
# bitwise comparable (with 2 threads the predictions differ in the 8th digit)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_registry_matches_config():
    assert set(GENERATORS) == set(LABEL_SOURCES)


def _inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    y_m = (torch.randint(-5, 6, (N,), generator=g) / 5).float()
    human = {m: (torch.randint(-5, 6, (N,), generator=g) / 5).float() for m in UNIMODAL}
    return g, y_m, human


def _batches(g: torch.Generator, y_m: torch.Tensor, epochs: range, batch: int = 8):
    """Per epoch a shuffled pass over all rows: (index, feat, pred, epoch) with label-dependent features."""
    for epoch in epochs:
        perm = torch.randperm(N, generator=g)
        for s in range(0, N, batch):
            idx = perm[s : s + batch]
            feat = {m: torch.relu(y_m[idx, None] + torch.randn(len(idx), d, generator=g)) for m, d in DIMS.items()}
            pred = {m: y_m[idx] + 0.3 * torch.randn(len(idx), generator=g) for m in DIMS}
            yield idx, feat, pred, epoch


def _assert_same_snapshot(a: LabelSnapshot, b: LabelSnapshot) -> None:
    for m in UNIMODAL:
        np.testing.assert_array_equal(a.labels[m], b.labels[m])
        np.testing.assert_array_equal(a.weights[m], b.weights[m])
    assert (a.extra is None) == (b.extra is None)
    if a.extra is not None:
        pd.testing.assert_frame_equal(a.extra, b.extra)
    assert (a.centers is None) == (b.centers is None)
    for m, c in (a.centers or {}).items():
        for k in c:
            np.testing.assert_array_equal(c[k], b.centers[m][k])


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_contract_shapes_and_resume_from_saved_state(name, tmp_path):
    from selfmm.checkpoint import load_module, save_module

    cfg = preset("tiny", label_source=name)
    g, y_m, human = _inputs(0)
    gen = build_generator(cfg, N, y_m, human, DIMS)
    assert gen.name == name
    labels, weights = gen.targets(torch.tensor([3, 0, 7]))
    assert set(labels) == set(weights) == set(UNIMODAL)
    assert all(t.shape == (3,) for t in (*labels.values(), *weights.values()))
    snap0 = gen.snapshot()
    assert all(snap0.labels[m].shape == snap0.weights[m].shape == (N,) for m in UNIMODAL)
    for batch in _batches(g, y_m, range(1, 3)):
        gen.update(*batch)
    # targets are copies: an update after the call does not change them
    before = gen.targets(torch.arange(N))
    save_module(gen, tmp_path / "gen.safetensors")  # what weights/last holds
    fresh = build_generator(cfg, N, y_m, human, DIMS)
    load_module(fresh, tmp_path / "gen.safetensors")
    _assert_same_snapshot(gen.snapshot(), fresh.snapshot())
    for idx, feat, pred, epoch in _batches(g, y_m, range(3, 5)):
        for x in (gen, fresh):
            x.update(idx, feat, pred, epoch)
    _assert_same_snapshot(gen.snapshot(), fresh.snapshot())
    for k, v in gen.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k
    after = gen.targets(torch.arange(N))
    if name == "ulgm":  # the only generator here whose labels move
        assert not torch.equal(before[0]["T"], after[0]["T"])
    with pytest.raises(IndexError, match="out of range"):
        gen.targets(torch.tensor([N]))


def test_fixed_generators_labels_and_weights():
    _, y_m, human = _inputs(1)
    h = build_generator(preset("tiny", label_source="human"), N, y_m, human, DIMS).snapshot()
    mm = build_generator(preset("tiny", label_source="multimodal"), N, y_m, human, DIMS).snapshot()
    mm_tanh = build_generator(preset("tiny", label_source="multimodal", unimodal_weighting="tanh"), N, y_m, None, DIMS)
    for m in UNIMODAL:
        np.testing.assert_array_equal(h.labels[m], human[m].numpy())
        np.testing.assert_allclose(h.weights[m], np.tanh(np.abs(human[m].numpy() - y_m.numpy())), rtol=1e-6)
        np.testing.assert_array_equal(mm.labels[m], y_m.numpy())
        assert (mm.weights[m] == 1.0).all()  # auto weighting -> none for multimodal
        assert (mm_tanh.snapshot().weights[m] == 0.0).all()
    assert h.centers is None and h.extra is None
    with pytest.raises(ValueError, match="regression_labels_T/A/V"):
        build_generator(preset("tiny", label_source="human"), N, y_m, None, DIMS)


# --------------------------------------------------------------------------------------------------------------
# a killed training run resumes to identical labels (the machinery of tests/test_train.py)

SETTINGS = ["max_epochs=3", "tiny_bert_hidden=16", "tiny_bert_layers=1", "batch_size=4", "update_epochs=2"]
SETTINGS += ["projection=none", "early_stop=5", "record_representations=none"]


def _cfg(source: str):
    return preset("tiny", label_source=source, max_epochs=3, tiny_bert_hidden=16, tiny_bert_layers=1, batch_size=4,
                  update_epochs=2, projection="none", early_stop=5, record_representations="none")  # fmt: skip


@pytest.fixture(scope="module")
def human_pkl(tiny_pkl):
    return tiny_pkl


@pytest.mark.timeout(150)
@pytest.mark.parametrize("source", ["human", "multimodal"])
def test_killed_run_resumes_to_identical_labels(human_pkl, tmp_path, source):
    from safetensors.torch import load_file

    full, killed = tmp_path / "full", tmp_path / "killed"
    fit(_cfg(source), human_pkl, full, verbose=False)
    cmd = [sys.executable, "-m", "selfmm", "train", "--data", str(human_pkl), "--preset", "tiny", "--out", str(killed)]
    cmd += ["-q", "--set", f"label_source={source}", *SETTINGS]
    env = {**os.environ, "SELFMM_DEBUG_SIGKILL_AT": "3:1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert RunReader(killed).epochs_completed == 2
    fit(_cfg(source), human_pkl, killed, resume=True, verbose=False)
    a, b = RunReader(full), RunReader(killed)
    pd.testing.assert_frame_equal(a.labels(), b.labels())
    pd.testing.assert_frame_equal(a.predictions(), b.predictions())
    assert a.manifest["test"] == b.manifest["test"]
    for run in (full, killed):
        assert (run / "weights" / "last" / f"{source}.safetensors").is_file()
    sa = load_file(str(full / "weights" / "last" / f"{source}.safetensors"))
    sb = load_file(str(killed / "weights" / "last" / f"{source}.safetensors"))
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
