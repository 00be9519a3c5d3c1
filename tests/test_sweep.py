"""selfmm.sweep: search spaces, the tune command on the local engine and on local Ray (kill + resume)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from selfmm.config import ConfigError, apply_overrides, preset
from selfmm.runs.reader import RunReader
from selfmm.sweep import spaces
from selfmm.sweep.engine import EngineOptions
from selfmm.sweep.results import run_dir
from selfmm.sweep.tune import run_tune
from tests.mmsa_fixture import make_mmsa_dict, write_pickle

SETS = ["max_epochs=2", "tiny_bert_hidden=16", "tiny_bert_layers=1", "batch_size=4", "update_epochs=2"]
SETS += ["projection=none", "record_representations=none"]
SPACE = {"learning_rate_other": [1e-4, 3e-3, 1e-2], "post_fusion_dim": [8, 32], "H": 1.0}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread here, as each Ray trial with --cpus-per-trial 1: the engines' numbers are then equal."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_mmsa_space_is_mmsas_config(mmsa):
    """The embedded copy equals MMSA 2.2.1's config_tune.json self_mm debugParams (minus two non-fields)."""
    import importlib.util

    # the mmsa fixture checked MMSA 2.2.1 is installed; read its file (importing MMSA pulls its model zoo)
    path = Path(importlib.util.find_spec("MMSA").submodule_search_locations[0]) / "config" / "config_tune.json"
    dbg = json.loads(path.read_text())["self_mm"]["debugParams"]
    theirs = {k: dbg[k] for k in dbg["d_paras"] if k not in spaces.MMSA_LEFT_OUT}
    assert theirs == spaces.MMSA_SELF_MM
    assert set(dbg["d_paras"]) - set(theirs) == set(spaces.MMSA_LEFT_OUT)
    assert "datasetParams" not in json.loads(path.read_text())["self_mm"]  # one space for every dataset


def test_space_validation_and_sampling(tmp_path):
    with pytest.raises(ConfigError, match="post_fusion_dimm"):
        spaces.validate_space({"post_fusion_dimm": [1]}, "x.json")
    with pytest.raises(ConfigError, match="x.json.*batch_size"):
        spaces.validate_space({"batch_size": [16, "big"]}, "x.json")
    with pytest.raises(ConfigError, match="loguniform"):
        spaces.validate_space({"learning_rate_other": {"loguniform": [0, 1]}}, "x.json")
    bad = tmp_path / "s.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match=r"s\.json: not valid JSON"):
        spaces.load_space(str(bad))
    space = spaces.validate_space({**SPACE, "weight_decay_other": {"loguniform": [1e-4, 1e-2]},
                                   "a_lstm_hidden_size": {"int": [4, 6]}})  # fmt: skip
    draws = [spaces.sample(space, 3, k) for k in range(200)]
    assert draws[7] == spaces.sample(space, 3, 7)  # a pure function of (space, seed, k)
    assert draws[7] != spaces.sample(space, 4, 7)
    assert {d["a_lstm_hidden_size"] for d in draws} == {4, 5, 6}
    assert {d["learning_rate_other"] for d in draws} == {1e-4, 3e-3, 1e-2} and {d["H"] for d in draws} == {1.0}
    wd = np.array([d["weight_decay_other"] for d in draws])
    assert wd.min() >= 1e-4 and wd.max() <= 1e-2 and np.median(wd) < 3e-3  # log-uniform: median near 1e-3
    assert spaces.searched_keys(space) == ["a_lstm_hidden_size", "learning_rate_other", "post_fusion_dim",
                                           "weight_decay_other"]  # fmt: skip


def _check_tables(out: Path, n_configs: int, seeds: list[int]) -> pd.DataFrame:
    """Every run finished with experiment = {name, variant, params, seed}; ranks follow the run.json losses."""
    state = json.loads((out / "sweep.json").read_text())
    assert len(state["configs"]) == n_configs
    means = {}
    for c in state["configs"]:
        losses = []
        for s in seeds:
            r = RunReader(run_dir(out, state["name"], c["id"], s))
            assert r.status == "finished"
            assert r.manifest["experiment"] == {"name": state["name"], "variant": f"c{c['id']:03d}",
                                                "params": c["params"], "seed": s}  # fmt: skip
            assert r.manifest["config"]["seed"] == s
            assert {k: r.manifest["config"][k] for k in c["params"]} == c["params"]
            losses.append(r.manifest["best"]["valid_loss"])
        means[c["id"]] = np.mean(losses)
    trials = pd.read_csv(out / "trials.csv")
    order = sorted(means, key=lambda k: (means[k], k))
    assert trials["config"].tolist() == order and trials["rank"].tolist() == list(range(1, n_configs + 1))
    assert trials["valid_loss"].to_numpy() == pytest.approx([means[k] for k in order])
    res = pd.read_csv(out / "results.csv")
    best = res[(res["rank"] == 1) & (res["metric"] == "MAE")].iloc[0]
    tests = [RunReader(run_dir(out, state["name"], order[0], s)).manifest["test"]["MAE"] * 100 for s in seeds]
    assert best["config"] == order[0] and best["mean"] == pytest.approx(np.mean(tests))
    assert best["std"] == pytest.approx(np.std(tests))
    md = (out / "results.md").read_text()
    assert f"## Best configuration: c{order[0]:03d}" in md and "validation loss" in md
    return res


