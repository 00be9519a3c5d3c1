"""Liveness of a run folder's writer. One writer per run folder: an OS file lock (``fcntl.flock``) on ``RUN/writer.lock`` that records pid and host.

The kernel drops the lock when the holding process exits, however it exits (kill -9 included), so a lock file
left by a dead writer is stale by construction and the next writer simply takes it. The pid/host/time written
into the file are only for the error message a refused writer prints. A live writer also rewrites
``RUN/heartbeat.json`` every few seconds (:class:`Heartbeat`), so readers on other hosts can tell it from a dead one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
from pathlib import Path

from selfmm.runs.layout import HEARTBEAT_FILE, HEARTBEAT_S, LOCK_FILE
from selfmm.runs.provenance import now_iso
from selfmm.runs.reader import RunError


def holder(run_dir: str | Path) -> dict:
    """The ``{"pid", "host", "since"}`` recorded by the last writer that took the lock ({} when unreadable)."""
    try:
        info = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


class RunLock:
    """Exclusive, non-blocking lock of one run folder, held until :meth:`release` (or the process ends)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self.recovered: dict | None = None  # what a dead previous writer had recorded, when there was one

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunError` naming the live writer and what to do."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        previous = holder(self.run_dir)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = holder(self.run_dir)
            who = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, since {info.get('since', '?')}"
            raise RunError(
                f"{self.run_dir}: another selfmm process ({who}) is writing this run; wait for it to finish or "
                "stop it, then run the command again with --resume"
            ) from None
        self.recovered = previous or None
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode("utf-8"), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent). The file stays: its content names the last writer."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def write_heartbeat(run_dir: str | Path) -> None:
    """``RUN/heartbeat.json`` = ``{"at": now}``; readers on other hosts take it as "still alive".

    Rewritten in place with one small write, not via ``*.tmp``: a reader that catches it half-written just
    falls back to run.json's ``updated_at``, and no temporary file is ever left for a resume to clean up.
    """
    Path(run_dir, HEARTBEAT_FILE).write_text(json.dumps({"at": now_iso()}), encoding="utf-8")


class Heartbeat:
    """A daemon thread that calls :func:`write_heartbeat` every ``interval_s`` until :meth:`stop`.

    It touches only heartbeat.json, never run.json, so it needs no coordination with the writer's manifest
    rewrites. The thread holds the folder path only (not the writer), so a dropped writer can be collected.
    """

    def __init__(self, run_dir: str | Path, interval_s: float = HEARTBEAT_S):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_beat, args=(Path(run_dir), float(interval_s), self._stop), name="selfmm-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


def _beat(run_dir: Path, interval_s: float, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            write_heartbeat(run_dir)
        except OSError:  # folder deleted or disk full: liveness is best effort, training goes on
            pass
        stop.wait(interval_s)
