"""Issue 9 item 3: hostile pickles that once exhausted memory or CPU end in a one-line DataError.

The probe files live in tests/probes/ (written by tests/probes/make_probes.py; the big ones are written here).
They are loaded in a child process whose address space is capped, so that a regression fails as a MemoryError
instead of taking the machine down, and with an alarm per probe, so that a CPU blow-up fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selfmm.data import DataError, Limits, load_mmsa, safe_load_pickle
from tests.mmsa_fixture import make_mmsa_dict, write_pickle
from tests.probes import make_probes

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, signal, sys, traceback
from selfmm.data import DataError, load_mmsa
with open("/proc/self/status") as f:
    vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (1536 << 20), resource.RLIM_INFINITY))
def alarm(*_):
    raise TimeoutError("ran past 20 s")
signal.signal(signal.SIGALRM, alarm)
out = {}
for p in sys.argv[1:]:
    signal.alarm(20)
    try:
        load_mmsa(p)
        out[p] = ["loaded", ""]
    except DataError as e:
        out[p] = ["DataError", str(e)]
    except BaseException as e:
        out[p] = [type(e).__name__, traceback.format_exc()[-300:]]
    signal.alarm(0)
print(json.dumps(out))
"""


def test_committed_probes_match_the_script():
    for name in make_probes.SMALL:
        want = make_probes.PROBES[name]()
        assert (REPO / "tests" / "probes" / f"{name}.pkl").read_bytes() == want, name
    sizes = {n: len(make_probes.PROBES[n]()) for n in make_probes.SMALL}
    assert sizes["codecs_chain"] < 1300 and sizes["ndarray_1tib"] < 100 and sizes["bytes_2_40"] < 64


def test_every_probe_ends_in_one_line_data_error(tmp_path):
    paths = [REPO / "tests" / "probes" / f"{n}.pkl" for n in make_probes.SMALL]
    paths += list(make_probes.write(tmp_path, make_probes.BIG).values())
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True, env=env, timeout=230
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    for p in paths:
        kind, msg = got[str(p)]
        assert kind == "DataError", (p.name, kind, msg)
        assert str(p) in msg and "\n" not in msg and len(msg) < 500, (p.name, msg)
        assert "refused" in msg, (p.name, msg)


