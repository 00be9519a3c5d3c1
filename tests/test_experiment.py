"""selfmm.experiment: variants × seeds into one folder, results table and label correlations, resume."""

from __future__ import annotations

import json

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


def test_cmc_test_metrics_share_selfmm_definitions():
    """The rows CMC joins are the same computation: CMC's Has0 from 3-class logits equals Self-MM's 2-class metric
    of the regression prediction logit_pos − logit_neg on the same y_m (SIMS: Mult_acc_2 / F1_score; MOSI: Has0
    and, with the fix, Non0). Exact zeros in y included; no exact logit ties (MOSI breaks those differently)."""
    from selfmm.cmc.metrics import classification_metrics
    from selfmm.experiment import cmc_test_metrics
    from selfmm.labels.plgm import classes_of
    from selfmm.metrics import mosi_metrics, sims_metrics

    rng = np.random.default_rng(3)
    for dataset, H, selfmm_metrics in (("sims", 1.0, sims_metrics), ("mosi", 3.0, mosi_metrics)):
        y = np.round(rng.uniform(-H, H, 200) * 5) / 5  # the 0.2 grid: many exact zeros
        assert (y == 0).sum() >= 3
        logits = rng.normal(size=(200, 3))
        cmc = classification_metrics(dataset, logits, classes_of(y).numpy(), fix_non0=True)
        ours = selfmm_metrics(logits[:, 2] - logits[:, 0], y)
        mapped = cmc_test_metrics({**cmc, "loss": 1.0}, dataset, fix_non0=True)
        shared = [k for k in mapped if not k.startswith("cmc_")]
        assert shared == (["Mult_acc_2", "F1_score"] if dataset == "sims" else
                          ["Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score"])  # fmt: skip
        for k in shared:
            assert mapped[k] == pytest.approx(ours[k], abs=1e-12), (dataset, k)
        assert "cmc_Acc_3" in mapped and "loss" not in mapped and "cmc_loss" not in mapped
    # the reference's Non0 (0/1 predictions against 0/2 truth) is not Self-MM's Non0: kept apart
    assert "cmc_Non0_acc_2" in cmc_test_metrics({"Non0_acc_2": 0.5}, "mosi", fix_non0=False)


CMC_SETS = ["phase1_epochs=2", "phase2_epochs=1"]


@pytest.mark.timeout(240)
def test_experiment_with_cmc_variant(tmp_path, capsys, monkeypatch):
    import selfmm.cmc.train

    d = make_mmsa_dict(n=(14, 5, 5), seed=7, human=True)
    data = write_pickle(d, tmp_path / "c.pkl")
    out = tmp_path / "exp"
    args = ["--data", str(data), "--preset", "tiny", "--out", str(out), "--seeds", "1-2", "-q", "--name", "both"]
    args += ["--variants", "multimodal,cmc", "--set", *SETS, "--cmc-set", *CMC_SETS]
    assert main(args) == 0
    res = pd.read_csv(out / "results.csv")
    runs = {s: RunReader(out / "cmc" / f"seed_{s}") for s in (1, 2)}
    for s, r in runs.items():  # an ordinary run folder of the experiment
        assert r.status == "finished" and r.manifest["model"] == "cmc"
        assert r.manifest["experiment"] == {"name": "both", "variant": "cmc", "seed": s}
        assert r.manifest["config"]["seed"] == s and r.manifest["config"]["phase1_epochs"] == 2
        assert r.manifest["epochs_completed"] == 3
    cmc = res[res.variant == "cmc"].set_index("metric")
    # CMC's Has0_acc_2 sits in Self-MM's Mult_acc_2 row; its 3-class metrics are apart; no MAE for CMC
    has0 = np.array([runs[s].manifest["test"]["Has0_acc_2"] for s in (1, 2)]) * 100
    assert cmc.loc["Mult_acc_2", "mean"] == pytest.approx(has0.mean()) and cmc.loc[
        "Mult_acc_2", "std"
    ] == pytest.approx(has0.std())
    acc3 = np.array([runs[s].manifest["test"]["Acc_3"] for s in (1, 2)]) * 100
    assert cmc.loc["cmc_Acc_3", "mean"] == pytest.approx(acc3.mean())
    assert "MAE" not in cmc.index and "Has0_acc_2" not in cmc.index
    assert "Mult_acc_2" in set(res[res.variant == "multimodal"].metric)
    # label figures of CMC's final (frozen PLGM) labels against the human labels, seed by seed
    for s, r in runs.items():
        lab = r.labels(r.epochs[-1]).merge(r.samples(), on="sample_id")
        expect = np.corrcoef(lab["label_T"].astype(float), lab["y_T"].astype(float))[0, 1]
        assert cmc.loc["label_r_T", f"seed_{s}"] == pytest.approx(expect, rel=1e-6)
    assert {"partial_r_A", "gap_V", "k_star_T", "r_at_k_A"} <= set(cmc.index)
    md = (out / "results.md").read_text()
    assert "| metric | multimodal | cmc |" in md and "|\n\n## cmc\n" in md
    assert next(line for line in md.splitlines() if line.startswith("| MAE |")).endswith("| – |")
    # a second call keeps finished CMC runs (nothing trained, run.json untouched) ...
    before = {s: (out / "cmc" / f"seed_{s}" / "run.json").read_bytes() for s in (1, 2)}

    def no_training(self):
        raise AssertionError("CMC trained again")

    monkeypatch.setattr(selfmm.cmc.train.CMCTrainer, "fit", no_training)
    assert main(args) == 0
    assert {s: (out / "cmc" / f"seed_{s}" / "run.json").read_bytes() for s in (1, 2)} == before
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), res)
    # ... refuses a finished one with other settings, naming the key ...
    capsys.readouterr()
    assert main([*args, "--cmc-set", "phase1_epochs=2", "phase2_epochs=2"]) == 2
    assert "other settings (phase2_epochs)" in capsys.readouterr().err
    # ... and trains an unfinished (killed) one again from scratch: CMC cannot resume
    monkeypatch.undo()
    run_json = out / "cmc" / "seed_2" / "run.json"
    m = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**m, "status": "running", "epochs_completed": 1}))
    (out / "cmc" / "seed_2" / "stale.txt").write_text("left by the killed run")
    assert main(args) == 0
    again = RunReader(out / "cmc" / "seed_2")
    assert again.status == "finished" and again.manifest["epochs_completed"] == 3
    assert not (out / "cmc" / "seed_2" / "stale.txt").exists()
    assert again.manifest["test"] == runs[2].manifest["test"]  # same seed, same numbers
    assert (out / "cmc" / "seed_1" / "run.json").read_bytes() == before[1]


def test_experiment_cmc_dataset_must_match(tmp_path, capsys):
    data = write_pickle(make_mmsa_dict(n=(8, 4, 4), seed=6, human=True), tmp_path / "m.pkl")
    args = ["--data", str(data), "--preset", "tiny", "--out", str(tmp_path / "x"), "--seeds", "1", "-q"]
    assert main([*args, "--variants", "cmc", "--cmc-preset", "mosi"]) == 2
    assert "--cmc-set dataset=sims" in capsys.readouterr().err
    assert not (tmp_path / "x" / "cmc").exists()
