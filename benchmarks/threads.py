"""Training seconds per batch at several torch thread counts: the measurement behind ``train``'s ``--threads`` default.

Usage::

    python benchmarks/threads.py                       # tiny and BERT-base-shaped text models, threads 1, 2, N
    python benchmarks/threads.py --models tiny --threads 1 4 8 --batches 6

Each (model, threads) cell is its own subprocess (``torch.set_num_threads`` before any work; OMP/MKL variables set
too), run in alternating order ``--repeats`` times; the median seconds per training batch (forward, loss,
backward, optimizer step; the first batch is a warm-up and not timed) are printed. Data: a synthetic SIMS-shaped
pickle (``selfmm synth --profile sims --scale S``; audio 400 x 33, vision 55 x 709, text 39 tokens), the ``sims``
preset with batch size 32. Text models: ``tiny`` (the tiny preset's from-scratch BERT, 64 x 2) and ``base`` (a
random-weight BERT-base shape, 768 x 12, saved once with ``save_pretrained``; no download).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(pkl: str, text_model: str, batches: int, lstm: str) -> dict:
    import torch

    from selfmm.config import preset
    from selfmm.data import BatchLoader, load_mmsa
    from selfmm.losses import selfmm_loss
    from selfmm.model import SelfMM, build_optimizer

    cfg = preset("sims", text_model=text_model, lstm_backward=lstm)
    data = load_mmsa(pkl, dataset="sims")
    torch.manual_seed(0)
    model = SelfMM(cfg, data.feature_dims)
    model.train()
    opt = build_optimizer(model, cfg)
    times = []
    loader = BatchLoader(data.splits["train"], cfg.batch_size, True, torch.Generator().manual_seed(0))
    for i, b in enumerate(loader):
        if i > batches:
            break
        t = time.perf_counter()
        opt.zero_grad()
        out = model(b["text"], b["audio"], b["audio_lengths"], b["vision"], b["vision_lengths"])
        targets = {m: b["y_m"] for m in "MTAV"}
        loss, _ = selfmm_loss(out.pred, targets, {m: torch.ones_like(b["y_m"]) for m in "TAV"}, cfg.tasks)
        loss.backward()
        opt.step()
        if i > 0:  # batch 0: warm-up (allocator, oneDNN primitive caches)
            times.append(time.perf_counter() - t)
    return {"s_per_batch": statistics.median(times), "threads": torch.get_num_threads()}


def prepare(work: Path, scale: float) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    pkl = work / f"sims_x{scale:g}.pkl"
    if not pkl.exists():
        cmd = [sys.executable, "-m", "selfmm", "synth", "--profile", "sims", "--scale", str(scale), "--seed", "0",
               "--text-dim", "8", "--out", str(pkl)]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    bert = work / "bert_zh_768x12"
    if not (bert / "config.json").exists():
        import torch
        from transformers import BertConfig, BertModel

        from selfmm.model import TINY_VOCAB

        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=TINY_VOCAB["sims"])).save_pretrained(bert)  # BERT-base shape, random
    return pkl, bert


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["tiny", "base"], choices=["tiny", "base"])
    p.add_argument("--threads", nargs="+", type=int, default=None, help="default: 1 2 N (N = os.cpu_count())")
    p.add_argument("--batches", type=int, default=3, help="timed batches per run (default 3; base: 2)")
    p.add_argument("--repeats", type=int, default=2, help="runs per cell, alternating order (default 2)")
    p.add_argument("--scale", type=float, default=0.1, help="SIMS split sizes x this (default 0.1)")
    p.add_argument("--lstm-backward", default="exact", choices=["exact", "fused"])
    p.add_argument("--work", type=Path, default=Path("/tmp/selfmm-threads"))
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        pkl, text_model, batches = a.child
        import torch

        torch.set_num_threads(int(os.environ["SELFMM_BENCH_THREADS"]))
        print(json.dumps(child(pkl, text_model, int(batches), a.lstm_backward)))
        return
    threads = a.threads or sorted({1, 2, os.cpu_count() or 1})
    pkl, bert = prepare(a.work, a.scale)
    print(f"SIMS shape x{a.scale:g}, batch 32, {os.cpu_count()} CPUs, threads {threads}, lstm_backward "
          f"{a.lstm_backward}; median s per training batch over {a.repeats} runs")  # fmt: skip
    res: dict = {}
    for r in range(a.repeats):
        cells = [(m, t) for m in a.models for t in threads]
        for m, t in cells if r % 2 == 0 else cells[::-1]:
            n = a.batches if m == "tiny" else min(a.batches, 2)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "SELFMM_BENCH_THREADS": str(t),
                   "OMP_NUM_THREADS": str(t), "MKL_NUM_THREADS": str(t)}  # fmt: skip
            cmd = [sys.executable, __file__, "--child", str(pkl), "tiny" if m == "tiny" else str(bert), str(n),
                   "--lstm-backward", a.lstm_backward]  # fmt: skip
            out = subprocess.run(cmd, check=True, cwd=ROOT, env=env, capture_output=True, text=True).stdout
            res.setdefault((m, t), []).append(json.loads(out.strip().splitlines()[-1])["s_per_batch"])
    print(f"{'text model':<12}" + "".join(f"{f'{t} thread(s)':>14}" for t in threads))
    for m in a.models:
        print(f"{m:<12}" + "".join(f"{statistics.median(res[(m, t)]):13.3f}s" for t in threads))


if __name__ == "__main__":
    main()
