"""Run-folder size per epoch at SIMS and MOSEI sizes, with and without representations (fake runs, no torch).

Usage: ``python benchmarks/record_size.py [--epochs 40] [--out DIR]``. Prints, per configuration, the total size,
the bytes per epoch of each per-epoch file kind, the write time, and the time to read all labels/predictions.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from selfmm.runs.layout import EPOCH_FILES
from selfmm.runs.reader import RunReader
from selfmm.testing import write_fake_run

SIZES = {"sims": (1368, 456, 457), "mosei": (16326, 1871, 4659)}


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(root: Path, dataset: str, epochs: int, reps: bool) -> dict:
    run = root / f"{dataset}-{'reps' if reps else 'noreps'}"
    t0 = time.perf_counter()
    write_fake_run(
        run,
        dataset=dataset,
        n=SIZES[dataset],
        epochs=epochs,
        human=dataset == "sims",
        representation_epochs=(1, epochs) if reps else (),
    )
    t_write = time.perf_counter() - t0
    r = RunReader(run)
    t0 = time.perf_counter()
    r.labels()
    t_labels = time.perf_counter() - t0
    t0 = time.perf_counter()
    r.predictions()
    t_preds = time.perf_counter() - t0
    per_kind = {}
    for kind, (folder, _) in EPOCH_FILES.items():
        files = list((run / folder).glob("epoch_*"))
        per_kind[kind] = sum(f.stat().st_size for f in files) / max(1, len(files))
    return {"total": _du(run), "per_kind": per_kind, "write": t_write, "labels": t_labels, "preds": t_preds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temp dir, deleted)")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="selfmm-recsize-"))
    print(
        f"{'config':<16}{'total MB':>9}{'MB/epoch':>9}  per file (kB): labels preds centers reps  write s  read labels/preds s"
    )
    try:
        for dataset in SIZES:
            for reps in (False, True):
                m = measure(root, dataset, args.epochs, reps)
                k = m["per_kind"]
                name = f"{dataset} {'+reps' if reps else 'no reps'}"
                print(
                    f"{name:<16}{m['total'] / 1e6:>9.1f}{m['total'] / 1e6 / args.epochs:>9.2f}  "
                    f"{k['labels'] / 1e3:>20.0f} {k['predictions'] / 1e3:>5.0f} {k['centers'] / 1e3:>7.1f} "
                    f"{k['representations'] / 1e3:>5.0f}  {m['write']:>7.1f}  {m['labels']:.3f}/{m['preds']:.3f}"
                )
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
