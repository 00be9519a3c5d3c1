"""selfmm.data: restricted unpickling, MMSA validation, NaN/inf cleaning, batch loading."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from selfmm.data import BatchLoader, DataError, _float32_finite, check_token_ids, load_mmsa, safe_load_pickle
from tests.mmsa_fixture import CLS_ID, SEP_ID, make_mmsa_dict, write_pickle

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mmsa(tmp_path):
    d = make_mmsa_dict()
    return d, write_pickle(d, tmp_path / "tiny.pkl")


# ---------------------------------------------------------------------------------------------------------------
# the fixture itself (other engineers' tests rely on these properties)
# ---------------------------------------------------------------------------------------------------------------


def test_fixture_layout():
    d = make_mmsa_dict(n=(24, 8, 8), L=10, Ta=12, Da=5, Tv=9, Dv=7, Dt=16)
    tr = d["train"]
    assert tr["audio"].shape == (24, 12, 5) and tr["audio"].dtype == np.float32
    assert tr["vision"].shape == (24, 9, 7) and tr["text"].shape == (24, 10, 16)
    assert tr["text_bert"].shape == (24, 3, 10)
    assert tr["id"][0] == "video_0001$_$1" and tr["id"][4] == "video_0002$_$2"
    assert len(set(np.concatenate([d[s]["id"] for s in ("train", "valid", "test")]))) == 40  # unique ids
    for s in ("train", "valid", "test"):
        x = d[s]
        assert (x["regression_labels"] == 0).any()
        np.testing.assert_allclose(x["regression_labels"] * 5, np.round(x["regression_labels"] * 5), atol=1e-5)
        assert x["audio_lengths"].min() == 1 and x["audio_lengths"].max() == 12
        # padding at the end: every frame at or past the length is exactly zero, the last real frame is not
        for i, n in enumerate(x["audio_lengths"]):
            assert not x["audio"][i, n:].any() and x["audio"][i, n - 1].any()
        ids, mask = x["text_bert"][:, 0], x["text_bert"][:, 1]
        k = mask.sum(1).astype(int)
        assert (ids[:, 0] == CLS_ID).all() and (ids[np.arange(len(k)), k - 1] == SEP_ID).all()
        assert set(np.unique(mask)) <= {0.0, 1.0} and not x["text_bert"][:, 2].any()
    assert make_mmsa_dict(seed=3)["train"]["audio"].tobytes() == make_mmsa_dict(seed=3)["train"]["audio"].tobytes()
    al = make_mmsa_dict(aligned=True)["train"]
    assert "audio_lengths" not in al and al["audio"].shape[1] == al["vision"].shape[1] == 10
    assert "regression_labels_T" not in make_mmsa_dict(human=False)["valid"]


# ---------------------------------------------------------------------------------------------------------------
# safe_load_pickle
# ---------------------------------------------------------------------------------------------------------------


def _payload():
    return {
        "f": np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5,
        "i": np.array([3, 1, 2], dtype=np.int64),
        "o": np.array(["video_0001$_$1", "视频 2", ""], dtype=object),
        "u": np.array(["ab", "c"]),
        "s": np.float64(2.5),
        "l": [1, 2.0, "x", (None, True)],
        "set": {1, 2},
        "b": b"\x00\xff",
        "nested": {"train": {"audio": np.full((2, 2, 2), -np.inf, dtype=np.float32)}},
    }


def _assert_payload_equal(got, want):
    assert got.keys() == want.keys()
    for k in ("f", "i", "o", "u"):
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])
    assert got["s"] == 2.5 and isinstance(got["s"], np.float64)
    assert got["l"] == want["l"] and got["set"] == {1, 2} and got["b"] == b"\x00\xff"
    np.testing.assert_array_equal(got["nested"]["train"]["audio"], want["nested"]["train"]["audio"])


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_safe_load_roundtrip(tmp_path, protocol):
    want = _payload()
    p = tmp_path / f"p{protocol}.pkl"
    p.write_bytes(pickle.dumps(want, protocol=protocol))
    _assert_payload_equal(safe_load_pickle(p), want)


def _rename_global(data: bytes, old: bytes, new: bytes) -> bytes:
    """Rename a module inside a pickle stream, fixing the length prefixes a protocol-4 stream carries.

    Protocol 2 writes GLOBAL 'module\\nname\\n' (newline-terminated); protocol 4 writes SHORT_BINUNICODE
    (\\x8c + 1-byte length) inside FRAMEs (\\x95 + 8-byte length) that must shrink with it.
    """
    if data[1] < 4:
        assert b"c" + old + b"\n" in data
        return data.replace(b"c" + old + b"\n", b"c" + new + b"\n")
    head, pos, out = data[:2], 2, []
    while pos < len(data):
        assert data[pos] == 0x95, "test payload expected to be fully framed"
        (n,) = struct.unpack("<Q", data[pos + 1 : pos + 9])
        frame = data[pos + 9 : pos + 9 + n]
        frame = frame.replace(bytes([0x8C, len(old)]) + old, bytes([0x8C, len(new)]) + new)
        out.append(b"\x95" + struct.pack("<Q", len(frame)) + frame)
        pos += 9 + n
    return head + b"".join(out)


@pytest.mark.parametrize("protocol", [2, 4])
def test_numpy_core_spelling_accepted(tmp_path, protocol):
    """Files written under numpy 1.x name numpy.core.multiarray; numpy 2 names numpy._core.multiarray."""
    want = _payload()
    data = pickle.dumps(want, protocol=protocol)
    assert b"numpy._core.multiarray" in data
    old = _rename_global(data, b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy._core.multiarray" not in old and b"numpy.core.multiarray" in old
    p = tmp_path / "np1.pkl"
    p.write_bytes(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # must not go through the deprecated numpy.core shim
        _assert_payload_equal(safe_load_pickle(p), want)


@pytest.mark.parametrize("protocol", [2, 5])
def test_unsigned_integer_arrays_and_scalars(tmp_path, protocol):
    """numpy pickles unsigned dtypes as 'u1'...'u8' (found by tests/test_data_properties.py: they were refused)."""
    want = {dt: np.arange(3, dtype=dt) for dt in ("u1", "u2", "u4", "u8")} | {"s": np.uint16(7)}
    p = tmp_path / "u.pkl"
    p.write_bytes(pickle.dumps(want, protocol=protocol))
    got = safe_load_pickle(p)
    for dt in ("u1", "u2", "u4", "u8"):
        assert got[dt].dtype == np.dtype(dt) and got[dt].tolist() == [0, 1, 2]
    assert got["s"] == 7 and type(got["s"]) is np.uint16


class _Hostile:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _hostile_cases(marker):
    return {
        "os.system": (os.system, (f"touch {marker}",)),
        "subprocess.Popen": (subprocess.Popen, (["touch", str(marker)],)),
        "builtins.eval": (eval, (f"open({str(marker)!r}, 'w').close()",)),
    }


@pytest.mark.parametrize("case", ["os.system", "subprocess.Popen", "builtins.eval"])
def test_hostile_pickle_refused(tmp_path, case):
    marker = tmp_path / "pwned"
    func, args = _hostile_cases(marker)[case]
    d = make_mmsa_dict(n=(3, 2, 2))
    d["train"]["raw_text"] = [_Hostile(func, args)] * 3  # hidden inside an otherwise valid file
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps(d, protocol=4))
    with pytest.raises(DataError) as ei:
        load_mmsa(p)
    msg = str(ei.value)
    assert str(p) in msg and "refused" in msg
    refused = {"os.system": ("posix.system", "os.system"), "subprocess.Popen": ("subprocess.Popen",)}
    assert any(name in msg for name in refused.get(case, ("builtins.eval",)))
    assert not marker.exists()


def test_hostile_payload_is_live(tmp_path):
    """Control: the eval payload really creates the marker under plain pickle.loads (so the test above can fail)."""
    marker = tmp_path / "control"
    func, args = _hostile_cases(marker)["builtins.eval"]
    pickle.loads(pickle.dumps(_Hostile(func, args)))
    assert marker.exists()


@pytest.mark.parametrize("cut", [0, 10, 0.5, -1])
def test_truncated_or_corrupt(tmp_path, mmsa, cut):
    _, p = mmsa
    data = p.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) - 1)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(data[:n])
    with pytest.raises(DataError, match="truncated or corrupt") as ei:
        safe_load_pickle(bad)
    assert str(bad) in str(ei.value)


def test_not_a_pickle_and_missing_file(tmp_path):
    p = tmp_path / "notes.pkl"
    p.write_text("hello, I am a CSV,1,2,3\n")
    with pytest.raises(DataError, match="truncated or corrupt"):
        safe_load_pickle(p)
    with pytest.raises(DataError, match="no such file"):
        load_mmsa(tmp_path / "absent.pkl")
    q = write_pickle([1, 2, 3], tmp_path / "list.pkl")
    with pytest.raises(DataError, match="expected a dict with train/valid/test"):
        load_mmsa(q)


# ---------------------------------------------------------------------------------------------------------------
# load_mmsa
# ---------------------------------------------------------------------------------------------------------------


def test_load_unaligned(mmsa):
    d, p = mmsa
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean file warns about nothing
        data = load_mmsa(p, dataset="sims")
    assert not data.aligned and data.label_range == 1.0 and data.has_human_unimodal
    assert data.feature_dims == {"text": 768, "audio": 5, "vision": 7}
    assert data.seq_lens == {"text": 10, "audio": 12, "vision": 9}
    assert {s: len(v) for s, v in data.splits.items()} == {"train": 24, "valid": 8, "test": 8}
    for s, sp in data.splits.items():
        src = d[s]
        assert sp.name == s
        assert sp.ids.dtype == object and all(type(x) is str for x in sp.ids)
        assert list(sp.ids) == list(src["id"]) and sp.raw_text == list(src["raw_text"])
        for key, arr in (("audio", sp.audio), ("vision", sp.vision), ("text_bert", sp.text_bert)):
            assert arr.dtype == np.float32
            np.testing.assert_array_equal(arr, src[key])
        assert sp.text is None  # bert mode does not keep the (large) precomputed features
        assert sp.audio_lengths.dtype == np.int64 and sp.vision_lengths.dtype == np.int64
        np.testing.assert_array_equal(sp.audio_lengths, src["audio_lengths"])
        np.testing.assert_array_equal(sp.y_m, src["regression_labels"])
        assert sorted(sp.y_human) == ["A", "T", "V"]
        np.testing.assert_array_equal(sp.y_human["A"], src["regression_labels_A"])
    s = data.summary()
    assert s["n_train"] == 24 and s["aligned"] is False and s["name"] == "sims"


def test_load_precomputed_no_human_mosi_range(tmp_path):
    d = make_mmsa_dict(human=False, label_range=3.0, Dt=16)
    assert np.abs(d["train"]["regression_labels"]).max() > 1.0  # really uses the [-3, 3] range
    p = write_pickle(d, tmp_path / "mosi.pkl")
    data = load_mmsa(p, dataset="mosi", text_mode="precomputed")
    assert data.label_range == 3.0 and not data.has_human_unimodal and data.splits["test"].y_human == {}
    assert data.feature_dims["text"] == 16 and data.seq_lens["text"] == 10
    np.testing.assert_array_equal(data.splits["valid"].text, d["valid"]["text"])
    with pytest.raises(DataError, match=r"outside \[-1, 1\]"):
        load_mmsa(p, dataset="sims")  # the same labels are out of range for SIMS


def test_float64_converted_and_float32_not_copied(tmp_path):
    d = make_mmsa_dict()
    for s in ("train", "valid", "test"):
        d[s]["vision"] = d[s]["vision"].astype(np.float64)
        d[s]["text_bert"] = d[s]["text_bert"].astype(np.int64)  # integer ids are accepted too
        d[s]["audio_lengths"] = d[s]["audio_lengths"].astype(np.float64)  # whole-number floats are accepted
    data = load_mmsa(write_pickle(d, tmp_path / "f64.pkl"))
    sp = data.splits["train"]
    assert sp.vision.dtype == np.float32 and sp.text_bert.dtype == np.float32
    np.testing.assert_allclose(sp.vision, d["train"]["vision"], rtol=1e-6)
    a = np.ones((4, 3, 2), dtype=np.float32)
    assert np.shares_memory(_float32_finite(None, "train", "audio", a, 3, {}), a)


def test_aligned_lengths_are_mask_sums(tmp_path):
    d = make_mmsa_dict(aligned=True)
    data = load_mmsa(write_pickle(d, tmp_path / "aligned.pkl"))
    assert data.aligned
    for s, sp in data.splits.items():
        want = d[s]["text_bert"][:, 1].sum(1).astype(np.int64)
        np.testing.assert_array_equal(sp.audio_lengths, want)
        np.testing.assert_array_equal(sp.vision_lengths, want)
    assert data.seq_lens == {"text": 10, "audio": 10, "vision": 10}


def _mutations():
    """name -> (mutate(d), expected message fragments)."""

    def setkey(split, key, fn):
        def m(d):
            d[split][key] = fn(d[split][key])

        return m

    def delkey(split, key):
        return lambda d: d[split].pop(key)

    def set_item(split, key, pos, value):
        def m(d):
            d[split][key][pos] = value

        return m

    return {
        "missing split": (lambda d: d.pop("valid"), ["'valid'", "missing"]),
        "missing text_bert": (delkey("test", "text_bert"), ["'test'", "'text_bert'", "missing", "precomputed"]),
        "missing audio": (delkey("train", "audio"), ["'train'", "'audio'", "missing"]),
        "missing vision_lengths": (delkey("train", "vision_lengths"), ["'vision_lengths'", "missing"]),
        "missing id": (delkey("valid", "id"), ["'valid'", "'id'", "missing"]),
        "missing human A": (delkey("train", "regression_labels_A"), ["'regression_labels_A'", "all of T, A, V"]),
        "rows audio": (setkey("valid", "audio", lambda a: a[:-1]), ["'valid'", "'audio'", "7 rows", "8"]),
        "rows text_bert": (setkey("train", "text_bert", lambda a: a[:5]), ["'train'", "'text_bert'", "5 rows"]),
        "rows lengths": (setkey("test", "vision_lengths", lambda a: a[:3]), ["'test'", "'vision_lengths'", "3 rows"]),
        "rows id": (setkey("train", "id", lambda a: a[:-2]), ["'train'", "'id'", "22 rows"]),
        "ndim vision": (setkey("train", "vision", lambda a: a[:, 0]), ["'train'", "'vision'", "2-D", "3-D"]),
        "ndim text_bert": (setkey("valid", "text_bert", lambda a: a[:, :2]), ["'valid'", "'text_bert'", "(N, 3, L)"]),
        "ndim labels": (setkey("train", "regression_labels", lambda a: np.stack([a, a], 1)), ["'regression_labels'"]),
        "length too long": (set_item("train", "audio_lengths", 5, 13), ["'audio_lengths'", "row 5", "13", "12 frames"]),
        "length zero": (set_item("valid", "vision_lengths", 2, 0), ["'valid'", "'vision_lengths'", "row 2", ">= 1"]),
        "length negative": (set_item("test", "audio_lengths", 0, -3), ["'audio_lengths'", "row 0", "-3"]),
        "length fractional": (setkey("train", "audio_lengths", lambda a: a + 0.5), ["non-integer"]),
        "label range": (set_item("train", "regression_labels", 7, 1.2), ["'regression_labels'", "row 7", "1.2"]),
        "label nan": (set_item("test", "regression_labels", 1, np.nan), ["'test'", "NaN", "row 1"]),
        "human label range": (set_item("valid", "regression_labels_V", 0, -1.4), ["'regression_labels_V'", "-1.4"]),
        "ids not integer": (set_item("train", "text_bert", (4, 0, 3), 2001.5), ["'text_bert'", "not non-negative int"]),
        "ids nan": (set_item("valid", "text_bert", (0, 0, 1), np.nan), ["'valid'", "'text_bert'", "integers"]),
        "feature dim": (setkey("test", "audio", lambda a: a[:, :, :4]), ["'test'", "'audio'", "dim 4", "train's 5"]),
    }


@pytest.mark.parametrize("case", list(_mutations()))
def test_validation_errors(tmp_path, case):
    mutate, fragments = _mutations()[case]
    d = make_mmsa_dict()
    mutate(d)
    p = write_pickle(d, tmp_path / "broken.pkl")
    with pytest.raises(DataError) as ei:
        load_mmsa(p, dataset="sims")
    msg = str(ei.value)
    assert str(p) in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_precomputed_requires_text(tmp_path):
    d = make_mmsa_dict()
    del d["valid"]["text"]
    p = write_pickle(d, tmp_path / "notext.pkl")
    load_mmsa(p, text_mode="bert")  # fine: bert mode does not need it
    with pytest.raises(DataError, match=r"split 'valid', key 'text': is missing.*text_mode='bert'"):
        load_mmsa(p, text_mode="precomputed")


def test_bad_arguments(mmsa):
    _, p = mmsa
    with pytest.raises(DataError, match="dataset='imdb'"):
        load_mmsa(p, dataset="imdb")
    with pytest.raises(DataError, match="text_mode='glove'"):
        load_mmsa(p, text_mode="glove")


def test_nonfinite_features_replaced_and_counted_once(tmp_path):
    d = make_mmsa_dict()
    d["train"]["audio"][0, 0, 0] = -np.inf
    d["train"]["audio"][3, 2, 1] = np.nan
    d["train"]["audio"][5, 1, 4] = -np.inf
    d["test"]["vision"][1, 0, :2] = np.inf
    d["valid"]["text"][0, 0, 0] = np.nan
    clean = make_mmsa_dict()  # same seed: the values that must survive unchanged
    p = write_pickle(d, tmp_path / "inf.pkl")
    with pytest.warns(RuntimeWarning) as rec:
        data = load_mmsa(p, text_mode="precomputed")
    msgs = [str(w.message) for w in rec if "non-finite" in str(w.message)]
    assert len(msgs) == 1 and "\n" not in msgs[0]
    assert str(p) in msgs[0] and "replaced 6 " in msgs[0]
    assert "train/audio=3" in msgs[0] and "test/vision=2" in msgs[0] and "valid/text=1" in msgs[0]
    assert "valid/audio" not in msgs[0]
    tr = data.splits["train"].audio
    assert tr[0, 0, 0] == 0 and tr[3, 2, 1] == 0 and tr[5, 1, 4] == 0 and np.isfinite(tr).all()
    expect = clean["train"]["audio"].copy()
    expect[0, 0, 0] = expect[3, 2, 1] = expect[5, 1, 4] = 0
    np.testing.assert_array_equal(tr, expect)
    assert (data.splits["test"].vision[1, 0, :2] == 0).all()
    np.testing.assert_array_equal(data.splits["test"].vision[1, 0, 2:], clean["test"]["vision"][1, 0, 2:])


def test_nonfinite_in_readonly_buffer(tmp_path):
    """Protocol-5 arrays may come back read-only; cleaning must then copy instead of failing."""
    a = np.frombuffer(np.array([1.0, -np.inf, 3.0, np.nan], dtype=np.float32).tobytes(), dtype=np.float32)
    a = a.reshape(1, 2, 2)
    assert not a.flags.writeable
    counts = {}
    out = _float32_finite(None, "train", "audio", a, 3, counts)
    np.testing.assert_array_equal(out, [[[1.0, 0.0], [3.0, 0.0]]])
    assert counts == {"train/audio": 2}


# ---------------------------------------------------------------------------------------------------------------
# content checks (selfmm.data.checks): refused with one line, or warned about and used
# ---------------------------------------------------------------------------------------------------------------


def _load_mutated(tmp_path, mutate, **kw):
    d = make_mmsa_dict()
    mutate(d)
    return load_mmsa(write_pickle(d, tmp_path / "m.pkl"), **kw), tmp_path / "m.pkl"


def _refused(tmp_path, mutate, **kw) -> str:
    with pytest.raises(DataError) as ei:
        _load_mutated(tmp_path, mutate, **kw)
    msg = str(ei.value)
    assert str(tmp_path / "m.pkl") in msg and "\n" not in msg
    return msg


def _set(split, key, pos, value):
    def m(d):
        d[split][key][pos] = value

    return m


def test_duplicate_id_within_a_split_refused(tmp_path):
    msg = _refused(tmp_path, _set("train", "id", 3, "video_0001$_$1"))
    assert "split 'train', key 'id': id 'video_0001$_$1' at row 3 is also at row 0;" in msg
    assert "own id" in msg


def test_same_id_in_two_splits_refused(tmp_path):
    d = make_mmsa_dict()
    msg = _refused(tmp_path, _set("test", "id", 2, d["valid"]["id"][5]))
    assert f"split 'test', key 'id': id {d['valid']['id'][5]!r} at row 2 is also at row 5 of split 'valid'" in msg


def test_none_id_refused(tmp_path):
    assert "split 'valid', key 'id': row 4 is None" in _refused(tmp_path, _set("valid", "id", 4, None))


@pytest.mark.parametrize(
    "row, value, fragment",
    [(1, 2.0, "attention-mask value 2 at row 6, position 3"), (2, 2.0, "segment id 2 at row 6, position 3"),
     (2, 1.0, None)],
)  # fmt: skip
def test_mask_and_segment_values(tmp_path, row, value, fragment):
    mutate = _set("train", "text_bert", (6, row, 3), value)
    if fragment is None:  # segment id 1 (a sentence pair) is valid BERT input
        data, _ = _load_mutated(tmp_path, mutate)
        assert data.splits["train"].text_bert[6, 2, 3] == 1
        return
    msg = _refused(tmp_path, mutate)
    assert "split 'train', key 'text_bert': " + fragment in msg and "re-tokenise" in msg


def test_segment_ids_not_checked_where_unused(tmp_path):
    """An aligned file in precomputed mode reads text_bert only for the mask: segment ids do not matter there."""
    d = make_mmsa_dict(aligned=True)
    d["valid"]["text_bert"][0, 2, 0] = 7
    data = load_mmsa(write_pickle(d, tmp_path / "a.pkl"), text_mode="precomputed")
    assert data.splits["valid"].text_bert[0, 2, 0] == 7
    with pytest.raises(DataError, match="segment id 7 at row 0, position 0"):
        load_mmsa(tmp_path / "a.pkl", text_mode="bert")


def test_all_zero_mask_warned_and_used(tmp_path):
    d = make_mmsa_dict(aligned=True)
    d["test"]["text_bert"][[2, 5], 1] = 0
    with pytest.warns(RuntimeWarning) as rec:
        data = load_mmsa(write_pickle(d, tmp_path / "z.pkl"))
    msgs = [str(w.message) for w in rec if "all-zero attention mask" in str(w.message)]
    assert msgs == [
        f"{tmp_path / 'z.pkl'}: split 'test', key 'text_bert': all-zero attention mask in 2 of 8 rows (first at row "
        "2): the text model sees only padding for them (aligned files: audio/vision length 1)"
    ]
    assert data.splits["test"].audio_lengths[2] == data.splits["test"].vision_lengths[5] == 1


@pytest.mark.parametrize(
    "key, cut, fragment",
    [("audio", (slice(None), slice(None), slice(0, 0)), "has shape (N, 12, 0): its feature dimension is 0"),
     ("vision", (slice(None), slice(0, 0)), "has shape (N, 0, 7): its padded length is 0"),
     ("text", (slice(None), slice(None), slice(0, 0)), "has shape (N, 10, 0): its feature dimension is 0"),
     ("text_bert", (slice(None), slice(None), slice(0, 0)), "has shape (N, 3, 0): no tokens")],
)  # fmt: skip
def test_empty_axis_refused(tmp_path, key, cut, fragment):
    def mutate(d):
        for s in ("train", "valid", "test"):
            d[s][key] = d[s][key][cut]

    mode = "precomputed" if key == "text" else "bert"
    msg = _refused(tmp_path, mutate, text_mode=mode)
    assert f"split 'train', key {key!r}: " + fragment.replace("N", "24") in msg


def test_raw_text_none_warned(tmp_path):
    def mutate(d):
        d["train"]["raw_text"][[1, 4]] = None
        d["valid"]["raw_text"] = None

    with pytest.warns(RuntimeWarning) as rec:
        data, p = _load_mutated(tmp_path, mutate)
    msgs = sorted(str(w.message) for w in rec if "raw_text" in str(w.message))
    assert msgs == [
        f"{p}: split 'train', key 'raw_text': None in 2 of 24 rows (first at row 1); shown as empty text",
        f"{p}: split 'valid', key 'raw_text' is None: the samples are shown without their text",
    ]
    tr = data.splits["train"].raw_text
    assert tr[1] == tr[4] == "" and tr[0].startswith("clip ") and data.splits["valid"].raw_text == [""] * 8


def test_human_labels_in_some_splits_warned_and_dropped(tmp_path):
    def mutate(d):
        for m in "TAV":
            del d["valid"][f"regression_labels_{m}"]

    with pytest.warns(RuntimeWarning, match=r"are in train, test but not in valid: ignored"):
        data, _ = _load_mutated(tmp_path, mutate)
    assert not data.has_human_unimodal and all(sp.y_human == {} for sp in data.splits.values())
    assert "y_T" not in next(iter(BatchLoader(data.splits["train"], 4, False, None)))


@pytest.mark.parametrize("value, dtype", [(1e30, np.float32), (2**63 + 5, np.uint64)])
def test_huge_lengths_refused_without_numpy_warnings(tmp_path, value, dtype):
    """Found by tests/test_data_properties.py: a float 1e30 length was cast with numpy's 'invalid value' warning and
    reported as length -9223372036854775808; a uint64 beyond int64 wrapped to a negative length."""

    def mutate(d):
        d["valid"]["vision_lengths"] = d["valid"]["vision_lengths"].astype(dtype)
        d["valid"]["vision_lengths"][3] = value

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        msg = _refused(tmp_path, mutate)
    assert f"split 'valid', key 'vision_lengths': row 3 has length {np.array(value, dtype):g};" in msg


def test_values_beyond_float32_without_numpy_warnings(tmp_path):
    """float64 values past float32's range: features are replaced and counted like inf, a label or token id is
    refused; numpy's 'overflow encountered in cast' never reaches the user (found by the property tests)."""

    def big(split, key, pos):
        def m(d):
            d[split][key] = d[split][key].astype(np.float64)
            d[split][key][pos] = 1e300

        return m

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        data, p = _load_mutated(tmp_path, big("train", "audio", (2, 0, 1)))
    assert [str(w.message) for w in rec] == [
        f"{p}: replaced 1 non-finite feature values (-inf/inf/NaN, or beyond float32) by 0: train/audio=1"
    ]
    assert data.splits["train"].audio[2, 0, 1] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        msg = _refused(tmp_path, big("test", "regression_labels", 4))
        assert "split 'test', key 'regression_labels': 1 labels outside [-1, 1] (row 4: 1e+300)" in msg
        msg = _refused(tmp_path, big("valid", "text_bert", (1, 0, 2)))
        assert "split 'valid', key 'text_bert': holds values that are not non-negative integers" in msg


