"""Facts about where and when a run ran, recorded in run.json: versions, git state, UTC time, live pids."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


def now_iso() -> str:
    """UTC timestamp, ISO 8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_time(s) -> float | None:
    """POSIX seconds of an ISO 8601 timestamp; None when ``s`` is not one."""
    try:
        return datetime.fromisoformat(str(s)).timestamp()
    except (TypeError, ValueError):
        return None


def env_info(device: str | None = None) -> dict:
    """Versions of python, numpy, torch, transformers, selfmm (importlib.metadata: no torch import), platform."""

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "numpy": version("numpy"),
        "torch": version("torch"),
        "transformers": version("transformers"),
        "selfmm": version("selfmm"),
        "platform": platform.platform(),
        "device": device,
    }


def git_info(repo_dir: str | Path | None = None) -> dict:
    """``{"sha": ..., "dirty": bool}`` of the git checkout at ``repo_dir`` (default: the one holding selfmm);
    ``{"sha": None, "dirty": None}`` when it is not a git checkout or git is missing."""
    repo = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


def pid_alive(pid: int | None) -> bool:
    """True when a process with this pid exists on this host (signal 0 probe)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:  # pragma: no cover
        return False
    return True
