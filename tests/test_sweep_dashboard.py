"""A sweep on the Compare page: dashboard/sweeps.py over a sweep folder of fake runs (tables written by
selfmm.sweep.results, no training), its charts without Streamlit, and the page (AppTest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import compare as C
from dashboard import sweeps as S
from selfmm.config import preset
from selfmm.runs.reader import RunReader
from selfmm.sweep import results, spaces
from selfmm.testing import write_fake_run

ROOT = Path(__file__).resolve().parent.parent
SPACE = {"learning_rate_other": [1e-4, 1e-3, 5e-3], "post_fusion_dim": [64, 128], "H": [1.0]}
SEEDS = [1, 2]
pytestmark = pytest.mark.timeout(180)


def make_sweep(root: Path, name: str = "sw", n_configs: int = 4) -> Path:
    """``root/name``: a sweep of ``n_configs`` configurations × SEEDS as `python -m selfmm tune` leaves it, from
    fake runs; the last configuration's second seed is still running (incomplete). Tables by write_tables."""
    out = root / name
    space = spaces.validate_space(SPACE)
    configs = [{"id": k, "params": spaces.sample(space, 0, k)} for k in range(n_configs)]
    for c in configs:
        for s in SEEDS:
            live = c["id"] == n_configs - 1 and s == SEEDS[-1]
            d = results.run_dir(out, name, c["id"], s)
            write_fake_run(d, n=(12, 4, 4), epochs=2, representation_epochs=(), seed=10 * c["id"] + s,
                           status="running" if live else "finished")  # fmt: skip
            m = json.loads((d / "run.json").read_text(encoding="utf-8"))
            m["experiment"] = {"name": name, "variant": f"c{c['id']:03d}", "params": c["params"], "seed": s}
            m["config"].update(c["params"], seed=s)
            (d / "run.json").write_text(json.dumps(m), encoding="utf-8")
    state = {"name": name, "base_config": preset("tiny").to_dict(), "space": space, "space_source": "space.json",
             "search": "random", "seeds": SEEDS, "sweep_seed": 0, "data": "/data/x.pkl", "configs": configs,
             "stopped": [], "trials": n_configs}  # fmt: skip
    (out / results.SWEEP_JSON).write_text(json.dumps(state), encoding="utf-8")
    results.write_tables(out, spaces.searched_keys(space))
    return out


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep_runs")
    make_sweep(root)
    write_fake_run(root / "solo", n=(12, 4, 4), epochs=2, representation_epochs=(), seed=99)
    return root


def _expected(sweep_dir: Path) -> tuple[list[int], dict[int, float], dict[int, list[dict]]]:
    """From the run folders: finished configuration ids by mean best valid loss, their means, their test dicts."""
    state = json.loads((sweep_dir / "sweep.json").read_text())
    means, tests = {}, {}
    for c in state["configs"]:
        ms = [RunReader(results.run_dir(sweep_dir, state["name"], c["id"], s)).manifest for s in SEEDS]
        if all(m["status"] == "finished" for m in ms):
            means[c["id"]] = float(np.mean([m["best"]["valid_loss"] for m in ms]))
            tests[c["id"]] = [m["test"] for m in ms]
    return sorted(means, key=lambda k: (means[k], k)), means, tests


