"""The one CLI error handler: every user-fixable error class ends in one line and exit 2, Ctrl-C in 130."""

from __future__ import annotations

import subprocess
import sys

import pytest

from selfmm.cli import run_command
from selfmm.config import ConfigError
from selfmm.data import DataError
from selfmm.demo import DemoError
from selfmm.errors import UserError
from selfmm.runs.reader import RunError
from selfmm.synth import SynthError


@pytest.mark.parametrize("cls", [ConfigError, DataError, RunError, SynthError, DemoError])
def test_every_user_error_is_one_line_and_exit_2(cls, capsys):
    def body():
        raise cls("x.pkl: broken; pass a valid file")

    assert issubclass(cls, UserError)
    assert run_command(body, "unused", "selfmm test") == 2
    err = capsys.readouterr().err
    assert err == "selfmm test: x.pkl: broken; pass a valid file\n"


def test_text_model_not_found_is_a_user_error():
    from selfmm.model import TextModelNotFound

    assert issubclass(TextModelNotFound, UserError)


def test_interrupt_says_what_to_run(capsys):
    def body():
        raise KeyboardInterrupt

    assert run_command(body, "interrupted; continue with --resume", "x") == 130
    assert capsys.readouterr().err == "\ninterrupted; continue with --resume\n"


def test_bugs_keep_their_traceback():
    def body():
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_command(body, "unused")


def test_cli_module_does_not_import_torch():
    code = "import sys, selfmm.cli, selfmm.errors, selfmm.synth.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_synth_user_error_exits_2_with_one_line(tmp_path):
    cmd = [sys.executable, "-m", "selfmm", "synth", "--profile", "sims", "--out", str(tmp_path / "x.pkl")]
    res = subprocess.run([*cmd, "--signal", "text"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("selfmm synth: --signal 'text'")


def _capture(monkeypatch, module, name, result=None):
    seen = {}

    def fake(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return result

    monkeypatch.setattr(module, name, fake)
    return seen


@pytest.mark.parametrize("command", ["train", "seeds", "experiment", "tune", "cmc", "demo"])
def test_repeated_set_options_all_apply(command, monkeypatch, tmp_path):
    """README: ``--set batch_size=16 --set exclude_zero=true``. A second --set used to replace the first."""
    import selfmm.cmc.train as cmc_train
    import selfmm.demo as demo
    import selfmm.experiment as experiment
    import selfmm.sweep.tune as tune
    import selfmm.train as train

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.md").write_text("table\n")
    base = ["--data", "x.pkl", "--out", str(out)]
    sets = ["--set", "batch_size=16", "--set", "seed=7"]
    if command == "train":
        seen, main = _capture(monkeypatch, train, "fit", {}), train.main
    elif command == "seeds":
        seen, main = _capture(monkeypatch, experiment, "run_seeds"), experiment.seeds_main
    elif command == "experiment":
        seen, main = _capture(monkeypatch, experiment, "run_experiment"), experiment.main
    elif command == "tune":
        seen, main = _capture(monkeypatch, tune, "run_tune", (None, None)), tune.main
        base += ["--engine", "local"]
    elif command == "cmc":
        seen, main = _capture(monkeypatch, cmc_train, "fit_cmc", {"run_dir": "x", "test": {}}), cmc_train.main
    else:
        seen, main = _capture(monkeypatch, demo, "run_demo"), demo.main
        base = ["--out", str(out)]
    assert main(base + sets) == 0
    if command == "demo":
        assert seen["kwargs"]["overrides"] == ["batch_size=16", "seed=7"]
    else:
        cfg = seen["args"][0]
        assert (cfg.batch_size, cfg.seed) == (16, 7)
