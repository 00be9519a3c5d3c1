"""dashboard.charts: traces, values and axis titles of each figure (via fig.to_dict()) on hand-built frames."""

import base64

import numpy as np
import pandas as pd
import pytest

from dashboard import charts, data
from tests.test_dashboard_data import build_small_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return data.load_run(build_small_run(tmp_path_factory.mktemp("c") / "small"))


def arr(v) -> np.ndarray:
    """A trace array from fig.to_dict(): plotly 7 encodes numpy arrays as {"dtype", "bdata"(, "shape")}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        shape = v.get("shape")
        return a.reshape([int(k) for k in str(shape).split(",")]) if shape else a
    return np.asarray(v)


def test_training_curves_panels_and_best_epoch(run):
    fig = charts.training_curves(data.curves_frame(run.metrics, "MAE"), "MAE", best_epoch=2)
    d = fig.to_dict()
    names = [(t["name"], t["xaxis"]) for t in d["data"]]
    assert names == [("train", "x"), ("valid", "x"), ("valid", "x2")]  # M: train+valid; T: valid only
    assert list(arr(d["data"][1]["y"])) == pytest.approx([0.4, 0.2])
    vlines = [s for s in d["layout"]["shapes"] if s["type"] == "line" and s["x0"] == 2]
    assert len(vlines) == 2  # one per panel
    assert d["layout"]["xaxis"]["title"]["text"] == "epoch" and d["layout"]["yaxis"]["title"]["text"] == "MAE"
    assert "best epoch 2" in d["layout"]["title"]["text"]
    assert d["layout"]["xaxis"]["dtick"] == 1  # epochs 1..2: a tick per epoch, never 1.5
    assert not d["layout"]["yaxis2"]["title"].get("text")  # the y title only once, left of the first panel
    assert (
        "No 'MAE'"
        in charts.training_curves(pd.DataFrame(columns=["head"]), "MAE").to_dict()["layout"]["annotations"][0]["text"]
    )


def test_training_curves_order_heads_m_t_a_v():
    rows = [(e, "valid", h, 0.1 * e) for h in ("A", "M", "T", "V") for e in (1, 2, 3)]
    curves = pd.DataFrame(rows, columns=["epoch", "split", "head", "value"])  # alphabetical, as curves_frame sorts
    d = charts.training_curves(curves, "MAE", best_epoch=3).to_dict()
    titles = [a["text"] for a in d["layout"]["annotations"]]
    assert titles == ["M (multimodal)", "T (text)", "A (audio)", "V (vision)"]
    assert [t["xaxis"] for t in d["data"]] == ["x", "x2", "x3", "x4"]
    assert [round(float(arr(t["y"])[0]), 3) for t in d["data"]] == [0.1] * 4


def test_sample_trajectories(run):
    d = data.sample_detail(run, "tr1")
    fig = charts.label_trajectory(d["labels"], d["info"]).to_dict()
    names = [t["name"] for t in fig["data"]]
    assert names == ["generated T", "generated A", "generated V", "human T", "human A", "human V", "y_m (human M)"]
    assert list(arr(fig["data"][0]["y"])) == pytest.approx([-0.6, -0.5, 0.2])
    # references are legend entries spanning the epochs (no annotation to collide with the legend)
    refs = {t["name"]: (list(arr(t["x"])), list(arr(t["y"]))) for t in fig["data"][3:]}
    assert refs["human T"][1] == pytest.approx([0.4, 0.4]) and refs["human A"][1] == pytest.approx([-0.6, -0.6])
    assert refs["human V"][1] == pytest.approx([-0.8, -0.8]) and refs["y_m (human M)"][1] == pytest.approx([-0.6] * 2)
    assert refs["human T"][0] == [0, 2] and fig["data"][3]["line"]["dash"] == "dot"
    assert not fig["layout"].get("annotations") and fig["layout"]["xaxis"]["dtick"] == 1
    assert fig["layout"]["yaxis"]["title"]["text"].startswith("label")
    w = charts.weight_trajectory(d["labels"]).to_dict()
    assert [t["name"] for t in w["data"]] == ["w_T", "w_A", "w_V"] and w["layout"]["yaxis"]["title"]["text"] == (
        "weight (0–1)"
    )
    p = charts.prediction_trajectory(d["predictions"], d["info"]).to_dict()
    assert len(p["data"]) == 8 and list(arr(p["data"][0]["x"])) == [1, 2]  # 4 heads, human T/A/V, y_m
    assert p["data"][7]["name"] == "y_m (human M)" and p["layout"]["xaxis"]["dtick"] == 1  # no epoch 1.5


def test_dynamics_charts(run):
    q = data.label_quantiles(run)
    box = charts.label_distribution(q, "T").to_dict()
    assert box["data"][0]["type"] == "box" and list(arr(box["data"][0]["median"])) == pytest.approx([0.2, 0.175, 0.2])
    assert box["layout"]["xaxis"]["title"]["text"] == "epoch"
    assert box["layout"]["title"]["text"] == "Generated T labels per epoch"  # short enough for a half-width column
    drift = charts.drift_chart(data.label_drift(run)).to_dict()
    assert [t["name"] for t in drift["data"]] == ["T (text)", "A (audio)", "V (vision)"]
    assert list(arr(drift["data"][0]["y"])) == pytest.approx([0.0, 0.0875, 0.375])
    carto = charts.cartography_chart(data.cartography(run, "T"), "T", "y_m").to_dict()
    tr = carto["data"][0]
    assert [c[0] for c in tr["customdata"]] == ["tr0", "tr1", "tr2", "tr3"]
    assert tr["marker"]["colorbar"]["title"]["text"] == "y_m"
    assert carto["layout"]["xaxis"]["title"]["text"].startswith("variability")


def test_human_and_conflict_charts(run):
    table = data.sample_table(run, 2)
    tr = table[table["split"] == "train"]
    sc = charts.gen_vs_human_scatter(tr, "T", "gen", 2).to_dict()
    assert list(arr(sc["data"][0]["x"])) == pytest.approx([0.6, 0.4, 0.0, -0.2])
    assert sc["data"][1]["name"] == "y = x" and "human T" in sc["layout"]["xaxis"]["title"]["text"]
    cm = data.confusion3(tr["y_T"].to_numpy(), tr["gen_T"].to_numpy())
    hm = charts.confusion_heatmap(cm, "t", "generated", "human").to_dict()
    assert arr(hm["data"][0]["z"]).sum() == 4 and hm["layout"]["yaxis"]["title"]["text"] == "human"
    ag = charts.agreement_chart(data.gen_vs_human_by_epoch(run), "mae", "MAE").to_dict()
    assert len(ag["data"]) == 3 and ag["layout"]["yaxis"]["title"]["text"] == "MAE (label units)"
    with pytest.raises(KeyError, match="pearson_r"):  # the pre-analysis names are gone
        charts.agreement_chart(data.gen_vs_human_by_epoch(run), "pearson", "r")
    bars = charts.conflict_counts_chart(data.conflict_counts(table)).to_dict()
    assert [t["name"] for t in bars["data"]] == ["human labels", "generated labels"]
    assert bars["layout"]["yaxis"]["title"]["text"] == "train samples (count)"


def test_embedding_scatter_categorical_and_numeric():
    view = pd.DataFrame({"sample_id": ["a", "b", "c"], "split": ["train", "test", "train"], "x": [0.0, 1.0, 2.0],
                         "y": [1.0, 0.0, 1.0], "color": ["train", "test", "train"]})  # fmt: skip
    cat = charts.embedding_scatter(view, "split", "title").to_dict()
    assert [t["name"] for t in cat["data"]] == ["test", "train"]
    assert [t["marker"]["color"] for t in cat["data"]] == [charts.SPLIT_COLORS["test"], charts.SPLIT_COLORS["train"]]
    assert [c[0] for c in cat["data"][1]["customdata"]] == ["a", "c"]
    assert (
        cat["layout"]["dragmode"] == "zoom" and cat["layout"]["legend"]["title"]["text"] == "split"
    )  # a click opens a sample (issue 11)
    num = charts.embedding_scatter(view.assign(color=[0.5, -1.0, 0.2]), "y_m", "t").to_dict()
    assert len(num["data"]) == 1 and num["data"][0]["marker"]["cmin"] == -1.0
    assert num["layout"]["xaxis"]["title"]["text"] == "component 1 (a.u.)"


def test_positions_chart_titles_only_on_the_first_panel():
    proj = pd.DataFrame({"modality": ["T", "T", "A", "A"], "x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0],
                         "sample_id": ["a", "b", "a", "b"]})  # fmt: skip
    pos = pd.DataFrame({"modality": ["T", "A"], "x": [1.0, 3.0], "y": [0.0, 0.0]})
    d = charts.positions_chart(proj, pos, "b").to_dict()
    assert [a["text"] for a in d["layout"]["annotations"]] == ["T (text)", "A (audio)"]
    assert d["layout"]["yaxis"]["title"]["text"] == "component 2 →" and not d["layout"]["yaxis2"]["title"].get("text")
    stars = [t for t in d["data"] if t["name"] == "b"]
    assert [list(arr(t["x"])) for t in stars] == [[1.0], [3.0]]
