"""Packaging: every dependency is pinned, and pyproject.toml and the requirements files agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return sorted(x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#"))


def test_requirements_match_pyproject_and_are_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert project["requires-python"] == ">=3.11"  # datetime.UTC, tomllib
    runtime = project["dependencies"] + [r for name, reqs in extras.items() if name != "test" for r in reqs]
    assert sorted(runtime) == _pins("requirements.txt")  # the README's one install: runtime + every extra
    assert sorted(extras["test"]) == _pins("requirements-test.txt")
    for req in _pins("requirements.txt") + _pins("requirements-test.txt"):
        name, sep, version = req.partition("==")
        assert sep and version and all(c not in name for c in "<>=~!;,"), f"{req}: pin it with =="


def test_dashboard_is_not_installed_and_the_app_runs_its_own_checkout(tmp_path):
    """pyproject installs selfmm only (a top-level "dashboard" collides with other packages of that name), and
    dashboard/app.py, run from another folder without PYTHONPATH, imports this checkout's dashboard package, not
    whatever "dashboard" the environment has installed."""
    import os
    import subprocess
    import sys

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["selfmm*"]
    script = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file(sys.argv[1], default_timeout=120).run()\n"
        "print([e.value for e in at.exception])\nprint(sys.modules['dashboard'].__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SELFMM_RUNS_DIR"] = str(tmp_path)  # no runs: the app shows its first-run hint
    out = subprocess.run([sys.executable, "-c", script, str(ROOT / "dashboard" / "app.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout.splitlines()  # fmt: skip
    assert out[-2] == "[]"
    assert Path(out[-1]) == ROOT / "dashboard" / "__init__.py"
