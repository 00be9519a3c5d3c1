"""Property-based tests of the MMSA loader and the bounded unpickler (hypothesis).

The property, for any input: a one-line :class:`DataError` naming the file, or a correct load; never another
exception, and no warning except load_mmsa's own one-line RuntimeWarnings naming the file. "Correct" means:

- random nested structures (dicts, lists, tuples, sets, numpy arrays and scalars, atoms) come back equal to what
  was pickled, and a structure holding anything outside the admitted set is refused;
- a byte-mutated pickle reads as admitted types only, and load_mmsa's result meets every :class:`MMSAData` contract
  (:func:`_assert_valid`) and batches;
- a structurally mutated MMSA dict (keys dropped or replaced, values set to NaN/inf/negative/huge, dtypes and
  shapes changed, ids duplicated, non-string keys) either loads meeting the same contracts or is refused.
"""

from __future__ import annotations

import collections
import math
import pickle
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from selfmm.data import SPLITS, BatchLoader, DataError, MMSAData, load_mmsa, safe_load_pickle
from tests.mmsa_fixture import make_mmsa_dict

pytestmark = pytest.mark.timeout(120)

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


# ---------------------------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------------------------


class Foreign:
    """Pickled by reference to this module: a global the reader must refuse."""

    def __eq__(self, other):
        return isinstance(other, Foreign)

    __hash__ = object.__hash__


_DTYPES = ["<f4", "<f8", "<f2", ">f8", "<i8", "<i4", ">i4", "|u1", "|b1", "<U3", "|S2"]
_hashable = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=6),
    st.binary(max_size=4),
)  # fmt: skip
_atoms = st.one_of(
    _hashable, st.floats(allow_nan=True), st.binary(max_size=6).map(bytearray),
    st.floats(width=32).map(np.float32), st.integers(-1000, 1000).map(np.int64), st.booleans().map(np.bool_),
)  # fmt: skip
_arrays = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from(_DTYPES).map(np.dtype),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    ),
    st.lists(st.text(max_size=5), max_size=4).map(lambda xs: np.array(xs, dtype=object)),
)
_foreign = st.sampled_from([Foreign(), 1 + 2j, range(3), slice(1, 2), np.datetime64("2020-01-01")]) | hnp.arrays(
    np.complex64, 2
)


def _trees(leaves):
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4),
            st.tuples(kids, kids),
            st.dictionaries(_hashable, kids, max_size=4),
            st.dictionaries(st.text(max_size=4), kids, max_size=3).map(collections.OrderedDict),
            st.frozensets(_hashable, max_size=4),
            st.sets(_hashable, max_size=4),
        ),
        max_leaves=10,
    )


_clean_trees = _trees(_atoms | _arrays)
_any_trees = _trees(_atoms | _arrays | _foreign)


# ---------------------------------------------------------------------------------------------------------------
# oracles
# ---------------------------------------------------------------------------------------------------------------


def _same(a, b) -> bool:
    """Deep equality with NaN == NaN, numpy types and dtypes (byte order aside: protocols 2-4 read native)."""
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.shape != b.shape or a.dtype.newbyteorder("=") != b.dtype.newbyteorder("="):  # fmt: skip
            return False
        if a.dtype.kind == "f":
            return bool(np.array_equal(a, b, equal_nan=True))
        return a.tolist() == b.tolist()
    if type(a) is not type(b):
        return False
    if isinstance(a, float) or isinstance(a, np.floating):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _contains_foreign(x) -> bool:
    if isinstance(x, (Foreign, complex, range, slice, np.datetime64)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind == "c"
    if isinstance(x, dict):
        return any(_contains_foreign(v) for v in x.values())
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_contains_foreign(v) for v in x)
    return False


_ADMITTED = (str, bytes, bytearray, int, float, bool, type(None), np.generic, np.ndarray, np.dtype)


def _admitted_only(x, depth: int = 0) -> None:
    """What safe_load_pickle returned is built from admitted types only (and never a numpy object of a foreign kind)."""
    assert depth < 64
    if isinstance(x, np.ndarray):
        assert x.dtype.kind in "fiubUSO", x.dtype
        if x.dtype.kind == "O":
            for v in x.ravel()[:50]:
                _admitted_only(v, depth + 1)
        return
    if isinstance(x, dict):
        for k, v in x.items():
            assert isinstance(k, (str, bytes, int, float, bool, type(None))), type(k)
            _admitted_only(v, depth + 1)
        return
    if isinstance(x, (list, tuple, set, frozenset)):
        for v in x:
            _admitted_only(v, depth + 1)
        return
    assert isinstance(x, _ADMITTED), type(x)


