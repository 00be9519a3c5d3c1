"""Swappable weight folders ``weights/last`` and ``weights/best`` and the epoch stamp of their safetensors.

No torch here: the training loop fills a staged folder with torch state, this module swaps folders and reads
stamps. Protocol per epoch: :meth:`WeightSlot.stage` -> write files -> :meth:`WeightSlot.swap` (the previous
folder is kept as ``<name>.prev``) -> commit the epoch in run.json -> :meth:`WeightSlot.settle` (drop ``.prev``).
A crash anywhere leaves the committed epoch's folder either in ``<name>`` or in ``<name>.prev``;
:meth:`WeightSlot.recover` finds it by its stamp (or state) and moves it back.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from selfmm.runs.layout import weights_dir
from selfmm.runs.reader import RunError

NEW_SUFFIX = ".new"
PREV_SUFFIX = ".prev"
EPOCH_KEY = "epoch"  # safetensors metadata key: the epoch whose end-of-epoch weights the file holds


def stamp_of(path: str | Path) -> int | None:
    """The epoch stamped in a safetensors file's metadata (``{"epoch": "12"}``), None when absent or unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            value = (f.metadata() or {}).get(EPOCH_KEY)
    except (OSError, SafetensorError, ValueError):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def stamp_metadata(epoch: int) -> dict[str, str]:
    """Metadata to pass to ``safetensors`` save functions so :func:`stamp_of` reads ``epoch`` back."""
    return {EPOCH_KEY: str(int(epoch))}


class WeightSlot:
    """``RUN/weights/<name>`` with its staging (``.new``) and previous (``.prev``) folders."""

    def __init__(self, run_dir: str | Path, name: str):
        self.current = weights_dir(run_dir, name)
        self.new = self.current.with_name(self.current.name + NEW_SUFFIX)
        self.prev = self.current.with_name(self.current.name + PREV_SUFFIX)

    def stage(self) -> Path:
        """An empty ``<name>.new`` folder to write this epoch's files into."""
        if self.new.exists():
            shutil.rmtree(self.new)
        self.new.mkdir(parents=True)
        return self.new

    def swap(self) -> None:
        """``<name>`` -> ``<name>.prev``, ``<name>.new`` -> ``<name>`` (two renames; recover() repairs a crash)."""
        if self.prev.exists():
            shutil.rmtree(self.prev)
        if self.current.exists():
            os.replace(self.current, self.prev)
        os.replace(self.new, self.current)

    def settle(self) -> None:
        """After the commit: the previous folder is no longer needed."""
        if self.prev.exists():
            shutil.rmtree(self.prev)

    def recover(self, accept: Callable[[Path], bool]) -> Path | None:
        """On resume: drop a half-staged folder, then make the first of ``<name>``, ``<name>.prev`` that
        ``accept`` (e.g. "its stamp is the committed epoch") the current one. None when neither is accepted."""
        if self.new.exists():
            shutil.rmtree(self.new)
        for d in (self.current, self.prev):
            if d.is_dir() and accept(d):
                if d == self.prev:
                    if self.current.exists():
                        shutil.rmtree(self.current)
                    os.replace(self.prev, self.current)
                self.settle()
                return self.current
        return None

    def clear(self) -> None:
        for d in (self.new, self.current, self.prev):
            if d.exists():
                shutil.rmtree(d)


def check_stamp(path: str | Path, epoch: int) -> None:
    """RunError unless the safetensors file at ``path`` is stamped with ``epoch`` (checked before a final test)."""
    got = stamp_of(path)
    if got != int(epoch):
        raise RunError(
            f"{path}: holds the weights of epoch {got if got is not None else '(unstamped)'}, but run.json says the "
            f"best epoch is {epoch}; the folder is inconsistent: resume it with --resume or start a new run"
        )
