"""Streamlit AppTest of the dashboard: every page, the interactions, and the edge cases (never a traceback)."""

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import md_escape
from selfmm.testing import write_fake_run

APP = "../dashboard/app.py"  # relative to this file
PAGES = ["overview", "samples", "dynamics", "human", "conflicts", "embeddings"]
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    write_fake_run(root / "demo-sims", n=(30, 10, 10), epochs=4, representation_epochs=(1, 4))
    write_fake_run(root / "mosi-nohuman", dataset="mosi", human=False, n=(20, 8, 8), epochs=3,
                   representation_epochs=(3,), seed=1)  # fmt: skip
    write_fake_run(root / "live", status="running", n=(20, 8, 8), epochs=4, seed=2)
    write_fake_run(root / "killed", status="killed", n=(20, 8, 8), epochs=4, seed=3)
    old = write_fake_run(root / "old-schema", n=(20, 8, 8), epochs=2, seed=4)
    m = json.loads((old / "run.json").read_text())
    m["schema_version"] = 0
    (old / "run.json").write_text(json.dumps(m))
    (root / "corrupt").mkdir()
    (root / "corrupt" / "run.json").write_text("{half a manifest")
    missing = write_fake_run(root / "missing-file", n=(20, 8, 8), epochs=2, seed=5)
    (missing / "samples.parquet").unlink()
    noproj = write_fake_run(root / "no-projection", n=(20, 8, 8), epochs=2, representation_epochs=(2,), seed=6)
    shutil.rmtree(noproj / "projections")
    return root


def app(root, run_id="demo-sims") -> AppTest:  # the newest run is the default: name the one these tests use
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["runs_root"] = str(root)
    if run_id is not None:
        at.session_state["run_id"] = run_id
    return at.run()


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_opens_demo_run_and_every_page_renders(runs_root):
    at = app(runs_root)
    assert not at.exception
    assert at.session_state["run_id"] == "demo-sims"
    assert at.title[0].value == "Run overview"
    assert at.query_params["run"] == "demo-sims"
    about = [e for e in at.expander if "About Self-MM" in e.label]
    assert about and "tanh(|y_s − y_m|)" in texts(about[0].markdown)
    assert len(at.get("plotly_chart")) >= 1
    charts_expected = {"overview": 1, "samples": 0, "dynamics": 3, "human": 8, "conflicts": 2, "embeddings": 1}
    for page in PAGES[1:]:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page
        assert not at.error, (page, texts(at.error))
        assert len(at.get("plotly_chart")) >= charts_expected[page], page
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception


def test_pick_run_and_no_human_pages(runs_root):
    at = app(runs_root)
    at.selectbox(key="run_id").select("mosi-nohuman").run()
    assert not at.exception and at.query_params["run"] == "mosi-nohuman"
    at.switch_page("app_pages/human.py").run()
    assert not at.exception and "no human unimodal labels" in texts(at.info)
    at.switch_page("app_pages/conflicts.py").run()
    assert not at.exception and "only the generated conflicts" in texts(at.info)


