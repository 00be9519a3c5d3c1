"""Run comparison: pure functions in dashboard/compare/ (hand-computed values) and the compare page (AppTest)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import compare as C

# ----------------------------------------------------------------------------------------------------------------
# helpers: hand-built run folders and readers


def _write_manifest(run_dir: Path, **extra) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    m = {"schema_version": 1, "run_id": run_dir.name, "status": "finished", "epochs_completed": 3}
    m.update(extra)
    (run_dir / "run.json").write_text(json.dumps(m))
    return run_dir


class FakeReader:
    """Stands in for selfmm.runs.reader.RunReader: manifest, epochs, metrics(), labels(epochs=)."""

    def __init__(self, manifest: dict, metrics: pd.DataFrame | None = None, labels: pd.DataFrame | None = None):
        self.manifest = manifest
        self.status = manifest.get("status")
        self._metrics = metrics if metrics is not None else pd.DataFrame(columns=["epoch", "split"])
        self._labels = labels
        self.epochs = sorted(set(labels["epoch"])) if labels is not None else []

    def metrics(self) -> pd.DataFrame:
        return self._metrics

    def labels(self, epochs=None) -> pd.DataFrame:
        df = self._labels
        return df if epochs is None else df[df["epoch"].isin(epochs)].reset_index(drop=True)


def _labels(ids, idx, t, a, v, epoch=3) -> pd.DataFrame:
    return pd.DataFrame(
        {"epoch": epoch, "sample_id": ids, "index": idx, "label_T": t, "label_A": a, "label_V": v},
    )


# ----------------------------------------------------------------------------------------------------------------
# discovery and experiments


def test_discover_runs_finds_flat_and_nested_runs_and_lists_broken(tmp_path):
    _write_manifest(tmp_path / "sims-a", dataset={"name": "sims"}, config={"seed": 7})
    exp = tmp_path / "exp1"
    for variant in ("ulgm", "human"):
        for seed in (1111, 1112):
            _write_manifest(
                exp / variant / f"seed_{seed}",
                dataset={"name": "sims"},
                experiment={"name": "exp1", "variant": variant, "seed": seed},
            )
    (exp / "results.csv").write_text("variant,metric,mean,std,n\n")
    # run subfolders must not be searched; a run.json inside labels/ would be a false hit
    _write_manifest(tmp_path / "sims-a" / "labels" / "bogus")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    (tmp_path / "empty-dir").mkdir()

    runs = C.discover_runs(tmp_path)
    assert runs["label"].tolist() == [
        "broken",
        "exp1/human/seed_1111",
        "exp1/human/seed_1112",
        "exp1/ulgm/seed_1111",
        "exp1/ulgm/seed_1112",
        "sims-a",
    ]
    assert runs.loc[runs["label"] == "sims-a", "seed"].item() == 7  # from config when not an experiment
    assert runs.loc[runs["label"] == "exp1/ulgm/seed_1112", "variant"].item() == "ulgm"
    err = runs.loc[runs["label"] == "broken", "error"].item()
    assert "broken/run.json" in err and "corrupt manifest" in err
    assert runs.loc[runs["label"] == "broken", "status"].item() == "broken"
    assert runs["error"].isna().sum() == 5
    # too shallow a search does not reach the seed folders
    assert C.discover_runs(tmp_path, max_depth=2)["label"].tolist() == ["broken", "sims-a"]
    assert C.discover_runs(tmp_path / "missing").empty


def test_experiment_members_and_default_selection(tmp_path):
    for root in ("expA", "expB"):  # two experiment folders that reuse the same name must not be mixed
        for variant in ("ulgm", "human"):
            _write_manifest(
                tmp_path / root / variant / "seed_1",
                experiment={"name": "same", "variant": variant, "seed": 1},
            )
    _write_manifest(tmp_path / "solo")
    runs = C.discover_runs(tmp_path)
    assert C.experiment_members(runs, "expA/ulgm/seed_1") == ["expA/human/seed_1", "expA/ulgm/seed_1"]
    assert C.experiment_members(runs, "solo") == ["solo"]
    assert C.experiment_members(runs, "nope") == []
    assert C.default_selection(runs, str(tmp_path / "expB" / "human" / "seed_1")) == [
        "expB/human/seed_1",
        "expB/ulgm/seed_1",
    ]
    assert C.default_selection(runs, str(tmp_path / "solo")) == ["solo"]
    assert C.default_selection(runs, None) == []

    m = {"experiment": {"name": "same", "variant": "ulgm", "seed": 1}}
    assert C.experiment_dir(tmp_path / "expA" / "ulgm" / "seed_1", m) == tmp_path / "expA"
    assert C.experiment_dir(tmp_path / "solo", {}) is None
    assert C.experiment_dir(tmp_path / "flat-run", m) is None  # not laid out as <exp>/<variant>/seed_<n>


def test_default_selection_of_a_200_run_experiment_is_bounded_and_covers_every_variant():
    """Issue 9 item 8: an experiment of 4 variants x 50 seeds selected all 200 runs by default, and the page did
    not finish in 120 s. The default is bounded; it keeps the current run and shows every variant."""
    rows = [
        {"label": f"exp/v{v}/seed_{s}", "run_dir": f"/r/exp/v{v}/seed_{s}", "experiment": "exp", "variant": f"v{v}",
         "seed": s}
        for v in range(4) for s in range(50)
    ]  # fmt: skip
    runs = pd.DataFrame(rows)
    sel = C.default_selection(runs, "/r/exp/v2/seed_37")
    assert len(sel) == C.DEFAULT_MAX_RUNS == 12
    assert "exp/v2/seed_37" in sel
    assert {lab.split("/")[1] for lab in sel} == {"v0", "v1", "v2", "v3"}
    assert sel == [lab for lab in runs["label"] if lab in sel]  # the experiment's order (variant, seed)
    assert [lab for lab in sel if lab.startswith("exp/v0/")] == ["exp/v0/seed_0", "exp/v0/seed_1", "exp/v0/seed_2"]
    assert C.default_selection(runs, "/r/exp/v0/seed_0", limit=500) == runs["label"].tolist()


# ----------------------------------------------------------------------------------------------------------------
# metric table and curves


def test_metric_table_uses_manifest_test_then_falls_back_to_metrics_rows():
    done = FakeReader(
        {
            "status": "finished",
            "epochs_completed": 5,
            "experiment": {"name": "e", "variant": "ulgm", "seed": 1111},
            "best": {"epoch": 3, "valid_loss": 0.41},
            "test": {"MAE": 0.4, "Corr": 0.6},
        }
    )
    met = pd.DataFrame(
        {
            "epoch": [1, 1, 2, 2],
            "split": ["valid", "test", "valid", "test"],
            "time_s": [1.0, 1.0, 1.0, 1.0],
            "loss": [0.5, 0.52, 0.45, 0.47],
            "pred_M/MAE": [0.5, 0.52, 0.45, 0.47],
        }
    )
    live = FakeReader(
        {"status": "running", "epochs_completed": 2, "config": {"seed": 9}, "best": {"epoch": 2, "valid_loss": 0.45}},
        metrics=met,
    )
    tab = C.metric_table({"a": done, "b": live})
    assert tab["run"].tolist() == ["a", "b"]
    assert tab["best_epoch"].tolist() == [3, 2]
    assert tab["seed"].tolist() == [1111, 9]
    assert tab.loc[0, "test/MAE"] == pytest.approx(0.4)
    assert math.isnan(tab.loc[0, "test/pred_M/MAE"])
    # live run: the epoch-2 test row, not epoch 1 and not the valid row
    assert tab.loc[1, "test/pred_M/MAE"] == pytest.approx(0.47)
    assert tab.loc[1, "test/loss"] == pytest.approx(0.47)
    assert "test/time_s" not in tab.columns
    assert C.metric_table({}).columns.tolist()[:2] == ["run", "variant"]


def test_curves_long_and_overlay():
    m1 = pd.DataFrame(
        {"epoch": [1, 1, 2, 2], "split": ["train", "valid"] * 2, "loss": [1.0, 0.9, 0.8, 0.7], "x/y": [0, 1, 2, 3]}
    )
    m2 = pd.DataFrame({"epoch": [1, 2, 3], "split": ["valid"] * 3, "loss": [0.95, np.nan, 0.6]})
    cur = C.curves_long({"r2": m2, "r1": m1}, "loss", "valid")
    assert cur["run"].tolist() == ["r2", "r2", "r1", "r1"]  # order of the mapping, NaN row dropped
    assert cur["epoch"].tolist() == [1, 3, 1, 2]
    assert cur["value"].tolist() == pytest.approx([0.95, 0.6, 0.9, 0.7])
    assert C.curves_long({"r2": m2}, "x/y", "valid").empty
    assert C.metric_columns([m1, m2]) == ["loss", "x/y"]

    fig = C.overlay_curves(cur, "valid loss", "L1", best_epochs={"r1": 2, "r2": 99})
    d = fig.to_dict()
    names = [t["name"] for t in d["data"]]
    assert names == ["r2", "r1"]
    # the app's one best-epoch marker: a dashed line at r1's best epoch in r1's colour; none for r2's epoch 99,
    # which is not on its curve
    lines = d["layout"]["shapes"]
    assert len(lines) == 1 and lines[0]["x0"] == 2 and lines[0]["line"]["dash"] == "dash"
    assert lines[0]["line"]["color"] == d["data"][1]["line"]["color"]
    assert d["layout"]["xaxis"]["title"]["text"] == "epoch"


# ----------------------------------------------------------------------------------------------------------------
# generated labels, A vs B


def test_agreement_hand_computed():
    # x - mean = (-1, 0, 1), y - mean = (-1, 1, 0): r = 1 / sqrt(2 * 2) = 0.5; |x - y| = (0, 1, 1) -> 2/3
    r, mad = C.agreement(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]))
    assert r == pytest.approx(0.5)
    assert mad == pytest.approx(2 / 3)
    r, mad = C.agreement(np.array([0.2, 0.2]), np.array([0.1, 0.5]))
    assert math.isnan(r) and mad == pytest.approx(0.2)
    with pytest.raises(C.CompareError, match="shapes differ"):
        C.agreement(np.zeros(2), np.zeros(3))


def test_final_labels_label_pairs_and_agreement():
    la = pd.concat(
        [
            _labels(["s0", "s1", "s2"], [0, 1, 2], [0.0] * 3, [0.0] * 3, [0.0] * 3, epoch=1),
            _labels(["s0", "s1", "s2"], [0, 1, 2], [1.0, 2.0, 3.0], [0.5, 0.5, -0.5], [0.1, 0.2, 0.3], epoch=2),
        ]
    )
    # run B: other row order, one sample missing in A
    lb = _labels(["s2", "s0", "s1", "s9"], [2, 0, 1, 3], [2.0, 1.0, 3.0, 9.0], [0.5, 0.5, 0.5, 0], [0.1, 0.2, 0.3, 0])
    fa = C.final_labels(FakeReader({}, labels=la))
    assert fa.attrs["epoch"] == 2 and fa["label_T"].tolist() == [1.0, 2.0, 3.0]
    assert C.final_labels(FakeReader({}, labels=la), epoch=1)["label_T"].tolist() == [0.0] * 3
    fb = C.final_labels(FakeReader({}, labels=lb))
    pairs = C.label_pairs(fa, fb)
    assert pairs["sample_id"].tolist() == ["s0", "s1", "s2"]
    assert pairs["label_T_b"].tolist() == [1.0, 3.0, 2.0]
    stats = C.label_agreement(pairs).set_index("modality")
    assert stats.loc["T", "pearson_r"] == pytest.approx(0.5)
    assert stats.loc["T", "mean_abs_diff"] == pytest.approx(2 / 3)
    assert stats.loc["T", "n"] == 3
    assert math.isnan(stats.loc["A", "pearson_r"])  # B's audio labels are constant
    assert stats.loc["A", "mean_abs_diff"] == pytest.approx(1 / 3)
    # V: a = (.1,.2,.3), b = (.2,.3,.1): dx = (-.1,0,.1), dy = (0,.1,-.1): r = -.01 / .02 = -0.5
    assert stats.loc["V", "pearson_r"] == pytest.approx(-0.5)
    assert stats.loc["V", "mean_abs_diff"] == pytest.approx(0.4 / 3)

    fig = C.label_scatter(pairs, "A", "B", stats.reset_index())
    d = fig.to_dict()
    assert len(d["data"]) == 6  # points + identity line per modality
    titles = [a["text"] for a in d["layout"]["annotations"]]
    assert titles[0] == "T (text): r = 0.500, mean |Δ| = 0.667"
    assert titles[1].startswith("A (audio): r = n/a")
    assert list(fig.data[0].customdata) == ["s0", "s1", "s2"]
    assert list(fig.data[0].x) == [1.0, 2.0, 3.0] and list(fig.data[0].y) == [1.0, 3.0, 2.0]

    with pytest.raises(C.CompareError, match="no committed epoch"):
        C.final_labels(FakeReader({}, labels=la.iloc[0:0]))


def test_label_pairs_refuses_misaligned_index_and_duplicates():
    a = _labels(["s0", "s1"], [0, 1], [0, 1], [0, 1], [0, 1])
    b = _labels(["s0", "s1"], [1, 0], [0, 1], [0, 1], [0, 1])
    with pytest.raises(C.CompareError, match="'s0' has index 0 in run A and 1 in run B"):
        C.label_pairs(a, b)
    with pytest.raises(C.CompareError, match="duplicate sample_id"):
        C.label_pairs(pd.concat([a, a]), a)


def test_pairwise_agreement_matrix():
    ids, idx = ["s0", "s1", "s2"], [0, 1, 2]
    labs = {
        "x": _labels(ids, idx, [1.0, 2.0, 3.0], [0, 0, 0], [0, 0, 0]),
        "y": _labels(ids, idx, [1.0, 3.0, 2.0], [0, 0, 0], [0, 0, 0]),
        "z": _labels(ids, idx, [3.0, 2.0, 1.0], [0, 0, 0], [0, 0, 0]),
    }
    mat = C.pairwise_agreement(labs, "T")
    assert mat.loc["x", "x"] == 1.0
    assert mat.loc["x", "y"] == pytest.approx(0.5) and mat.loc["y", "x"] == pytest.approx(0.5)
    assert mat.loc["x", "z"] == pytest.approx(-1.0)
    assert mat.loc["y", "z"] == pytest.approx(-0.5)


def test_pairwise_agreement_equals_pair_by_pair_with_missing_and_constant_runs():
    """The one-pass matrix gives each pair's r over the samples both runs have, as label_pairs + agreement."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(40)]
    labs = {}
    for k in range(7):
        keep = np.sort(rng.choice(40, size=int(rng.integers(1, 40)), replace=False))
        vals = np.ones(len(keep)) if k == 3 else rng.normal(size=len(keep))  # run 3 is constant
        labs[f"r{k}"] = _labels([ids[i] for i in keep], keep.tolist(), vals, vals, vals)
    mat = C.pairwise_agreement(labs, "A")
    for a in labs:
        for b in labs:
            p = C.label_pairs(labs[a], labs[b])
            want, _ = C.agreement(p["label_A_a"].to_numpy(), p["label_A_b"].to_numpy())
            want = 1.0 if a == b else want
            assert mat.loc[a, b] == pytest.approx(want, abs=1e-9, nan_ok=True), (a, b)
    assert mat.loc["r3"].drop("r3").isna().all()
    bad = dict(labs, x=_labels(["s0", "s1"], [5, 6], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]))
    with pytest.raises(C.CompareError, match="'s0' has different indices"):
        C.pairwise_agreement(bad, "T")


