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
    assert (
        "No 'MAE'"
        in charts.training_curves(pd.DataFrame(columns=["head"]), "MAE").to_dict()["layout"]["annotations"][0]["text"]
    )


def test_sample_trajectories(run):
    d = data.sample_detail(run, "tr1")
    fig = charts.label_trajectory(d["labels"], d["info"]).to_dict()
    assert [t["name"] for t in fig["data"]] == ["generated T", "generated A", "generated V"]
    assert list(arr(fig["data"][0]["y"])) == pytest.approx([-0.6, -0.5, 0.2])
    hlines = sorted(round(s["y0"], 3) for s in fig["layout"]["shapes"])
    assert hlines == sorted([0.4, -0.6, -0.8, -0.6])  # human T/A/V + y_m
    assert fig["layout"]["yaxis"]["title"]["text"].startswith("label")
    w = charts.weight_trajectory(d["labels"]).to_dict()
    assert [t["name"] for t in w["data"]] == ["w_T", "w_A", "w_V"] and w["layout"]["yaxis"]["title"]["text"] == (
        "weight (0–1)"
    )
    p = charts.prediction_trajectory(d["predictions"], d["info"]).to_dict()
    assert len(p["data"]) == 4 and list(arr(p["data"][0]["x"])) == [1, 2]


def test_dynamics_charts(run):
    q = data.label_quantiles(run)
    box = charts.label_distribution(q, "T").to_dict()
    assert box["data"][0]["type"] == "box" and list(arr(box["data"][0]["median"])) == pytest.approx([0.2, 0.175, 0.2])
    assert box["layout"]["xaxis"]["title"]["text"] == "epoch"
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
    bars = charts.conflict_counts_chart(data.conflict_counts(table)).to_dict()
    assert [t["name"] for t in bars["data"]] == ["human labels", "generated labels"]
    assert bars["layout"]["yaxis"]["title"]["text"] == "train samples (count)"


def test_embedding_scatter_categorical_and_numeric():
    view = pd.DataFrame({"sample_id": ["a", "b", "c"], "split": ["train", "test", "train"], "x": [0.0, 1.0, 2.0],
                         "y": [1.0, 0.0, 1.0], "color": ["train", "test", "train"]})  # fmt: skip
    cat = charts.embedding_scatter(view, "split", "title").to_dict()
    assert [t["name"] for t in cat["data"]] == ["test", "train"]
    assert [c[0] for c in cat["data"][1]["customdata"]] == ["a", "c"]
    assert cat["layout"]["dragmode"] == "lasso" and cat["layout"]["legend"]["title"]["text"] == "split"
    num = charts.embedding_scatter(view.assign(color=[0.5, -1.0, 0.2]), "y_m", "t").to_dict()
    assert len(num["data"]) == 1 and num["data"][0]["marker"]["cmin"] == -1.0
    assert num["layout"]["xaxis"]["title"]["text"] == "component 1 (a.u.)"