def test_samples_epoch_filter_and_drilldown(runs_root):
    at = app(runs_root)
    at.switch_page("app_pages/samples.py").run()
    assert "50** of 50 samples match" in texts(at.markdown)
    at.select_slider(key="samples_epoch").set_value(2).run()
    assert not at.exception and at.session_state["epoch"] == 2
    at.multiselect(key="samples_splits").set_value(["valid"]).run()
    assert "10** of 50 samples match" in texts(at.markdown)
    at.text_input(key="samples_text").input("Number 33").run()  # ids/texts "... number 3 of ..."
    assert "1** of 50 samples match" in texts(at.markdown)
    df = at.dataframe[0].value
    assert len(df) == 1 and df["split"].iloc[0] == "valid"
    # sorting: the valid split by y_m, descending, then ascending (the table and its CSV share the order)
    at.text_input(key="samples_text").input("").run()
    at.selectbox(key="samples_sort").select("y_m").run()
    at.toggle(key="samples_sort_desc").set_value(True).run()
    ym = at.dataframe[0].value["y_m"].tolist()
    assert len(ym) == 10 and ym == sorted(ym, reverse=True) and ym != sorted(ym)
    at.toggle(key="samples_sort_desc").set_value(False).run()
    assert at.dataframe[0].value["y_m"].tolist() == sorted(ym)
    # open a train sample (as a row click does): drill-down with raw text and 3-4 charts
    at.session_state["sample_id"] = "video_0001$_$1"
    at.run()
    assert not at.exception
    assert "Sample " + md_escape("video_0001$_$1") in texts(at.subheader)
    assert "fake utterance number 0" in texts(at.text)  # raw text is plain text
    assert len(at.get("plotly_chart")) >= 4  # labels, weights, predictions, projection positions
    assert at.query_params["sample"] == "video_0001$_$1"
    # the sample carries over to another page
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception and "Sample " + md_escape("video_0001$_$1") in texts(at.subheader)


def test_deep_link_opens_run_and_sample(runs_root):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["runs_root"] = str(runs_root)
    at.query_params["run"] = "old-schema"
    at.query_params["sample"] = "video_0001$_$1"
    at.run()
    assert not at.exception and at.session_state["run_id"] == "old-schema"
    assert at.session_state["sample_id"] == "video_0001$_$1"
    assert "schema_version 0" in texts(at.warning)  # older schema: a warning, the pages still work
    for page in PAGES[1:]:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page


def test_dynamics_and_embeddings_interactions(runs_root):
    at = app(runs_root)
    at.switch_page("app_pages/dynamics.py").run()
    at.radio(key="dynamics_modality").set_value("A").run()
    assert not at.exception and len(at.get("plotly_chart")) == 6  # + the subtask-weight views (issue 11)
    at.switch_page("app_pages/embeddings.py").run()
    at.selectbox(key="embeddings_modality").select("all").run()
    at.selectbox(key="embeddings_color").select("human_conflict").run()
    at.select_slider(key="embeddings_epoch").set_value(1).run()
    # the representation epoch is the page's own: the label pages' shared epoch is untouched
    assert (
        not at.exception and at.session_state["embeddings_epoch_value"] == 1 and at.session_state["epoch"] == 4
    )  # dynamics: last
    assert any("at epoch 1" in str(c.proto.spec) for c in at.get("plotly_chart"))
    # a box/lasso selection (set as the chart would) filters the Samples table
    at.session_state["selected_ids"] = ["video_0001$_$1", "video_0001$_$2"]
    at.run()
    assert "2** selected samples" in texts(at.markdown)
    at.switch_page("app_pages/samples.py").run()
    assert "2** of 50 samples match" in texts(at.markdown)


def test_single_representation_epoch_leaves_the_shared_epoch_alone(runs_root):
    """mosi-nohuman recorded representations at epoch 3 only: visiting Embeddings must not move the epoch that
    Samples (and the other label pages) show."""
    at = app(runs_root, "mosi-nohuman")
    at.switch_page("app_pages/samples.py").run()
    at.select_slider(key="samples_epoch").set_value(1).run()
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception and "Representation epoch: 3 (the only recorded epoch)" in texts(at.caption)
    assert at.session_state["epoch"] == 1
    at.switch_page("app_pages/samples.py").run()
    assert not at.exception and at.select_slider(key="samples_epoch").value == 1


def test_conflicts_page_strength_table(runs_root):
    at = app(runs_root)
    at.switch_page("app_pages/conflicts.py").run()
    strength = at.dataframe[0].value
    assert strength["strength"].tolist() == ["none", "weak", "strong"]
    assert strength["human"].sum() == strength["generated"].sum() == 30  # every train sample counted once


