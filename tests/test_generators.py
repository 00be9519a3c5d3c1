"""Pure data and chart functions of the Label generators page (dashboard.generators, dashboard.generator_charts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import generator_charts as GC
from dashboard import generators as G


def _m(sha, source="ulgm", seed=1, model=None, run_id=None):
    m = {"config": {"label_source": source, "seed": seed, "dataset": "sims", "H": 1.0}, "dataset": {"sha256": sha}}
    if model:
        m["model"] = model
    if run_id:
        m["run_id"] = run_id
    return m


def test_generator_names_and_rows():
    rows = G.run_rows(
        {"a": _m("s1", "ulgm", 2), "b": _m("s1", "plgm", 1), "c": _m("s1", "plgm", 1, model="cmc"), "d": _m(None)}
    )
    assert rows["label"].tolist() == ["c", "b", "d", "a"]  # by generator (cmc, plgm, ulgm), seed, label
    assert rows["generator"].tolist() == ["cmc", "plgm", "ulgm", "ulgm"]
    assert rows["seed"].dtype == "Int64"
    assert pd.isna(rows.set_index("label").loc["d", "sha256"])


def test_same_data_accepts_one_sha_and_refuses_mixed():
    rows = G.run_rows({"a": _m("aaaa" * 16), "b": _m("aaaa" * 16, "plgm"), "x": _m("bbbb" * 16, "human")})
    assert G.same_data(rows[rows["label"].isin(["a", "b"])]) == "aaaa" * 16
    with pytest.raises(G.PairingError, match="different data") as e:
        G.same_data(rows)
    msg = str(e.value)
    assert "sha256 aaaaaaaaaaaa… (b, a)" in msg and "sha256 bbbbbbbbbbbb… (x)" in msg
    assert "\n" not in msg


def test_same_data_refuses_unknown_sha_and_nothing():
    rows = G.run_rows({"a": _m("s"), "n": _m(None)})
    with pytest.raises(G.PairingError, match="run n does not record the sha256"):
        G.same_data(rows)
    assert G.same_data(rows[rows["label"] == "n"]) is None  # one run: nothing to pair
    assert G.same_data(rows[rows["label"] == "a"]) == "s"
    with pytest.raises(G.PairingError, match="no runs selected"):
        G.same_data(rows.iloc[:0])


def test_same_data_labels():
    rows = G.run_rows({"a": _m("s"), "b": _m("s", "plgm"), "x": _m("t"), "n": _m(None)})
    assert sorted(G.same_data_labels(rows, "a")) == ["a", "b"]
    assert G.same_data_labels(rows, "n") == ["n"]
    assert G.same_data_labels(rows, "nope") == []


def _health(label_rows):
    return pd.DataFrame(label_rows)


def test_seed_bands_mean_min_max():
    h = pd.DataFrame(
        {
            "generator": ["ulgm"] * 4 + ["plgm"] * 2,
            "label": ["u1", "u2", "u1", "u2", "p1", "p1"],
            "modality": ["T", "T", "A", "A", "T", "T"],
            "epoch": [1, 1, 1, 1, 1, 2],
            "r_gen_human": [0.2, 0.6, np.nan, 0.5, 0.9, 0.8],
            "r_ym_human": [0.7, 0.7, 0.8, 0.8, 0.7, 0.7],
        }
    )
    b = G.seed_bands(h)
    assert b[["generator", "modality", "epoch"]].values.tolist() == [
        ["plgm", "T", 1],
        ["plgm", "T", 2],
        ["ulgm", "T", 1],
        ["ulgm", "A", 1],
    ]
    u = b[(b["generator"] == "ulgm") & (b["modality"] == "T")].iloc[0]
    assert (u["mean"], u["min"], u["max"], u["n"]) == (pytest.approx(0.4), 0.2, 0.6, 2)
    ua = b[(b["generator"] == "ulgm") & (b["modality"] == "A")].iloc[0]
    assert (ua["mean"], ua["n"]) == (0.5, 1)  # the NaN run is left out
    assert G.ym_baseline(h) == {"T": pytest.approx(0.7), "A": pytest.approx(0.8)}
    assert G.seed_bands(h.iloc[:0]).empty and G.ym_baseline(h.iloc[:0]) == {}


def _final(vals_t, ids=("s1", "s2", "s3")):
    return pd.DataFrame({"sample_id": list(ids), "label_T": vals_t, "label_A": [0.0] * len(ids)})


def test_generator_labels_and_disagreements():
    final = {
        "u1": _final([0.1, 0.5, -0.2]),
        "u2": _final([0.3, 0.5, -0.4]),
        "p1": _final([0.2, -0.5, 0.6]),
    }
    gens = {"u1": "ulgm", "u2": "ulgm", "p1": "plgm"}
    gl = G.generator_labels(final, gens)
    u = gl[(gl["generator"] == "ulgm") & (gl["modality"] == "T")].set_index("sample_id")
    assert u.loc["s1", "label"] == pytest.approx(0.2) and u.loc["s1", "n_runs"] == 2
    samples = pd.DataFrame(
        {
            "sample_id": ["s1", "s2", "s3", "t1"],
            "split": ["train"] * 3 + ["test"],
            "raw_text": ["a", "b", "c", "d"],
            "y_m": [0.2, 0.4, 0.0, 0.1],
            "y_T": [0.2, -0.6, 0.8, 0.0],
        }
    )
    d = G.disagreements(gl, samples, "T", top=2)
    # spreads: s1 |0.2 - 0.2| = 0; s2 |0.5 - (-0.5)| = 1.0; s3 |-0.3 - 0.6| = 0.9
    assert d["sample_id"].tolist() == ["s2", "s3"]
    assert d["spread"].tolist() == pytest.approx([1.0, 0.9])
    assert list(d.columns) == ["sample_id", "raw_text", "y_m", "y_T", "plgm", "ulgm", "spread"]
    one = G.disagreements(gl[gl["generator"] == "ulgm"], samples, "T")
    assert one.empty


def test_sample_trajectories():
    rows = G.run_rows({"u1": _m("s", "ulgm", 1), "p1": _m("s", "plgm", 1)})
    labels = {
        "u1": pd.DataFrame({"epoch": [0, 1, 0, 1], "sample_id": ["a", "a", "b", "b"], "label_T": [0.1, 0.2, 0, 0]}),
        "p1": pd.DataFrame({"epoch": [1, 0], "sample_id": ["a", "a"], "label_T": [-0.3, 0.1]}),
    }
    t = G.sample_trajectories(labels, rows, "a", "T")
    assert t[["label", "generator", "epoch", "value"]].values.tolist() == [
        ["p1", "plgm", 0, 0.1],
        ["p1", "plgm", 1, -0.3],
        ["u1", "ulgm", 0, pytest.approx(0.1)],
        ["u1", "ulgm", 1, pytest.approx(0.2)],
    ]
    assert G.sample_trajectories(labels, rows, "zz", "T").empty


def test_generator_r_chart_band_and_baseline():
    bands = pd.DataFrame(
        {
            "generator": ["ulgm", "ulgm", "plgm", "plgm"],
            "modality": ["T"] * 4,
            "epoch": [1, 2, 1, 2],
            "mean": [0.5, 0.6, 0.7, 0.8],
            "min": [0.4, 0.5, 0.7, 0.8],
            "max": [0.6, 0.7, 0.7, 0.8],
            "n": [3, 3, 1, 1],
        }
    )
    fig = GC.generator_r_chart(bands, "T", 0.75)
    names = [t.name for t in fig.data]
    assert names == [None, None, "ulgm (3 run(s))", "plgm (1 run(s))", "y_m (0.750)"]
    assert fig.data[1].fill == "tonexty" and list(fig.data[0].y) == [0.6, 0.7]  # band only where n > 1
    assert list(fig.data[-1].y) == [0.75, 0.75] and list(fig.data[-1].x) == [1, 2]
    assert fig.data[2].line.color == GC.GENERATOR_COLORS["ulgm"]


def test_trajectory_overlay_one_legend_entry_per_generator():
    traj = pd.DataFrame(
        {
            "label": ["u1", "u1", "u2", "u2"],
            "generator": ["ulgm"] * 4,
            "seed": [1, 1, 2, 2],
            "epoch": [0, 1, 0, 1],
            "value": [0.1, 0.2, 0.1, 0.3],
        }
    )
    fig = GC.trajectory_overlay(traj, "T", 0.1, -0.4)
    assert [t.showlegend for t in fig.data[:2]] == [True, False]
    assert [t.name for t in fig.data[2:]] == ["y_m", "human T"]
    assert list(fig.data[3].y) == [-0.4, -0.4]


def _overlay_inputs():
    rows = G.run_rows({"u1": _m("s", "ulgm", 1), "u2": _m("s", "ulgm", 2), "c1": _m("s", model="cmc", seed=1)})
    ab = {"epoch": [0, 1, 0, 1], "sample_id": ["a", "a", "b", "b"]}
    labels = {
        "u1": pd.DataFrame({**ab, "label_T": [0.1, 0.5, 0.0, 0.0], "label_A": [0.1, -0.2, 0, 0]}),
        "u2": pd.DataFrame({**ab, "label_T": [0.1, 0.4, 0.0, 0.0], "label_A": [0.1, 0.3, 0, 0]}),
        "c1": pd.DataFrame({"epoch": [0, 1, 2], "sample_id": ["a"] * 3, "label_T": [1.0, 0.6, 0.6]}),
    }
    return rows, labels


def test_sample_overlay_every_modality_of_every_run():
    rows, labels = _overlay_inputs()
    t = G.sample_overlay(labels, rows, "a")
    assert list(t.columns) == ["label", "generator", "seed", "modality", "epoch", "value"]
    # T first (c1 before u1, u2: generators by name), then A; no V column anywhere, so no V rows
    assert t[["modality", "label", "epoch", "value"]].values.tolist() == [
        ["T", "c1", 0, 1.0], ["T", "c1", 1, 0.6], ["T", "c1", 2, 0.6],
        ["T", "u1", 0, 0.1], ["T", "u1", 1, 0.5], ["T", "u2", 0, 0.1], ["T", "u2", 1, 0.4],
        ["A", "u1", 0, 0.1], ["A", "u1", 1, -0.2], ["A", "u2", 0, 0.1], ["A", "u2", 1, 0.3],
    ]  # fmt: skip
    assert set(t.loc[t["label"] == "c1", "generator"]) == {"cmc"} and t.loc[t["label"] == "u2", "seed"].iloc[0] == 2
    assert G.sample_overlay(labels, rows, "zz").empty and list(G.sample_overlay({}, rows, "a").columns)[-1] == "value"


def test_overlay_grid_panels_legend_and_current_run():
    rows, labels = _overlay_inputs()
    fig = GC.overlay_grid(G.sample_overlay(labels, rows, "a"), 0.1, {"T": 0.7, "A": None}, current="u2")
    runs = [t for t in fig.data if t.name in ("cmc", "ulgm")]
    # one trace per (run, modality): 3 runs in T, 2 in A; each generator once in the legend
    assert [(t.name, t.xaxis) for t in runs] == [("cmc", "x"), ("ulgm", "x"), ("ulgm", "x"), ("ulgm", "x2"),
                                                 ("ulgm", "x2")]  # fmt: skip
    assert [t.name for t in fig.data if t.showlegend is not False] == ["cmc", "ulgm", "y_m", "human label"]
    assert runs[0].line.color == GC.GENERATOR_COLORS["cmc"] and runs[1].line.color == GC.GENERATOR_COLORS["ulgm"]
    assert [t.line.width for t in runs] == [1.5, 1.5, 3, 1.5, 3]  # the current run (u2) stands out
    # references: y_m in both panels, the human label only where known (T), spanning that panel's epochs
    refs = [(t.name, t.xaxis, list(t.x), list(t.y)) for t in fig.data if t.name in ("y_m", "human label")]
    assert refs == [("y_m", "x", [0, 2], [0.1, 0.1]), ("human label", "x", [0, 2], [0.7, 0.7]),
                    ("y_m", "x2", [0, 1], [0.1, 0.1])]  # fmt: skip
    assert [a.text for a in fig.layout.annotations] == ["text (T)", "audio (A)"]


def test_overlay_grid_escapes_run_labels_in_hover_text():
    t = pd.DataFrame({"label": ["<img src=http://evil.example/x>"] * 2, "generator": ["ulgm"] * 2, "seed": [1, 1],
                      "modality": ["T", "T"], "epoch": [0, 1], "value": [0.0, 1.0]})  # fmt: skip
    hover = GC.overlay_grid(t, 0.1, {"T": None}).data[0].hovertemplate
    assert "<img" not in hover and "&lt;img src=http://evil.example/x&gt;" in hover


# ---- conflict recovery per run from the run folder (issue 13 item 4: no sample table, no predictions) ----------


def test_recovery_from_frames_joins_on_sample_id_hand_computed():
    from dashboard import seed_summary as SS

    samples = pd.DataFrame({"sample_id": ["a", "b", "c", "v"], "split": ["train"] * 3 + ["valid"],
                            "y_m": [0.8, 0.8, -0.6, 0.8], "y_T": [-0.6, -0.6, -0.6, -0.6],
                            "y_A": [0.8, 0.8, -0.6, 0.8], "y_V": [0.8, 0.8, 0.6, 0.8]})  # fmt: skip
    # rows in another order than samples: a row's label belongs to its sample_id, not to its position
    labels = pd.DataFrame({"sample_id": ["c", "b", "a"], "label_T": [-0.5, 0.0, -0.4],
                           "label_A": [-0.5, 0.5, 0.5], "label_V": [-0.5, 0.7, 0.7]})  # fmt: skip
    got = SS.recovery_from_frames(labels, samples).set_index("modality")
    # T: a recovered (human and generated negative against M positive), b partial (neutral), c no conflict
    assert got.loc["T", ["recovered", "partial", "missed", "spurious"]].tolist() == [1, 1, 0, 0]
    assert got.loc["T", "recovery"] == pytest.approx(0.5)
    # A: no conflict anywhere, so no recovery figure
    assert got.loc["A", ["recovered", "partial", "missed", "spurious"]].tolist() == [0, 0, 0, 0]
    assert np.isnan(got.loc["A", "recovery"])
    # V: c's human label is positive against M negative, its generated label stays negative: missed (joined by
    # position, a would get c's -0.5, a spurious conflict, and c a's 0.7, a recovery)
    assert got.loc["V", ["recovered", "partial", "missed", "spurious"]].tolist() == [0, 0, 1, 0]
    assert got.loc["V", "recovery"] == 0.0


def test_run_recovery_equals_the_sample_table_path(tmp_path):
    from dashboard import data
    from dashboard import seed_summary as SS
    from selfmm.runs.reader import RunReader
    from selfmm.testing import write_fake_run

    d = write_fake_run(tmp_path / "r", n=(80, 10, 10), epochs=4, seed=3, representation_epochs=())
    expected = SS.recovery_counts(data.conflict_outcomes(data.sample_table(data.load_run(d), None)))
    got = SS.run_recovery(RunReader(d))
    pd.testing.assert_frame_equal(got, expected)
    assert expected[["recovered", "missed", "spurious"]].to_numpy().sum() > 0  # the fake run has conflicts
