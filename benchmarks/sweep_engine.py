"""Seeds on the local engine vs on local Ray: wall time, ratio, equality of results; Ray start-up and trial memory.

    python benchmarks/sweep_engine.py                    # 4 seeds, 2 concurrent, tiny preset on a synthetic pickle
    python benchmarks/sweep_engine.py --seeds 1-4 --max-concurrent 2 --n 160 --epochs 4 --repeat 2

Runs ``python -m selfmm seeds`` twice per repeat, each in a fresh folder and a fresh process (imports included,
as a user sees it): ``--engine local --threads 1`` (one seed after another) and ``--engine ray --max-concurrent N
--cpus-per-trial 1`` (each trial: 1 torch thread). Prints both wall times, their ratio, whether every seed's
run.json test metrics and best validation loss are equal, and, for Ray, ``ray.init`` time (a separate
``ray.init``/``shutdown`` in this process) and the peak RSS of each trial worker process (polled from /proc every
0.2 s, so a lower bound).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_poll(stop: threading.Event, peaks: dict) -> None:
    """Peak RSS (MiB) of every process whose name starts with 'ray::' (Ray's actor/trial workers)."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                if not cmd.startswith("ray::ImplicitFunc") and not cmd.startswith("ray::ray_trial"):
                    continue
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        peaks[pid] = max(peaks.get(pid, 0.0), int(line.split()[1]) / 1024)
            except OSError:
                continue
        stop.wait(0.2)


def _seeds(data: Path, out: Path, seeds: str, epochs: int, extra: list[str]) -> float:
    sets = [f"max_epochs={epochs}", "early_stop=100", "projection=none", "record_representations=none"]
    cmd = [sys.executable, "-m", "selfmm", "seeds", "--data", str(data), "--preset", "tiny", "--out", str(out),
           "--seeds", seeds, "-q", *extra, "--set", *sets]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _results(out: Path) -> dict:
    got = {}
    for d in sorted(out.glob("seed_*")):
        m = json.loads((d / "run.json").read_text())
        got[d.name] = (m["test"], m["best"]["valid_loss"], m["status"])
    return got


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1-4")
    p.add_argument("--max-concurrent", type=int, default=2)
    p.add_argument("--n", type=int, default=160, help="train samples of the synthetic pickle (valid/test: n/4)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    from tests.mmsa_fixture import make_mmsa_dict, write_pickle

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_pickle(make_mmsa_dict(n=(args.n, args.n // 4, args.n // 4), seed=1, human=True), tmp / "d.pkl")
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        ray.shutdown()
        t_down = time.perf_counter() - t0
        print(f"ray.init (local, {os.cpu_count()} CPUs): {t_init:.2f} s; ray.shutdown: {t_down:.2f} s")
        for r in range(args.repeat):
            t_loc = _seeds(data, tmp / f"local{r}", args.seeds, args.epochs, ["--engine", "local", "--threads", "1"])
            stop, peaks = threading.Event(), {}
            th = threading.Thread(target=_rss_poll, args=(stop, peaks), daemon=True)
            th.start()
            ray_flags = ["--engine", "ray", "--max-concurrent", str(args.max_concurrent), "--cpus-per-trial", "1"]
            t_ray = _seeds(data, tmp / f"ray{r}", args.seeds, args.epochs, ray_flags)
            stop.set()
            th.join()
            same = _results(tmp / f"local{r}") == _results(tmp / f"ray{r}")
            load = os.getloadavg()[0]
            print(f"repeat {r + 1}: local (sequential) {t_loc:.1f} s, ray --max-concurrent {args.max_concurrent} "
                  f"{t_ray:.1f} s, ratio ray/local {t_ray / t_loc:.2f}; results equal: {same}; load avg {load:.2f}")  # fmt: skip
            if peaks:
                vals = sorted(peaks.values())
                print(f"  ray trial workers: {len(vals)}, peak RSS {min(vals):.0f}-{max(vals):.0f} MiB each")


if __name__ == "__main__":
    main()