def test_find_load_rank_and_best_seeds(sweep_root):
    runs = C.discover_runs(sweep_root)
    found = S.find_sweeps(runs)
    assert found["label"].tolist() == ["sw"] and found["n_runs"].tolist() == [8]
    sw_dir = sweep_root / "sw"
    assert found["sweep_dir"].tolist() == [str(sw_dir.resolve())]
    assert S.sweep_of(runs.loc[runs["label"] == "sw/trials/sw-c001-s2", "run_dir"].iloc[0]) == sw_dir.resolve()
    assert S.sweep_of(sweep_root / "solo") is None
    inside = S.find_sweeps(C.discover_runs(sweep_root / "sw"))  # the runs root is the sweep folder itself
    assert inside["label"].tolist() == ["sw"] and inside["n_runs"].tolist() == [8]

    sw = S.load_sweep(sw_dir)
    order, means, tests = _expected(sw_dir)
    table = S.ranked_table(sw)
    assert table["config"].tolist() == [f"c{k:03d}" for k in order] + ["c003"]
    assert table["rank"].tolist()[:3] == [1, 2, 3] and pd.isna(table["rank"].iloc[3])
    assert table["status"].tolist() == ["finished"] * 3 + ["incomplete"]
    assert table["seeds"].tolist() == ["2/2"] * 3 + ["1/2"]
    assert table["valid_loss"].tolist()[:3] == pytest.approx([means[k] for k in order])
    assert sw.trials["valid_loss"].notna().all() and table[["valid_loss", "valid_loss_std"]].iloc[3].isna().all()
    assert [c for c in table.columns if not c.startswith("test/")][6:] == ["learning_rate_other", "post_fusion_dim"]
    state = json.loads((sw_dir / "sweep.json").read_text())
    assert table["learning_rate_other"].tolist()[:3] == [state["configs"][k]["params"]["learning_rate_other"]
                                                         for k in order]  # fmt: skip
    assert table["test/MAE"].tolist()[:3] == pytest.approx([np.mean([t["MAE"] for t in tests[k]]) for k in order])

    name, best = S.best_seeds(sw)
    assert name == f"c{order[0]:03d}"
    mae = best.set_index("metric").loc["MAE"]
    per_seed = [100 * t["MAE"] for t in tests[order[0]]]
    assert mae["mean"] == pytest.approx(np.mean(per_seed)) and mae["std"] == pytest.approx(np.std(per_seed))
    assert [mae[f"seed_{s}"] for s in SEEDS] == pytest.approx(per_seed) and mae["n"] == 2
    assert "Sweep sw (sims): random search over space.json, 4 of 4 configurations drawn, seeds 1, 2" in S.summary(sw)
    assert S.summary(sw).endswith("3 configuration(s) finished on every seed")


def test_changed_runs_and_missing_tables(tmp_path):
    sw_dir = make_sweep(tmp_path, n_configs=2)
    sw = S.load_sweep(sw_dir)
    runs = C.discover_runs(tmp_path)
    assert S.changed_runs(sw, runs) == 0
    run_json = results.run_dir(sw_dir, "sw", 1, 2) / "run.json"
    later = sw.tables_mtime + 5
    os.utime(run_json, (later, later))
    assert S.changed_runs(sw, C.discover_runs(tmp_path)) == 1
    (sw_dir / "trials.csv").unlink()
    (sw_dir / "results.csv").unlink()
    sw = S.load_sweep(sw_dir)
    assert sw.trials is None and S.changed_runs(sw, runs) == 4
    assert S.ranked_table(sw).empty and S.best_seeds(sw) is None and S.parallel_axes(sw) == []
    fig = S.parallel_coordinates(sw)
    assert not fig.data and "no configuration has finished" in fig.layout.annotations[0].text


def test_bad_files_name_the_file_and_the_fix(tmp_path):
    sw_dir = make_sweep(tmp_path, n_configs=2)
    res = pd.read_csv(sw_dir / "results.csv")
    res.loc[res["rank"] == 1, "config"] = 1 - res.loc[res["rank"] == 1, "config"]  # the other configuration
    res.to_csv(sw_dir / "results.csv", index=False)
    with pytest.raises(S.SweepError, match=r"results\.csv: its best configuration is not trials\.csv's; run the same"):
        S.best_seeds(S.load_sweep(sw_dir))
    pd.read_csv(sw_dir / "trials.csv").drop(columns=["valid_loss"]).to_csv(sw_dir / "trials.csv", index=False)
    with pytest.raises(S.SweepError, match=r"trials\.csv: missing columns \['valid_loss'\]"):
        S.load_sweep(sw_dir)
    (sw_dir / "sweep.json").write_text("{half")
    with pytest.raises(S.SweepError, match=r"sweep\.json: unreadable"):
        S.load_sweep(sw_dir)
    (sw_dir / "sweep.json").write_text('{"name": "sw", "seeds": [1]}')
    with pytest.raises(S.SweepError, match=r"sweep\.json: not a sweep state \(no valid configs, space\)"):
        S.load_sweep(sw_dir)