def test_split_with_non_string_keys(tmp_path):
    """A missing key in a split dict whose keys mix types: the message lists them (it raised TypeError)."""

    def mutate(d):
        d["train"][5] = 1
        d["train"][None] = 2
        d["train"]["x" * 5000] = 3
        del d["train"]["audio"]

    msg = _refused(tmp_path, mutate)
    assert "split 'train', key 'audio': is missing; this file has keys [" in msg and "5, " in msg
    assert "None" in msg and len(msg) < 1500


def test_token_ids_beyond_the_vocabulary(tmp_path):
    d = make_mmsa_dict()
    d["valid"]["text_bert"][3, 0, 2] = 21128  # bert-base-chinese has ids 0..21127
    p = write_pickle(d, tmp_path / "v.pkl")
    data = load_mmsa(p)
    check_token_ids(data, 21129)
    check_token_ids(data, None)  # precomputed text: no vocabulary
    with pytest.raises(DataError) as ei:
        check_token_ids(data, 21128)
    assert str(ei.value).startswith(
        f"{p}: split 'valid', key 'text_bert': token id 21128 at row 3 does not fit the text model's vocabulary of "
        "21128 entries; "
    )


def test_train_refuses_token_ids_beyond_the_vocabulary_in_one_line(tmp_path, capsys):
    from selfmm.train import main

    d = make_mmsa_dict(n=(6, 3, 3))
    d["test"]["text_bert"][1, 0, 1] = 40000  # a bert-base-uncased-sized id in a SIMS (21,128-entry) file
    p = write_pickle(d, tmp_path / "v.pkl")
    out = tmp_path / "run"
    argv = ["--data", str(p), "--preset", "tiny", "--out", str(out), "-q", "--threads", "1", "--set"]
    argv += ["tiny_bert_hidden=16", "tiny_bert_layers=1", "tiny_bert_heads=2", "max_epochs=1", "projection=none"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{p}: split 'test', key 'text_bert': token id 40000 at row 1" in err[0]
    assert not out.exists()  # refused before a run folder was started


def test_representations_beyond_float16_kept(tmp_path):
    """float16 overflows at 65504: such an array is stored float32 instead of as inf."""
    from selfmm.runs.reader import RunReader
    from selfmm.runs.writer import RunWriter

    samples = pd.DataFrame({"sample_id": [f"{s}{i}" for s in ("a", "b", "c") for i in range(2)],
                            "split": np.repeat(["train", "valid", "test"], 2), "index": [0, 1] * 3,
                            "raw_text": "", "y_m": 0.0})  # fmt: skip
    w = RunWriter(tmp_path / "run")
    w.start(config={"dataset": "sims"}, dataset={"name": "sims"}, samples=samples, git={})
    big = np.array([[1e6, -7e4], [0.5, np.nan]], np.float32)
    small = np.array([[0.5, -2.0], [3.0, 60000.0]], np.float32)
    w.write_epoch(1, labels=None, predictions=None, centers=None, metrics=[],
                  representations={"train/feat_M": big, "valid/feat_M": small})  # fmt: skip
    w.commit_epoch(1)
    w.finish("finished")
    reps = RunReader(tmp_path / "run").representations(1)
    np.testing.assert_array_equal(reps["train/feat_M"], big)
    np.testing.assert_array_equal(reps["valid/feat_M"], small.astype(np.float16))


# ---------------------------------------------------------------------------------------------------------------
# BatchLoader
# ---------------------------------------------------------------------------------------------------------------


def _check_batch(sp, b, text_mode="bert"):
    idx = b["index"].numpy()
    B = len(idx)
    assert b["index"].dtype == torch.int64
    for k in ("audio_lengths", "vision_lengths"):
        assert b[k].dtype == torch.int64 and b[k].device.type == "cpu" and b[k].shape == (B,)
    np.testing.assert_array_equal(b["audio_lengths"].numpy(), sp.audio_lengths[idx])
    np.testing.assert_array_equal(b["vision_lengths"].numpy(), sp.vision_lengths[idx])
    ta, tv = int(sp.audio_lengths[idx].max()), int(sp.vision_lengths[idx].max())
    assert b["audio"].shape == (B, ta, sp.audio.shape[2]) and b["vision"].shape == (B, tv, sp.vision.shape[2])
    np.testing.assert_array_equal(b["audio"].numpy(), sp.audio[idx, :ta])
    np.testing.assert_array_equal(b["vision"].numpy(), sp.vision[idx, :tv])
    assert not sp.audio[idx, ta:].any()  # trimming dropped only padding
    src = sp.text_bert if text_mode == "bert" else sp.text
    np.testing.assert_array_equal(b["text"].numpy(), src[idx])
    np.testing.assert_array_equal(b["y_m"].numpy(), sp.y_m[idx])
    for m, y in sp.y_human.items():
        np.testing.assert_array_equal(b[f"y_{m}"].numpy(), y[idx])
    return idx


def test_batchloader_sequential(mmsa):
    _, p = mmsa
    sp = load_mmsa(p).splits["train"]
    bl = BatchLoader(sp, batch_size=10, shuffle=False, generator=None)
    assert len(bl) == 3
    batches = list(bl)
    assert [len(b["index"]) for b in batches] == [10, 10, 4]
    np.testing.assert_array_equal(np.concatenate([_check_batch(sp, b) for b in batches]), np.arange(24))
    # a batch holding the full-length sample (row 0) keeps every frame
    assert batches[0]["audio"].shape[1] == 12


def test_batchloader_shuffle_order_and_alignment(mmsa):
    _, p = mmsa
    sp = load_mmsa(p).splits["train"]
    gen = torch.Generator().manual_seed(7)
    bl = BatchLoader(sp, batch_size=5, shuffle=True, generator=gen)
    state = gen.get_state()
    epoch1 = np.concatenate([_check_batch(sp, b) for b in bl])
    assert sorted(epoch1) == list(range(24)) and list(epoch1) != list(range(24))
    np.testing.assert_array_equal(epoch1, torch.randperm(24, generator=torch.Generator().manual_seed(7)).numpy())
    epoch2 = np.concatenate([b["index"].numpy() for b in bl])
    assert list(epoch2) != list(epoch1)  # the generator advances between epochs
    gen.set_state(state)  # resume: restoring the generator state replays the epoch exactly
    np.testing.assert_array_equal(np.concatenate([b["index"].numpy() for b in bl]), epoch1)
    # the ids follow the index: batch rows map back to the pickle's ids
    b = next(iter(BatchLoader(sp, 4, True, torch.Generator().manual_seed(1))))
    assert [sp.ids[i] for i in b["index"]] == list(sp.ids[b["index"].numpy()])


def test_batchloader_batch_size_one_and_precomputed(tmp_path):
    d = make_mmsa_dict(n=(5, 2, 2))
    data = load_mmsa(write_pickle(d, tmp_path / "small.pkl"), text_mode="precomputed")
    sp = data.splits["train"]
    bl = BatchLoader(
        sp, batch_size=1, shuffle=True, generator=torch.Generator().manual_seed(0), text_mode="precomputed"
    )
    batches = list(bl)
    assert len(bl) == len(batches) == 5
    for b in batches:
        _check_batch(sp, b, "precomputed")
        assert b["text"].shape == (1, 10, 16) and b["y_m"].shape == (1,)
        assert b["audio"].shape[1] == sp.audio_lengths[int(b["index"])]
    with pytest.raises(DataError, match="text_bert"):
        BatchLoader(sp, 1, False, None, text_mode="bert")  # precomputed mode dropped text_bert
    with pytest.raises(ValueError, match="batch_size"):
        BatchLoader(sp, 0, False, None, text_mode="precomputed")


def test_batchloader_aligned_trims_to_mask(tmp_path):
    d = make_mmsa_dict(aligned=True)
    sp = load_mmsa(write_pickle(d, tmp_path / "al.pkl")).splits["valid"]
    for b in BatchLoader(sp, 3, False, None):
        idx = _check_batch(sp, b)
        mask_len = d["valid"]["text_bert"][idx, 1].sum(1)
        assert b["audio"].shape[1] == b["vision"].shape[1] == mask_len.max()


def test_batchloader_trim_text(mmsa):
    _, p = mmsa
    sp = load_mmsa(p).splits["test"]
    full = list(BatchLoader(sp, 3, False, None))
    trimmed = list(BatchLoader(sp, 3, False, None, trim_text=True))
    for f, t in zip(full, trimmed, strict=True):
        k = int(f["text"][:, 1].sum(1).max())
        assert t["text"].shape[2] == k
        torch.testing.assert_close(t["text"], f["text"][:, :, :k])
        assert not f["text"][:, :, k:].any()