# ----------------------------------------------------------------------------------------------------------------
# results table


def test_results_load_and_wide(tmp_path):
    assert C.load_results(tmp_path) is None
    (tmp_path / "results.csv").write_text(
        "variant,metric,mean,std,n\n"
        "ulgm,MAE,0.41234,0.01,3\nulgm,Corr,0.6,0.02,3\n"
        "human,MAE,0.39,,1\n"  # one seed: no std
    )
    res = C.load_results(tmp_path)
    wide = C.results_wide(res, digits=3)
    assert wide.columns.tolist() == ["variant", "n", "MAE", "Corr"]
    assert wide["variant"].tolist() == ["ulgm", "human"]
    assert wide.loc[0, "MAE"] == "0.412 ± 0.010"
    assert wide.loc[1, "MAE"] == "0.390"
    assert wide.loc[1, "Corr"] == ""
    assert wide["n"].tolist() == [3, 1]
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(C.CompareError, match=r"results\.csv: missing columns \['mean', 'metric', 'std', 'variant'\]"):
        C.load_results(tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# real run folders (selfmm.testing) and the page


def _tag_experiment(run_dir: Path, name: str, variant: str, seed: int) -> None:
    """What `python -m selfmm experiment` records in each member's run.json."""
    p = Path(run_dir) / "run.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["experiment"] = {"name": name, "variant": variant, "seed": seed}
    p.write_text(json.dumps(m), encoding="utf-8")


@pytest.fixture(scope="module")
def exp_root(tmp_path_factory) -> Path:
    """runs root: a flat run + experiment `exp` with variants ulgm/human × seeds 1, 2 (nested 3 levels deep)."""
    from selfmm.testing import write_fake_run

    root = tmp_path_factory.mktemp("compare_runs")
    write_fake_run(root / "solo", n=(30, 10, 10), epochs=3, seed=5, representation_epochs=())
    for variant in ("ulgm", "human"):
        for seed in (1, 2):
            d = write_fake_run(
                root / "exp" / variant / f"seed_{seed}", n=(30, 10, 10), epochs=3, seed=seed, representation_epochs=()
            )
            _tag_experiment(d, "exp", variant, seed)
    (root / "exp" / "results.csv").write_text(
        "variant,metric,mean,std,n\nulgm,MAE,0.43,0.01,2\nhuman,MAE,0.41,0.02,2\n", encoding="utf-8"
    )
    return root


@pytest.mark.timeout(60)
def test_functions_on_real_run_folders(exp_root):
    from selfmm.runs.reader import RunReader

    runs = C.discover_runs(exp_root)
    assert len(runs) == 5 and runs["error"].isna().all()
    members = C.experiment_members(runs, "exp/ulgm/seed_1")
    assert members == ["exp/human/seed_1", "exp/human/seed_2", "exp/ulgm/seed_1", "exp/ulgm/seed_2"]
    readers = {lab: RunReader(exp_root / lab) for lab in members}
    tab = C.metric_table(readers)
    assert tab["best_epoch"].notna().all() and tab["epochs"].tolist() == [3, 3, 3, 3]
    assert any(c.startswith("test/") for c in tab.columns)
    # the same run against itself: perfect agreement; two seeds: same samples matched by id
    a = C.final_labels(readers["exp/ulgm/seed_1"])
    assert a.attrs["epoch"] == 3 and len(a) == 30
    same = C.label_agreement(C.label_pairs(a, a))
    assert same["mean_abs_diff"].tolist() == [0.0, 0.0, 0.0]
    assert same["pearson_r"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    b = C.final_labels(readers["exp/ulgm/seed_2"])
    p = C.label_pairs(a, b)
    assert p["sample_id"].tolist() == a["sample_id"].tolist()
    mad = np.mean(np.abs(a["label_T"].to_numpy(np.float64) - b["label_T"].to_numpy(np.float64)))
    assert C.label_agreement(p).set_index("modality").loc["T", "mean_abs_diff"] == pytest.approx(mad)
    cur = C.curves_long({k: r.metrics() for k, r in readers.items()}, "loss", "valid")
    assert cur.groupby("run").size().tolist() == [3, 3, 3, 3]
    assert C.experiment_dir(exp_root / "exp/ulgm/seed_1", readers["exp/ulgm/seed_1"].manifest) == exp_root / "exp"


def _app(root: Path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=30)
    at.session_state["runs_root"] = str(root)
    return at


@pytest.mark.timeout(120)
def test_compare_page_apptest(exp_root):
    at = _app(exp_root)
    at.run()
    assert not at.exception
    # the sidebar lists the experiment's nested runs too (one discovery for the picker and this page)
    opts = {o.rsplit(" (", 1)[0] for o in at.selectbox(key="run_id").options}  # shown as "<key> (<status>)"
    assert opts == {"solo", "exp/ulgm/seed_1", "exp/ulgm/seed_2", "exp/human/seed_1", "exp/human/seed_2"}
    at.selectbox(key="run_id").select("solo").run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert at.title[0].value == "Compare runs"
    # the sidebar picked a flat run; the page defaults to it alone and asks for a second run
    ms = at.multiselect(key="compare_runs")
    assert ms.value == ["solo"]
    assert any("Select a second run" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) >= 1

    # the four runs of the experiment: metric table with four rows, curves, the A-vs-B scatter and results
    ms.set_value(["exp/ulgm/seed_1", "exp/ulgm/seed_2", "exp/human/seed_1", "exp/human/seed_2"]).run()
    assert not at.exception
    tables = at.dataframe
    assert tables[0].value["run"].tolist() == ["exp/ulgm/seed_1", "exp/ulgm/seed_2", "exp/human/seed_1",
                                               "exp/human/seed_2"]  # fmt: skip
    assert at.selectbox(key="compare_run_a").value == "exp/ulgm/seed_1"
    assert at.selectbox(key="compare_run_b").value == "exp/ulgm/seed_2"
    assert len(at.get("plotly_chart")) == 3  # valid loss, metric curve, label scatter
    stats = tables[1].value
    assert stats["modality"].tolist() == ["T", "A", "V"] and (stats["n"] == 30).all()
    wide = tables[-1].value
    assert wide["variant"].tolist() == ["ulgm", "human"] and wide["MAE"].tolist() == ["0.4300 ± 0.0100",
                                                                                    "0.4100 ± 0.0200"]  # fmt: skip
    assert any("exp" in m.value and "results.csv" in m.value for m in at.markdown)

    # run B = run A: the page's agreement table says identical labels
    at.selectbox(key="compare_run_b").set_value("exp/ulgm/seed_1").run()
    assert not at.exception
    assert at.dataframe[1].value["mean_abs_diff"].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.timeout(120)
def test_compare_page_pairwise_matrix_is_opt_in(exp_root):
    at = _app(exp_root)
    at.session_state["run_id"] = "exp/ulgm/seed_1"
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and len(at.multiselect(key="compare_runs").value) == 4  # the experiment
    n_tables = len(at.dataframe)
    assert at.toggle(key="compare_pairwise").value is False
    at.toggle(key="compare_pairwise").set_value(True).run()
    assert not at.exception and len(at.dataframe) == n_tables + 1
    mat = next(t.value for t in at.dataframe if t.value.shape == (4, 4))
    assert np.allclose(np.diag(mat.to_numpy(float)), 1.0)


@pytest.mark.timeout(60)
def test_compare_page_empty_root(tmp_path):
    at = _app(tmp_path)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert any("No runs found" in i.value for i in at.info)
