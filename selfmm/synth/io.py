"""Writing a synthetic pickle atomically with memory bounded by one chunk."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from selfmm.synth.generator import _build
from selfmm.synth.profiles import SPLITS, Profile, SynthError


def write(path: str | Path, profile: str | Profile = "sims", **kwargs) -> dict:
    """Generate (see :func:`generate` for ``kwargs``) and write the pickle atomically with bounded memory.

    The big feature arrays are filled chunk by chunk into memory maps in a temporary folder next to ``path``,
    then pickled with protocol 5, which streams each array's buffer to the file without copying it
    (``numpy._core.numeric._frombuffer``, readable by any Python >= 3.8 / numpy pickle loader).

    Returns a summary: ``{"path", "size_bytes", "seconds", "n": {split: N}}``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmpdir = Path(tempfile.mkdtemp(prefix=".synth-", dir=path.parent))
    try:

        def alloc(split, key, shape, dtype):
            return np.lib.format.open_memmap(tmpdir / f"{split}-{key}.npy", mode="w+", dtype=dtype, shape=shape)

        data = _build(profile, **_build_kwargs(kwargs), alloc=alloc)
        for d in data.values():  # plain ndarray views: pickle must not record the numpy.memmap class
            for k, v in d.items():
                if isinstance(v, np.memmap):
                    d[k] = v.view(np.ndarray)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(data, f, protocol=5)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "seconds": time.perf_counter() - t0,
        "n": {s: int(len(data[s]["id"])) for s in SPLITS},
    }


def _build_kwargs(kw: dict) -> dict:
    allowed = ("scale", "seed", "signal", "dims", "lengths", "text_dim", "neg_inf_rate")
    bad = sorted(set(kw) - set(allowed))
    if bad:
        raise SynthError(f"unknown options {bad}: expected some of {', '.join(allowed)}")
    return {
        "scale": kw.get("scale", 1.0),
        "seed": kw.get("seed", 0),
        "signal": kw.get("signal"),
        "dims": kw.get("dims"),
        "lengths": kw.get("lengths"),
        "text_dim": kw.get("text_dim", 768),
        "neg_inf_rate": kw.get("neg_inf_rate"),
    }
