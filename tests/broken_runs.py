"""A folder of broken run folders next to one good run: every case of issue 9 item 6, for the AppTest that walks
every page (tests/test_app.py) and the reader tests (tests/test_records.py).

Each case is a copy of one small fake run with one defect. :data:`CASES` says what the dashboard must show for it:
``(where, needle)`` with ``where`` one of

- ``"broken"``: listed in the picker with status broken, its error (containing ``needle``) shown as plain text;
- ``"error"``: listed and openable, but its pages stop with an error containing ``needle``;
- ``"warning"``: its pages render, with a warning containing ``needle``;
- ``"info"``: its pages render; the page named by the case shows an info containing ``needle``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from selfmm.testing import write_fake_run

GOOD = "good"
NON_UTF8 = b"bad-\xff-name"  # a folder name that is not UTF-8 (Linux allows any bytes but / and NUL)
NON_UTF8_KEY = "bad-\\xff-name"  # how the dashboard shows it

# name -> (where, needle); "page" cases name the page whose info is checked in PAGE_INFO
CASES: dict[str, tuple[str, str]] = {
    "config-list": ("broken", "run.json: config is a list"),
    "best-list": ("broken", "run.json: best is a list"),
    "test-list": ("broken", "run.json: test is a list"),
    "epochs-text": ("broken", "epochs_completed"),
    NON_UTF8_KEY: ("broken", "not valid UTF-8"),
    "outside-link": ("ok", ""),  # a symlink to a run folder outside the root: listed and shown like any run
    "labels-no-index": ("error", "lacks column"),
    "labels-string": ("error", "label_T"),
    "labels-huge-index": ("warning", "5000000"),
    "proj-no-x": ("error", "projections"),
    "best-epoch-text": ("warning", "best.epoch"),
    "label-range-text": ("warning", "dataset.label_range"),
    "samples-no-rows": ("error", "samples.parquet has no rows"),
    "samples-zero-bytes": ("error", "samples.parquet"),
    "metrics-not-utf8": ("error", "not UTF-8"),
    "no-labels-dir": ("error", "labels"),
    "zero-epochs": ("info", "No epoch"),
    "test-strings": ("warning", "test.MAE"),
    "missing-label-file": ("warning", "epoch_0002.parquet"),
    "missing-column": ("warning", "label_V"),
    "no-predictions": ("warning", "predictions"),
}


def _manifest(run: Path, fn) -> None:
    m = json.loads((run / "run.json").read_text())
    fn(m)
    (run / "run.json").write_text(json.dumps(m))


def _rewrite(path: Path, fn) -> None:
    df = pq.read_table(path).to_pandas()
    pq.write_table(pa.Table.from_pandas(fn(df), preserve_index=False), path)


def _epoch_files(run: Path, folder: str) -> list[Path]:
    return sorted((run / folder).glob("epoch_*.parquet"))


def _set(m: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for k in head:
        m = m[k]
    m[last] = value


def _mutations() -> dict:
    def labels(fn):
        return lambda r: [_rewrite(p, fn) for p in _epoch_files(r, "labels")]

    def huge(df):
        df.loc[df.index[0], "index"] = 5_000_000
        return df

    def manifest(path, value):
        return lambda r: _manifest(r, lambda m: _set(m, path, value))

    def zero(m):
        m["epochs_completed"], m["representation_epochs"], m["status"] = 0, [], "running"

    return {
        "config-list": manifest("config", [1, 2]),
        "best-list": manifest("best", [20]),
        "test-list": manifest("test", [0.5]),
        "epochs-text": manifest("epochs_completed", "three"),
        "labels-no-index": labels(lambda df: df.drop(columns="index")),
        "labels-string": labels(lambda df: df.assign(label_T=df["label_T"].astype(str))),
        "labels-huge-index": lambda r: _rewrite(_epoch_files(r, "labels")[-1], huge),
        "proj-no-x": lambda r: [_rewrite(p, lambda df: df.drop(columns="x")) for p in (r / "projections").glob("*")],
        "best-epoch-text": manifest("best.epoch", "twenty"),
        "label-range-text": manifest("dataset.label_range", "one"),
        "samples-no-rows": lambda r: _rewrite(r / "samples.parquet", lambda df: df.iloc[0:0]),
        "samples-zero-bytes": lambda r: (r / "samples.parquet").write_bytes(b""),
        "metrics-not-utf8": lambda r: (r / "metrics.jsonl").write_bytes(b'{"epoch": 1, "split": "\xff\xfe"}\n' * 3),
        "no-labels-dir": lambda r: shutil.rmtree(r / "labels"),
        "zero-epochs": lambda r: _manifest(r, zero),
        "test-strings": lambda r: _manifest(r, lambda m: m.update(test={k: str(v) for k, v in m["test"].items()})),
        "missing-label-file": lambda r: (r / "labels" / "epoch_0002.parquet").unlink(),
        "missing-column": labels(lambda df: df.drop(columns="label_V")),
        "no-predictions": lambda r: shutil.rmtree(r / "predictions"),
    }


def write_broken_runs(root: Path, outside: Path) -> Path:
    """Write :data:`GOOD` and every case of :data:`CASES` under ``root``; the symlinked case's target goes under
    ``outside`` (a folder that is not inside ``root``). Returns ``root``."""
    root, outside = Path(root), Path(outside)
    template = write_fake_run(outside / "template", n=(12, 6, 6), epochs=3, representation_epochs=(3,), seed=7)
    shutil.copytree(template, root / GOOD)
    for name, mutate in _mutations().items():
        run = root / name
        shutil.copytree(template, run)
        mutate(run)
    shutil.copytree(template, outside / "elsewhere")
    (root / "outside-link").symlink_to(outside / "elsewhere", target_is_directory=True)
    shutil.copytree(template, root / os.fsdecode(NON_UTF8))  # surrogate-escaped str: the same bytes on disk
    return root


def frame_of(path: Path) -> pd.DataFrame:
    """A Parquet file as a frame (tests inspect what a case wrote)."""
    return pq.read_table(path).to_pandas()
