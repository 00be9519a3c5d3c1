"""The admitted globals of the pickle reader and the numpy/builtin constructors they stand for: each call's
arguments are checked before the one constructor runs (see :mod:`selfmm.data.unpickle` for the admitted set)."""

from __future__ import annotations

import collections
import re

import numpy as np

from selfmm.data.unpickle.bounds import _args, _Bounded, _Meta, _Refused, _short


class _Global:
    """A marker for an admitted global: the reader dispatches on ``name`` and never calls anything from the file."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<global {self.name}>"


# (module, name) -> marker name; numpy 1.x's ``numpy.core`` and Python 2's ``__builtin__`` are mapped by _canonical
_ADMITTED = {
    "numpy._core.multiarray": ("_reconstruct:reconstruct", "scalar"),
    "numpy._core._multiarray_umath": ("_reconstruct:reconstruct", "scalar"),
    "numpy._core.numeric": ("_frombuffer:frombuffer",),
    "numpy": ("ndarray", "dtype"),
    "_codecs": ("encode",),
    "builtins": ("bytes", "bytearray", "set", "frozenset"),
    "collections": ("OrderedDict",),
}
_GLOBALS = {
    (module, entry.partition(":")[0]): entry.rpartition(":")[2]
    for module, names in _ADMITTED.items()
    for entry in names
}
_MARKERS = {name: _Global(name) for name in set(_GLOBALS.values())}
# simple dtypes only: byte order, kind, size ('f4', '<U14', 'O8', 'b1'); no structured or datetime dtypes
_DTYPE_RE = re.compile(r"[<>|=]?[?bBhHiIlLqQpPuefdgFDGOSUV]\d{0,7}")


def _canonical(module: str, name: str) -> tuple[str, str]:
    if module == "numpy.core" or module.startswith("numpy.core."):
        module = "numpy._core" + module[len("numpy.core") :]
    elif module == "__builtin__":
        module = "builtins"
    return module, name


class _Constructors(_Bounded):
    """The calls (REDUCE) and array/dtype states (BUILD) an MMSA file needs, each checked before it runs."""

    def shape(self, x, what: str) -> tuple[int, ...]:
        if not (isinstance(x, tuple) and len(x) <= 32 and all(type(v) is int and v >= 0 for v in x)):
            raise _Refused(f"{what}: the array shape {_short(x)} is not a tuple of non-negative ints")
        return x

    def nbytes(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        n = dtype.itemsize
        for v in shape:
            n *= v
        return n

    def built_dtype(self, d, what: str) -> np.dtype:
        if not isinstance(d, np.dtype) or id(d) in self.fresh:
            raise _Refused(f"{what}: expected a numpy dtype, got {_short(d)}")
        return d

    def call(self, func, args):
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise _Refused(f"it calls {_short(func)}, which is not an admitted constructor")
        f = getattr(self, "_call_" + func.name, None)
        if f is None:
            raise _Refused(f"it calls {func.name}, which an MMSA file only names as an argument")
        return f(args)

    def _call_reconstruct(self, args):
        if len(args) != 3 or args[0] is not _MARKERS["ndarray"] or not isinstance(args[2], (bytes, str)):
            raise _Refused("numpy _reconstruct with arguments other than (numpy.ndarray, shape, typecode)")
        shape = self.shape(args[1], "_reconstruct")
        if len(args[2]) > 8:
            raise _Refused("numpy _reconstruct with a long typecode")
        dt = np.dtype(args[2])
        if dt.hasobject or dt.itemsize > self.lim.max_itemsize:
            raise _Refused(f"numpy _reconstruct with the typecode {_short(args[2])}")
        self.charge(64 + self.nbytes(shape, dt))
        a = np.ndarray(shape, dt)
        self.meta[id(a)] = _Meta(a, 1, 0)
        self.fresh.add(id(a))
        return a

    def _call_dtype(self, args):
        ok = len(args) == 3 and isinstance(args[0], str) and _DTYPE_RE.fullmatch(args[0])
        if not ok or not all(type(v) is bool for v in args[1:]) or args[2] is not True:
            raise _Refused(f"numpy.dtype() of {_args(args)}: only simple dtypes ('f4', 'U14', 'O8') are admitted")
        d = np.dtype(args[0], args[1], True)
        if d.itemsize > self.lim.max_itemsize:
            raise _Refused(f"numpy.dtype({args[0]!r}) has {d.itemsize:,} bytes per element")
        self.charge(128)
        self.meta[id(d)] = _Meta(d, 1, 0)
        self.fresh.add(id(d))
        return d

    def _call_scalar(self, args):
        if len(args) != 2 or not isinstance(args[1], bytes):
            raise _Refused("numpy scalar with arguments other than (dtype, bytes)")
        d = self.built_dtype(args[0], "numpy scalar")
        if d.hasobject or len(args[1]) != d.itemsize:
            raise _Refused(f"numpy scalar of dtype {d} from {len(args[1])} bytes")
        return np.frombuffer(args[1], d)[0]

    def _call_frombuffer(self, args):
        if len(args) != 4 or not isinstance(args[0], (bytes, bytearray)) or args[3] not in ("C", "F"):
            raise _Refused("numpy _frombuffer with arguments other than (buffer, dtype, shape, 'C'|'F')")
        d = self.built_dtype(args[1], "numpy _frombuffer")
        shape = self.shape(args[2], "numpy _frombuffer")
        if d.hasobject or self.nbytes(shape, d) != len(args[0]):
            raise _Refused(f"numpy _frombuffer: shape {shape} of {d} does not match {len(args[0]):,} bytes")
        a = np.frombuffer(args[0], d).reshape(shape, order=args[3])
        self.meta[id(a)] = _Meta(a, 1, 0)
        return a

    def _call_encode(self, args):
        if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
            raise _Refused("_codecs.encode with arguments other than (str, 'latin1')")
        self.charge(len(args[0]))
        try:
            return args[0].encode("latin1")
        except UnicodeEncodeError:
            raise _Refused("_codecs.encode of a str that is not latin-1") from None

    def _call_bytes(self, args):
        if args == ():
            return b""
        if len(args) == 1 and isinstance(args[0], bytes):
            return args[0]
        raise _Refused(f"bytes() of {_args(args)}: only bytes() or bytes(b'...') are admitted")

    def _call_bytearray(self, args):
        if args == ():
            return bytearray()
        if len(args) == 1 and isinstance(args[0], bytes):
            self.charge(len(args[0]))
            return bytearray(args[0])
        raise _Refused(f"bytearray() of {_args(args)}: only bytearray() or bytearray(b'...') are admitted")

    def _set_args(self, args, name: str) -> list:
        if args == ():
            return []
        if len(args) == 1 and isinstance(args[0], list):
            return args[0]
        raise _Refused(f"{name}() with arguments other than a list")

    def _call_set(self, args):
        return self.new_set(self._set_args(args, "set"), frozen=False)

    def _call_frozenset(self, args):
        return self.new_set(self._set_args(args, "frozenset"), frozen=True)

    def _call_OrderedDict(self, args):  # noqa: N802 - named after the global
        if args != ():
            raise _Refused("OrderedDict() with arguments")
        return self.new_dict([], collections.OrderedDict)

    def build(self, obj, state) -> None:
        if id(obj) not in self.fresh:
            raise _Refused(f"BUILD on a {type(obj).__name__} (only new numpy arrays and dtypes take a state)")
        self.fresh.discard(id(obj))
        if isinstance(obj, np.dtype):
            self._build_dtype(obj, state)
        else:
            self._build_array(obj, state)

    def _build_dtype(self, d: np.dtype, state) -> None:
        ok = (
            isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[1] in ("<", ">", "|", "=")
            and state[2:5] == (None, None, None)
            and all(type(v) is int for v in state[5:])
            and state[5] in (-1, d.itemsize)
            and state[6] in (-1, d.alignment)
            and state[7] == d.flags
        )
        if not ok:
            raise _Refused(f"the state of dtype {d} is not that of a simple dtype")
        d.__setstate__(state)

    def _build_array(self, a: np.ndarray, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise _Refused("an array state that is not (1, shape, dtype, is_fortran, data)")
        _, shape, d, fortran, raw = state
        shape = self.shape(shape, "array state")
        d = self.built_dtype(d, "array state")
        if type(fortran) is not bool:
            raise _Refused("an array state whose is_fortran is not a bool")
        n = self.nbytes(shape, d)
        if d.hasobject:
            count = n // d.itemsize if d.itemsize else 0
            if not isinstance(raw, list) or len(raw) != count:
                raise _Refused(f"an object array of shape {shape} whose data is not a list of {count:,} items")
        elif not isinstance(raw, bytes) or len(raw) != n:
            raise _Refused(f"an array of shape {shape} and dtype {d} ({n:,} bytes) with data of another size")
        self.charge(n)
        a.__setstate__(state)
        m = self.meta[id(a)]
        if d.hasobject:
            m.weight += self.weight(raw)
            m.depth = self.depth(raw) + 1
            self.close(raw)
            self.check(m)