def test_human_page_controls(runs_root):
    at = app(runs_root)
    at.switch_page("app_pages/human.py").run()
    at.radio(key="human_modality").set_value("V").run()
    at.radio(key="human_split").set_value("test").run()
    at.select_slider(key="human_epoch").set_value(1).run()
    assert not at.exception and len(at.get("plotly_chart")) >= 8


@pytest.mark.parametrize(
    ("run_id", "kind", "needle"),
    [
        ("live", "info", "still training"),
        ("killed", "warning", "did not finish"),
        ("corrupt", "error", "corrupt manifest"),
        ("missing-file", "error", "samples.parquet"),
    ],
)
def test_edge_case_runs_show_messages(runs_root, run_id, kind, needle):
    at = app(runs_root, run_id)
    assert not at.exception
    assert needle in texts(getattr(at, kind)), texts(getattr(at, kind))
    # live refresh (a polling fragment) only while the run is training
    assert ("Live: checking for new epochs" in texts(at.caption)) == (run_id == "live")
    for page in PAGES[1:]:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (run_id, page)


def test_empty_runs_folder(tmp_path):
    at = app(tmp_path)
    assert not at.exception and "No runs found" in texts(at.info)
    at.switch_page("app_pages/samples.py").run()
    assert not at.exception and "No runs found" in texts(at.info)


def test_embeddings_without_projection_offers_pca(runs_root):
    at = app(runs_root, "no-projection")
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception and "No projection has been computed" in texts(at.info)
    at.button(key="embeddings_compute_pca").click().run()
    assert not at.exception
    assert (runs_root / "no-projection" / "projections" / "pca.parquet").is_file()
    assert len(at.get("plotly_chart")) >= 1


# ----- a folder of broken runs next to a good one (issue 9 item 6): never a traceback, nothing hidden -------------

ALL_PAGES = [*PAGES, "compare", "generators"]


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory):
    from tests.broken_runs import write_broken_runs

    return write_broken_runs(tmp_path_factory.mktemp("broken"), tmp_path_factory.mktemp("outside"))


def _walk_every_page(at: AppTest, case: str) -> None:
    for page in ALL_PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (case, page, at.exception)
        assert "good (finished)" in at.selectbox(key="run_id").options, (case, page)  # the good run is listed


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", sorted(__import__("tests.broken_runs", fromlist=["CASES"]).CASES))
def test_broken_run_shows_its_error_and_hides_nothing(broken_root, case):
    from tests.broken_runs import CASES

    where, needle = CASES[case]
    at = app(broken_root, case)
    assert not at.exception, at.exception
    assert at.session_state["run_id"] == case  # listed, and kept as the picked run
    if where == "broken":
        assert "(broken)" in at.selectbox(key="run_id").format_func(case)
        assert needle in texts(at.error), texts(at.error)  # on its pages, as a code span (plain text)
        assert needle in texts(at.sidebar.text)  # in the picker's list of folders that cannot be opened
    elif where == "error":
        if case == "proj-no-x":
            at.switch_page("app_pages/embeddings.py").run()
        assert needle in texts(at.error), texts(at.error)
    elif where == "warning":
        assert needle in texts(at.warning), texts(at.warning)
        assert not at.error, texts(at.error)
        if case == "test-strings":  # not "No test metrics yet": they are there, but not numbers
            assert "none is a number" in texts(at.info), texts(at.info)
    elif where == "info":
        at.switch_page("app_pages/embeddings.py").run()
        assert needle in texts(at.info), texts(at.info)
    else:
        assert not at.error and not at.warning, texts(at.error) + texts(at.warning)
    _walk_every_page(at, case)


@pytest.mark.timeout(300)
def test_good_run_next_to_broken_ones_renders_every_page(broken_root):
    at = app(broken_root, "good")
    assert not at.exception and not at.error and not at.warning
    for page in ALL_PAGES[1:]:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception and not at.error, (page, texts(at.error))
    assert len(at.get("plotly_chart")) >= 1