def test_tune_local_engine_and_resume_check(tmp_path):
    data = write_pickle(make_mmsa_dict(n=(14, 5, 5), seed=5, human=True), tmp_path / "t.pkl")
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    cfg = apply_overrides(preset("tiny"), SETS)
    out = tmp_path / "sweep"
    run_tune(cfg, data, out, str(space), "random", 3, [1, 2], EngineOptions(engine="local", verbose=False))
    _check_tables(out, 3, [1, 2])
    with pytest.raises(ConfigError, match="sweep.json: this sweep was started with different seeds"):
        run_tune(cfg, data, out, str(space), "random", 3, [1, 3], EngineOptions(engine="local", verbose=False))
    with pytest.raises(ConfigError, match="--engine local runs one job at a time"):
        run_tune(cfg, data, out, str(space), "random", 3, [1, 2], EngineOptions(engine="local", max_concurrent=2))


def test_tune_optuna_local_engine_extends_a_finished_sweep(tmp_path):
    """--search optuna (TPE) draws from the space; a later call with more --trials keeps the finished runs (not
    retrained) and adds configurations."""
    data = write_pickle(make_mmsa_dict(n=(14, 5, 5), seed=5, human=True), tmp_path / "t.pkl")
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    cfg = apply_overrides(preset("tiny"), SETS)
    out = tmp_path / "sweep"
    run_tune(cfg, data, out, str(space), "optuna", 2, [1], EngineOptions(engine="local", verbose=False))
    _check_tables(out, 2, [1])
    first = json.loads((out / "sweep.json").read_text())["configs"]
    stamps = {c["id"]: RunReader(run_dir(out, "sweep", c["id"], 1)).manifest["finished_at"] for c in first}
    assert all(stamps.values())
    run_tune(cfg, data, out, str(space), "optuna", 3, [1], EngineOptions(engine="local", verbose=False))
    _check_tables(out, 3, [1])
    configs = json.loads((out / "sweep.json").read_text())["configs"]
    assert configs[:2] == first and json.loads((out / "sweep.json").read_text())["search"] == "optuna"
    for c in configs:
        assert c["params"]["learning_rate_other"] in SPACE["learning_rate_other"] and c["params"]["H"] == 1.0
        assert c["params"]["post_fusion_dim"] in SPACE["post_fusion_dim"]
    assert {k: RunReader(run_dir(out, "sweep", k, 1)).manifest["finished_at"] for k in stamps} == stamps


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_tune_on_local_ray_killed_mid_trial_resumes_to_the_same_table(tmp_path, monkeypatch):
    """4 trials on a 2-CPU local Ray (1 CPU each); every trial is SIGKILLed in epoch 2, the sweep is run again,
    and the resumed tables equal those of an uninterrupted sweep on the local engine."""
    import ray

    from selfmm.runs.reader import RunError

    data = write_pickle(make_mmsa_dict(n=(14, 5, 5), seed=5, human=True), tmp_path / "t.pkl")
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    cfg = apply_overrides(preset("tiny"), SETS)
    ref = tmp_path / "ref" / "sw"
    run_tune(cfg, data, ref, str(space), "random", 4, [1], EngineOptions(engine="local", verbose=False))
    ref_res = _check_tables(ref, 4, [1])

    out = tmp_path / "ray" / "sw"
    opts = dict(engine="ray", cpus_per_trial=1, max_concurrent=2, verbose=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        monkeypatch.setenv("SELFMM_DEBUG_SIGKILL_AT", "2:1")  # forwarded into every trial: dies in epoch 2
        with pytest.raises(RunError, match="4 trial\\(s\\) failed.*the trial process died"):
            run_tune(cfg, data, out, str(space), "random", 4, [1], EngineOptions(**opts))
        state = json.loads((out / "sweep.json").read_text())
        for c in state["configs"]:
            r = RunReader(run_dir(out, "sw", c["id"], 1))
            assert r.status != "finished" and r.epochs_completed == 1
        monkeypatch.delenv("SELFMM_DEBUG_SIGKILL_AT")
        run_tune(cfg, data, out, str(space), "random", 4, [1], EngineOptions(**opts))
    finally:
        ray.shutdown()
    res = _check_tables(out, 4, [1])
    assert sorted(p.name for p in (out / "ray").iterdir()) == ["run_001", "run_002"]  # Ray's records, inside
    pd.testing.assert_frame_equal(res, ref_res)
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), pd.read_csv(ref / "trials.csv"))
    assert (out / "results.md").read_text() == (ref / "results.md").read_text()


def _raised_from(err: Exception, cause: Exception) -> Exception:
    err.__cause__ = cause
    return err


@pytest.mark.parametrize(
    "err, needle",
    [
        (ConnectionError("Failed to connect to Ray cluster at 192.0.2.2:6390"),
         "(Failed to connect to Ray cluster at 192.0.2.2:6390); check `ray status` on the head"),
        (_raised_from(ConnectionError("Failed to connect to Ray cluster at 192.0.2.2:6390"), RuntimeError(
            "Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n  File x\n"
            "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: Authentication token is missing")),
         "(the cluster refused this machine's authentication token); export RAY_AUTH_MODE=token and copy"),
    ],
)  # fmt: skip
def test_tune_address_that_cannot_be_reached_is_one_line(tmp_path, monkeypatch, capsys, err, needle):
    """``--address`` of no cluster, or of one refusing the token: one line naming the fix, exit 2 (Ray not started:
    its ray.init is replaced by the failure Ray 2.60 raised in the README's sequence)."""
    import ray

    from selfmm.sweep import tune

    def fail(*args, **kwargs):
        raise err

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fail)
    data = write_pickle(make_mmsa_dict(n=(14, 5, 5), seed=5), tmp_path / "t.pkl")
    rc = tune.main(["--data", str(data), "--preset", "tiny", "--out", str(tmp_path / "sw"), "--trials", "1",
                    "--address", "192.0.2.2:6390", "-q"])  # fmt: skip
    out = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(out) == 1
    assert out[0].startswith("error: --address 192.0.2.2:6390: cannot connect to a Ray cluster") and needle in out[0]
