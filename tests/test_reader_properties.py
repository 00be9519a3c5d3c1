"""Property tests (issue 9 item 9, the run-reader half): random run.json structures, random metrics.jsonl lines and
random mutations of the Parquet files of a run folder. The property: a RunError (a broken row in list_runs, a
DashboardDataError in the dashboard), or a read whose values have the schema's types; never anything else."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import data
from selfmm.runs import layout
from selfmm.runs.discovery import list_runs
from selfmm.runs.reader import RunError, RunReader
from selfmm.testing import write_fake_run

pytestmark = pytest.mark.timeout(120)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
TYPES = {"str": str, "int": int, "bool": bool}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return write_fake_run(tmp_path_factory.mktemp("tpl") / "run", n=(8, 4, 4), epochs=2, representation_epochs=(2,))


def _copy(template: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix="selfmm-prop-"))
    shutil.copytree(template, root / "run")
    return root


def _manifest_ok(m: dict) -> None:
    for key in layout.MANIFEST_OBJECTS:
        assert m.get(key) is None or isinstance(m[key], dict), key
    for field, kind in layout.MANIFEST_FIELDS.items():
        block, _, key = field.rpartition(".")
        v = (m.get(block) or {}).get(key) if block else m.get(key)
        if v is None:
            continue
        if kind in TYPES:
            assert isinstance(v, TYPES[kind]) and (kind == "bool" or not isinstance(v, bool)), (field, v)
        else:
            assert isinstance(v, int | float) and not isinstance(v, bool), (field, v)
            assert kind == "number" or v > 0, (field, v)
    for v in (m.get("test") or {}).values():
        assert isinstance(v, dict) or (isinstance(v, int | float) and not isinstance(v, bool)), v


def _read_everything(run: Path) -> None:
    """Every reader method and the dashboard's load: RunError / DashboardDataError, or values of the schema."""
    try:
        r = RunReader(run)
    except RunError:
        return
    _manifest_ok(r.manifest)
    assert isinstance(r.epochs_completed, int) and all(isinstance(w, str) for w in r.warnings)
    for method in (r.metrics, r.samples, r.labels, r.predictions, r.projections, r.labels_extra):
        try:
            df = method()
        except RunError:
            continue
        if df is None:
            continue
        assert isinstance(df, pd.DataFrame)
        if method == r.metrics and len(df):
            assert df["epoch"].dtype == np.int32 and all(isinstance(s, str) for s in df["split"])
            other = df.drop(columns=["epoch", "split"])
            assert all(pd.api.types.is_numeric_dtype(other[c]) for c in other.columns), other.dtypes
        if method in (r.labels, r.predictions) and len(df):
            assert df["index"].min() >= 0
            values = [c for c in df.columns if c.startswith(("label_", "weight_", "pred_"))]
            assert all(pd.api.types.is_numeric_dtype(df[c]) for c in values)
        if method == r.labels and len(df):
            assert df["index"].max() < r.split_sizes()["train"]
    try:
        run_data = data.load_run(run)
    except data.DashboardDataError:
        return
    n_train = int((run_data.samples["split"] == "train").sum())
    assert all(a.shape == (n_train, len(run_data.label_epochs)) for a in run_data.gen.values())
    data.sample_table(run_data)
    data.manifest_summary(run_data), data.test_metrics_table(run_data), run_data.best_epoch, run_data.label_range


def _listed_once(root: Path) -> None:
    df = list_runs(root)
    assert len(df) == 1 and df["status"].iloc[0] in (*layout.STATUSES, "stale", "broken")
    df.to_json()  # every value can be shown


json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8
)
fields = sorted({f.split(".")[0] for f in layout.MANIFEST_FIELDS} | set(layout.MANIFEST_OBJECTS))
fields += ["status", "epochs_completed", "representation_epochs", "schema_version"]


@SETTINGS
@given(edits=st.dictionaries(st.sampled_from(fields), json_value, max_size=4),
       nested=st.dictionaries(st.sampled_from(sorted(layout.MANIFEST_FIELDS)), json_value, max_size=4))  # fmt: skip
def test_random_run_json_is_refused_or_read_with_schema_types(template, edits, nested):
    root = _copy(template)
    try:
        m = json.loads((root / "run" / "run.json").read_text())
        m.update(edits)
        for field, v in nested.items():
            block, _, key = field.rpartition(".")
            if not block:
                m[key] = v
            elif isinstance(m.get(block), dict):
                m[block][key] = v
        (root / "run" / "run.json").write_text(json.dumps(m))
        _listed_once(root)
        _read_everything(root / "run")
    finally:
        shutil.rmtree(root)


@SETTINGS
@given(st.lists(json_value.map(json.dumps) | st.binary(max_size=20).map(lambda b: b.decode("latin-1")), max_size=6))
def test_random_metrics_lines(template, lines):
    root = _copy(template)
    try:
        path = root / "run" / layout.METRICS_JSONL
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(line.replace("\n", " ") + "\n" for line in lines))
        _read_everything(root / "run")
    finally:
        shutil.rmtree(root)


FILES = ["samples.parquet", "labels/epoch_0001.parquet", "predictions/epoch_0002.parquet", "projections/pca.parquet"]


def _mutate(table: pa.Table, kind: str, column: int, value) -> pa.Table:
    df = table.to_pandas()
    col = df.columns[column % len(df.columns)]
    if kind == "drop":
        df = df.drop(columns=col)
    elif kind == "strings":
        df[col] = df[col].astype(str)
    elif kind == "value" and len(df):
        df[col] = df[col].astype(object)
        df.loc[df.index[0], col] = value
        try:
            df[col] = pd.to_numeric(df[col])
        except (ValueError, TypeError):
            df[col] = df[col].astype(str)
    elif kind == "rows":
        df = df.iloc[: int(value) % (len(df) + 1) if isinstance(value, int) else 0]
    return pa.Table.from_pandas(df, preserve_index=False)


@settings(SETTINGS, max_examples=80)
@given(
    file=st.sampled_from(FILES),
    kind=st.sampled_from(["drop", "strings", "value", "rows", "bytes"]),
    column=st.integers(0, 20),  # which of the file's columns
    value=st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=4) | st.none(),
    cut=st.integers(0, 4000),
)
def test_mutated_parquet_files(template, file, kind, column, value, cut):
    root = _copy(template)
    try:
        path = root / "run" / file
        if kind == "bytes":
            raw = path.read_bytes()
            path.write_bytes(raw[: cut % (len(raw) + 1)])
        else:
            pq.write_table(_mutate(pq.read_table(path), kind, column, value), path)
        _listed_once(root)
        _read_everything(root / "run")
    finally:
        shutil.rmtree(root)
