"""The run folder: round-trip, alignment, commit protocol, kill-and-resume, status, schema, corrupt files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selfmm.runs import layout
from selfmm.runs.discovery import list_runs
from selfmm.runs.io import file_sha256
from selfmm.runs.post import annotate_run
from selfmm.runs.provenance import env_info, git_info, now_iso
from selfmm.runs.reader import RunError, RunReader
from selfmm.runs.writer import RunWriter
from selfmm.testing import write_fake_run

N = {"train": 5, "valid": 3, "test": 2}


def _samples(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for split, n in N.items():
        for i in range(n):
            rows.append(
                {
                    "sample_id": f"{split}_vid$_${i}",
                    "split": split,
                    "index": i,
                    "raw_text": f"text {split} {i}",
                    "y_m": round(0.2 * i - 0.4, 1),
                    "y_T": 0.1 * i,
                    "y_A": -0.1 * i,
                    "y_V": 0.0,
                }
            )
    return pd.DataFrame(rows).iloc[rng.permutation(len(rows))]  # shuffled on purpose


def _labels(epoch: int, rng: np.random.Generator) -> pd.DataFrame:
    i = np.arange(N["train"])
    df = pd.DataFrame({"sample_id": [f"train_vid$_${k}" for k in i], "index": i})
    for j, m in enumerate("TAV"):
        df[f"label_{m}"] = epoch * 10 + i + j / 10  # value encodes (epoch, index, modality)
        df[f"weight_{m}"] = 0.5
    return df.iloc[rng.permutation(len(df))]


def _preds(epoch: int, rng: np.random.Generator) -> pd.DataFrame:
    parts = []
    for split, n in N.items():
        i = np.arange(n)
        d = {"split": split, "sample_id": [f"{split}_vid$_${k}" for k in i], "index": i}
        d.update({f"pred_{m}": epoch + i / 100 for m in "MTAV"})
        parts.append(pd.DataFrame(d))
    df = pd.concat(parts, ignore_index=True)
    return df.iloc[rng.permutation(len(df))]


def _reps(epoch: int) -> dict:
    return {f"{s}/feat_M": np.full((n, 3), epoch + 0.5, np.float32) for s, n in N.items()}


def _metrics(epoch: int) -> list[dict]:
    return [{"split": s, "loss": epoch + k / 10} for k, s in enumerate(N)]


def _write(w: RunWriter, epoch: int, rng, reps: bool = False) -> None:
    w.write_epoch(
        epoch,
        labels=_labels(epoch, rng),
        predictions=_preds(epoch, rng) if epoch else None,
        centers={"M": {"pos": [epoch, 1.0], "neg": [0.0, -1.0]}} if epoch else None,
        representations=_reps(epoch) if reps else None,
        metrics=_metrics(epoch) if epoch else [],
    )


@pytest.fixture
def run(tmp_path):
    rng = np.random.default_rng(0)
    w = RunWriter(tmp_path / "run")
    w.start(config={"dataset": "sims", "seed": 1}, dataset={"name": "sims"}, samples=_samples(rng), git={})
    _write(w, 0, rng)
    w.commit_epoch(0)
    _write(w, 1, rng, reps=True)
    w.commit_epoch(1, best={"epoch": 1, "valid_loss": 1.1})
    return w, rng


def test_round_trip_sorted_aligned_and_typed(run):
    w, _ = run
    r = RunReader(w.run_dir)
    assert r.status == "running" and r.epochs == [0, 1] and r.representation_epochs == [1]
    assert r.manifest["best"] == {"epoch": 1, "valid_loss": 1.1} and r.manifest["pid"] == os.getpid()
    s = r.samples()
    assert list(s["split"]) == ["train"] * 5 + ["valid"] * 3 + ["test"] * 2
    assert list(s["index"]) == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]
    assert s["y_m"].dtype == np.float32 and s["index"].dtype == np.int32
    assert s.loc[(s["split"] == "valid") & (s["index"] == 2), "sample_id"].item() == "valid_vid$_$2"
    assert s.loc[s["sample_id"] == "train_vid$_$3", "y_T"].item() == pytest.approx(0.3)

    lab = r.labels()
    assert list(lab["epoch"]) == [0] * 5 + [1] * 5 and list(lab["index"]) == [0, 1, 2, 3, 4] * 2
    assert lab["label_T"].dtype == np.float32 and lab["epoch"].dtype == np.int32
    assert list(lab["sample_id"].iloc[5:]) == [f"train_vid$_${k}" for k in range(5)]
    np.testing.assert_allclose(lab["label_A"].iloc[5:], [10.1, 11.1, 12.1, 13.1, 14.1], rtol=1e-6)
    assert list(r.labels(epochs=1)["label_T"]) == [10, 11, 12, 13, 14]

    p = r.predictions(split="valid")
    assert list(p["index"]) == [0, 1, 2] and list(p["sample_id"]) == ["valid_vid$_$0", "valid_vid$_$1", "valid_vid$_$2"]
    np.testing.assert_allclose(p["pred_M"], [1.0, 1.01, 1.02], rtol=1e-6)
    assert list(r.predictions()["split"]) == ["train"] * 5 + ["valid"] * 3 + ["test"] * 2

    np.testing.assert_array_equal(r.centers(1)["M"]["pos"], [1.0, 1.0])
    reps = r.representations(1, split="test")
    assert list(reps) == ["test/feat_M"] and reps["test/feat_M"].dtype == np.float32
    assert reps["test/feat_M"].shape == (2, 3) and reps["test/feat_M"][0, 0] == 1.5

    m = r.metrics()
    assert list(m["split"]) == ["train", "valid", "test"] and list(m["loss"]) == [1.0, 1.1, 1.2]
    assert r.projections() is None


def test_misaligned_ids_are_refused(run):
    w, rng = run
    bad = _labels(2, rng).sort_values("index")
    bad.loc[bad["index"] == 1, "sample_id"] = "train_vid$_$4"
    with pytest.raises(RunError, match=r"index 1 has sample_id 'train_vid\$_\$4'"):
        w.write_epoch(2, labels=bad, predictions=None, centers=None, representations=None, metrics=[])
    with pytest.raises(RunError, match="expected '<split>/<name>'"):
        w.write_epoch(
            2, labels=None, predictions=None, centers=None, representations={"train/x": np.zeros((4, 2))}, metrics=[]
        )


def test_uncommitted_epoch_is_invisible(run):
    w, rng = run
    _write(w, 2, rng, reps=True)  # files + metrics lines written, run.json not yet updated
    r = RunReader(w.run_dir)
    assert r.epochs == [0, 1] and r.representation_epochs == [1] and r.prediction_epochs == [1]
    assert sorted(r.metrics()["epoch"].unique()) == [1]
    assert sorted(r.labels()["epoch"].unique()) == [0, 1]
    with pytest.raises(RunError, match="not committed"):
        r.labels(epochs=[2])
    with pytest.raises(RunError, match="epoch_0002.json"):
        r.centers(2)
    w.commit_epoch(2)
    r = RunReader(w.run_dir)
    assert r.epochs == [0, 1, 2] and r.representation_epochs == [1, 2] and len(r.metrics()) == 6


def test_kill_and_resume_neither_duplicates_nor_loses_epochs(run):
    w, rng = run
    _write(w, 2, rng)
    w.commit_epoch(2)
    _write(w, 3, rng, reps=True)  # killed after writing epoch 3, before its commit
    with open(w.run_dir / layout.METRICS_JSONL, "a") as f:
        f.write('{"epoch": 3, "spl')
    (w.run_dir / "labels" / "epoch_0004.parquet.tmp").write_bytes(b"half")
    w.close()  # the killed process's lock and heartbeat die with it

    w2 = RunWriter(w.run_dir, resume=True)
    assert w2.epochs_completed == 2
    assert not (w.run_dir / "labels" / "epoch_0003.parquet").exists()
    assert not (w.run_dir / "representations" / "epoch_0003.safetensors").exists()
    assert not list(w.run_dir.rglob("*.tmp"))
    with pytest.raises(RunError, match="already committed"):
        w2.write_epoch(2, labels=None, predictions=None, centers=None, representations=None, metrics=[])
    _write(w2, 3, rng)
    w2.commit_epoch(3)
    w2.finish("finished", test={"MAE": 0.5})
    r = RunReader(w.run_dir)
    assert r.status == "finished" and r.epochs == [0, 1, 2, 3] and r.representation_epochs == [1]
    m = r.metrics()
    assert list(m["epoch"]) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert len(r.manifest["resumed_at"]) == 1 and r.manifest["test"] == {"MAE": 0.5}
    lines = (w.run_dir / layout.METRICS_JSONL).read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 1, 1, 2, 2, 2, 3, 3, 3]  # torn line removed on disk


def test_labels_extra_round_trip_and_commit(run):
    """The optional generator table: ids filled from samples.parquet, rows sorted, floats stored float32, ints kept;
    invisible until its epoch is committed and removed by a resume like every per-epoch file."""
    w, rng = run
    extra = pd.DataFrame({"index": [4, 0, 2, 1, 3], "p_neg": np.linspace(0, 1, 5), "cls": np.array([2, 0, 1, 1, 0])})
    w.write_epoch(2, labels=None, predictions=None, centers=None, representations=None, metrics=[], labels_extra=extra)
    r = RunReader(w.run_dir)
    assert r.labels_extra() is None and r.labels_extra_epochs == []
    w.commit_epoch(2)
    df = RunReader(w.run_dir).labels_extra()
    assert list(df.columns) == ["epoch", "split", "sample_id", "index", "p_neg", "cls"]
    assert list(df["index"]) == [0, 1, 2, 3, 4] and set(df["split"]) == {"train"} and set(df["epoch"]) == {2}
    assert list(df["sample_id"]) == [f"train_vid$_${k}" for k in range(5)]
    assert df["p_neg"].dtype == np.float32 and df["cls"].dtype == np.int64
    np.testing.assert_allclose(df["p_neg"], [0.25, 0.75, 0.5, 1.0, 0.0])  # index 0 had p_neg 0.25
    assert list(df["cls"]) == [0, 1, 1, 0, 2]
    _write(w, 3, rng)
    w.write_epoch(3, labels=None, predictions=None, centers=None, representations=None, metrics=[], labels_extra=extra)
    w.close()  # killed before committing epoch 3
    w = RunWriter(w.run_dir, resume=True)
    assert not layout.epoch_path(w.run_dir, "labels_extra", 3).exists()
    assert RunReader(w.run_dir).labels_extra_epochs == [2]
    for bad, msg in [
        (extra.drop(columns="index"), "needs an 'index' column"),
        (extra.assign(name="x"), "store numbers only"),
        (extra.assign(sample_id="wrong"), "misaligned"),
    ]:
        with pytest.raises(RunError, match=msg):
            w.write_epoch(3, labels=None, predictions=None, centers=None, representations=None, metrics=[],
                          labels_extra=bad)  # fmt: skip


def test_annotate_run_adds_keys_to_a_finished_run_only(run):
    w, _ = run
    with pytest.raises(RunError, match="still running"):
        annotate_run(w.run_dir, demo={"a": 1})
    w.finish("finished")
    with pytest.raises(RunError, match=r"may not set \['epochs_completed'\]"):
        annotate_run(w.run_dir, epochs_completed=9)
    annotate_run(w.run_dir, demo={"a": 1})
    m = RunReader(w.run_dir).manifest
    assert m["demo"] == {"a": 1} and m["epochs_completed"] == 1 and m["status"] == "finished"


def _raise_in_finishing(w: RunWriter, exc: BaseException, **kw) -> None:
    def inner() -> None:
        raise exc

    with pytest.raises(type(exc)), w.finishing(**kw) as same:
        assert same is w
        inner()


@pytest.mark.parametrize("limit", [None, 5])
def test_finishing_marks_a_raising_body_failed_and_reraises(run, limit):
    w, _ = run
    _raise_in_finishing(w, ValueError("bad batch"), traceback_limit=limit)
    m = RunReader(w.run_dir).manifest
    assert m["status"] == "failed" and m["finished_at"]
    if limit is None:
        assert m["error"] == "ValueError: bad batch"
    else:  # the message, then the traceback: the frames of the with-body down to the raise
        head, tb = m["error"].split("\n", 1)
        assert head == "ValueError: bad batch"
        assert tb.startswith("Traceback (most recent call last):") and "in inner" in tb
        assert tb.rstrip().endswith("ValueError: bad batch")


def test_finishing_marks_interrupted_and_leaves_a_clean_body_running(run):
    w, _ = run
    with w.finishing():
        pass
    assert RunReader(w.run_dir).manifest["status"] == "running"
    _raise_in_finishing(w, KeyboardInterrupt())
    m = RunReader(w.run_dir).manifest
    assert m["status"] == "interrupted" and m["error"] is None


def test_new_writer_refuses_existing_run_and_bad_status(run):
    w, _ = run
    with pytest.raises(RunError, match="already holds a run; pass --resume to continue it or choose a new --out"):
        RunWriter(w.run_dir)
    with pytest.raises(RunError, match="finished, failed, interrupted"):
        w.finish("done")


_HOLDER = """
import sys, time
from selfmm.runs.writer import RunWriter
w = RunWriter(sys.argv[1], resume=True)
print("locked", flush=True)
time.sleep(120)
"""


def test_second_writer_refused_while_one_lives_then_stale_lock_recovered(run):
    """A live writer in another process holds the folder: a second --resume is refused before it deletes
    anything, naming the pid and host; once that process is killed (-9) its lock is free and resume works."""
    import signal
    import socket
    import subprocess
    import sys

    w, rng = run
    _write(w, 2, rng)  # uncommitted epoch 2: a refused resume must not delete it
    w.close()
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(w.run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        _write(w, 2, rng)  # the holder's resume removed it; write it again as that live writer would
        host = socket.gethostname()
        with pytest.raises(
            RunError, match=rf"another selfmm process \(pid {proc.pid} on host {host}, since .*--resume"
        ):
            RunWriter(w.run_dir, resume=True)
        with pytest.raises(RunError, match="already holds a run; pass --resume"):
            RunWriter(w.run_dir)
        assert layout.epoch_path(w.run_dir, "labels", 2).exists()  # nothing deleted by the refused writer
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    w2 = RunWriter(w.run_dir, resume=True)
    assert w2.epochs_completed == 1 and not layout.epoch_path(w.run_dir, "labels", 2).exists()
    assert json.loads((w.run_dir / layout.LOCK_FILE).read_text())["pid"] == os.getpid()
    w2.finish("finished")
    RunWriter(w.run_dir, resume=True).close()  # finish released the lock


def test_heartbeat_keeps_a_remote_run_alive(run):
    """A run on another host whose run.json is hours old is "running" while its writer beats, "stale" after."""
    import time

    w, _ = run
    w.close()
    w = RunWriter(w.run_dir, resume=True, heartbeat_s=0.05)
    _edit_manifest(w.run_dir, host="another-host", updated_at="2000-01-01T00:00:00+00:00")
    beat = w.run_dir / layout.HEARTBEAT_FILE
    (beat).unlink()
    deadline = time.monotonic() + 30
    while not beat.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert RunReader(w.run_dir).status == "running"
    w.close()
    beat.write_text('{"at": "2000-01-01T00:00:00+00:00"}')
    time.sleep(0.2)  # a stopped heartbeat no longer rewrites it
    assert json.loads(beat.read_text())["at"].startswith("2000") and RunReader(w.run_dir).status == "stale"


def test_provisional_representations_leave_in_the_commit(run):
    """Dropped representation epochs leave representation_epochs in the commit's own run.json write; a file
    left by a crash right after that write is ignored by readers and deleted by a resume."""
    w, rng = run
    _write(w, 2, rng, reps=True)
    w.commit_epoch(2, drop_representations=(1,))
    assert RunReader(w.run_dir).representation_epochs == [2]
    assert not layout.epoch_path(w.run_dir, "representations", 1).exists()
    _write(w, 3, rng, reps=True)
    w.commit_epoch(3)
    _edit_manifest(w.run_dir, representation_epochs=[3])  # crash: commit written, epoch 2's file not deleted yet
    assert RunReader(w.run_dir).representation_epochs == [3]
    w.close()
    RunWriter(w.run_dir, resume=True).close()
    assert not layout.epoch_path(w.run_dir, "representations", 2).exists()
    assert RunReader(w.run_dir).representation_epochs == [3]


def _edit_manifest(run_dir, **kv):
    path = run_dir / layout.RUN_JSON
    m = json.loads(path.read_text())
    m.update(kv)
    path.write_text(json.dumps(m))


def test_status_stale_and_running(run):
    w, _ = run
    d = w.run_dir
    assert RunReader(d).status == "running"  # this process is alive on this host
    w.close()
    (d / layout.HEARTBEAT_FILE).write_text('{"at": "2000-01-01T00:00:00+00:00"}')
    _edit_manifest(d, pid=2**22 + 12345)  # above pid_max: no such process
    assert RunReader(d).status == "stale"
    _edit_manifest(d, host="another-host", updated_at="2000-01-01T00:00:00+00:00")
    assert RunReader(d).status == "stale"
    _edit_manifest(d, updated_at=now_iso())
    assert RunReader(d).status == "running"
    _edit_manifest(d, status="failed")
    assert RunReader(d).status == "failed"


def test_schema_newer_refused_older_warned(run):
    w, _ = run
    _edit_manifest(w.run_dir, schema_version=layout.SCHEMA_VERSION + 1)
    with pytest.raises(RunError, match="newer selfmm.*upgrade selfmm"):
        RunReader(w.run_dir)
    w.close()
    with pytest.raises(RunError, match="newer selfmm"):
        RunWriter(w.run_dir, resume=True)
    _edit_manifest(w.run_dir, schema_version=0)
    r = RunReader(w.run_dir)
    assert "schema_version 0" in r.schema_warning and r.epochs == [0, 1]
    assert list(r.labels(epochs=[1])["index"]) == [0, 1, 2, 3, 4]


def test_corrupt_and_missing_files(run, tmp_path):
    w, _ = run
    d = w.run_dir
    with pytest.raises(RunError, match=r"empty[/\\]run.json: not found"):
        RunReader(tmp_path / "empty")
    (d / "labels" / "epoch_0001.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunError, match=r"epoch_0001.parquet: corrupt Parquet"):
        RunReader(d).labels()
    lines = (d / layout.METRICS_JSONL).read_text().splitlines()
    (d / layout.METRICS_JSONL).write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    with pytest.raises(RunError, match="metrics.jsonl: line 2"):
        RunReader(d).metrics()
    (d / layout.METRICS_JSONL).write_text("\n".join(lines) + '\n{"epoch": 1, "sp')
    assert len(RunReader(d).metrics()) == 3  # truncated last line ignored
    (d / layout.RUN_JSON).write_text('{"schema_version": 1, "status": ')
    with pytest.raises(RunError, match="run.json: corrupt manifest"):
        RunReader(d)


def test_list_runs_with_fake_runs_and_a_broken_folder(tmp_path):
    write_fake_run(tmp_path / "a_done", n=(12, 4, 4), epochs=3, representation_epochs=(3,))
    write_fake_run(tmp_path / "b_live", n=(12, 4, 4), epochs=4, status="running", representation_epochs=())
    write_fake_run(tmp_path / "c_killed", n=(12, 4, 4), epochs=4, status="killed", representation_epochs=())
    (tmp_path / "d_broken").mkdir()
    (tmp_path / "d_broken" / "run.json").write_text("{")
    (tmp_path / "not_a_run").mkdir()
    df = list_runs(tmp_path)
    got = dict(zip(df["run_id"], df["status"]))
    assert got == {"a_done": "finished", "b_live": "running", "c_killed": "stale", "d_broken": "broken"}
    row = df.set_index("run_id")
    assert row.loc["a_done", "epochs_completed"] == 3 and row.loc["b_live", "epochs_completed"] == 2
    assert "run.json: corrupt" in row.loc["d_broken", "error"]
    assert not pd.isna(row.loc["a_done", "test/MAE"])
    assert list_runs(tmp_path / "nothing_here").empty


def test_list_runs_finds_nested_experiment_runs_only(tmp_path):
    """Experiment runs sit three levels down (<exp>/<variant>/seed_<n>); a run folder's own subfolders and hidden
    folders are not searched, and max_depth bounds the walk."""
    write_fake_run(tmp_path / "flat", n=(8, 4, 4), epochs=1, representation_epochs=())
    for variant in ("ulgm", "human"):
        write_fake_run(tmp_path / "exp" / variant / "seed_1", n=(8, 4, 4), epochs=1, representation_epochs=())
    write_fake_run(tmp_path / "flat" / "labels" / "stray", n=(8, 4, 4), epochs=1, representation_epochs=())
    write_fake_run(tmp_path / ".trash" / "old", n=(8, 4, 4), epochs=1, representation_epochs=())
    rel = lambda df: sorted(Path(p).relative_to(tmp_path).as_posix() for p in df["path"])  # noqa: E731
    assert rel(list_runs(tmp_path)) == ["exp/human/seed_1", "exp/ulgm/seed_1", "flat"]
    assert rel(list_runs(tmp_path, max_depth=2)) == ["flat"]
    assert rel(list_runs(tmp_path / "exp" / "ulgm" / "seed_1")) == ["exp/ulgm/seed_1"]  # root is a run itself


def test_fake_run_follows_the_self_mm_rules(tmp_path):
    """The fake run against independent values: Self-MM's rules (labels start at y_m and do not move in epoch 1,
    weights are tanh|label(e-1) - y_m|, so 0 in epochs 1 and 2) and metrics recomputed with scikit-learn / scipy."""
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error

    d = write_fake_run(tmp_path / "f", n=(20, 6, 6), epochs=4, representation_epochs=(2, 4))
    r = RunReader(d)
    lab, s, m = r.labels(), r.samples(), r.metrics()
    train = s[s["split"] == "train"].set_index("index")
    by_epoch = {e: g.set_index("index").loc[train.index] for e, g in lab.groupby("epoch")}
    assert sorted(by_epoch) == [0, 1, 2, 3, 4] and len(lab) == 5 * 20
    for e in (0, 1):
        for mod in "TAV":
            assert (by_epoch[e][f"label_{mod}"].to_numpy() == train["y_m"].to_numpy()).all()
    for e in (1, 2):
        assert (by_epoch[e][["weight_T", "weight_A", "weight_V"]].to_numpy() == 0).all()
    w3 = np.tanh(np.abs(by_epoch[2]["label_V"].to_numpy(np.float64) - train["y_m"].to_numpy(np.float64)))
    np.testing.assert_allclose(by_epoch[3]["weight_V"], w3, atol=1e-6)
    assert (by_epoch[3]["weight_V"] > 0).any()
    row = m[(m["epoch"] == 4) & (m["split"] == "train")].iloc[0]
    gen, human = by_epoch[4]["label_T"].to_numpy(np.float64), train["y_T"].to_numpy(np.float64)
    assert row["gen_T/MAE"] == pytest.approx(mean_absolute_error(human, gen), rel=1e-5)
    assert row["gen_T/Corr"] == pytest.approx(pearsonr(gen, human).statistic, abs=1e-5)
    assert r.manifest["best"]["epoch"] in (1, 2, 3, 4) and "MAE" in r.manifest["test"]
    proj = r.projections("pca")
    assert set(proj["epoch"]) == {2, 4} and set(proj["modality"]) == {"M", "T", "A", "V", "all"}


def test_helpers(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(b"abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    env = env_info("cpu")
    assert env["numpy"] == np.__version__ and env["device"] == "cpu" and env["torch"]
    assert git_info(tmp_path) == {"sha": None, "dirty": None}
    assert layout.epoch_path("R", "labels", 3).as_posix() == "R/labels/epoch_0003.parquet"


@pytest.mark.timeout(60)
def test_no_torch_import():
    import subprocess
    import sys

    code = (
        "import sys, selfmm.runs.writer, selfmm.runs.reader, selfmm.runs.discovery, selfmm.analysis, selfmm.projection, "
        "selfmm.testing; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----- one bad run folder (issue 9 item 6): a RunError, or a read with warnings; never anything else --------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    from tests.broken_runs import write_broken_runs

    return write_broken_runs(tmp_path_factory.mktemp("broken"), tmp_path_factory.mktemp("outside"))


def _alone(broken: Path, case: str, tmp_path: Path) -> Path:
    """A root holding the good run and a copy of one case (a symlink stays a symlink)."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(broken / "good", root / "good")
    shutil.copytree(broken / case, root / case, symlinks=True)
    return root


