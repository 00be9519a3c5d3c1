"""A bounded pickle reader for MMSA feature files: it builds only numpy arrays, dtypes, scalars and builtin
containers, and bounds what a file may make it allocate or compute.

The reader is a small pickle virtual machine of its own (``pickle.Unpickler`` offers only a ``find_class`` hook,
which cannot bound sizes). It implements the binary opcodes of protocols 2-5 and never calls a global it reads
from the file: each admitted global is a marker whose arguments are checked before the one numpy or builtin
constructor it stands for runs. What an MMSA file needs, per protocol (numpy 1.x spells ``numpy.core.*``,
numpy 2 ``numpy._core.*``; Python 2 ``__builtin__``):

- ``numpy._core.multiarray._reconstruct(numpy.ndarray, (0,), b"b")`` then BUILD with the array state
  ``(version, shape, dtype, is_fortran, raw bytes | list of objects)`` (protocols 2-4, object arrays at 5);
- ``numpy._core.numeric._frombuffer(bytearray, dtype, shape, order)`` (protocol 5);
- ``numpy.dtype("f4", False, True)`` then BUILD with the dtype state; ``numpy._core.multiarray.scalar(dtype, b)``;
- ``_codecs.encode(str, "latin1")`` (protocol 2 bytes), ``bytes()``, ``bytearray(b)``, ``set(list)``,
  ``frozenset(list)``, ``collections.OrderedDict()``.

Bounds (:class:`Limits`), each refused with a :class:`DataError` naming the file: total bytes allocated (strings,
bytes, arrays, containers) against the file size; the number of objects; nesting depth; the expanded size of
shared references (a "billion laughs" of nested tuples is small on disk and huge when printed); dict keys and set
members only str/bytes/int/float/bool/None, with at most a few sharing one hash value (colliding ints make
insertion quadratic); no container may be changed after it was put into another one (so no cycles).
"""

from __future__ import annotations

import collections
import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfmm.errors import UserError


class DataError(UserError, ValueError):
    """An MMSA file is missing, unsafe or malformed; the message names the file, split and key and the fix."""


@dataclass(frozen=True)
class Limits:
    """What one file may make the reader build. ``None`` fields scale with the file size ``S`` in bytes."""

    max_bytes: int | None = None  # total allocation: 64 MiB + 4 S (protocol 2 holds array bytes as str, then bytes)
    max_objects: int | None = None  # objects pushed: 100,000 + S // 4 (a real file is mostly array bytes)
    max_expanded: int | None = None  # tree size with shared references expanded: 1,000,000 + S
    max_depth: int = 32  # an MMSA file nests 5 deep (dict, split dict, object array, list, str)
    max_stack: int = 20_000  # objects waiting on the stack; the pickler writes containers in batches of 1,000
    max_same_hash: int = 8  # dict keys / set members with one hash value
    max_itemsize: int = 1 << 20  # bytes per array element (a 'U' dtype of 262,144 characters)

    def resolve(self, size: int) -> Limits:
        return Limits(
            max_bytes=self.max_bytes if self.max_bytes is not None else (64 << 20) + 4 * size,
            max_objects=self.max_objects if self.max_objects is not None else 100_000 + size // 4,
            max_expanded=self.max_expanded if self.max_expanded is not None else 1_000_000 + size,
            max_depth=self.max_depth,
            max_stack=self.max_stack,
            max_same_hash=self.max_same_hash,
            max_itemsize=self.max_itemsize,
        )


class _Refused(Exception):
    """Internal: the file asks for something outside the admitted set or the bounds."""


class _Corrupt(Exception):
    """Internal: the stream is truncated or is not a pickle."""


class _Global:
    """A marker for an admitted global: the reader dispatches on ``name`` and never calls anything from the file."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<global {self.name}>"


_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core._multiarray_umath", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "scalar"): "scalar",
    ("numpy._core._multiarray_umath", "scalar"): "scalar",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
    ("builtins", "bytes"): "bytes",
    ("builtins", "bytearray"): "bytearray",
    ("builtins", "set"): "set",
    ("builtins", "frozenset"): "frozenset",
    ("collections", "OrderedDict"): "OrderedDict",
}
_MARKERS = {name: _Global(name) for name in set(_GLOBALS.values())}
_KEY_TYPES = (str, bytes, int, float, bool, type(None))  # hashable atoms: no tuple (hashing a tuple recurses)
# simple dtypes only: byte order, kind, size ('f4', '<U14', 'O8', 'b1'); no structured or datetime dtypes
_DTYPE_RE = re.compile(r"[<>|=]?[?bBhHiIlLqQpPuefdgFDGOSUV]\d{0,7}")
_ATOMS = (str, bytes, bytearray, int, float, bool, type(None), np.generic, np.dtype, _Global)


def _canonical(module: str, name: str) -> tuple[str, str]:
    if module == "numpy.core" or module.startswith("numpy.core."):
        module = "numpy._core" + module[len("numpy.core") :]
    elif module == "__builtin__":
        module = "builtins"
    return module, name


def _short(x, n: int = 60) -> str:
    """A repr of ``x`` cut to ``n`` characters, safe for any object this reader built (atoms only are printed)."""
    if isinstance(x, (str, bytes, int, float, bool, type(None))):
        if isinstance(x, int) and x.bit_length() > 128:
            return f"<int of {x.bit_length()} bits>"
        r = repr(x[: n + 1] if isinstance(x, (str, bytes)) else x)
        return r if len(r) <= n else r[:n] + "..."
    if isinstance(x, np.ndarray):
        return f"<ndarray {x.dtype} {x.shape}>"[:n]
    return f"<{type(x).__name__}>"


def _args(args: tuple) -> str:
    return "(" + ", ".join(_short(a, 30) for a in args[:4]) + (", ..." if len(args) > 4 else "") + ")"


class _Meta:
    __slots__ = ("obj", "weight", "depth", "closed", "hashes")

    def __init__(self, obj, weight: int, depth: int):
        self.obj = obj  # keeps the object alive so that its id() is not reused while the file is read
        self.weight = weight
        self.depth = depth
        self.closed = False
        self.hashes: collections.Counter | None = None


class _Reader:
    def __init__(self, data, limits: Limits):
        self.data = data
        self.n = len(data)
        self.pos = 0
        self.lim = limits
        self.stack: list = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}
        self.meta: dict[int, _Meta] = {}  # containers, arrays and dtypes by id()
        self.fresh: set[int] = set()  # arrays/dtypes made by a call and not yet given their BUILD state
        self.bytes = 0
        self.objects = 0

    # --- accounting -------------------------------------------------------------------------------------------
    def charge(self, nbytes: int) -> None:
        self.bytes += nbytes
        if self.bytes > self.lim.max_bytes:
            raise _Refused(f"it would allocate more than {self.lim.max_bytes:,} bytes (limit from the file size)")

    def push(self, obj) -> None:
        self.objects += 1
        if self.objects > self.lim.max_objects:
            raise _Refused(f"it holds more than {self.lim.max_objects:,} objects")
        self.stack.append(obj)
        if len(self.stack) > self.lim.max_stack:
            raise _Refused(f"more than {self.lim.max_stack:,} objects wait on its stack (nesting or a huge tuple)")

    def weight(self, obj) -> int:
        m = self.meta.get(id(obj))
        if m is not None:
            return m.weight
        if isinstance(obj, (str, bytes, bytearray)):
            return 1 + len(obj) // 8
        return 1

    def depth(self, obj) -> int:
        m = self.meta.get(id(obj))
        return m.depth if m is not None else 0

    def track(self, obj, children) -> _Meta:
        """Record a new container holding ``children``; closes each child (no later change, so no cycles)."""
        weight, depth = 1, 0
        for c in children:
            weight += self.weight(c)
            depth = max(depth, self.depth(c) + 1)
            self.close(c)
        m = _Meta(obj, weight, depth)
        self.meta[id(obj)] = m
        self.check(m)
        return m

    def check(self, m: _Meta) -> None:
        if m.depth > self.lim.max_depth:
            raise _Refused(f"it nests containers more than {self.lim.max_depth} deep")
        if m.weight > self.lim.max_expanded:
            raise _Refused(
                f"its shared references expand to more than {self.lim.max_expanded:,} objects (a 'billion laughs')"
            )

    def close(self, obj) -> None:
        m = self.meta.get(id(obj))
        if m is not None:
            m.closed = True

    def grow(self, target, children) -> _Meta:
        """``children`` are being added to the open container ``target``."""
        for c in children:
            self.close(c)
        m = self.meta.get(id(target))
        if m is None or m.closed:
            raise _Refused(f"it changes a {type(target).__name__} after it was stored (not made by the pickler)")
        for c in children:
            m.weight += self.weight(c)
            m.depth = max(m.depth, self.depth(c) + 1)
        self.check(m)
        return m

    def keys_ok(self, m: _Meta, keys) -> None:
        for k in keys:
            if not isinstance(k, _KEY_TYPES):
                raise _Refused(f"a dict key or set member is a {type(k).__name__} (only str, bytes and numbers)")
            if isinstance(k, (str, bytes)):
                continue  # randomised hashes: no collisions to craft
            if m.hashes is None:
                m.hashes = collections.Counter()
            h = hash(k)
            m.hashes[h] += 1
            if m.hashes[h] > self.lim.max_same_hash:
                raise _Refused(f"more than {self.lim.max_same_hash} dict keys or set members share one hash value")

    # --- reading ----------------------------------------------------------------------------------------------
    def take(self, k: int) -> bytes:
        if k < 0 or self.pos + k > self.n:
            raise _Corrupt(f"needs {k:,} bytes at offset {self.pos:,} but the file has {self.n - self.pos:,} left")
        b = self.data[self.pos : self.pos + k]
        self.pos += k
        return b

    def uint(self, fmt: str, k: int) -> int:
        return struct.unpack(fmt, self.take(k))[0]

    def line(self) -> str:
        end = self.data.find(b"\n", self.pos, min(self.n, self.pos + 256))
        if end < 0:
            raise _Corrupt(f"a text argument at offset {self.pos:,} is not newline-terminated")
        s = self.data[self.pos : end]
        self.pos = end + 1
        return s.decode("ascii")

    def blob(self, k: int, kind: type):
        self.charge(k)
        if k > self.n - self.pos:
            raise _Corrupt(f"declares {k:,} bytes at offset {self.pos:,} but the file has {self.n - self.pos:,} left")
        if kind is bytearray:
            with memoryview(self.data) as mv:
                b = bytearray(mv[self.pos : self.pos + k])
        else:
            b = self.data[self.pos : self.pos + k]
            if not isinstance(b, bytes):
                b = bytes(b)
        self.pos += k
        return b

    def text(self, k: int) -> str:
        return self.blob(k, bytes).decode("utf-8", "surrogatepass")

    def pop_mark(self) -> list:
        if not self.marks:
            raise _Corrupt("an opcode needs a MARK that is not there")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        return items

    def pop(self):
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise _Corrupt("an opcode found the stack empty")
        return self.stack.pop()

    # --- objects ----------------------------------------------------------------------------------------------
    def new_list(self, items) -> list:
        self.charge(64 + 8 * len(items))
        out = list(items)
        self.track(out, items)
        return out

    def new_tuple(self, items) -> tuple:
        self.charge(64 + 8 * len(items))
        out = tuple(items)
        if items:
            self.track(out, items)
        return out

    def new_dict(self, items, factory=dict):
        out = factory()
        self.track(out, [])
        self.set_items(out, items)
        return out

    def set_items(self, d, items) -> None:
        if len(items) % 2:
            raise _Corrupt("SETITEMS with an odd number of items")
        m = self.grow(d, items)
        keys = items[0::2]
        self.keys_ok(m, keys)
        self.charge(100 * len(keys))
        for k, v in zip(keys, items[1::2], strict=True):
            d[k] = v

    def add_items(self, s, items) -> None:
        m = self.grow(s, items)
        self.keys_ok(m, items)
        self.charge(50 * len(items))
        s.update(items)

    def new_set(self, items, frozen: bool):
        out = set()
        self.track(out, [])
        self.add_items(out, items)
        if frozen:
            fz = frozenset(out)
            self.track(fz, out)
            return fz
        return out

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

    # --- the machine ------------------------------------------------------------------------------------------
    def run(self):
        if self.n < 2 or self.data[0] != 0x80 or not 2 <= self.data[1] <= 5:
            raise _Corrupt("it does not start with a protocol 2-5 header")
        ops = _OPS
        while True:
            if self.pos >= self.n:
                raise _Corrupt("the file ends before the pickle's STOP")
            op = self.data[self.pos]
            self.pos += 1
            handler = ops.get(op)
            if handler is None:
                name = _REFUSED_OPS.get(op)
                if name:
                    raise _Refused(f"it uses the {name} opcode, which an MMSA file does not need")
                raise _Corrupt(f"unknown opcode {op:#04x} at offset {self.pos - 1:,}")
            if handler(self) is _STOP:
                if len(self.stack) != 1 or self.marks:
                    raise _Corrupt("the stack is not a single object at STOP")
                return self.stack[0]


_STOP = object()


def _global(r: _Reader, module: str, name: str):
    mod, nm = _canonical(module, name)
    marker = _GLOBALS.get((mod, nm))
    if marker is None:
        raise _Refused(
            f"refused to load the global {_short(module, 80)[1:-1]}.{_short(name, 80)[1:-1]}: an MMSA feature "
            "pickle holds only numpy arrays, strings and numbers"
        )
    r.push(_MARKERS[marker])


def _op_stack_global(r: _Reader):
    name = r.pop()
    module = r.pop()
    if not isinstance(module, str) or not isinstance(name, str):
        raise _Corrupt("STACK_GLOBAL without two strings")
    _global(r, module, name)


def _op_reduce(r: _Reader):
    args = r.pop()
    func = r.pop()
    r.push(r.call(func, args))
    r.close(args)


def _op_build(r: _Reader):
    state = r.pop()
    obj = r.stack[-1] if r.stack else None
    r.build(obj, state)


def _op_append(r: _Reader):
    v = r.pop()
    target = r.stack[-1] if r.stack else None
    _extend(r, target, [v])


def _op_appends(r: _Reader):
    items = r.pop_mark()
    _extend(r, r.stack[-1] if r.stack else None, items)


def _extend(r: _Reader, target, items) -> None:
    if not isinstance(target, list):
        raise _Refused(f"APPEND to a {type(target).__name__}")
    r.grow(target, items)
    r.charge(8 * len(items))
    target.extend(items)


def _op_setitem(r: _Reader):
    v = r.pop()
    k = r.pop()
    _setitems(r, [k, v])


def _op_setitems(r: _Reader):
    _setitems(r, r.pop_mark())


def _setitems(r: _Reader, items) -> None:
    target = r.stack[-1] if r.stack else None
    if not isinstance(target, dict):
        raise _Refused(f"SETITEM on a {type(target).__name__}")
    r.set_items(target, items)


def _op_additems(r: _Reader):
    items = r.pop_mark()
    target = r.stack[-1] if r.stack else None
    if type(target) is not set:
        raise _Refused(f"ADDITEMS on a {type(target).__name__}")
    r.add_items(target, items)


def _op_get(r: _Reader, idx: int):
    if idx not in r.memo:
        raise _Corrupt(f"memo entry {idx} read before it was written")
    r.push(r.memo[idx])


def _op_put(r: _Reader, idx: int):
    if not r.stack:
        raise _Corrupt("PUT with an empty stack")
    r.memo[idx] = r.stack[-1]


def _op_dup(r: _Reader):
    if not r.stack:
        raise _Corrupt("DUP with an empty stack")
    r.push(r.stack[-1])


def _op_long(r: _Reader, k: int):
    if k > 64:
        raise _Refused(f"it holds an integer of {k:,} bytes")
    r.push(int.from_bytes(r.take(k), "little", signed=True))


def _op_tuple_n(n: int):
    def op(r: _Reader):
        if n > len(r.stack) - (r.marks[-1] if r.marks else 0):
            raise _Corrupt("TUPLE with too few items on the stack")
        items = r.stack[len(r.stack) - n :]
        del r.stack[len(r.stack) - n :]
        r.push(r.new_tuple(items))

    return op


def _op_mark(r: _Reader):
    r.marks.append(len(r.stack))


def _op_pop(r: _Reader):
    r.pop()


def _op_frame(r: _Reader):
    r.take(8)  # frames are a buffering hint; the whole file is addressable


def _op_proto(r: _Reader):
    if not 2 <= r.take(1)[0] <= 5:
        raise _Corrupt("unsupported protocol")


def _op_stop(r: _Reader):
    return _STOP


def _old_str(r: _Reader, k: int):
    try:
        r.push(r.blob(k, bytes).decode("ascii"))  # what pickle.load's default encoding="ASCII" does
    except UnicodeDecodeError:
        raise _Corrupt("a Python 2 str that is not ASCII") from None


_OPS = {
    ord("\x80"): _op_proto,
    ord("\x95"): _op_frame,
    ord("."): _op_stop,
    ord("("): _op_mark,
    ord("0"): _op_pop,
    ord("1"): lambda r: r.pop_mark() and None,
    ord("2"): _op_dup,
    ord("N"): lambda r: r.push(None),
    ord("\x88"): lambda r: r.push(True),
    ord("\x89"): lambda r: r.push(False),
    ord("J"): lambda r: r.push(r.uint("<i", 4)),
    ord("K"): lambda r: r.push(r.take(1)[0]),
    ord("M"): lambda r: r.push(r.uint("<H", 2)),
    ord("\x8a"): lambda r: _op_long(r, r.take(1)[0]),
    ord("\x8b"): lambda r: _op_long(r, r.uint("<i", 4)),
    ord("G"): lambda r: r.push(r.uint(">d", 8)),
    ord("\x8c"): lambda r: r.push(r.text(r.take(1)[0])),
    ord("X"): lambda r: r.push(r.text(r.uint("<I", 4))),
    ord("\x8d"): lambda r: r.push(r.text(r.uint("<Q", 8))),
    ord("U"): lambda r: _old_str(r, r.take(1)[0]),
    ord("T"): lambda r: _old_str(r, r.uint("<i", 4)),
    ord("C"): lambda r: r.push(r.blob(r.take(1)[0], bytes)),
    ord("B"): lambda r: r.push(r.blob(r.uint("<I", 4), bytes)),
    ord("\x8e"): lambda r: r.push(r.blob(r.uint("<Q", 8), bytes)),
    ord("\x96"): lambda r: r.push(r.blob(r.uint("<Q", 8), bytearray)),
    ord("]"): lambda r: r.push(r.new_list([])),
    ord("l"): lambda r: r.push(r.new_list(r.pop_mark())),
    ord("a"): _op_append,
    ord("e"): _op_appends,
    ord(")"): lambda r: r.push(()),
    ord("t"): lambda r: r.push(r.new_tuple(r.pop_mark())),
    ord("\x85"): _op_tuple_n(1),
    ord("\x86"): _op_tuple_n(2),
    ord("\x87"): _op_tuple_n(3),
    ord("}"): lambda r: r.push(r.new_dict([])),
    ord("d"): lambda r: r.push(r.new_dict(r.pop_mark())),
    ord("s"): _op_setitem,
    ord("u"): _op_setitems,
    ord("\x8f"): lambda r: r.push(r.new_set([], frozen=False)),
    ord("\x90"): _op_additems,
    ord("\x91"): lambda r: r.push(r.new_set(r.pop_mark(), frozen=True)),
    ord("c"): lambda r: _global(r, r.line(), r.line()),
    ord("\x93"): _op_stack_global,
    ord("R"): _op_reduce,
    ord("b"): _op_build,
    ord("q"): lambda r: _op_put(r, r.take(1)[0]),
    ord("r"): lambda r: _op_put(r, r.uint("<I", 4)),
    ord("\x94"): lambda r: _op_put(r, len(r.memo)),
    ord("h"): lambda r: _op_get(r, r.take(1)[0]),
    ord("j"): lambda r: _op_get(r, r.uint("<I", 4)),
}
_REFUSED_OPS = {
    ord("\x81"): "NEWOBJ",
    ord("\x92"): "NEWOBJ_EX",
    ord("i"): "INST",
    ord("o"): "OBJ",
    ord("\x82"): "EXT1",
    ord("\x83"): "EXT2",
    ord("\x84"): "EXT4",
    ord("P"): "PERSID",
    ord("Q"): "BINPERSID",
    ord("\x97"): "NEXT_BUFFER",
    ord("\x98"): "READONLY_BUFFER",
    ord("I"): "INT (protocol 0)",
    ord("L"): "LONG (protocol 0)",
    ord("F"): "FLOAT (protocol 0)",
    ord("S"): "STRING (protocol 0)",
    ord("V"): "UNICODE (protocol 0)",
    ord("p"): "PUT (protocol 0)",
    ord("g"): "GET (protocol 0)",
}

_FIX = "Use the MMSA release files or regenerate with `python -m selfmm synth`."


def safe_load_pickle(path, limits: Limits | None = None) -> object:
    """Read the pickle at ``path`` with the bounded reader (module docstring), without running anything from it.

    Raises:
        DataError: one line naming the file: a missing file; a global, opcode or call outside the admitted set
            ("refused ..."); a bound exceeded ("refused ..."); a truncated or corrupt stream.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file: pass the path of an MMSA feature pickle (e.g. unaligned_39.pkl)")
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            lim = (limits or Limits()).resolve(size)
            if size < (64 << 20):
                return _Reader(f.read(), lim).run()
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _Reader(mm, lim).run()
    except _Refused as e:
        msg = str(e)
        if not msg.startswith("refused"):
            msg = "refused to load it: " + msg
        raise DataError(
            f"{path}: {msg}. Nothing from it was executed; this is not an MMSA feature pickle (or it was "
            f"tampered with). {_FIX}"
        ) from None
    except (_Corrupt, struct.error, UnicodeDecodeError, ValueError, TypeError, OverflowError, MemoryError) as e:
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise DataError(
            f"{path}: not a readable pickle ({detail}): the file is truncated or corrupt; download it again "
            "(compare its SHA-256 with the MMSA README) or regenerate it"
        ) from None
