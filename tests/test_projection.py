"""selfmm.projection: PCA by hand, one map fitted on the reference epoch, z-scored "all", alignment, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from selfmm import projection
from selfmm.runs.reader import RunError, RunReader
from selfmm.runs.writer import RunWriter

N = {"train": 4, "valid": 2, "test": 2}
DIMS = {"M": 3, "T": 2, "A": 2, "V": 2}


def test_fit_pca_hand_values():
    # centred, uncorrelated columns with variances 20/4 and 4/4: the components are the axes, signs positive
    x = np.array([[-3.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [3.0, 1.0]]) + [10.0, 5.0]
    emb, transform = projection.fit_pca(x)
    np.testing.assert_allclose(emb, [[-3, 1], [-1, -1], [1, -1], [3, 1]], atol=1e-12)
    np.testing.assert_allclose(transform(np.array([[11.0, 7.0]])), [[1.0, 2.0]], atol=1e-12)
    emb1, _ = projection.fit_pca(np.array([[1.0], [3.0]]))  # one feature: the second axis is 0
    np.testing.assert_allclose(emb1, [[-1.0, 0.0], [1.0, 0.0]], atol=1e-12)


def _run(path, feats_by_epoch: dict[int, dict]) -> RunWriter:
    """A run whose representations are given per epoch: {epoch: {"<split>/feat_<m>": (n, d)}}."""
    rows = [(s, i) for s, n in N.items() for i in range(n)]
    samples = pd.DataFrame(
        {
            "sample_id": [f"{s}-{i}" for s, i in rows],
            "split": [s for s, _ in rows],
            "index": [i for _, i in rows],
            "raw_text": "x",
            "y_m": 0.0,
        }
    ).iloc[::-1]
    w = RunWriter(path)
    w.start(config={"dataset": "sims"}, dataset={}, samples=samples, git={})
    for e in sorted(feats_by_epoch):
        w.write_epoch(e, labels=None, predictions=None, centers=None, representations=feats_by_epoch[e], metrics=[])
        w.commit_epoch(e)
    return w


def _feats(rng, scale_t: float = 1.0) -> dict:
    out = {}
    for s, n in N.items():
        for m, d in DIMS.items():
            out[f"{s}/feat_{m}"] = rng.normal(0, 1, (n, d)).astype(np.float16).astype(np.float32)
            if m == "T":
                out[f"{s}/feat_T"] = out[f"{s}/feat_T"] * scale_t
    return out


def test_one_map_for_all_epochs_and_rows_aligned(tmp_path):
    rng = np.random.default_rng(0)
    f2 = _feats(rng)
    w = _run(tmp_path / "r", {1: f2, 2: f2, 3: _feats(rng)})  # epochs 1 and 2 hold identical features
    df = projection.compute_projections(w.run_dir, method="pca", reference_epoch=2)
    assert set(df["epoch"]) == {1, 2, 3} and set(df["modality"]) == set(projection.PROJECTED)
    assert len(df) == 3 * 5 * sum(N.values()) and set(df["method"]) == {"pca"}
    a = df[df["epoch"] == 1].reset_index(drop=True)
    b = df[df["epoch"] == 2].reset_index(drop=True)
    np.testing.assert_allclose(a[["x", "y"]], b[["x", "y"]], atol=1e-5)  # same features, same map -> same place
    assert not np.allclose(df[df["epoch"] == 3]["x"], b["x"])
    # the reference epoch is centred (PCA of the fit data) and its rows follow samples.parquet order per split
    ref_m = b[b["modality"] == "M"]
    assert abs(ref_m["x"].mean()) < 1e-5 and ref_m["x"].var() >= ref_m["y"].var()
    assert list(ref_m["sample_id"]) == [
        "train-0",
        "train-1",
        "train-2",
        "train-3",
        "valid-0",
        "valid-1",
        "test-0",
        "test-1",
    ]
    assert list(ref_m["index"]) == [0, 1, 2, 3, 0, 1, 0, 1]
    # x of the reference epoch equals the projection of the stacked features on their first component
    xm = np.concatenate([f2[f"{s}/feat_M"] for s in N]).astype(np.float64)
    _, _, vt = np.linalg.svd(xm - xm.mean(0))
    np.testing.assert_allclose(np.abs(ref_m["x"]), np.abs((xm - xm.mean(0)) @ vt[0]), atol=1e-5)
    stored = RunReader(w.run_dir).projections("pca")
    assert len(stored) == len(df) and stored["x"].dtype == np.float32


def test_all_is_zscored_per_modality(tmp_path):
    feats = _feats(np.random.default_rng(1))
    big = {k: (v * 1000 if "feat_T" in k else v) for k, v in feats.items()}
    d1 = projection.compute_projections(_run(tmp_path / "a", {1: feats}).run_dir, method="pca")
    d2 = projection.compute_projections(_run(tmp_path / "b", {1: big}).run_dir, method="pca")
    all1, all2 = d1[d1["modality"] == "all"], d2[d2["modality"] == "all"]
    np.testing.assert_allclose(all1[["x", "y"]], all2[["x", "y"]], atol=1e-3)  # scale of T does not matter


def test_errors_and_cli(tmp_path, capsys):
    w = _run(tmp_path / "r", {1: _feats(np.random.default_rng(2))})
    with pytest.raises(RunError, match="reference epoch 5 has no representations"):
        projection.compute_projections(w.run_dir, method="pca", reference_epoch=5)
    with pytest.raises(RunError, match="method='tsne'"):
        projection.compute_projections(w.run_dir, method="tsne")
    empty = _run(tmp_path / "e", {})
    assert projection.main([str(empty.run_dir), "--method", "pca"]) == 1
    assert "no representations" in capsys.readouterr().err
    assert projection.main([str(w.run_dir), "--method", "pca"]) == 0
    assert (w.run_dir / "projections" / "pca.parquet").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_umap_small_run(tmp_path):
    # numba JIT-compiles UMAP on first use: ~60-120 s on a loaded 2-core machine, hence "slow"
    rng = np.random.default_rng(3)
    w = _run(tmp_path / "u", {1: _feats(rng), 2: _feats(rng)})
    df = projection.compute_projections(w.run_dir, method="umap", seed=0)
    assert len(df) == 2 * 5 * sum(N.values()) and set(df["method"]) == {"umap"}
    assert np.isfinite(df[["x", "y"]].to_numpy()).all()