@pytest.mark.parametrize("case", ["config-list", "best-list", "test-list", "epochs-text"])
def test_manifest_of_the_wrong_shape_is_one_broken_row(broken, tmp_path, case):
    from tests.broken_runs import CASES

    df = list_runs(_alone(broken, case, tmp_path)).set_index("path")
    status = {Path(p).name: s for p, s in df["status"].items()}
    assert status == {"good": "finished", case: "broken"}
    assert CASES[case][1] in df.loc[str(tmp_path / "root" / case), "error"]


def test_non_utf8_folder_and_outside_symlink_are_listed(broken, tmp_path):
    import os

    from tests.broken_runs import NON_UTF8, NON_UTF8_KEY

    root = _alone(broken, "outside-link", tmp_path)
    os.rename(os.path.join(os.fsencode(broken), NON_UTF8), os.path.join(os.fsencode(root), NON_UTF8))
    (root / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop is walked once
    df = list_runs(root)
    rows = {Path(p).name: (s, e) for p, s, e in zip(df["path"], df["status"], df["error"], strict=True)}
    assert sorted(rows) == sorted(["good", "outside-link", NON_UTF8_KEY])
    assert rows["outside-link"][0] == "finished"
    assert rows[NON_UTF8_KEY][0] == "broken" and "not valid UTF-8" in rows[NON_UTF8_KEY][1]
    df.to_json()  # every string is UTF-8: it can be shown, cached and sent to the browser


def test_tables_that_break_the_schema_raise_run_error(broken):
    with pytest.raises(RunError, match=r"labels-no-index/labels/epoch_0000.parquet: lacks column\(s\) \['index'\]"):
        RunReader(broken / "labels-no-index").labels()
    with pytest.raises(RunError, match=r"column label_T holds .*string values, expected numbers"):
        RunReader(broken / "labels-string").labels()
    with pytest.raises(RunError, match=r"projections/pca.parquet: lacks column\(s\) \['x'\]"):
        RunReader(broken / "proj-no-x").projections()
    with pytest.raises(RunError, match="samples.parquet has no rows"):
        RunReader(broken / "samples-no-rows").samples()
    with pytest.raises(RunError, match="samples.parquet: corrupt Parquet"):
        RunReader(broken / "samples-zero-bytes").labels()  # the split sizes come from samples.parquet
    with pytest.raises(RunError, match="metrics.jsonl: not UTF-8"):
        RunReader(broken / "metrics-not-utf8").metrics()


def test_bad_values_are_dropped_with_a_warning(broken):
    r = RunReader(broken / "best-epoch-text")
    assert r.manifest["best"]["epoch"] is None and any("best.epoch='twenty'" in w for w in r.warnings)
    r = RunReader(broken / "label-range-text")
    assert r.manifest["dataset"]["label_range"] is None and any("dataset.label_range" in w for w in r.warnings)
    r = RunReader(broken / "test-strings")
    assert r.manifest["test"] == {} and any("test.MAE=" in w for w in r.warnings)
    good = RunReader(broken / "good")
    raw = json.loads((broken / "test-strings" / "run.json").read_text())["test"]
    assert good.warnings == [] and set(good.manifest["test"]) == set(raw)  # the same keys, there as strings


def test_out_of_range_rows_and_missing_columns_and_files_warn(broken):
    r = RunReader(broken / "labels-huge-index")
    lab = r.labels()
    assert lab["index"].max() < 12 and len(lab) == 4 * 12 - 1  # the one bad row is left out, not allocated
    assert any("index 5000000" in w for w in r.warnings)
    r = RunReader(broken / "missing-column")
    lab = r.labels()
    assert lab["label_V"].isna().all() and lab["label_T"].notna().all()
    assert any("without column(s) ['label_V']" in w for w in r.warnings)
    r = RunReader(broken / "missing-label-file")
    assert r.epochs == [0, 1, 3] and any("epoch_0002.parquet" in w for w in r.warnings)
    r = RunReader(broken / "no-predictions")
    assert r.prediction_epochs == [] and any("predictions: missing" in w for w in r.warnings)
    r = RunReader(broken / "no-labels-dir")
    assert r.epochs == [] and any("labels: missing" in w for w in r.warnings)
