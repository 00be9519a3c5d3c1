"""Issue 11: the dashboard as a researcher uses it (AppTests and pure functions; the browser half is in
tests/test_browser.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import compare as C
from selfmm.testing import write_fake_run

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
pytestmark = pytest.mark.timeout(180)


def _set_data(run_dir: Path, sha: str | None, name: str = "sims") -> None:
    p = Path(run_dir) / "run.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["dataset"]["sha256"], m["dataset"]["name"] = sha, name
    p.write_text(json.dumps(m), encoding="utf-8")


def _app(root: Path, **session) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["runs_root"] = str(root)
    for k, v in session.items():
        at.session_state[k] = v
    return at


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


# ---- item 2: Compare refuses to match sample ids across dataset files ----------------------------------------


def test_pair_data_check_and_mismatch():
    a, b = {"dataset": {"name": "sims", "sha256": "a" * 64}}, {"dataset": {"name": "sims", "sha256": "b" * 64}}
    ok, why = C.pair_data_check(a, b)
    assert not ok and "different dataset files" in why and "aaaaaaaaaaaa" in why and "bbbbbbbbbbbb" in why
    assert C.pair_data_check(a, a) == (True, None)
    ok, why = C.pair_data_check(a, {"dataset": {"name": "sims"}})
    assert ok and "unverified" in why
    msg = C.data_mismatch({"r1": a, "r2": b, "r3": a})
    assert "r1, r3" in msg and "(r2)" in msg
    assert C.data_mismatch({"r1": a, "r3": a, "r4": {}}) is None


def test_compare_refuses_label_scatter_across_dataset_files(tmp_path):
    d1 = write_fake_run(tmp_path / "sims-a", n=(30, 10, 10), epochs=2, seed=1, representation_epochs=())
    d2 = write_fake_run(tmp_path / "sims-b", n=(30, 10, 10), epochs=2, seed=2, representation_epochs=())
    _set_data(d1, "1" * 64)
    _set_data(d2, "2" * 64)  # same name "sims", same ids, another file
    at = _app(tmp_path, run_id="sims-a").run()
    at.switch_page("app_pages/compare.py").run()
    at.multiselect(key="compare_runs").set_value(["sims-a", "sims-b"]).run()
    assert not at.exception
    w = texts(at.warning)
    assert "different dataset files" in w and "111111111111" in w and "222222222222" in w
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(at.get("plotly_chart")) == 2, keys  # the two curve charts, no A-vs-B scatter
    # same file: the scatter is back
    _set_data(d2, "1" * 64)
    at = _app(tmp_path, run_id="sims-a").run()
    at.switch_page("app_pages/compare.py").run()
    at.multiselect(key="compare_runs").set_value(["sims-a", "sims-b"]).run()
    assert not at.exception and "different dataset files" not in texts(at.warning)
    assert len(at.get("plotly_chart")) == 3


# ---- item 4: the sidebar follows the page in the same rerun --------------------------------------------------


def test_picker_status_follows_the_run_at_once(tmp_path):
    """A run that finishes while the dashboard is open is listed as finished on the next rerun (no 5 s lag)."""
    d = write_fake_run(tmp_path / "live", status="running", n=(20, 8, 8), epochs=4, seed=2)
    at = _app(tmp_path, run_id="live").run()
    assert "live (running)" in at.selectbox(key="run_id").options
    p = d / "run.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["status"] = "finished"
    p.write_text(json.dumps(m), encoding="utf-8")
    at.run()
    assert not at.exception
    assert "live (finished)" in at.selectbox(key="run_id").options


def test_sidebar_names_a_sample_opened_by_the_page(tmp_path):
    """A sample the page opens (here: a deep link) and a chart selection show in the sidebar in the same run."""
    write_fake_run(tmp_path / "r", n=(20, 8, 8), epochs=2, seed=1)
    at = _app(tmp_path, run_id="r", selected_ids=["video_0001$_$1", "video_0001$_$2"]).run()
    side = texts(at.sidebar.caption)
    assert "2 samples selected on a chart" in side
    at.sidebar.button(key="sidebar_clear_selection").click().run()
    assert at.session_state["selected_ids"] is None and "selected on a chart" not in texts(at.sidebar.caption)


# ---- item 5: the no-runs hint, run as printed, makes a run -------------------------------------------------


@pytest.mark.timeout(600)
def test_no_runs_hint_commands_run_as_printed(tmp_path):
    import shlex
    import subprocess
    import sys

    from dashboard import hints

    root = tmp_path / "runs"
    at = _app(root).run()
    assert not at.exception and "No runs found" in texts(at.info)
    shown = at.code[0].value
    assert shown == hints.first_run_text(root)  # the page prints exactly these commands
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(APP).parent.parent)}
    for cmd in hints.first_run_commands(root, tmp_path / "data" / "small.pkl"):
        argv = shlex.split(cmd)
        assert argv[0] == "python"
        r = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=540)  # fmt: skip
        assert r.returncode == 0, f"{cmd}\n{r.stderr[-2000:]}"
    at = _app(root).run()  # the dashboard now opens the new run
    assert not at.exception and at.session_state["run_id"] == "my-run"
    assert at.title[0].value == "Run overview"


# ---- item 6: the default run is the newest run --------------------------------------------------------------


def _set_created(run_dir: Path, when: str) -> None:
    p = Path(run_dir) / "run.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["created_at"] = when
    p.write_text(json.dumps(m), encoding="utf-8")


def test_default_run_is_the_newest(tmp_path):
    from dashboard import data

    _set_created(write_fake_run(tmp_path / "demo-sims", n=(20, 8, 8), epochs=2, seed=1), "2026-01-01T00:00:00+00:00")
    _set_created(write_fake_run(tmp_path / "fresh", n=(20, 8, 8), epochs=2, seed=2), "2026-06-01T00:00:00+00:00")
    _set_created(write_fake_run(tmp_path / "older", n=(20, 8, 8), epochs=2, seed=3), "2026-03-01T00:00:00+00:00")
    (tmp_path / "zz-broken").mkdir()
    (tmp_path / "zz-broken" / "run.json").write_text("{half")
    at = _app(tmp_path).run()
    assert not at.exception and at.session_state["run_id"] == "fresh" and at.query_params["run"] == "fresh"
    # the shipped demos are not the user's runs: in the repo's checkpoints/ a run the user trains there wins
    runs = data.list_runs(data.DEFAULT_RUNS_ROOT)
    assert data.pick_default_run(runs) == "demo-sims"
    mine = runs.iloc[[0]].assign(key="my-run", run_dir=str(data.DEFAULT_RUNS_ROOT.resolve() / "my-run"))
    assert data.pick_default_run(pd.concat([runs, mine], ignore_index=True)) == "my-run"


# ---- item 7: deep links carry the view ------------------------------------------------------------------------


def test_urlstate_round_trip_pure():
    from dashboard import urlstate as U

    values = {"run_id": "exp/a b", "sample_id": "video_0001$_$1", "epoch": 3, "selected_ids": ["x,1", "y&2"],
              "samples_splits": ["valid", "test"], "samples_range_y_m": (-0.5, 0.8), "samples_flips": True,
              "samples_gh": 0.25, "samples_text": "", "embeddings_color": None}  # fmt: skip
    enc = U.encode(values, U.params_of("samples"))
    assert enc["run"] == "exp/a b" and enc["samples_splits"] == ["valid", "test"] and enc["samples_flips"] == "1"
    assert "samples_text" not in enc and "embeddings_color" not in enc
    dec, notes = U.decode({k: v if isinstance(v, list) else [v] for k, v in enc.items()})
    assert notes == [] and dec == {k: v for k, v in values.items() if v not in ("", None)}
    dec, notes = U.decode({"epoch": ["two"], "samples_range_y_m": ["1,-1"], "utm_source": ["x"]})
    assert dec == {} and len(notes) == 2 and "epoch='two'" in notes[0]
    assert "selected_ids" not in U.encode({"selected_ids": ["a"] * (U.MAX_LIST + 1)}, ["selected_ids"])


def _fresh(root: Path, params: dict, page: str) -> AppTest:
    at = _app(root)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page)
    return at.run()


@pytest.fixture(scope="module")
def link_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    write_fake_run(root / "demo-sims", n=(30, 10, 10), epochs=4, representation_epochs=(1, 4))
    write_fake_run(root / "other", n=(20, 8, 8), epochs=2, seed=1)
    return root


def test_samples_link_restores_epoch_filters_and_sample(link_root):
    at = _app(link_root, run_id="demo-sims").run()
    at.switch_page("app_pages/samples.py").run()
    at.select_slider(key="samples_epoch").set_value(2).run()
    at.multiselect(key="samples_splits").set_value(["valid", "test"]).run()
    at.slider(key="samples_range_y_m").set_value((-0.5, 1.0)).run()
    at.selectbox(key="samples_sort").select("y_m").run()
    at.toggle(key="samples_sort_desc").set_value(True).run()
    at.session_state["sample_id"] = "video_0001$_$1"
    at.run()
    assert not at.exception
    params = {k: at.query_params.get_all(k) if hasattr(at.query_params, "get_all") else at.query_params[k]
              for k in at.query_params}  # fmt: skip
    count = [m.value for m in at.markdown if "samples match" in m.value]
    table = at.dataframe[0].value
    assert params["epoch"] in ("2", ["2"]) and "samples_splits" in params and "samples_range_y_m" in params
    # the link in a fresh session: the same epoch, filters, order, table and open sample
    at2 = _fresh(link_root, params, "app_pages/samples.py")
    assert not at2.exception and not at2.warning, texts(at2.warning)
    assert at2.session_state["run_id"] == "demo-sims" and at2.session_state["epoch"] == 2
    assert at2.select_slider(key="samples_epoch").value == 2
    assert at2.multiselect(key="samples_splits").value == ["valid", "test"]
    assert tuple(at2.slider(key="samples_range_y_m").value) == (-0.5, 1.0)
    assert [m.value for m in at2.markdown if "samples match" in m.value] == count
    assert at2.dataframe[0].value["sample_id"].tolist() == table["sample_id"].tolist()
    assert "Sample " in texts(at2.subheader) and at2.session_state["sample_id"] == "video_0001$_$1"


def test_embeddings_link_restores_modality_epoch_and_selection(link_root):
    at = _app(link_root, run_id="demo-sims").run()
    at.switch_page("app_pages/embeddings.py").run()
    at.selectbox(key="embeddings_modality").select("A").run()
    at.selectbox(key="embeddings_color").select("split").run()
    at.select_slider(key="embeddings_epoch").set_value(1).run()
    at.session_state["selected_ids"] = ["video_0001$_$1", "video_0001$_$2", "video_0002$_$1"]
    at.run()
    params = {k: at.query_params[k] for k in at.query_params}
    at2 = _fresh(link_root, params, "app_pages/embeddings.py")
    assert not at2.exception
    assert at2.selectbox(key="embeddings_modality").value == "A"
    assert at2.selectbox(key="embeddings_color").value == "split"
    assert at2.select_slider(key="embeddings_epoch").value == 1
    assert at2.session_state["selected_ids"] == ["video_0001$_$1", "video_0001$_$2", "video_0002$_$1"]
    assert "3 samples selected on a chart" in texts(at2.sidebar.caption)


def test_link_to_a_missing_run_says_so(link_root):
    at = _fresh(link_root, {"run": "gone/seed_1", "sample": "video_0001$_$1"}, "app_pages/samples.py")
    assert not at.exception
    w = texts(at.warning)
    assert "gone/seed_1" in w and "not in" in w
    assert at.session_state["run_id"] == "other" and at.session_state["sample_id"] is None  # the newest run
    at.selectbox(key="run_id").select("demo-sims").run()  # another pick: the note goes
    assert "gone/seed_1" not in texts(at.warning)


# ---- items 8 and 9: where representations come from; points that can be seen ---------------------------------


def _contrast_on_white(hex_color: str) -> float:
    """WCAG contrast ratio of a colour against white."""
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 1.05 / (lum + 0.05)


def test_embedding_scatter_star_on_top_scale_and_hover():
    from dashboard import charts

    view = pd.DataFrame({"sample_id": ["a", "b", "c"], "split": ["train", "valid", "test"], "x": [0.0, 1.0, 2.0],
                         "y": [1.0, 0.0, 1.0], "y_m": [0.0, -0.4, 0.8], "y_T": [0.2, -0.2, 1.0],
                         "color": [0.0, -0.4, 0.8]})  # fmt: skip
    fig = charts.embedding_scatter(view, "gen_T", "t", sample_id="b")
    star = fig.data[-1]
    assert star.type == "scattergl" and star.marker.symbol == "star" and list(star.x) == [1.0]
    assert all(t.type == "scattergl" for t in fig.data)  # WebGL over SVG: every layer in one canvas
    pts = fig.data[0]
    # 0 (the middle of the scale, common in SIMS) is visible on white; the old RdBu middle was white itself
    scale = {round(p, 2): c for p, c in pts.marker.colorscale}
    assert _contrast_on_white(scale[0.5]) >= 2.0 and pts.marker.cmin == -pts.marker.cmax
    # hover: id, split and the human labels; customdata[0] stays the id (selections read it)
    assert list(pts.customdata[1][:2]) == ["b", "valid"]
    for needle in ("%{customdata[0]}", "split %{customdata[1]}", "human M %{customdata[2]:+.2f}", "human T"):
        assert needle in pts.hovertemplate
    cat = charts.embedding_scatter(view.assign(color=view["split"]), "split", "t", sample_id="zz")
    assert all(t.marker.symbol != "star" for t in cat.data)  # an id not shown: no star


def test_embeddings_page_says_where_representations_come_from(link_root):
    at = _app(link_root, run_id="demo-sims", sample_id="video_0001$_$1").run()
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception
    cap = texts(at.caption)
    assert "training pass" in cap and "eval mode" in cap and "valid/test" in cap
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"symbol":"star"' in spec.replace(" ", "")  # the open sample is marked


# ---- item 12: y_m baseline, metric names, one number format, one best-epoch marker ---------------------------


def test_ym_baseline_metric_help_and_best_marker(link_root):
    import numpy as np

    from dashboard import charts, data
    from dashboard.metric_help import metric_help

    run = data.load_run(link_root / "demo-sims")
    base = data.ym_vs_human(run, "train")
    tr = run.split_frame("train")
    r = np.corrcoef(tr["y_m"], tr["y_T"])[0, 1]
    assert base.set_index("modality").loc["T", "pearson_r"] == pytest.approx(r)
    assert base.set_index("modality").loc["A", "mae"] == pytest.approx(np.mean(np.abs(tr["y_m"] - tr["y_A"])))
    fig = charts.agreement_chart(data.gen_vs_human_by_epoch(run), "pearson_r", "r", base)
    dotted = [t for t in fig.data if t.line.dash == "dot"]
    assert [t.name for t in dotted] == ["y_m as T label", "y_m as A label", "y_m as V label"]
    assert list(dotted[0].y) == pytest.approx([r, r])
    # generated labels start as y_m: at epoch 0 each modality's curve sits on its baseline
    gvh = data.gen_vs_human_by_epoch(run)
    assert gvh[gvh["epoch"] == 0].set_index("modality")["pearson_r"].loc["T"] == pytest.approx(r)
    assert "non-positive" in metric_help("Mult_acc_2", "sims") and "weighted F1" in metric_help("F1_score", "sims")
    assert metric_help("Mult_acc_5", "sims") != metric_help("Mult_acc_5", "mosi")
    assert metric_help("pred_M/MAE", "mosei").startswith("mean absolute error") and metric_help("zzz") == ""
    curves = data.curves_frame(run.metrics, "MAE")
    shapes = charts.training_curves(curves, "MAE", 2).to_dict()["layout"]["shapes"]
    assert shapes and all(s["line"]["dash"] == charts.BEST["line_dash"] and s["x0"] == 2 for s in shapes)


def test_overview_explains_metrics_and_human_page_draws_baselines(link_root):
    at = _app(link_root, run_id="demo-sims").run()
    assert not at.exception
    tm = next(d.value for d in at.dataframe if "meaning" in d.value.columns)
    assert "non-positive" in " ".join(tm["meaning"])
    assert any("MAE: mean absolute error" in c.value for c in at.caption)
    at.switch_page("app_pages/human.py").run()
    assert not at.exception
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert specs.count("y_m as T label") >= 6  # three generated-label charts, three head charts


# ---- item 13: figure export (SVG/PDF through kaleido) and the data behind every chart -------------------------


def test_figure_data_is_what_is_drawn(link_root):
    import numpy as np

    from dashboard import charts, data, export

    run = data.load_run(link_root / "demo-sims")
    curves = data.curves_frame(run.metrics, "MAE")
    df = export.figure_data(charts.training_curves(curves, "MAE", 2))
    assert len(df) == len(curves)  # one row per drawn point, the panel named with the split
    assert set(df["trace"]) == {f"{charts.MOD_NAMES.get(h, h)}: {s}" for h, s in zip(curves["head"], curves["split"])}
    got = df.set_index(["trace", "x"])["y"].astype(float)
    row = curves.iloc[0]
    assert got.loc[
        (f"{charts.MOD_NAMES.get(row['head'], row['head'])}: {row['split']}", row["epoch"])
    ] == pytest.approx(row["value"])
    cm = data.conflict_confusion(data.sample_table(run, None))
    hm = export.figure_data(charts.confusion_heatmap(cm, "t", "g", "h"))
    assert len(hm) == cm.size and hm["z"].astype(int).sum() == int(cm.to_numpy().sum())
    view = pd.DataFrame({"sample_id": ["a", "b"], "split": ["train", "test"], "x": [0.0, 1.0], "y": [1.0, 0.0],
                         "color": [0.5, -0.5]})  # fmt: skip
    sc = export.figure_data(charts.embedding_scatter(view, "gen_T", "t"))
    assert sc["customdata_0"].tolist() == ["a", "b"] and np.allclose(sc["color"].astype(float), [0.5, -0.5])
    assert export.figure_csv(charts.embedding_scatter(view, "gen_T", "t")).startswith(b"trace,x,y,customdata_0")


@pytest.mark.timeout(240)
def test_figure_image_svg_and_pdf():
    import plotly.graph_objects as go

    from dashboard import export

    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="curve")).update_layout(title="export me")
    svg = export.figure_image(fig, "svg")
    assert svg.startswith(b"<svg") and b"export me" in svg
    assert export.figure_image(fig, "pdf").startswith(b"%PDF")
    with pytest.raises(ValueError, match="svg, pdf"):
        export.figure_image(fig, "png")


def test_every_chart_has_an_export_menu(link_root):
    at = _app(link_root, run_id="demo-sims", sample_id="video_0001$_$1").run()
    for page in ("overview", "samples", "dynamics", "human", "conflicts", "embeddings", "compare", "generators"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page
        charts_ = at.get("plotly_chart")
        buttons = [b.proto.id for b in at.get("download_button")]
        for fmt in ("svg", "pdf", "csv"):
            assert sum(f"_export_{fmt}" in b for b in buttons) == len(charts_), (page, fmt, buttons)


# ---- item 17: valid/test drill-downs show the heads against the human T/A/V labels ----------------------------


def test_prediction_trajectory_draws_human_unimodal_labels(link_root):
    from dashboard import charts, data

    run = data.load_run(link_root / "demo-sims")
    sid = str(run.samples.loc[run.samples["split"] == "valid", "sample_id"].iloc[0])
    d = data.sample_detail(run, sid)
    fig = charts.prediction_trajectory(d["predictions"], d["info"])
    dotted = {t.name: t for t in fig.data if t.line.dash == "dot"}
    assert set(dotted) == {"human T", "human A", "human V"}
    assert list(dotted["human A"].y) == pytest.approx([d["info"]["y_A"]] * 2)
    assert "dotted: human T/A/V" in fig.layout.title.text
    nohuman = charts.prediction_trajectory(d["predictions"], {"y_m": 0.2})
    assert not [t for t in nohuman.data if t.line.dash == "dot"]


# ---- item 10: the Samples table fits the screen, with a column chooser; the drill-down opens above it ----------


def _order(node, out):
    """Element types of an AppTest tree in page order (depth first)."""
    kids = getattr(node, "children", None)
    if kids:
        for k in sorted(kids):
            _order(kids[k], out)
    else:
        out.append((node.type, getattr(node, "value", None) if node.type in ("subheader", "markdown") else None))
    return out


def test_samples_column_chooser_and_drilldown_above_the_table(link_root):
    from dashboard import data

    at = _app(link_root, run_id="demo-sims").run()
    at.switch_page("app_pages/samples.py").run()
    shown = list(at.dataframe[0].value.columns)
    assert shown == list(data.SAMPLE_COLUMNS) and len(shown) <= 15  # 38 columns in the table
    at.multiselect(key="samples_columns").set_value(["split", "sign_flips"]).run()
    assert list(at.dataframe[0].value.columns) == ["sample_id", "split", "sign_flips"]
    assert at.query_params["samples_columns"] == ["split", "sign_flips"]
    at.session_state["sample_id"] = "video_0001$_$1"
    at.run()
    assert not at.exception
    order = _order(at.main, [])
    heading = next(i for i, (t, v) in enumerate(order) if t == "subheader" and "Sample" in str(v))
    table = next(i for i, (t, _) in enumerate(order) if t in ("arrow_data_frame", "dataframe"))
    assert heading < table, order[:40]


# ---- item 11: the subtask weights as a population ---------------------------------------------------------------


def test_weight_population_views(link_root):
    import numpy as np

    from dashboard import data
    from dashboard import weights as W

    run = data.load_run(link_root / "demo-sims")
    q = W.weight_quantiles(run)
    wt = run.weight["T"]
    got = q[q["modality"] == "T"].set_index("epoch")
    last = int(run.label_epochs[-1])
    assert got.loc[last, "median"] == pytest.approx(np.median(wt[:, -1]))
    assert got.loc[0, "max"] == pytest.approx(float(np.max(wt[:, 0])))
    table = pd.DataFrame({"split": ["train"] * 4 + ["valid"], "human_conflict": ["T", "T+A", "none", "A", "T"],
                          "w_T": [0.8, 0.6, 0.1, 0.3, 0.99], "abs_err_T": [0.1, 0.2, 0.3, 0.4, 0.5]},
                         index=["a", "b", "c", "d", "e"])  # fmt: skip
    by = W.weight_by_conflict(table, "T").set_index("group")
    assert by.loc["humans: T disagrees with M", "n"] == 2  # "T" and "T+A"; the valid row is not counted
    assert by.loc["humans: T disagrees with M", "mean_w"] == pytest.approx(0.7)
    assert by.loc["humans: T agrees with M", "mean_w"] == pytest.approx(0.2)
    box = W.weight_vs_conflict_chart(table, "T")
    assert [list(t.y) for t in box.data] == [[0.8, 0.6], [0.1, 0.3]]
    sc = W.weight_vs_error_chart(table, "T")
    assert list(sc.data[0].x) == [0.1, 0.2, 0.3, 0.4] and list(sc.data[0].customdata[:, 0]) == ["a", "b", "c", "d"]


def test_dynamics_page_draws_the_weight_views(link_root):
    at = _app(link_root, run_id="demo-sims").run()
    at.switch_page("app_pages/dynamics.py").run()
    assert not at.exception
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    for title in ("Subtask weights w_T per epoch", "w_T by the human conflict", "w_T vs |generated − human T|"):
        assert title in specs


# ---- item 16: conflict recovery aggregated over seeds -----------------------------------------------------------


def test_recovery_over_seeds_hand_computed():
    from dashboard import seed_summary as SS

    def outcomes(rows):
        return pd.DataFrame(rows, columns=["modality", "outcome"])

    r1 = SS.recovery_counts(outcomes([("T", "recovered"), ("T", "missed"), ("T", "spurious"), ("A", "partial")]))
    r2 = SS.recovery_counts(outcomes([("T", "recovered"), ("T", "recovered"), ("T", "recovered"), ("T", "missed")]))
    t1 = r1.set_index("modality")
    assert t1.loc["T", "recovery"] == pytest.approx(0.5) and t1.loc["A", "recovery"] == 0.0
    assert pd.isna(t1.loc["V", "recovery"]) and t1.loc["T", "spurious"] == 1
    agg = SS.recovery_over_seeds({"s1": r1, "s2": r2}, {"s1": "ulgm", "s2": "ulgm"}).set_index("modality")
    assert agg.loc["T", "runs"] == 2 and agg.loc["T", "recovery_mean"] == pytest.approx((0.5 + 0.75) / 2)
    assert agg.loc["T", "recovery_std"] == pytest.approx(pd.Series([0.5, 0.75]).std())
    assert agg.loc["T", "spurious_mean"] == pytest.approx(0.5) and agg.loc["T", "missed_mean"] == pytest.approx(1.0)


def test_generators_page_shows_recovery_over_seeds(tmp_path):
    for seed in (1, 2):
        d = write_fake_run(tmp_path / f"seed_{seed}", n=(30, 10, 10), epochs=3, seed=seed, representation_epochs=())
        _set_data(d, "3" * 64)
    at = _app(tmp_path, run_id="seed_1").run()
    at.switch_page("app_pages/generators.py").run()
    assert not at.exception
    tab = next(d.value for d in at.dataframe if "recovery_mean" in d.value.columns)
    assert tab["runs"].tolist() == [2, 2, 2] and tab["modality"].tolist() == ["T", "A", "V"]


# ---- item 14 (Overview part): a live run says its cap, where early stopping ends it, and when -----------------


def test_live_progress_hand_computed():
    from dashboard import progress

    m = pd.DataFrame({"epoch": [1, 1, 2, 2, 3, 3], "split": ["train", "valid"] * 3,
                      "time_s": [8.0, 2.0, 9.0, 3.0, 30.0, 2.0]})  # fmt: skip
    assert progress.epoch_seconds(m) == pytest.approx(12.0)  # per-epoch sums 10, 12, 32: the median
    text = progress.live_progress({"max_epochs": 10, "early_stop": 4}, m, 3, 2)
    assert text.startswith("Epoch 3 of at most 10; early stopping ends it after epoch 6")
    assert "about 36 s from now" in text and "the cap is about 84 s away" in text and "about 12 s." in text
    assert progress.live_progress({"max_epochs": 0, "early_stop": 8}, m, 3, 3).startswith("Epoch 3 (no epoch cap)")
    assert "after epoch 5 " in progress.live_progress({"max_epochs": 5, "early_stop": 8}, m, 3, 3)  # the cap wins


def test_overview_of_a_live_run_shows_progress(tmp_path):
    write_fake_run(tmp_path / "live", status="running", n=(20, 8, 8), epochs=4, seed=2)
    at = _app(tmp_path, run_id="live").run()
    assert not at.exception
    cap = texts(at.caption)
    assert "Epoch 2 of at most" in cap or "Epoch 2 (no epoch cap)" in cap, cap
    assert "early stopping ends it after epoch" in cap
