"""The demo: the committed run in checkpoints/demo-sims reads with the current schema, the dashboard opens it, and
``python -m selfmm demo`` works end to end at a tiny scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selfmm import demo
from selfmm.config import SPLITS, UNIMODAL
from selfmm.metrics import pearson
from selfmm.runs import layout
from selfmm.runs.reader import RunReader
from selfmm.runs.writer import RunWriter

REPO = Path(__file__).resolve().parent.parent
DEMO_RUN = REPO / demo.DEFAULT_OUT


# ----------------------------------------------------------------------------------------------------------------
# the committed demo run


@pytest.fixture(scope="module")
def reader() -> RunReader:
    assert (DEMO_RUN / layout.RUN_JSON).is_file(), f"{DEMO_RUN}: no demo run; create it with `python -m selfmm demo`"
    return RunReader(DEMO_RUN)


def test_committed_demo_reads_with_current_schema(reader):
    m = reader.manifest
    assert reader.status == "finished"
    assert m["schema_version"] == layout.SCHEMA_VERSION
    assert reader.schema_warning is None
    assert m["epochs_completed"] >= 3
    assert reader.epochs == list(range(m["epochs_completed"] + 1))  # epoch 0 (initial labels) to the last
    assert m["dataset"]["has_human_unimodal"] is True
    assert m["best"]["epoch"] >= 1 and m["test"]["MAE"] > 0
    # representations at a handful of epochs, first and last included
    reps = reader.representation_epochs
    assert 3 <= len(reps) <= 8 and reps[0] == 1 and reps[-1] == m["epochs_completed"]
    x = reader.representations(reps[-1], split="train")
    assert x["train/feat_T"].shape == (m["dataset"]["n_train"], m["config"]["post_text_dim"])
    # pruned for shipping: the weights are gone, and run.json says so
    assert not (DEMO_RUN / layout.WEIGHTS_DIR).exists()
    assert m["demo"]["pruned"] == [layout.WEIGHTS_DIR]
    assert demo.folder_bytes(DEMO_RUN) < 12 * 2**20


def test_committed_demo_labels_align_with_samples(reader):
    samples = reader.samples()
    train = samples[samples["split"] == "train"].sort_values("index")
    assert len(train) == reader.manifest["dataset"]["n_train"]
    assert {"y_T", "y_A", "y_V"} <= set(samples.columns)  # the ground-truth ("human") unimodal labels
    assert train[["y_T", "y_A", "y_V"]].notna().all().all()
    labels = reader.labels()
    for e, g in labels.groupby("epoch"):
        g = g.sort_values("index")
        assert np.array_equal(g["index"].to_numpy(), np.arange(len(train))), e
        assert np.array_equal(g["sample_id"].to_numpy(str), train["sample_id"].to_numpy(str)), e
    # epoch 0 holds y_m; the last epoch's generated labels have moved away from it
    last = labels[labels["epoch"] == reader.epochs[-1]].sort_values("index")
    first = labels[labels["epoch"] == 0].sort_values("index")
    y_m = train["y_m"].to_numpy()
    for m in UNIMODAL:
        assert np.allclose(first[f"label_{m}"].to_numpy(), y_m)
        moved = np.abs(last[f"label_{m}"].to_numpy() - y_m)
        assert moved.mean() > 0.05 and (moved > 0.1).mean() > 0.2, m


def test_committed_demo_figures_match_the_files(reader):
    """The figures stored in run.json (and docs/demo.md) are what the label files give."""
    fig = demo.label_figures(DEMO_RUN)
    stored = reader.manifest["demo"]["figures"]
    assert stored["epoch"] == fig["epoch"] == reader.epochs[-1]
    for m in UNIMODAL:
        for k in ("r_gen", "r_ym", "moved", "r_delta"):
            assert stored[m][k] == pytest.approx(fig[m][k], abs=1e-9), (m, k)
        # r(y_m, y_s) of the synthetic SIMS labels: the calibrated copula gives about .8 to .9
        assert 0.7 < fig[m]["r_ym"] < 0.95


def test_committed_demo_has_projections(reader):
    proj = reader.projections("umap")
    assert proj is not None and len(proj)
    assert set(proj["modality"]) == {"M", "T", "A", "V", "all"}
    assert sorted(proj["epoch"].unique()) == reader.representation_epochs
    assert set(proj["split"]) == {"train", "valid", "test"}
    assert np.isfinite(proj[["x", "y"]].to_numpy()).all()


def test_dashboard_loads_the_demo(reader):
    from dashboard import data as ddata

    run = ddata.load_run(DEMO_RUN)
    n_train = reader.manifest["dataset"]["n_train"]
    assert run.status == "finished"
    assert run.gen["T"].shape == (n_train, len(reader.epochs))
    assert list(run.label_epochs) == reader.epochs
    table = ddata.sample_table(run)
    assert len(table) == len(reader.samples())
    assert ddata.pick_default_run(ddata.list_runs(DEMO_RUN.parent)) == "demo-sims"


# ----------------------------------------------------------------------------------------------------------------
# helpers, against hand-computed values


def _mini_run(run_dir: Path) -> None:
    """A 4-sample run with known labels: y_m = [-1, -.5, .5, 1], y_T = [-1, 0, .5, .5], gen_T = [-1, -.2, .5, .6]."""
    y_m = np.array([-1, -0.5, 0.5, 1], np.float32)
    y_t = np.array([-1, 0, 0.5, 0.5], np.float32)
    ids = [f"video_0001$_${i}" for i in range(4)]
    rows = []
    for split in SPLITS:
        rows.append(pd.DataFrame({"sample_id": [f"{split}_{i}" for i in range(4)] if split != "train" else ids,
                                  "split": split, "index": np.arange(4), "raw_text": "x", "y_m": y_m,
                                  "y_T": y_t, "y_A": y_m, "y_V": -y_m}))  # fmt: skip
    w = RunWriter(run_dir)
    w.start(config={"dataset": "sims"}, dataset={"has_human_unimodal": True, "n_train": 4}, samples=pd.concat(rows))
    gen = {"T": np.array([-1, -0.2, 0.5, 0.6], np.float32), "A": y_m, "V": y_m}
    for e, lab in ((0, {m: y_m for m in UNIMODAL}), (1, gen)):
        d = {"epoch": e, "sample_id": ids, "index": np.arange(4, dtype=np.int32)}
        d.update({f"label_{m}": lab[m] for m in UNIMODAL})
        d.update({f"weight_{m}": np.zeros(4, np.float32) for m in UNIMODAL})
        w.write_epoch(e, labels=pd.DataFrame(d), predictions=None, centers=None, representations=None, metrics=[])
        w.commit_epoch(e)
    (run_dir / layout.WEIGHTS_DIR / layout.LAST_DIR).mkdir(parents=True)
    (run_dir / layout.WEIGHTS_DIR / layout.LAST_DIR / layout.STATE_FILE).write_text("{}" + " " * 98)
    w.finish("finished")


def test_label_figures_hand_computed(tmp_path):
    _mini_run(tmp_path / "run")
    fig = demo.label_figures(tmp_path / "run")
    assert fig["epoch"] == 1
    t = fig["T"]
    # |gen - y_T| = [0, .2, 0, .1] -> .075; |y_m - y_T| = [0, .5, 0, .5] -> .25; |gen - y_m| = [0, .3, 0, .4]
    assert t["mae_gen"] == pytest.approx(0.075, abs=1e-6)
    assert t["mae_ym"] == pytest.approx(0.25, abs=1e-6)
    assert t["moved"] == pytest.approx(0.175, abs=1e-6)
    # y_T differs from y_m on rows 1 and 3: both generated labels are closer to y_T; the deviations
    # gen - y_m = [.3, -.4] and y_T - y_m = [.5, -.5] are perfectly correlated
    assert t["n_diff"] == 2 and t["closer"] == 1.0 and t["r_delta"] == pytest.approx(1.0)
    assert t["r_gen"] == pytest.approx(pearson([-1, -0.2, 0.5, 0.6], [-1, 0, 0.5, 0.5]), abs=1e-6)
    assert t["r_gen"] > t["r_ym"]
    assert fig["A"]["r_gen"] == pytest.approx(1.0) and fig["A"]["n_diff"] == 0
    assert fig["V"]["r_gen"] == pytest.approx(-1.0)


def test_prune_records_what_it_removed(tmp_path):
    run = tmp_path / "run"
    _mini_run(run)
    info = demo.prune(run)
    assert info == {"pruned": [layout.WEIGHTS_DIR], "pruned_bytes": 100}
    assert not (run / layout.WEIGHTS_DIR).exists()
    m = json.loads((run / layout.RUN_JSON).read_text())
    assert m["demo"] == info and m["status"] == "finished"
    assert RunReader(run).epochs == [0, 1]  # still a readable run
    assert demo.prune(run)["pruned"] == []  # idempotent


def test_demo_config_layers_overrides():
    cfg = demo.demo_config(["max_epochs=2", "batch_size=8"], seed=7)
    assert cfg.text_model == "tiny" and cfg.projection == demo.DEMO_OVERRIDES["projection"]
    assert (cfg.max_epochs, cfg.batch_size, cfg.seed) == (2, 8, 7)


# ----------------------------------------------------------------------------------------------------------------
# the command, end to end at a tiny scale

SMOKE = ["--scale", "0.02", "--dims", "audio=6,vision=10", "--lengths", "text=16,audio=24,vision=12",
         "--threads", "1", "-q", "--set", "max_epochs=2", "projection=pca", "record_representations=every:1"]  # fmt: skip


@pytest.mark.timeout(120)
def test_demo_main_smoke(tmp_path, capsys):
    out, data = tmp_path / "demo", tmp_path / "data" / "demo.pkl"
    rc = demo.main(["--out", str(out), "--data", str(data), *SMOKE])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "r(gen,y_s)" in printed and "MiB" in printed
    r = RunReader(out)
    assert r.status == "finished" and r.epochs == [0, 1, 2]
    assert r.representation_epochs == [1, 2]
    assert r.projections("pca") is not None
    assert not (out / layout.WEIGHTS_DIR).exists()
    m = r.manifest
    assert m["config"]["max_epochs"] == 2 and m["config"]["text_model"] == "tiny"
    assert m["demo"]["synth"]["signal"] == demo.DEMO_SIGNAL
    assert m["demo"]["figures"]["epoch"] == 2
    assert m["dataset"]["n_train"] == round(1368 * 0.02)
    # an existing run is refused without --force, with a message naming the folder and the fix
    rc = demo.main(["--out", str(out), "--data", str(data), *SMOKE])
    err = capsys.readouterr().err
    assert rc == 2 and str(out) in err and "--force" in err


def test_demo_main_rejects_bad_overrides(tmp_path, capsys):
    rc = demo.main(["--out", str(tmp_path / "x"), "--data", str(tmp_path / "d.pkl"), "--set", "no_such_key=1"])
    assert rc == 2 and "no_such_key" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "d.pkl").exists()