def _assert_valid(data: MMSAData, text_mode: str) -> None:
    """Every contract of a loaded MMSAData (selfmm.data docstrings), and one batch per split."""
    assert list(data.splits) == list(SPLITS)
    seen: set[str] = set()
    dims = data.feature_dims
    human = [bool(sp.y_human) for sp in data.splits.values()]
    assert all(human) or not any(human)
    for sp in data.splits.values():
        n = len(sp.y_m)
        assert n >= 1 and sp.y_m.dtype == np.float32 and np.isfinite(sp.y_m).all()
        assert (np.abs(sp.y_m) <= data.label_range + 1e-4).all()
        assert sp.ids.shape == (n,) and all(isinstance(i, str) for i in sp.ids)
        assert not seen & set(sp.ids) and len(set(sp.ids)) == n
        seen |= set(sp.ids)
        assert len(sp.raw_text) == n and all(isinstance(t, str) for t in sp.raw_text)
        for key, lens in (("audio", sp.audio_lengths), ("vision", sp.vision_lengths)):
            a = getattr(sp, key)
            assert a.dtype == np.float32 and a.ndim == 3 and a.shape[0] == n and 0 not in a.shape[1:]
            assert np.isfinite(a).all() and a.shape[2] == dims[key]
            assert lens.dtype == np.int64 and lens.shape == (n,) and (lens >= 1).all() and (lens <= a.shape[1]).all()
        if text_mode == "bert":
            tb = sp.text_bert
            assert tb.dtype == np.float32 and tb.shape[:2] == (n, 3) and tb.shape[2] >= 1
            assert (tb == np.round(tb)).all() and (tb >= 0).all() and np.isin(tb[:, 1:], (0.0, 1.0)).all()
        else:
            assert sp.text.dtype == np.float32 and sp.text.shape[0] == n and np.isfinite(sp.text).all()
            assert sp.text.shape[2] == dims["text"] and 0 not in sp.text.shape[1:]
        for m, y in sp.y_human.items():
            assert m in "TAV" and y.shape == (n,) and np.isfinite(y).all()
        batch = next(iter(BatchLoader(sp, 4, False, None, text_mode)))
        assert batch["y_m"].shape[0] == min(4, n)


