"""Forward and backward milliseconds of the packed audio/vision LSTM, per implementation (selfmm/lstm.py).

Usage::

    python benchmarks/lstm_paths.py                 # 1 thread, SIMS audio and vision sizes, median of 7

Implementations: ``nn.LSTM`` on the packed batch (what MMSA runs), ``packed_lstm_h_n`` (autograd, one split),
``exact`` (the default, bitwise ``nn.LSTM``) and ``fused`` (``lstm_backward=fused``). Each cell: the median over
``--repeats`` rounds, the implementations interleaved within a round; the loss is a fixed weighting of h_n.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from selfmm.lstm import exact_lstm_h_n, fused_lstm_h_n, packed_lstm_h_n

SHAPES = {"sims audio": (32, 400, 33, 16), "sims vision": (32, 55, 709, 64), "mosi audio": (32, 375, 5, 16)}
PATHS = {
    "nn.LSTM": lambda rnn, pk: rnn(pk)[1][0],
    "split (autograd)": packed_lstm_h_n,
    "exact (default)": exact_lstm_h_n,
    "fused": fused_lstm_h_n,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"{a.threads} thread(s), median of {a.repeats}; ms forward / backward")
    print(f"{'shape (B, T, D, H)':<32}" + "".join(f"{k:>20}" for k in PATHS))
    for name, (B, T, D, H) in SHAPES.items():
        g = torch.Generator().manual_seed(0)
        rnn = torch.nn.LSTM(D, H, batch_first=True)
        x = torch.randn(B, T, D, generator=g)
        lens = torch.randint(T // 4, T + 1, (B,), generator=g)
        lens[0] = T
        pk = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        w = torch.randn(1, B, H, generator=g)
        times: dict = {k: ([], []) for k in PATHS}
        for _ in range(a.repeats):
            for k, fn in PATHS.items():
                rnn.zero_grad()
                t0 = time.perf_counter()
                h = fn(rnn, pk)
                t1 = time.perf_counter()
                (h * w).sum().backward()
                times[k][0].append(t1 - t0)
                times[k][1].append(time.perf_counter() - t1)
        cells = [f"{1e3 * statistics.median(f):.1f} / {1e3 * statistics.median(b):.1f}" for f, b in times.values()]
        print(f"{name + ' ' + str((B, T, D, H)):<32}" + "".join(f"{c:>20}" for c in cells))


if __name__ == "__main__":
    main()
