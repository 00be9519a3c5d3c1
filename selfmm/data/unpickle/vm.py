"""The opcodes of the pickle reader (binary protocols 2-5) and its main loop."""

from __future__ import annotations

from selfmm.data.unpickle.bounds import _Corrupt, _Refused, _short
from selfmm.data.unpickle.constructors import _GLOBALS, _MARKERS, _canonical, _Constructors


class _Reader(_Constructors):
    """The bounded pickle machine: ``_Reader(data, limits).run()`` returns the one object the stream builds."""

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
