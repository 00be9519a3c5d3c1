"""The GPU check behind ``benchmarks/gpu_check.sh`` (run that; it checks the environment first).

On one CUDA device, offline: a synthetic full-size SIMS pickle and a random-weight BERT-base-shaped model saved with
``save_pretrained`` (no download) under ``--work``; the ``sims`` preset trained for ``--epochs`` epochs per run at
3 seeds in float32 (``amp=none``) and in bfloat16 autocast (``amp=bf16``); per run the seconds per training epoch
(median over epochs 2.., epoch 1 holds CUDA/cuDNN warm-up) and the best epoch's test metrics; then bf16 - fp32 per
metric (per seed, mean, max |diff|). Runs are in-process, one after another, ``eval_test_every_epoch=False``,
no representations or projections (the training loop is what is timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback
from pathlib import Path

METRICS = ("MAE", "Corr", "Mult_acc_2", "F1_score")


def prepare(work: Path, scale: float = 1.0, hidden: int = 768, layers: int = 12) -> tuple[Path, Path]:
    """The synthetic SIMS pickle (``scale`` x the real sizes) and a random BERT of ``hidden`` x ``layers``:
    :func:`vs_mmsa.prepare`'s files, so the two GPU stages share one cache folder's layout."""
    from vs_mmsa import prepare as prepare_shape  # benchmarks/ is on sys.path when this script runs

    return prepare_shape(work, "sims", scale, hidden, layers)


def one_run(pkl: Path, bert: Path, work: Path, amp: str, seed: int, epochs: int, device: str) -> dict:
    from selfmm.config import preset
    from selfmm.runs.reader import RunReader
    from selfmm.train import fit

    cfg = preset("sims", device=device, text_model=str(bert), amp=amp, seed=seed, max_epochs=epochs,
                 early_stop=epochs + 1, projection="none", record_representations="none",
                 eval_test_every_epoch=False)  # fmt: skip
    out = work / f"run-{amp}-{seed}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    t = time.perf_counter()
    res = fit(cfg, pkl, out, verbose=False)
    m = RunReader(out).metrics()
    train = m[m.split == "train"]["time_s"].tolist()
    valid = m[m.split == "valid"]["time_s"].tolist()
    return {"amp": amp, "seed": seed, "epoch_s": statistics.median(train[1:] or train), "first_epoch_s": train[0],
            "valid_s": statistics.median(valid), "wall_s": time.perf_counter() - t,
            "best_epoch": res["best"]["epoch"], "test": res["test"]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/selfmm-gpu"))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--scale", type=float, default=1.0, help="SIMS split sizes x this (smoke tests: 0.05)")
    p.add_argument("--text-hidden", type=int, default=768, help="random BERT hidden size (default BERT-base)")
    p.add_argument("--text-layers", type=int, default=12, help="random BERT layers (default BERT-base)")
    a = p.parse_args()
    import torch

    t0 = time.perf_counter()
    pkl, bert = prepare(a.work, a.scale, a.text_hidden, a.text_layers)
    print(f"data {pkl}, random BERT {bert}, prepared in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for seed in a.seeds:
        for amp in ("none", "bf16"):
            try:
                r = one_run(pkl, bert, a.work, amp, seed, a.epochs, a.device)
            except Exception as err:  # report and go on: bf16 may be unsupported by some kernel
                print(f"amp={amp} seed={seed}: FAILED {type(err).__name__}: {err}", flush=True)
                traceback.print_exc(limit=-6)
                continue
            rows.append(r)
            t = r["test"]
            print(f"amp={amp:<4} seed={seed}: {r['epoch_s']:.2f} s/epoch (first {r['first_epoch_s']:.2f}), valid "
                  f"{r['valid_s']:.2f} s, run {r['wall_s']:.0f} s, best epoch {r['best_epoch']}, test "
                  + " ".join(f"{k} {t[k]:.4f}" for k in METRICS), flush=True)  # fmt: skip
    print(f"\ntorch {torch.__version__}, {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA'}")
    for amp in ("none", "bf16"):
        e = [r["epoch_s"] for r in rows if r["amp"] == amp]
        if e:
            print(f"selfmm sims preset, BERT {a.text_hidden}x{a.text_layers}, amp={amp}: {statistics.median(e):.2f} s per training epoch "
                  f"(median of {len(e)} runs)")  # fmt: skip
    pairs = [(f, b) for f in rows for b in rows if f["seed"] == b["seed"] and f["amp"] == "none" != b["amp"]]
    if pairs:
        print(f"\nbf16 - fp32, test metrics of the best epoch ({len(pairs)} seeds):")
        for k in METRICS:
            d = [b["test"][k] - f["test"][k] for f, b in pairs]
            print(f"  {k:<11} per seed " + " ".join(f"{x:+.4f}" for x in d)
                  + f" | mean {statistics.mean(d):+.4f} | max |diff| {max(abs(x) for x in d):.4f}")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
