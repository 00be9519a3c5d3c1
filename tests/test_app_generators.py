"""AppTest of the Label generators page and the Overview's inversion alarm."""

from __future__ import annotations

import json
import shutil

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from selfmm.testing import write_fake_run

APP = "../dashboard/app.py"
PAGE = "app_pages/generators.py"
pytestmark = pytest.mark.timeout(120)
SHA_A, SHA_B = "a" * 64, "b" * 64


def _edit_manifest(run, **fields):
    m = json.loads((run / "run.json").read_text())
    for k, v in fields.items():
        if k == "sha256":
            m["dataset"]["sha256"] = v
        else:
            m["config"][k] = v
    (run / "run.json").write_text(json.dumps(m))


def _invert_text_labels(run, from_epoch: int):
    for p in sorted((run / "labels").glob("epoch_*.parquet")):
        t = pq.read_table(p)  # pyarrow, not pandas: keep the written schema (string, not large_string)
        if t["epoch"][0].as_py() >= from_epoch:
            i = t.schema.get_field_index("label_T")
            t = t.set_column(i, t.schema.field(i), pc.negate(t["label_T"]))
            pq.write_table(t, p)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen_runs")
    ulgm = write_fake_run(root / "ulgm-s1", n=(30, 10, 10), epochs=4, seed=0)
    _edit_manifest(ulgm, sha256=SHA_A)
    for name, source, seed in (("ulgm-s2", "ulgm", 2), ("plgm-s1", "plgm", 1)):
        # the same data (seed 0's samples), another generator / seed: a copy with its labels changed
        shutil.copytree(ulgm, root / name)
        _edit_manifest(root / name, label_source=source, seed=seed)
    m = json.loads((root / "plgm-s1" / "run.json").read_text())
    m["run_id"] = "plgm-s1"
    (root / "plgm-s1" / "run.json").write_text(json.dumps(m))
    _invert_text_labels(root / "plgm-s1", from_epoch=2)
    other = write_fake_run(root / "other-data", n=(20, 8, 8), epochs=3, seed=1)
    _edit_manifest(other, sha256=SHA_B, label_source="human")
    write_fake_run(root / "nosha", n=(20, 8, 8), epochs=2, seed=3)  # run.json dataset.sha256 is None
    return root


def app(root, run_id) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["runs_root"] = str(root)
    at.session_state["run_id"] = run_id
    return at.run()


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_page_pairs_runs_on_the_same_data(runs_root):
    at = app(runs_root, "ulgm-s1")
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error, texts(at.error)
    assert sorted(at.multiselect(key="generators_runs").value) == ["plgm-s1", "ulgm-s1", "ulgm-s2"]
    assert "3 run(s), 2 generator(s), dataset file sha256 aaaaaaaaaaaa…" in texts(at.caption)
    specs = [str(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 3 and all("y_m (" in s for s in specs)  # one chart per modality with the baseline
    assert "plgm (1 run(s))" in specs[0] and "ulgm (2 run(s))" in specs[0]
    # the inverted plgm text labels: an alarm row, and they top the disagreement table
    alarms = at.dataframe[0].value
    assert alarms[["run_id", "modality", "first_epoch"]].values.tolist() == [["plgm-s1", "T", 2]]
    table = at.dataframe[-1].value  # after the recovery-over-seeds table (issue 11)
    assert list(table.columns[-3:]) == ["plgm", "ulgm", "spread"] and len(table) == 25
    assert table["spread"].is_monotonic_decreasing and table["spread"].iloc[0] > 0


def test_selected_sample_overlays_every_generator(runs_root):
    at = app(runs_root, "ulgm-s1")
    at.switch_page(PAGE).run()
    at.session_state["sample_id"] = "video_0001$_$1"
    at.run()
    assert not at.exception
    spec = str(at.get("plotly_chart")[-1].proto.spec)
    assert "every generator" in spec and "plgm" in spec and "ulgm" in spec and "human T" in spec
    assert "Sample: video_0001$_$1" in texts(at.text)


def test_refuses_runs_trained_on_different_data(runs_root):
    at = app(runs_root, "ulgm-s1")
    at.switch_page(PAGE).run()
    at.multiselect(key="generators_runs").set_value(["ulgm-s1", "other-data"]).run()
    assert not at.exception
    msg = texts(at.error)
    assert "trained on different data" in msg and "other-data" in msg
    assert len(at.get("plotly_chart")) == 0  # nothing is paired


def test_default_selection_is_the_current_runs_data(runs_root):
    at = app(runs_root, "other-data")
    at.switch_page(PAGE).run()
    assert not at.exception and at.multiselect(key="generators_runs").value == ["other-data"]
    assert "Pick runs of at least two generators" in texts(at.info)


def test_overview_shows_the_inversion_alarm(runs_root):
    at = app(runs_root, "plgm-s1")
    assert not at.exception
    msg = texts(at.error)
    assert "Inversion alarm: T labels from epoch 2" in msg and "still at epoch 4" in msg
    at = app(runs_root, "ulgm-s1")
    assert not at.exception and not at.error


def test_a_single_run_without_sha_needs_no_pairing(runs_root):
    at = app(runs_root, "nosha")
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    assert "1 run(s), 1 generator(s), dataset sha256 not recorded" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 3
    at.multiselect(key="generators_runs").set_value(["nosha", "ulgm-s1"]).run()
    assert "run nosha does not record the sha256" in texts(at.error)


def _overlay_specs(at) -> list[str]:
    return [s for s in (str(c.proto.spec) for c in at.get("plotly_chart")) if "every run on the same data" in s]


def test_sample_drilldown_overlays_every_generator_on_the_same_data(runs_root):
    at = app(runs_root, "ulgm-s1")
    at.switch_page("app_pages/samples.py").run()
    at.session_state["sample_id"] = "video_0001$_$1"  # a train sample, as a row click opens it
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    specs = _overlay_specs(at)
    assert len(specs) == 1 and '"plgm"' in specs[0] and '"ulgm"' in specs[0] and "human label" in specs[0]
    assert "other-data" not in specs[0] and "nosha" not in specs[0]  # runs on other data are not drawn
    assert "The same sample in 3 runs on this dataset file (same sha256), 2 generator(s)" in texts(at.caption)
    # the Embeddings page shares the drill-down, overlay included
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception and len(_overlay_specs(at)) == 1


def test_sample_drilldown_without_other_runs_on_its_data_has_no_overlay(runs_root):
    at = app(runs_root, "other-data")  # alone on its sha256
    at.switch_page("app_pages/samples.py").run()
    at.session_state["sample_id"] = "video_0001$_$1"
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) >= 3 and not _overlay_specs(at)
    at = app(runs_root, "ulgm-s1")  # a valid sample has no generated labels: no overlay either
    at.switch_page("app_pages/samples.py").run()
    at.session_state["sample_id"] = "video_0011$_$1"
    at.run()
    assert not at.exception and not _overlay_specs(at)