def test_parallel_axes_from_the_ranked_trials(sweep_root):
    sw = S.load_sweep(sweep_root / "sw")
    order, means, _ = _expected(sweep_root / "sw")
    state = sw.state
    dims = S.parallel_axes(sw)
    assert [d["label"] for d in dims] == ["learning_rate_other", "post_fusion_dim", "valid loss"]
    assert dims[-1]["values"] == pytest.approx([means[k] for k in order])
    for d in dims[:2]:  # one tick per value present, in sorted order; each line sits on its configuration's value
        vals = [state["configs"][k]["params"][d["label"]] for k in order]
        assert d["ticktext"] == [f"{v:g}" for v in sorted(set(vals))]
        assert [sorted(set(vals))[i] for i in d["values"]] == vals
    fig = S.parallel_coordinates(sw)
    assert fig.data[0].type == "parcoords" and list(fig.data[0].line.color) == pytest.approx(dims[-1]["values"])
    assert fig.layout.title.text.startswith("3 ranked configurations")


def test_parallel_axis_kinds_and_literal_labels():
    """Many numeric values: a continuous axis (log10 over >= 2 decades); strings/bools: ticks; markup escaped."""
    lr = pd.Series(np.geomspace(1e-5, 1e-2, 20))
    ax = S._axis("learning_rate_other", lr)
    assert ax["label"] == "log10(learning_rate_other)" and ax["values"] == pytest.approx(np.log10(lr).tolist())
    lin = pd.Series(np.linspace(0.1, 0.5, 20))
    assert S._axis("post_fusion_dropout", lin)["values"] == pytest.approx(lin.tolist())
    ax = S._axis('<a href="http://evil.example">x</a>', pd.Series([True, False, True]))
    assert ax["label"] == '&lt;a href="http://evil.example"&gt;x&lt;/a&gt;' and ax["ticktext"] == ["False", "True"]
    assert ax["values"] == [1, 0, 1]


def test_dashboard_sweeps_imports_no_torch():
    code = "import sys, dashboard.sweeps; sys.exit('torch' in sys.modules or 'ray' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env).returncode == 0


def _app(root: Path, run_id: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.session_state["runs_root"] = str(root)
    if run_id:
        at.session_state["run_id"] = run_id
    return at


def test_compare_page_shows_the_sweep(sweep_root):
    order, means, tests = _expected(sweep_root / "sw")
    at = _app(sweep_root, "sw/trials/sw-c000-s1")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert "Sweep" in [h.value for h in at.subheader]
    assert at.selectbox(key="compare_sweep").value == "sw"
    texts = " ".join(t.value for t in at.text)
    assert "Sweep sw (sims): random search over space.json" in texts
    ranked, best = at.dataframe[-2].value, at.dataframe[-1].value
    assert ranked["config"].tolist() == [f"c{k:03d}" for k in order] + ["c003"]
    assert ranked["valid_loss"].tolist()[:3] == pytest.approx([means[k] for k in order])
    mae = best.set_index("metric").loc["MAE"]
    assert mae["mean"] == pytest.approx(np.mean([100 * t["MAE"] for t in tests[order[0]]]))
    assert any(f"Best configuration c{order[0]:03d}" in m.value for m in at.markdown)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(d.get("type") == "parcoords" for c in charts for d in c["data"])
    assert not at.info or all("changed after" not in i.value for i in at.info)


def test_compare_page_sweep_without_tables_and_with_a_bad_state(tmp_path):
    sw_dir = make_sweep(tmp_path, n_configs=2)
    (sw_dir / "trials.csv").unlink()
    at = _app(tmp_path, "sw/trials/sw-c000-s1")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert any("No trials.csv yet (4 run folders so far)" in i.value for i in at.info)
    (sw_dir / "sweep.json").write_text('{"name": "[x](http://evil.example)", "seeds": 1}')
    at.run()
    assert not at.exception
    assert any("sweep.json: not a sweep state" in w.value and "`" in w.value for w in at.warning)
