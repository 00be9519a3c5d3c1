"""Where selfmm's training epoch spends its time: ``torch.profiler`` over ``fit`` (CPU and, on CUDA, GPU activity).

Usage::

    python benchmarks/gpu_profile.py --pkl DATA.pkl --bert BERT_DIR --device cuda     # after vs_mmsa.py made both
    python benchmarks/gpu_profile.py --pkl DATA.pkl --bert tiny --device cpu --epochs 1

Trains the ``sims`` preset for ``--epochs`` epochs (the first one, warm-up, unprofiled when ``--epochs`` > 1) at 1
thread and prints the operators with the most self CPU time and, on CUDA, the most self CUDA time. On a GPU a
training step of this model is bound by the host (kernel launches, Python), so the CPU table is the one to read.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pkl", type=Path, required=True)
    p.add_argument("--bert", required=True, help="local BERT folder or 'tiny'")
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rows", type=int, default=25)
    a = p.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    from selfmm.config import preset
    from selfmm.train import fit

    torch.set_num_threads(1)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if a.device.startswith("cuda") else [])
    state = {"prof": None}

    def on_epoch(epoch, _info):  # epoch 1 is the warm-up: profile from epoch 2 on
        if epoch == 1 and a.epochs > 1:
            state["prof"] = profile(activities=acts)
            state["prof"].__enter__()

    cfg = preset("sims", device=a.device, text_model=a.bert, max_epochs=a.epochs, early_stop=a.epochs + 1,
                 projection="none", record_representations="none", eval_test_every_epoch=False)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if a.epochs == 1:
            state["prof"] = profile(activities=acts)
            state["prof"].__enter__()
        fit(cfg, a.pkl, Path(tmp) / "run", verbose=False, on_epoch=on_epoch)
        prof = state["prof"]
        prof.__exit__(None, None, None)
    ka = prof.key_averages()
    print(ka.table(sort_by="self_cpu_time_total", row_limit=a.rows, max_name_column_width=48))
    if len(acts) > 1:
        print(ka.table(sort_by="self_cuda_time_total", row_limit=15, max_name_column_width=48))


if __name__ == "__main__":
    main()