def _load_checked(path, text_mode: str = "bert"):
    """load_mmsa under the property: (MMSAData or None when refused). Any other exception or warning fails."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            data = load_mmsa(path, text_mode=text_mode)
        except DataError as e:
            msg = str(e)
            assert msg.startswith(str(path)) and "\n" not in msg and len(msg) < 2000, msg
            data = None
    for w in rec:
        msg = str(w.message)
        assert w.category is RuntimeWarning and msg.startswith(str(path)) and "\n" not in msg, (w.category, msg)
    event("load_mmsa: loaded" if data is not None else "load_mmsa: refused")  # --hypothesis-show-statistics
    if data is not None:
        _assert_valid(data, text_mode)
    return data


# ---------------------------------------------------------------------------------------------------------------
# the unpickler on random structures
# ---------------------------------------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=100)
@given(obj=_any_trees, protocol=st.sampled_from([2, 3, 4, 5]))
def test_random_structures_load_equal_or_are_refused(tmp_path, obj, protocol):
    p = tmp_path / "s.pkl"
    p.write_bytes(pickle.dumps(obj, protocol=protocol))
    try:
        got = safe_load_pickle(p)
    except DataError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e)
        assert _contains_foreign(obj), f"admitted structure refused: {e}"
        return
    assert not _contains_foreign(obj), "a foreign object was loaded"
    assert _same(obj, got)


# ---------------------------------------------------------------------------------------------------------------
# byte mutations of a small valid MMSA pickle
# ---------------------------------------------------------------------------------------------------------------

_SMALL = {
    proto: pickle.dumps(make_mmsa_dict(n=(3, 2, 2), L=6, Ta=5, Da=6, Tv=5, Dv=6, Dt=6, seed=proto), protocol=proto)
    for proto in (2, 4, 5)
}


@st.composite
def _mutated_bytes(draw) -> bytes:
    data = bytearray(_SMALL[draw(st.sampled_from(sorted(_SMALL)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "flip", "value", "value", "insert", "delete", "truncate", "copy"]))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "set":
            data[i] = draw(st.integers(0, 255))
        elif kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "value":  # a float32 special written anywhere (most bytes are array data: NaN, inf, ...)
            with np.errstate(over="ignore"):
                data[i : i + 4] = np.float32(draw(st.sampled_from(_SPECIAL))).tobytes()
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[i:]
        else:  # a slice of the stream repeated elsewhere (duplicated opcodes, memo puts and gets)
            j = draw(st.integers(0, len(data) - 1))
            data[j:j] = data[i : i + draw(st.integers(1, 32))]
        if not data:
            break
    return bytes(data)


@SETTINGS
@given(blob=_mutated_bytes())
def test_byte_mutations_refused_or_loaded_correctly(tmp_path, blob):
    p = tmp_path / "m.pkl"
    p.write_bytes(blob)
    try:
        _admitted_only(safe_load_pickle(p))
        event("unpickler: loaded")
    except DataError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e)
        event("unpickler: refused")
    _load_checked(p)


# ---------------------------------------------------------------------------------------------------------------
# structural mutations of a valid MMSA dict
# ---------------------------------------------------------------------------------------------------------------

_KEYS = ["id", "raw_text", "text_bert", "text", "audio", "vision", "audio_lengths", "vision_lengths",
         "regression_labels", "regression_labels_T", "regression_labels_A", "regression_labels_V"]  # fmt: skip
_SPECIAL = [np.nan, np.inf, -np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, 1.5, 1e30, 3e38, 1e300, 70000.0, -1e9, 21128.0]


@st.composite
def _mutated_dict(draw) -> dict:
    d = make_mmsa_dict(n=(4, 2, 2), L=4, Ta=3, Da=2, Tv=3, Dv=2, Dt=3, aligned=draw(st.booleans()),
                       human=draw(st.booleans()))  # fmt: skip
    for _ in range(draw(st.integers(1, 3))):
        split = draw(st.sampled_from(SPLITS))
        key = draw(st.sampled_from(_KEYS))
        op = draw(st.sampled_from(["delete", "replace", "element", "dtype", "rows", "reshape", "dup_id",
                                   "none_item", "extra_key", "split"]))  # fmt: skip
        sd = d[split]
        if not isinstance(sd, dict):  # replaced by a random structure earlier
            continue
        if op == "split":
            d[split] = draw(_clean_trees)
        elif op == "extra_key":
            sd[draw(_hashable)] = draw(_clean_trees)
        elif key not in sd:
            continue
        elif op == "delete":
            del sd[key]
        elif op == "replace":
            sd[key] = draw(_clean_trees)
        elif op == "element" and isinstance(sd[key], np.ndarray) and sd[key].size and sd[key].dtype.kind in "fiu":
            a = sd[key].astype(np.float64)
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(_SPECIAL))
            with np.errstate(all="ignore"):  # NaN/huge into an int dtype: whatever numpy makes of it
                sd[key] = a.astype(draw(st.sampled_from([np.float32, np.float64, sd[key].dtype])))
        elif op == "dtype" and isinstance(sd[key], np.ndarray) and sd[key].dtype.kind in "fiu":
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sd[key] = sd[key].astype(draw(st.sampled_from([np.int64, np.float16, np.bool_, object, "<U4"])))
        elif op == "rows" and isinstance(sd[key], np.ndarray) and sd[key].ndim:
            sd[key] = sd[key][: draw(st.integers(0, len(sd[key])))]
        elif op == "reshape" and isinstance(sd[key], np.ndarray) and sd[key].ndim >= 2:
            sd[key] = np.moveaxis(sd[key], 0, -1)
        elif op == "dup_id":
            other = d[draw(st.sampled_from(SPLITS))]
            other = other.get("id") if isinstance(other, dict) else None
            mine = sd.get("id")
            if not all(isinstance(a, np.ndarray) and a.ndim == 1 and len(a) for a in (other, mine)):
                continue
            sd["id"] = np.array(list(sd["id"]), dtype=object)
            sd["id"][draw(st.integers(0, len(sd["id"]) - 1))] = other[draw(st.integers(0, len(other) - 1))]
        elif op == "none_item" and isinstance(sd[key], np.ndarray) and sd[key].ndim == 1 and len(sd[key]):
            a = sd[key].astype(object)
            a[draw(st.integers(0, len(a) - 1))] = None
            sd[key] = a
    return d


@SETTINGS
@given(d=_mutated_dict(), text_mode=st.sampled_from(["bert", "precomputed"]), protocol=st.sampled_from([2, 4, 5]))
def test_structural_mutations_refused_or_loaded_correctly(tmp_path, d, text_mode, protocol):
    p = tmp_path / "d.pkl"
    p.write_bytes(pickle.dumps(d, protocol=protocol))
    _load_checked(p, text_mode)


def test_the_oracles_can_fail(tmp_path):
    """Controls: the checks above reject a wrong load, a foreign type and a broken MMSAData."""
    assert not _same([1.0, np.float32(2)], [1.0, np.float64(2)]) and not _same({"a": 1}, {"a": 1.0})
    assert _same(np.array([np.nan, 1], ">f8"), np.array([np.nan, 1], "<f8"))
    with pytest.raises(AssertionError):
        _admitted_only({"x": [Foreign()]})
    p = tmp_path / "ok.pkl"
    p.write_bytes(pickle.dumps(make_mmsa_dict(n=(4, 2, 2)), protocol=4))
    data = load_mmsa(p)
    _assert_valid(data, "bert")
    data.splits["valid"].ids[0] = data.splits["train"].ids[0]
    with pytest.raises(AssertionError):
        _assert_valid(data, "bert")
