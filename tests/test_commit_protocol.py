"""The training loop's side of the commit protocol (issue 9.1): best weights committed with the epoch and
stamped, both best losses stored, time_s, a damaged checkpoint on resume. Training runs are tiny."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import pytest

from selfmm.runs import layout
from selfmm.runs.reader import RunError, RunReader
from selfmm.runs.weights import stamp_of
from selfmm.train import fit
from tests.test_train import small_cfg

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pkl(tiny_pkl):
    return tiny_pkl


def _killed_run(pkl: Path, out: Path, kill_at: str, max_epochs: int) -> None:
    cmd = [sys.executable, "-m", "selfmm", "train", "--data", str(pkl), "--preset", "tiny", "--out", str(out), "-q"]
    cmd += ["--set", f"max_epochs={max_epochs}", "tiny_bert_hidden=16", "tiny_bert_layers=1", "tiny_bert_heads=2"]
    cmd += ["batch_size=4", "update_epochs=2", "projection=none", "early_stop=5"]
    env = {**os.environ, "SELFMM_DEBUG_SIGKILL_AT": kill_at, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=100)
    assert proc.returncode == -9, proc.stderr[-2000:]


@pytest.mark.timeout(150)
def test_best_weights_of_an_uncommitted_epoch_are_never_tested(pkl, tmp_path):
    """Killed after epoch 2's best weights were saved but before its commit, then resumed with max_epochs=1:
    the run must test epoch 1's model (what an uninterrupted max_epochs=1 run tests), not epoch 2's."""
    ref = fit(small_cfg(max_epochs=1), pkl, tmp_path / "ref", verbose=False)
    out = tmp_path / "killed"
    _killed_run(pkl, out, "2:save", max_epochs=4)
    assert RunReader(out).epochs_completed == 1
    staged = [stamp_of(d / layout.MODEL_FILE) for d in (out / "weights").glob("best*")]
    assert 2 in staged, f"epoch 2 was not a new best in this fixture (stamps {staged}); pick another kill epoch"
    res = fit(small_cfg(max_epochs=1), pkl, out, resume=True, verbose=False)
    assert res["best"]["epoch"] == 1 and res["test"] == ref["test"]
    assert stamp_of(out / "weights" / "best" / layout.MODEL_FILE) == 1
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["best", "last"]


def test_best_loss_stored_unrounded_and_rounded(pkl, tmp_path):
    res = fit(small_cfg(max_epochs=2), pkl, tmp_path / "r", verbose=False)
    best = RunReader(tmp_path / "r").manifest["best"]
    assert best == res["best"]
    assert best["valid_loss_selection"] == round(best["valid_loss"], 4) and best["valid_loss"] != round(
        best["valid_loss"], 4
    )
    assert stamp_of(tmp_path / "r" / "weights" / "best" / layout.MODEL_FILE) == best["epoch"]
    assert stamp_of(tmp_path / "r" / "weights" / "last" / layout.MODEL_FILE) == 2


def test_time_s_is_the_seconds_of_that_splits_pass(pkl, tmp_path, monkeypatch):
    """A fake clock that only moves inside the passes: train +10 s, valid +100 s, test +1000 s per epoch."""
    import selfmm.train as T

    clock = {"t": 0.0, "evals": 0}
    monkeypatch.setattr(T, "time", types.SimpleNamespace(perf_counter=lambda: clock["t"]))
    real_train, real_eval = T.train_epoch, T.evaluate

    def train_epoch(*a, **k):
        clock["t"] += 10.0
        clock["evals"] = 0
        return real_train(*a, **k)

    def evaluate(*a, **k):
        clock["evals"] += 1  # valid first, then test
        clock["t"] += 100.0 if clock["evals"] == 1 else 1000.0
        return real_eval(*a, **k)

    monkeypatch.setattr(T, "train_epoch", train_epoch)
    monkeypatch.setattr(T, "evaluate", evaluate)
    fit(small_cfg(max_epochs=2, eval_test_every_epoch=True), pkl, tmp_path / "t", verbose=False)
    m = RunReader(tmp_path / "t").metrics()
    assert list(m["time_s"]) == [10.0, 100.0, 1000.0] * 2


def _hostile() -> bytes:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > /tmp/selfmm-pwned",))

    return pickle.dumps(Evil())


def test_hostile_optimizer_state_fails_the_run_with_one_line(pkl, tmp_path, capsys):
    out = tmp_path / "h"
    fit(small_cfg(max_epochs=1), pkl, out, verbose=False)
    manifest = RunReader(out).manifest
    (out / "run.json").write_text((out / "run.json").read_text().replace('"finished"', '"interrupted"'))
    (out / "weights" / "last" / layout.OPTIMIZER_FILE).write_bytes(_hostile())
    with pytest.raises(RunError) as info:
        fit(small_cfg(max_epochs=2), pkl, out, resume=True, verbose=False)
    msg = str(info.value)
    assert "\n" not in msg and "optimizer.pt: cannot be loaded (UnpicklingError" in msg and "start a new run" in msg
    r = RunReader(out)
    assert r.status == "failed" and r.manifest["error"] == msg and r.epochs_completed == manifest["epochs_completed"]
    assert not Path("/tmp/selfmm-pwned").exists()
    from selfmm.train import main

    base = ["--data", str(pkl), "--preset", "tiny", "--out", str(out), "-q", "--resume", "--set", "max_epochs=2"]
    base += ["tiny_bert_hidden=16", "tiny_bert_layers=1", "tiny_bert_heads=2", "batch_size=4", "update_epochs=2"]
    base += ["projection=none", "early_stop=5"]
    assert main(base) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optimizer.pt: cannot be loaded" in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("state", ["[]", "{not json", '{"epoch": 1}', '{"epoch": "1"}', b"\xff\xfe"])
def test_damaged_training_state_fails_the_run_with_one_line(pkl, tmp_path, state):
    """weights/last/state.json that is not a training state: a RunError and a failed run (it was a TypeError or
    JSONDecodeError traceback that left the run 'running')."""
    out = tmp_path / "s"
    fit(small_cfg(max_epochs=1), pkl, out, verbose=False)
    (out / "run.json").write_text((out / "run.json").read_text().replace('"finished"', '"interrupted"'))
    f = out / "weights" / "last" / layout.STATE_FILE
    f.write_bytes(state if isinstance(state, bytes) else state.encode())
    with pytest.raises(RunError) as info:
        fit(small_cfg(max_epochs=2), pkl, out, resume=True, verbose=False)
    msg = str(info.value)
    assert "\n" not in msg and "weights/last holds no matching state" in msg and "start a new run" in msg
    r = RunReader(out)
    assert r.status == "failed" and r.manifest["error"] == msg