def _write(tmp_path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_each_bound_names_its_reason(tmp_path):
    cases = {
        "codecs_chain": "_codecs.encode",
        "ndarray_1tib": "would allocate more than",
        "ndarray_call_1tib": "calls ndarray",
        "stride0_view": "calls ndarray",
        "bytes_2_40": "bytes()",
        "billion_laughs": "billion laughs",
        "collide_set": "share one hash value",
        "collide_dict": "share one hash value",
    }
    for name, reason in cases.items():
        p = _write(tmp_path, f"{name}.pkl", make_probes.PROBES[name]())
        with pytest.raises(DataError, match="refused") as ei:
            safe_load_pickle(p)
        assert reason in str(ei.value), (name, str(ei.value))


def _nested_list(depth: int) -> bytes:
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def test_nesting_depth_bound(tmp_path):
    ok = safe_load_pickle(_write(tmp_path, "ok.pkl", _nested_list(30)))
    depth = 0
    while ok:
        ok, depth = ok[0], depth + 1
    assert depth == 29
    with pytest.raises(DataError, match="more than 32 deep"):
        safe_load_pickle(_write(tmp_path, "deep.pkl", _nested_list(40)))
    with pytest.raises(DataError, match="more than 20,000 objects wait on its stack"):
        safe_load_pickle(_write(tmp_path, "deeper.pkl", _nested_list(100_000)))


def test_no_container_changes_after_it_is_stored(tmp_path):
    """l = []; l.append(l): a cycle; and a list appended to after it went into a tuple."""
    cyc = b"\x80\x02]q\x00h\x00a."
    late = b"\x80\x02]q\x00h\x00\x85h\x00K\x01a0."
    for name, data in (("cycle.pkl", cyc), ("late.pkl", late)):
        with pytest.raises(DataError, match="after it was stored"):
            safe_load_pickle(_write(tmp_path, name, data))


def test_keys_must_be_atoms(tmp_path):
    """A tuple key would be hashed recursively (a billion-laughs tuple as a key never finishes)."""
    data = b"\x80\x02}(K\x01K\x02\x86N" + b"u."
    with pytest.raises(DataError, match="dict key or set member is a tuple"):
        safe_load_pickle(_write(tmp_path, "tk.pkl", data))
    few = b"\x80\x04\x8f(" + b"".join(make_probes._long(k * make_probes.P) for k in range(1, 9)) + b"\x90."
    assert len(safe_load_pickle(_write(tmp_path, "few.pkl", few))) == 8  # up to 8 collisions are fine


def test_refused_opcodes_and_calls(tmp_path):
    cases = {
        "newobj": (b"\x80\x02cbuiltins\nset\n)\x81.", "NEWOBJ"),
        "persid": (b"\x80\x02K\x01Q.", "BINPERSID"),
        "ext": (b"\x80\x02\x82\x01.", "EXT1"),
        "build_dict": (b"\x80\x02}}b.", "BUILD on a dict"),
        "dtype_struct": (b"\x80\x02cnumpy\ndtype\nX\x04\x00\x00\x00f4,iK\x00K\x01\x87R.", "only simple dtypes"),
        "dtype_nocopy": (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x89\x87R.", "only simple dtypes"),
        "big_long": (b"\x80\x02\x8b\x00\x00\x01\x00" + b"\x01" * 65536 + b".", "integer of 65,536 bytes"),
        "old_protocol": (b"I1\n.", "truncated or corrupt"),
    }
    for name, (data, reason) in cases.items():
        with pytest.raises(DataError) as ei:
            safe_load_pickle(_write(tmp_path, f"{name}.pkl", data))
        assert reason in str(ei.value), (name, str(ei.value))


def test_declared_lengths_beyond_the_file(tmp_path):
    """BINBYTES8 declaring 1 TiB in a 20-byte file: refused before anything is read or allocated."""
    data = b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"abc."
    with pytest.raises(DataError, match="truncated or corrupt|would allocate"):
        safe_load_pickle(_write(tmp_path, "b8.pkl", data))


def test_array_state_must_match_its_data(tmp_path):
    """An array state declaring 2**40 float32 over 8 bytes of data."""
    good = np.arange(2, dtype=np.float32)
    data = __import__("pickle").dumps(good, protocol=2)
    assert safe_load_pickle(_write(tmp_path, "good.pkl", data)).tolist() == [0.0, 1.0]
    bad = data.replace(b"K\x02\x85", make_probes._long(2**40) + b"\x85", 1)
    assert bad != data
    with pytest.raises(DataError, match="refused"):
        safe_load_pickle(_write(tmp_path, "bad.pkl", bad))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_mmsa_shape_loads_at_every_protocol(tmp_path, protocol):
    d = make_mmsa_dict(n=(6, 3, 3))
    p = write_pickle(d, tmp_path / f"p{protocol}.pkl", protocol=protocol)
    data = load_mmsa(p)
    np.testing.assert_array_equal(data.splits["train"].audio, d["train"]["audio"])
    assert list(data.splits["valid"].ids) == list(d["valid"]["id"])
    assert data.splits["test"].raw_text == list(d["test"]["raw_text"])


def test_default_limits_scale_with_the_file(tmp_path):
    d = make_mmsa_dict(n=(6, 3, 3))
    p = write_pickle(d, tmp_path / "x.pkl")
    assert safe_load_pickle(p)["train"]["audio"].shape == d["train"]["audio"].shape
    with pytest.raises(DataError, match="would allocate more than 1,000 bytes"):
        safe_load_pickle(p, Limits(max_bytes=1000))
    with pytest.raises(DataError, match="more than 50 objects"):
        safe_load_pickle(p, Limits(max_objects=50))


def test_cli_prints_one_line(tmp_path):
    """The train command reports a probe as one line on stderr, exit status 2, no traceback."""
    probe = REPO / "tests" / "probes" / "billion_laughs.pkl"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "selfmm", "train", "--data", str(probe), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=200,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and str(probe) in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr
