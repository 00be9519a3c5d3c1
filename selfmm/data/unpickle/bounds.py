"""The bounds of the pickle reader (:class:`Limits`) and its bounded stack machine without the constructors:
byte and object accounting, nesting depth, the expanded size of shared references, dict-key hashes, the byte-level
reads of the stream and the builtin containers. See :mod:`selfmm.data.unpickle` for what each bound defends."""

from __future__ import annotations

import collections
import struct
from dataclasses import dataclass

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


_KEY_TYPES = (str, bytes, int, float, bool, type(None))  # hashable atoms: no tuple (hashing a tuple recurses)


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


class _Bounded:
    """The reader's state, its accounting against :class:`Limits`, its reads of the stream and its containers."""

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
