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
