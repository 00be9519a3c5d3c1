"""dashboard.data on a hand-built run whose every value is known (4 train, 2 valid, 2 test samples, 2 epochs)."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import data
from selfmm import analysis as A
from selfmm.runs.writer import RunWriter

Y_M = [0.8, -0.6, 0.0, 0.4]
HUMAN = {"T": [0.6, 0.4, 0.0, -0.2], "A": [0.8, -0.6, 0.2, 0.4], "V": [1.0, -0.8, 0.0, 0.4]}
# generated labels at the end of epochs 1 and 2 (epoch 0 = y_m)
GEN = {
    1: {"T": [0.7, -0.5, 0.05, 0.3], "A": [0.8, -0.6, 0.0, 0.4], "V": [0.9, -0.7, 0.0, 0.5]},
    2: {"T": [0.5, 0.2, -0.2, 0.2], "A": [0.8, -0.6, 0.3, 0.4], "V": [1.0, -0.8, 0.0, 0.6]},
}
W = {e: {m: list(np.tanh(np.abs(np.subtract(GEN[e][m], Y_M)))) for m in "TAV"} for e in (1, 2)}


def build_small_run(run_dir: Path, *, status: str = "finished", human: bool = True, epochs: int = 2) -> Path:
    """Write the hand-built run with selfmm.runs.writer.RunWriter."""
    ids = {"train": [f"tr{i}" for i in range(4)], "valid": ["va0", "va1"], "test": ["te0", "te1"]}
    rows = []
    for split, lst in ids.items():
        for i, sid in enumerate(lst):
            ym = Y_M[i] if split == "train" else [0.6, -0.4][i]
            row = {"sample_id": sid, "split": split, "index": i, "raw_text": f"text of {sid}", "y_m": ym}
            if human:
                for m in "TAV":
                    row[f"y_{m}"] = HUMAN[m][i] if split == "train" else [0.4, 0.2][i]
            rows.append(row)
    w = RunWriter(run_dir)
    ds = {"name": "sims", "n_train": 4, "n_valid": 2, "n_test": 2, "has_human_unimodal": human, "label_range": 1.0}
    w.start(config={"dataset": "sims", "seed": 1}, dataset=ds, samples=pd.DataFrame(rows), env={}, git={})
    lab0 = {"sample_id": ids["train"], "index": range(4)}
    lab0.update({f"label_{m}": Y_M for m in "TAV"} | {f"weight_{m}": [0.0] * 4 for m in "TAV"})
    w.write_epoch(0, labels=pd.DataFrame(lab0), predictions=None, centers=None, representations=None, metrics=[])
    w.commit_epoch(0)
    for e in range(1, epochs + 1):
        lab = {"sample_id": ids["train"], "index": range(4)}
        lab.update({f"label_{m}": GEN[e][m] for m in "TAV"} | {f"weight_{m}": W[e][m] for m in "TAV"})
        prow = []
        for split, lst in ids.items():
            for i, sid in enumerate(lst):
                # pred_M = 0.1 * epoch + index / 10; unimodal heads: +0.01/+0.02/+0.03 on top
                p = 0.1 * e + i / 10
                prow.append({"split": split, "sample_id": sid, "index": i, "pred_M": p, "pred_T": p + 0.01,
                             "pred_A": p + 0.02, "pred_V": p + 0.03})  # fmt: skip
        metrics = [
            {"split": "train", "loss": 1.0 / e, "loss_M": 0.5 / e, "loss_T": 0.1, "loss_A": 0.2, "loss_V": 0.3,
             "pred_M/MAE": 0.5 / e},
            {"split": "valid", "loss": 0.4 / e, "pred_M/MAE": 0.4 / e, "pred_T/MAE": 0.6},
        ]  # fmt: skip
        w.write_epoch(e, labels=pd.DataFrame(lab), predictions=pd.DataFrame(prow), centers=None,
                      representations=None, metrics=metrics)  # fmt: skip
        w.commit_epoch(e, best={"epoch": e, "valid_loss": 0.4 / e})
    if status != "running":
        w.finish(status, test={"MAE": 0.25, "Corr": 0.5})
    return run_dir


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return data.load_run(build_small_run(tmp_path_factory.mktemp("runs") / "small"))


def test_runs_root_resolution(tmp_path):
    assert data.runs_root_from(["--runs", "/x/y"], {"SELFMM_RUNS_DIR": "/env"}) == Path("/x/y")
    assert data.runs_root_from(["--runs=/x/z"], {}) == Path("/x/z")
    assert data.runs_root_from([], {"SELFMM_RUNS_DIR": "/env"}) == Path("/env")
    assert data.runs_root_from([], {}) == data.REPO_ROOT / "checkpoints"


def test_list_runs_and_default(tmp_path):
    assert len(data.list_runs(tmp_path / "missing")) == 0
    assert data.pick_default_run(data.list_runs(tmp_path)) is None
    build_small_run(tmp_path / "older")
    build_small_run(tmp_path / "grp" / "newer")
    build_small_run(tmp_path / "exp" / "ulgm" / "seed_1")  # an experiment run, three levels down
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    runs = data.list_runs(tmp_path)
    assert set(runs["key"]) == {"older", "grp/newer", "exp/ulgm/seed_1", "broken"}
    assert runs.loc[runs["key"] == "exp/ulgm/seed_1", "run_dir"].item() == str((tmp_path / "exp/ulgm/seed_1").resolve())
    assert runs.loc[runs["key"] == "broken", "status"].item() == "broken"
    assert "corrupt" in runs.loc[runs["key"] == "broken", "error"].item()
    assert data.pick_default_run(runs) == runs["key"].iloc[0]
    build_small_run(tmp_path / "demo-sims")  # outside the shipped checkpoints/ a demo-sims is an ordinary run
    runs = data.list_runs(tmp_path)
    assert data.pick_default_run(runs) == runs.loc[runs["status"] != "broken", "key"].iloc[0]


def test_load_run_pivots(small_run):
    r = small_run
    assert r.status == "finished" and r.epochs == [0, 1, 2] and r.has_human
    assert list(r.label_epochs) == [0, 1, 2] and list(r.pred_epochs) == [1, 2]
    np.testing.assert_allclose(r.gen["T"][:, 0], Y_M, atol=1e-6)
    np.testing.assert_allclose(r.gen["T"][:, 2], GEN[2]["T"], atol=1e-6)
    np.testing.assert_allclose(r.weight["V"][:, 1], W[1]["V"], atol=1e-6)
    # valid predictions: row = index, column = prediction epoch
    np.testing.assert_allclose(r.pred["valid"]["M"], [[0.1, 0.2], [0.2, 0.3]], atol=1e-6)
    assert r.best_epoch == 2


def test_sample_table_values(small_run):
    t = data.sample_table(small_run, 2)
    assert len(t) == 8 and list(t["split"].unique()) == ["train", "valid", "test"]
    tr1 = t.loc["tr1"]
    assert tr1["gen_T"] == pytest.approx(0.2) and tr1["y_T"] == pytest.approx(0.4)
    assert tr1["pred_M"] == pytest.approx(0.3) and tr1["err_M"] == pytest.approx(0.9)
    # |gen - y_m| max over T/A/V for tr1: T 0.8, A 0, V 0.2
    assert tr1["gen_ym_max"] == pytest.approx(0.8)
    # |gen - human| for tr1: T 0.2, A 0, V 0 -> 0.2
    assert tr1["gen_human_max"] == pytest.approx(0.2)
    # polarity of T for tr1 across epochs: neg (y_m -0.6), neg (-0.5), pos (0.2) -> 1 flip; A, V never flip
    assert tr1["sign_flips"] == 1 and tr1["sign_flips_T"] == 1 and tr1["settle_epoch_T"] == 2
    # tr2 T: neutral 0 -> neutral 0.05 -> negative -0.2; A: neutral -> positive 0.3: no reversal, no flip
    assert t.loc["tr2", "sign_flips"] == 0
    assert pd.isna(t.loc["va0", "sign_flips"]) and t.loc["va0", "gen_conflict"] == "n/a"
    # human conflicts: tr1: T=+0.4 vs M=-0.6 (strong), A/V agree -> "T"/strong; tr3: T -0.2 vs +0.4 -> "T" strong
    assert (t.loc["tr1", "human_conflict"], t.loc["tr1", "human_strength"]) == ("T", "strong")
    assert (t.loc["tr2", "human_conflict"], t.loc["tr2", "human_strength"]) == ("A", "weak")
    assert t.loc["tr0", "human_conflict"] == "none"
    assert t.loc["tr2", "gen_conflict"] == "T+A"  # gen T -0.2 (neg), A 0.3 (pos) vs M 0.0 (neutral)
    assert np.isnan(t.loc["va0", "gen_T"]) and t.loc["va0", "pred_T"] == pytest.approx(0.21)
    t1 = data.sample_table(small_run, 1)
    assert t1.loc["tr1", "gen_T"] == pytest.approx(-0.5) and t1.loc["tr1", "pred_M"] == pytest.approx(0.2)
    # epoch 0 has no predictions: nearest prediction epoch (1) is used
    assert data.sample_table(small_run, 0).loc["tr0", "gen_T"] == pytest.approx(0.8)


def test_filter_samples(small_run):
    t = data.sample_table(small_run, 2)
    f = data.filter_samples
    assert list(f(t, data.SampleFilter(splits=("valid",)))["sample_id"]) == ["va0", "va1"]
    assert list(f(t, data.SampleFilter(ranges={"y_m": (0.3, 1.0)}))["sample_id"]) == ["tr0", "tr3", "va0", "te0"]
    assert list(f(t, data.SampleFilter(min_gen_ym=0.5))["sample_id"]) == ["tr1"]
    assert list(f(t, data.SampleFilter(sign_flips_only=True))["sample_id"]) == ["tr1"]
    assert list(f(t, data.SampleFilter(human_conflict=("A",)))["sample_id"]) == ["tr2"]
    assert list(f(t, data.SampleFilter(text="OF TE1"))["sample_id"]) == ["te1"]
    assert list(f(t, data.SampleFilter(ids=("tr3", "va1"), splits=("train",)))["sample_id"]) == ["tr3"]
    assert data.csv_bytes(f(t, data.SampleFilter(splits=("test",)))).decode().count("\n") == 3
    # CSV round trip: quotes and commas in the text, <NA> flips outside train, values as shown
    odd = t.copy()
    odd.loc["te0", "raw_text"] = 'say "no", then 3'
    back = pd.read_csv(io.BytesIO(data.csv_bytes(odd)), keep_default_na=False, na_values=[""])
    assert list(back.columns) == list(t.columns) and back.loc[6, "raw_text"] == 'say "no", then 3'
    assert (
        back.loc[1, "sign_flips"] == 1 and np.isnan(back.loc[6, "sign_flips"]) and back.loc[6, "gen_conflict"] == "n/a"
    )
    assert back.loc[1, "gen_T"] == pytest.approx(0.2) and back.loc[2, "gen_conflict"] == "T+A"


def test_sample_detail(small_run):
    d = data.sample_detail(small_run, "tr1")
    assert d["info"]["raw_text"] == "text of tr1" and d["info"]["y_V"] == pytest.approx(-0.8)
    np.testing.assert_allclose(d["labels"]["gen_T"], [-0.6, -0.5, 0.2], atol=1e-6)
    np.testing.assert_allclose(d["labels"]["w_A"], [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(d["predictions"]["pred_V"], [0.23, 0.33], atol=1e-6)
    v = data.sample_detail(small_run, "te1")
    assert len(v["labels"]) == 0 and list(v["predictions"]["epoch"]) == [1, 2]
    with pytest.raises(KeyError):
        data.sample_detail(small_run, "nope")


def test_dynamics(small_run):
    q = data.label_quantiles(small_run)
    t2 = q[(q["modality"] == "T") & (q["epoch"] == 2)].iloc[0]
    assert t2["min"] == pytest.approx(-0.2) and t2["max"] == pytest.approx(0.5)
    assert t2["median"] == pytest.approx(0.2) and t2["mean"] == pytest.approx(0.175)
    d = data.label_drift(small_run)
    t = d[d["modality"] == "T"].set_index("epoch")["mean_abs_diff"]
    # epoch 1: |0.7-0.8|,|-0.5+0.6|,|0.05|,|0.3-0.4| -> mean 0.0875; epoch 2: 0.3,0.8,0.2,0.2 -> 0.375
    assert t[0] == pytest.approx(0) and t[1] == pytest.approx(0.0875) and t[2] == pytest.approx(0.375)
    c = data.cartography(small_run, "T")
    assert c.loc["tr1", "mean"] == pytest.approx(-0.15) and c.loc["tr1", "variability"] == pytest.approx(0.35)
    assert c.loc["tr1", "final"] == pytest.approx(0.2) and c.loc["tr1", "human"] == pytest.approx(0.4)


def test_gen_vs_human(small_run):
    g = data.gen_vs_human_by_epoch(small_run)
    a2 = g[(g["modality"] == "A") & (g["epoch"] == 2)].iloc[0]
    # A at epoch 2 vs human A: differences 0, 0, 0.1, 0 -> MAE 0.025; polarity all equal
    assert a2["mae"] == pytest.approx(0.025) and a2["acc_3"] == 1.0 and a2["n"] == 4
    t1 = g[(g["modality"] == "T") & (g["epoch"] == 1)].iloc[0]
    expected_r = np.corrcoef(GEN[1]["T"], HUMAN["T"])[0, 1]
    assert t1["pearson_r"] == pytest.approx(expected_r, abs=1e-5)
    # T polarity at epoch 1: gen (+,-,0,+) vs human (+,+,0,-) -> 2 of 4 agree; 2-class (0.05 > 0, 0 <= 0): 1 of 4
    assert t1["acc_3"] == pytest.approx(0.5) and t1["acc_2"] == pytest.approx(0.25)
    h = data.heads_vs_human_by_epoch(small_run, "valid")
    # valid: human T = [0.4, 0.2]; pred_T at epoch 1 = [0.11, 0.21] -> MAE (0.29 + 0.01)/2
    assert h[(h["modality"] == "T") & (h["epoch"] == 1)]["mae"].item() == pytest.approx(0.15, abs=1e-6)
    cm = data.confusion3(np.array(HUMAN["T"]), np.array(GEN[1]["T"]))
    assert cm.loc["positive", "positive"] == 1 and cm.loc["positive", "negative"] == 1
    assert cm.loc["neutral", "neutral"] == 1 and cm.loc["negative", "positive"] == 1 and cm.to_numpy().sum() == 4


def test_conflicts(small_run):
    t = data.sample_table(small_run, 2)
    counts = data.conflict_counts(t).set_index("category")
    # human: tr0 none, tr1 T, tr2 A, tr3 T; generated at epoch 2: tr0 none, tr1 T, tr2 T+A, tr3 none
    assert counts.loc["T", "human"] == 2 and counts.loc["T", "generated"] == 1
    assert counts.loc["none", "generated"] == 2 and counts.loc["T+A", "generated"] == 1
    assert counts.loc["T+A+V", "human"] == 0 and list(counts.index) == list(A.CATEGORIES)  # every category listed
    cm = data.conflict_confusion(t)
    assert cm.loc["T", "T"] == 1 and cm.loc["T", "none"] == 1 and cm.loc["A", "T+A"] == 1
    out = data.conflict_outcomes(t).set_index(["sample_id", "modality"])["outcome"]
    assert out[("tr1", "T")] == "recovered"  # human +0.4, generated +0.2, M -0.6
    assert out[("tr3", "T")] == "missed"  # human -0.2 (neg), generated 0.2 (pos) = M's polarity
    assert out[("tr2", "A")] == "recovered"  # human 0.2, generated 0.3, M 0
    assert out[("tr2", "T")] == "spurious"  # human T 0 agrees with M 0, generated -0.2
    assert len(out) == 4


def test_curves_and_overview_tables(small_run):
    c = data.curves_frame(small_run.metrics, "MAE")
    m = c[c["head"] == "M"]
    assert list(m[m["split"] == "valid"]["value"]) == pytest.approx([0.4, 0.2])
    assert list(c[c["head"] == "T"]["split"]) == ["valid", "valid"]
    loss = data.curves_frame(small_run.metrics, "loss")
    assert set(loss["head"]) == {"total", "M", "T", "A", "V"}
    assert data.metric_names(small_run.metrics) == ["loss", "MAE"]
    tm = data.test_metrics_table(small_run).set_index("metric")["value"]
    assert tm["MAE"] == 0.25 and tm["Corr"] == 0.5
    s = data.manifest_summary(small_run).set_index("field")["value"]
    assert s["status"] == "finished" and s["best epoch (valid loss)"] == "2"


def test_projections_and_selection(tmp_path):
    from selfmm.testing import write_fake_run

    run_dir = write_fake_run(tmp_path / "f", n=(8, 4, 4), epochs=2, representation_epochs=(1, 2))
    run = data.load_run(run_dir)
    proj = data.load_projections(run_dir)
    table = data.sample_table(run, 2)
    view = data.projection_view(proj, table, 2, "T", "y_m")
    assert len(view) == 16 and set(view["split"]) == {"train", "valid", "test"}
    sid = view["sample_id"].iloc[3]
    assert view["color"].iloc[3] == pytest.approx(table.loc[sid, "y_m"])
    pos = data.sample_positions(data.index_projections(proj), sid, 2)
    assert set(pos["modality"]) == {"M", "T", "A", "V", "all"}
    row = proj[(proj["epoch"] == 2) & (proj["modality"] == "T") & (proj["sample_id"] == sid)]
    assert pos.set_index("modality").loc["T", "x"] == pytest.approx(row["x"].item())
    event = {"selection": {"points": [{"customdata": ["a"]}, {"customdata": ["b"]}, {"customdata": ["a"]}]}}
    assert data.selected_ids(event) == ["a", "b"]
    assert data.selected_ids({"selection": {"points": []}}) == []


def test_errors_are_messages(tmp_path):
    with pytest.raises(data.DashboardDataError, match="no run.json"):
        data.load_run(tmp_path)
    d = build_small_run(tmp_path / "r")
    (d / "run.json").write_text("{oops")
    with pytest.raises(data.DashboardDataError, match="corrupt"):
        data.load_run(d)
    d2 = build_small_run(tmp_path / "r2")
    (d2 / "labels" / "epoch_0001.parquet").write_bytes(b"garbage")
    with pytest.raises(data.DashboardDataError, match="epoch_0001.parquet"):
        data.load_run(d2)


def test_running_and_older_schema(tmp_path):
    import json

    r = data.load_run(build_small_run(tmp_path / "live", status="running", epochs=1))
    assert r.status == "running" and r.epochs == [0, 1] and list(r.pred_epochs) == [1]
    d = build_small_run(tmp_path / "old", human=False)
    m = json.loads((d / "run.json").read_text())
    m["schema_version"] = 0
    (d / "run.json").write_text(json.dumps(m))
    old = data.load_run(d)
    assert old.warnings and "schema_version 0" in old.warnings[0]
    assert not old.has_human and len(data.gen_vs_human_by_epoch(old)) == 0
    assert "human_conflict" not in data.sample_table(old).columns


def test_sample_table_derived_columns_hand_values(small_run):
    """Every derived column of the per-sample table, for tr2 at epoch 2, against values computed by hand.

    tr2: y_m 0.0; human T 0.0, A 0.2, V 0.0; generated T 0.0 -> 0.05 -> -0.2, A 0.0 -> 0.0 -> 0.3, V 0.0 throughout.
    """
    t = data.sample_table(small_run, 2)
    tr2 = t.loc["tr2"]
    expected = {
        "gen_minus_ym_T": -0.2, "gen_minus_ym_A": 0.3, "gen_minus_ym_V": 0.0, "gen_ym_max": 0.3,
        "abs_err_T": 0.2, "abs_err_A": 0.1, "abs_err_V": 0.0, "gen_human_max": 0.2,
        "w_T": np.tanh(0.2), "w_A": np.tanh(0.3), "w_V": 0.0, "pred_A": 0.42,  # pred = 0.1 * 2 + 2 / 10 + 0.02
    }  # fmt: skip
    for c, v in expected.items():
        assert tr2[c] == pytest.approx(v, abs=1e-6), c
    # T settles at epoch 2 (0.05 is 0.25 from -0.2), A at 2, V at 0; neutral -> negative/positive is no flip
    assert [tr2[f"settle_epoch_{m}"] for m in "TAV"] == [2, 2, 0]
    assert [tr2[f"sign_flips_{m}"] for m in "TAV"] == [0, 0, 0] and tr2["sign_flips"] == 0
    # T negative and A positive against a neutral y_m: weak; human A 0.2 against 0.0: weak
    assert (tr2["gen_conflict"], tr2["gen_strength"]) == ("T+A", "weak") and tr2["human_strength"] == "weak"
    derived = {f"gen_minus_ym_{m}" for m in "TAV"} | {f"abs_err_{m}" for m in "TAV"}
    derived |= {f"sign_flips_{m}" for m in "TAV"} | {f"settle_epoch_{m}" for m in "TAV"}
    derived |= {"gen_ym_max", "gen_human_max", "gen_conflict", "gen_strength", "human_conflict", "human_strength"}
    assert derived | {"sign_flips"} <= set(
        t.columns
    )  # the 19 derived columns, each checked above or in test_sample_table_values


def test_sorting_strength_counts_and_colour_choices(small_run):
    table = data.sample_table(small_run, 2)
    assert data.sort_samples(table, data.SORT_DEFAULT) is table
    got = data.sort_samples(table, "gen_T", descending=True)["sample_id"].tolist()
    # gen_T at epoch 2 = 0.5, 0.2, -0.2, 0.2 (tr0..tr3); ties keep their order; no generated label (NaN) last
    assert got == ["tr0", "tr1", "tr3", "tr2", "va0", "va1", "te0", "te1"]
    got = data.sort_samples(table, "gen_T")["sample_id"].tolist()
    assert got == ["tr2", "tr1", "tr3", "tr0", "va0", "va1", "te0", "te1"]
    assert data.sort_choices(table)[0] == data.SORT_DEFAULT and "raw_text" not in data.sort_choices(table)
    # csv keeps the sorted order
    csv = pd.read_csv(io.BytesIO(data.csv_bytes(data.sort_samples(table, "gen_T", True))))
    assert csv["sample_id"].tolist()[:4] == ["tr0", "tr1", "tr3", "tr2"]

    # strength: human tr0 none, tr1 strong (T +0.4 vs M -0.6), tr2 weak, tr3 strong (T -0.2 vs M +0.4);
    # generated at epoch 2: tr0 none, tr1 strong (T +0.2 vs -0.6), tr2 weak (T -0.2, A +0.3 vs 0.0), tr3 none
    sc = data.conflict_strength_counts(table)
    assert sc.to_dict("list") == {"strength": ["none", "weak", "strong"], "human": [1, 1, 2], "generated": [2, 1, 1]}

    choices = data.color_choices(table)
    assert choices[:3] == ["split", "y_m", "y_T"] and "sign_flips" in choices and "settle_epoch_T" in choices
    assert not {"sample_id", "index", "raw_text"} & set(choices)
    proj = pd.DataFrame({"epoch": 2, "modality": "T", "sample_id": ["tr1", "va0"], "split": ["train", "valid"],
                         "x": [0.0, 1.0], "y": [1.0, 0.0]})  # fmt: skip
    v = data.projection_view(proj, table, 2, "T", "sign_flips")  # nullable Int64 with <NA> outside train
    assert v["color"].dtype == np.float64 and v["color"].iloc[0] == table.loc["tr1", "sign_flips"]
    assert np.isnan(v["color"].iloc[1])


def test_weight_vs_error_pairs_each_weight_with_the_labels_it_came_from():
    """On the shipped demo run, w_T at epoch e is tanh|gen_T(e-1) - y_m| (the ULGM updates each label once per epoch,
    after the sample's batch), not tanh|gen_T(e) - y_m|; the weight-vs-error chart must use gen(e-1)'s error."""
    from dashboard import weights as W

    run = data.load_run(str(Path(__file__).resolve().parent.parent / "checkpoints" / "demo-sims"))
    t3, t2 = data.sample_table(run, 3), data.sample_table(run, 2)
    tr3 = t3[t3["split"] == "train"]
    prev = tr3["sample_id"].map(t2[t2["split"] == "train"].set_index("sample_id")["gen_T"]).to_numpy(float)
    y_m, w = tr3["y_m"].to_numpy(float), tr3["w_T"].to_numpy(float)
    assert np.abs(np.tanh(np.abs(prev - y_m)) - w).max() < 1e-6
    assert np.abs(np.tanh(np.abs(tr3["gen_T"].to_numpy(float) - y_m)) - w).max() > 0.1  # same-epoch: wrong pairing
    x = np.asarray(W.weight_vs_error_chart(t3, "T", t2).data[0].x, float)
    assert np.allclose(x, np.abs(prev - tr3["y_T"].to_numpy(float)))


def _fingerprint(run: data.RunData) -> list:
    """Every array, frame and dict of a RunData, copied: what a shared (st.cache_resource) run must keep."""
    import copy

    return [copy.deepcopy(getattr(run, f)) for f in ("manifest", "metrics", "samples", "label_epochs", "gen",
                                                       "weight", "pred_epochs", "pred", "warnings", "epochs")]  # fmt: skip


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return a == b


def test_no_page_function_mutates_the_shared_run(tmp_path):
    """cache.run_data hands every page the same RunData (st.cache_resource, no copy): every data function the
    pages call on it, and the table functions they apply to its sample table, leave it as loaded."""
    run = data.load_run(build_small_run(tmp_path / "r"))
    before = _fingerprint(run)
    for fn in (
        data.manifest_summary,
        data.config_table,
        data.test_metrics_table,
        data.no_test_metrics_message,
        data.no_representations_message,
        data.label_quantiles,
        data.label_drift,
        data.gen_vs_human_by_epoch,
    ):
        fn(run)  # fmt: skip
    for split in data.SPLITS:
        data.heads_vs_human_by_epoch(run, split)
        data.ym_vs_human(run, split)
    for m in ("T", "A", "V"):
        data.cartography(run, m)
    for epoch in (None, *map(int, run.label_epochs)):
        t = data.sample_table(run, epoch)
        t = data.filter_samples(t, data.SampleFilter(min_gen_ym=0.0))
        data.sort_samples(t, "gen_T", descending=True)
        data.conflict_counts(t), data.conflict_confusion(t), data.conflict_outcomes(t), data.csv_bytes(t)
        t.loc[:, "gen_T"] = 99.0  # a page that edits its (cached) table copy must not reach the run
    for sid in run.samples.index:
        data.sample_detail(run, sid)
    after = _fingerprint(run)
    assert all(_same(a, b) for a, b in zip(before, after, strict=True))
