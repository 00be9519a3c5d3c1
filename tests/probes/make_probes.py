"""Write the hostile pickle probes of issue 9 item 3: tiny files that once exhausted memory or CPU.

``python -m tests.probes.make_probes [DIR]`` writes them to DIR (default: this folder) and prints each file's
size; ``--check`` also loads each with ``selfmm.data.load_mmsa`` and prints the outcome and the time taken.
The small ones are committed next to this script (tests/test_probes.py checks that they match what this
script writes); the big ones (a 100,000-deep list, 40,000 colliding keys) are written by the tests.

Every probe is a raw protocol 2 or 4 stream written opcode by opcode, so nothing here depends on a pickler.
Probes that attack the validation after unpickling (``str()`` of an id, the error message) are spliced into an
otherwise valid tiny MMSA file in place of one value.
"""

from __future__ import annotations

import pickle
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMALL = ("codecs_chain", "ndarray_1tib", "ndarray_call_1tib", "stride0_view", "bytes_2_40", "billion_laughs")
BIG = ("deep_list_id", "collide_dict", "collide_set")
P = 2**61 - 1  # hash(k * P) == 0 for every int k: all collide


def _u(s: str) -> bytes:  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _long(v: int) -> bytes:  # LONG1
    b = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def _put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def _get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def _standalone(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


_SENTINEL = "PROBE_SENTINEL_7f3a"


def _spliced(split_key: str | None, key: str, body: bytes) -> bytes:
    """A valid tiny MMSA file (protocol 2) whose ``train[key]`` (or the whole ``train`` split when ``split_key``
    is ``"train"``) is the object ``body`` pushes. Memo indices of ``body`` start at 1,000,000."""
    from tests.mmsa_fixture import make_mmsa_dict

    d = make_mmsa_dict(n=(3, 2, 2), L=4, Ta=3, Da=2, Tv=3, Dv=2, Dt=4)
    if split_key == "train":
        d["train"] = _SENTINEL
    else:
        d["train"][key] = _SENTINEL
    data = pickle.dumps(d, protocol=2)
    marker = _u(_SENTINEL)
    assert data.count(marker) == 1
    return data.replace(marker, body)


def codecs_chain() -> bytes:
    """32 nested _codecs.encode(x, 'hex') of one byte: 4 GiB from 1.2 KB."""
    k = 32
    body = _glob("_codecs", "encode") + _put(0) + _get(0) * (k - 1) + b"C\x01x"
    body += (b"\x8c\x03hex\x86R") * k
    return _standalone(body + _u("pad" * 280) + b"0")  # a popped pad string: 1.2 KB, the size of the report


def ndarray_1tib() -> bytes:
    """numpy _reconstruct(ndarray, (2**40,), b'b'): an empty array of 1 TiB."""
    body = _glob("numpy.core.multiarray", "_reconstruct") + _glob("numpy", "ndarray")
    body += _long(2**40) + b"\x85" + b"C\x01b" + b"\x87R"
    return _standalone(body)


def ndarray_call_1tib() -> bytes:
    """numpy.ndarray((2**40,), 'b') called directly."""
    return _standalone(_glob("numpy", "ndarray") + _long(2**40) + b"\x85" + b"\x8c\x01b" + b"\x86R")


def stride0_view() -> bytes:
    """train audio = numpy.ndarray((3, 2**18, 1024), 'f4', 4 bytes, 0, (0, 0, 0)): a 3 GiB stride-0 view."""
    shape = b"(" + _long(3) + _long(2**18) + _long(1024) + b"t"
    body = _glob("numpy", "ndarray") + b"(" + shape + b"\x8c\x02f4" + b"C\x04\x00\x00\x80?" + b"K\x00"
    body += b"(K\x00K\x00K\x00t" + b"tR"
    return _spliced(None, "audio", body)


def bytes_2_40() -> bytes:
    """builtins.bytes(2**40)."""
    return _standalone(_glob("builtins", "bytes") + _long(2**40) + b"\x85R")


def billion_laughs() -> bytes:
    """train id = [t9, t9, t9] where t0 = ('lol',)*10 and t(k+1) = (tk,)*10: 10**9 strings when printed."""
    body = b"\x8c\x03lol" + _put(1_000_000)
    for level in range(1, 10):
        body += b"(" + _get(1_000_000 + level - 1) * 10 + b"t" + _put(1_000_000 + level)
    body = b"]" + b"(" + body + _get(1_000_009) + _get(1_000_009) + b"e"
    return _spliced(None, "id", body)


def deep_list_id() -> bytes:
    """train id = [d, d, d] where d is a list nested 100,000 deep."""
    depth = 100_000
    deep = b"]" * depth + b"a" * (depth - 1) + _put(1_000_000)
    body = b"]" + b"(" + deep + _get(1_000_000) + _get(1_000_000) + b"e"
    return _spliced(None, "id", body)


def _batched(items: list[bytes], op: bytes) -> bytes:
    """MARK ... op in batches of 1,000, as the pickler writes big containers."""
    return b"".join(b"(" + b"".join(items[i : i + 1000]) + op for i in range(0, len(items), 1000))


def collide_dict() -> bytes:
    """The train split is a dict of 40,000 int keys of one hash value (and no MMSA key)."""
    body = b"}" + _batched([_long(k * P) + b"N" for k in range(1, 40_001)], b"u")
    return _spliced("train", "", body)


def collide_set() -> bytes:
    """A set of 40,000 ints of one hash value (protocol 4 EMPTY_SET + ADDITEMS)."""
    return b"\x80\x04" + b"\x8f" + _batched([_long(k * P) for k in range(1, 40_001)], b"\x90") + b"."


PROBES = {name: globals()[name] for name in SMALL + BIG}


def write(out: Path, names=SMALL + BIG) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        p = out / f"{name}.pkl"
        p.write_bytes(PROBES[name]())
        paths[name] = p
    return paths


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--check"]
    out = Path(args[0]) if args else HERE
    paths = write(out, SMALL + BIG if args else SMALL)
    if "--check" in sys.argv:
        import time

        if not args:
            import tempfile

            paths.update(write(Path(tempfile.mkdtemp()), BIG))
        from selfmm.data import DataError, load_mmsa

        for name, p in paths.items():
            t0 = time.perf_counter()
            try:
                load_mmsa(p)
                outcome = "LOADED"
            except DataError as e:
                outcome = f"DataError ({len(str(e))} chars): {str(e)[:150]}"
            print(f"{name:18s} {p.stat().st_size:>8,} B  {time.perf_counter() - t0:6.3f} s  {outcome}")
    else:
        for p in paths.values():
            print(f"{p}  {p.stat().st_size:,} bytes")
