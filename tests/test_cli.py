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
