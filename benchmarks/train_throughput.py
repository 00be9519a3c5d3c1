"""Training throughput at SIMS size with a per-phase breakdown and the recording overhead.

Usage::

    python benchmarks/train_throughput.py                     # synthetic SIMS profile, tiny BERT, 2 epochs, CPU
    python benchmarks/train_throughput.py --epochs 3 --threads 2 --data data/sims.pkl --device cuda

The data is the synthetic SIMS profile (``selfmm.synth``: 1,368 / 456 / 457 samples, text L=39, audio 400×33,
vision 55×709), written once to a temporary folder unless ``--data`` is given. Training runs through
:func:`selfmm.train.fit` exactly as ``python -m selfmm train`` does, with a :class:`selfmm.train.PhaseTimer`
accumulating seconds per phase:

- data: batch slicing and host->device copies; forward: model + loss; backward; labels: the label generator's update (ULGM: label/feature/centre step);
  optimizer: Adam steps; recording: per-sample buffers in the loop + building the epoch's tables;
- eval: valid + test passes; metrics: every ``<what>/<metric>`` of the epoch; recording (files): parquet, JSON,
  safetensors writes; checkpoint: weights/last (+ best) and the run.json commit.

"Training samples/s" counts train samples over the in-loop phases (data..optimizer + in-loop recording).
The recording overhead is (in-loop recording + files + checkpoint) / total epoch time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from selfmm.config import preset
from selfmm.train import PhaseTimer, fit

LOOP_PHASES = ("data", "forward", "backward", "labels", "optimizer", "recording")
EPOCH_PHASES = ("eval", "metrics", "files", "checkpoint")


def run(data: Path, epochs: int, device: str, out: Path, record: str) -> dict:
    cfg = preset("tiny", max_epochs=epochs, early_stop=epochs + 1, projection="none", device=device,
                 record_representations=record)  # fmt: skip
    timer = PhaseTimer(enabled=True, device=torch.device(device if torch.cuda.is_available() else "cpu"))
    t0 = time.perf_counter()
    res = fit(cfg, data, out, verbose=False, timer=timer)
    total = time.perf_counter() - t0
    from selfmm.runs.reader import RunReader

    n_train = RunReader(out).manifest["dataset"]["n_train"]
    return {"seconds": dict(timer.seconds), "wall": total, "epochs": res["epochs"], "n_train": n_train}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="an MMSA pickle (default: synthetic SIMS profile)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--record", default="first_last", help="record_representations: all | first_last | none")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else None
        if data is None:
            from selfmm import synth

            t = time.perf_counter()
            data = tmp / "sims.pkl"
            synth.write(data, "sims", seed=0)
            print(f"synthetic SIMS profile written in {time.perf_counter() - t:.1f}s")
        r = run(data, args.epochs, args.device, tmp / "run", args.record)
    sec = r["seconds"]
    n_train = r["n_train"]
    loop = sum(sec.get(k, 0.0) for k in LOOP_PHASES)
    epoch_total = loop + sum(sec.get(k, 0.0) for k in EPOCH_PHASES)
    rec = sec.get("recording", 0.0) + sec.get("files", 0.0) + sec.get("checkpoint", 0.0)
    e = r["epochs"]
    print(f"\n{e} epochs, torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"{'phase':<12} {'s/epoch':>9} {'share':>7}")
    for k in LOOP_PHASES + EPOCH_PHASES:
        v = sec.get(k, 0.0)
        print(f"{k:<12} {v / e:9.3f} {100 * v / epoch_total:6.1f}%")
    print(f"{'epoch total':<12} {epoch_total / e:9.3f}")
    print(f"training samples/s (in-loop phases, {n_train} train samples): {n_train * e / loop:.0f}")
    print(f"end-to-end samples/s (train samples / epoch total incl. eval + recording): {n_train * e / epoch_total:.0f}")
    print(f"recording overhead: {100 * rec / epoch_total:.1f}% of epoch time ({rec / e:.3f} s/epoch)")
    print(f"wall time of fit (load, build, {e} epochs, final test): {r['wall']:.1f}s")


if __name__ == "__main__":
    main()
