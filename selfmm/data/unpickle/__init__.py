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

import mmap
import struct
from pathlib import Path

from selfmm.data.unpickle.bounds import DataError, Limits, _Corrupt, _Refused, _short
from selfmm.data.unpickle.vm import _Reader

__all__ = ["DataError", "Limits", "_short", "safe_load_pickle"]

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
