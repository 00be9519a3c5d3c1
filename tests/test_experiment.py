"""selfmm.experiment: variants × seeds into one folder, results table and label correlations, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import selfmm.train
from selfmm.config import ConfigError
from selfmm.experiment import main, parse_variants
from selfmm.runs.reader import RunReader
from tests.mmsa_fixture import make_mmsa_dict, write_pickle

pytestmark = pytest.mark.usefixtures("one_thread")


SETS = ["max_epochs=2", "tiny_bert_hidden=16", "tiny_bert_layers=1", "batch_size=4", "update_epochs=2"]
SETS += ["projection=none", "record_representations=none"]


def test_parse_variants():
    assert parse_variants("ulgm, human,ulgm") == ["ulgm", "human"]
    with pytest.raises(ConfigError, match="ulgm, human, multimodal"):
        parse_variants("ulgm,paper")


@pytest.mark.timeout(120)
def test_experiment_variants_by_seeds(tmp_path, capsys, monkeypatch):
    d = make_mmsa_dict(n=(14, 5, 5), seed=5, human=True)
    data = write_pickle(d, tmp_path / "e.pkl")
    out = tmp_path / "exp"
    args = ["--data", str(data), "--preset", "tiny", "--out", str(out), "--seeds", "1-2", "-q", "--name", "lbl"]
    args += ["--variants", "ulgm,human,multimodal", "--set", *SETS]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| MAE |" in printed and "label_r_T" in printed
    res = pd.read_csv(out / "results.csv")
    assert list(res.columns[:6]) == ["variant", "metric", "scale", "mean", "std", "n"]
    for variant in ("ulgm", "human", "multimodal"):
        runs = {s: RunReader(out / variant / f"seed_{s}") for s in (1, 2)}
        for s, r in runs.items():
            assert r.status == "finished" and r.manifest["experiment"] == {"name": "lbl", "variant": variant, "seed": s}
            assert r.manifest["config"]["label_source"] == variant and r.manifest["config"]["seed"] == s
        row = res[(res.variant == variant) & (res.metric == "MAE")].iloc[0]
        vals = np.array([runs[s].manifest["test"]["MAE"] for s in (1, 2)]) * 100
        assert row["mean"] == pytest.approx(vals.mean()) and row["std"] == pytest.approx(vals.std())
        assert row["scale"] == 100
    r_of = res[res.metric == "label_r_T"].set_index("variant")
    # human labels are the human labels: r = 1; multimodal labels are y_m: r = corr(y_m, y_T) of the train split
    assert r_of.loc["human", "mean"] == pytest.approx(1.0)
    expect = np.corrcoef(d["train"]["regression_labels"], d["train"]["regression_labels_T"])[0, 1]
    assert r_of.loc["multimodal", "mean"] == pytest.approx(expect, rel=1e-6)
    # the decomposition: human labels need no shrinking (k* = 1, partial r = 1); y_m labels have no deviation
    # (k* undefined, gap 0, r at k* = y_m's r); y_m's r is the same baseline in every variant
    fig = res[res["scale"] == 1].set_index(["variant", "metric"])["mean"]
    h_T, y_m = d["train"]["regression_labels_T"].astype(np.float64), d["train"]["regression_labels"].astype(np.float64)
    assert fig["human", "k_star_T"] == pytest.approx(1.0) and fig["human", "partial_r_T"] == pytest.approx(1.0)
    assert fig["human", "gap_T"] == pytest.approx(np.mean(np.abs(h_T - y_m)), rel=1e-6)
    assert np.isnan(fig["multimodal", "k_star_T"]) and fig["multimodal", "gap_T"] == 0.0
    assert fig["multimodal", "r_at_k_T"] == pytest.approx(expect, rel=1e-6)
    for v in ("ulgm", "human", "multimodal"):
        assert fig[v, "ym_r_T"] == pytest.approx(expect, rel=1e-6)
    # ulgm at epoch 2: the labels moved away from y_m, so r differs from the multimodal control
    assert r_of.loc["ulgm", "mean"] != pytest.approx(expect, rel=1e-6)
    md = (out / "results.md").read_text()
    assert "| metric | ulgm | human | multimodal |" in md
    # a second call resumes: finished runs are not retrained (no epoch is run), run.json is untouched
    before = {v: (out / v / "seed_1" / "run.json").read_bytes() for v in ("ulgm", "human", "multimodal")}

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(selfmm.train, "train_epoch", no_training)
    assert main(args) == 0
    assert {v: (out / v / "seed_1" / "run.json").read_bytes() for v in before} == before
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), res)
    # ...while an unfinished one is: the hook does fire when an epoch is due (so the check above can fail)
    args2 = [a if a != "max_epochs=2" else "max_epochs=3" for a in args]
    with pytest.raises(AssertionError, match="trained again"):
        main(args2 + ["--variants", "ulgm"])


def test_experiment_human_variant_without_human_labels(tmp_path, capsys):
    data = write_pickle(make_mmsa_dict(n=(8, 4, 4), seed=6, human=False), tmp_path / "n.pkl")
    args = ["--data", str(data), "--preset", "tiny", "--out", str(tmp_path / "x"), "--seeds", "1", "-q"]
    assert main(args + ["--variants", "human", "--set", *SETS]) == 2
    assert "regression_labels_T/A/V" in capsys.readouterr().err
