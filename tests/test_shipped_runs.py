"""The runs shipped next to checkpoints/demo-sims read back and were trained on the same data (same sha256)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfmm.runs.reader import RunReader

CK = Path(__file__).resolve().parents[1] / "checkpoints"
SHIPPED = {"demo-sims-plgm": ("selfmm", "plgm")}


def _size_mib(run: Path) -> float:
    return sum(p.stat().st_size for p in run.rglob("*") if p.is_file()) / 2**20


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_run_reads_back_on_demo_data(name):
    run = CK / name
    ref = RunReader(CK / "demo-sims")
    r = RunReader(run)
    assert r.status == "finished"
    assert r.manifest["dataset"]["sha256"] == ref.manifest["dataset"]["sha256"]
    model, source = SHIPPED[name]
    assert r.manifest.get("model", "selfmm") == model
    assert (r.manifest.get("label_source") or r.manifest["config"].get("label_source")) == source
    n_train = int(r.manifest["dataset"]["n_train"])
    done = r.epochs_completed
    assert done >= 2
    labels = r.labels()
    assert sorted(set(labels["epoch"])) == list(range(done + 1))
    assert (labels.groupby("epoch").size() == n_train).all()
    extra = r.labels_extra(done)
    assert extra is not None and {"soft_T_neg", "soft_A_pos", "class_V", "alpha_T"} <= set(extra.columns)
    train = extra[extra["split"] == "train"].sort_values("index")
    lab = r.labels(done).sort_values("index")
    H = float(r.manifest["dataset"]["label_range"])
    np.testing.assert_allclose(lab["label_T"], (train["soft_T_pos"] - train["soft_T_neg"]) * H, atol=1e-5)
    assert _size_mib(run) < 8.0  # a few MiB, like demo-sims
