"""Seeds on the local engine vs on local Ray: wall time, ratio, equality of results; Ray start-up and trial memory.

    python benchmarks/sweep_engine.py                    # 4 seeds, 2 concurrent, tiny preset on a synthetic pickle
    python benchmarks/sweep_engine.py --seeds 1-4 --max-concurrent 2 --n 160 --epochs 4 --repeat 2

Runs ``python -m selfmm seeds`` twice per repeat, each in a fresh folder and a fresh process (imports included,
as a user sees it): ``--engine local --threads 1`` (one seed after another) and ``--engine ray --max-concurrent N
--cpus-per-trial 1`` (each trial: 1 torch thread). The order alternates (A/B, then B/A, ...) so that a load change
on a shared machine does not favour one engine. Prints both wall times, their ratio, whether every seed's run.json
test metrics and best validation loss are equal, the load average, and, for Ray, ``ray.init`` time (a separate
``ray.init``/``shutdown`` in this process), the peak RSS of each trial worker process, of Ray's own processes
together (GCS, raylet, agents, idle workers) and of the driver (``python -m selfmm seeds``), polled from /proc every
0.2 s (so lower bounds), and CPU seconds: the local command's process tree, and for Ray the driver plus every Ray
process (polled, a lower bound). Ends with the median ratio over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mib(pid: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: str) -> float:
    """utime + stime of one process so far (its own, not its children's), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int | None) -> list[str]:
    """Pids of ``root``'s descendants, ``root`` included (other users' Ray processes on a shared machine are not
    this benchmark's)."""
    if root is None:
        return []
    children: dict[str, list[str]] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(pid)
    out, todo = [], [str(root)]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _rss_poll(stop: threading.Event, peaks: dict, driver: dict, cpu: dict | None = None) -> None:
    """Over the driver (``driver["pid"]``) and its descendants, peak RSS (MiB): ``peaks["driver"]``,
    ``peaks[pid]`` of each trial worker ('ray::ImplicitFunc...'), ``peaks["ray"]`` of Ray's other processes
    summed per poll (gcs_server, raylet, agents, 'ray::IDLE' workers); ``cpu[pid]``: the last CPU seconds seen of
    each (a lower bound: up to one poll interval of a process's life is missed)."""
    cpu = {} if cpu is None else cpu
    while not stop.is_set():
        infra = 0.0
        for pid in _descendants(driver.get("pid")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                if pid == str(driver["pid"]):
                    peaks["driver"] = max(peaks.get("driver", 0.0), _rss_mib(pid))
                elif cmd.startswith("ray::ImplicitFunc") or cmd.startswith("ray::ray_trial"):
                    peaks[pid] = max(peaks.get(pid, 0.0), _rss_mib(pid))
                else:
                    infra += _rss_mib(pid)
                cpu[pid] = _cpu_s(pid)
            except OSError:
                continue
        peaks["ray"] = max(peaks.get("ray", 0.0), infra)
        stop.wait(0.2)


def _seeds(data: Path, out: Path, seeds: str, epochs: int, extra: list[str], driver: dict | None = None) -> tuple:
    """Run ``python -m selfmm seeds`` once; return (wall s, CPU s user+sys of the process tree as reaped)."""
    sets = [f"max_epochs={epochs}", "early_stop=100", "projection=none", "record_representations=none"]
    cmd = [sys.executable, "-m", "selfmm", "seeds", "--data", str(data), "--preset", "tiny", "--out", str(out),
           "--seeds", seeds, "-q", *extra, "--set", *sets]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if driver is not None:
        driver["pid"] = proc.pid
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit status {proc.returncode}")
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)


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
        print(f"ray.init (local, {os.cpu_count()} CPUs): {t_init:.2f} s; ray.shutdown: {t_down:.2f} s", flush=True)
        ratios = []
        for r in range(args.repeat):
            ray_flags = ["--engine", "ray", "--max-concurrent", str(args.max_concurrent), "--cpus-per-trial", "1"]
            local_flags = ["--engine", "local", "--threads", "1"]
            stop, peaks, driver, proc_cpu = threading.Event(), {}, {}, {}
            t, cpu = {}, {}
            for engine in ("local", "ray") if r % 2 == 0 else ("ray", "local"):  # A/B, then B/A
                if engine == "ray":
                    th = threading.Thread(target=_rss_poll, args=(stop, peaks, driver, proc_cpu), daemon=True)
                    th.start()
                    t["ray"], cpu["ray"] = _seeds(data, tmp / f"ray{r}", args.seeds, args.epochs, ray_flags, driver)
                    stop.set()
                    th.join()
                else:
                    t["local"], cpu["local"] = _seeds(data, tmp / f"local{r}", args.seeds, args.epochs, local_flags)
            same = _results(tmp / f"local{r}") == _results(tmp / f"ray{r}")
            ratios.append(t["ray"] / t["local"])
            order = "local first" if r % 2 == 0 else "ray first"
            print(f"repeat {r + 1} ({order}): local (sequential) {t['local']:.1f} s, ray --max-concurrent "
                  f"{args.max_concurrent} {t['ray']:.1f} s, ratio ray/local {ratios[-1]:.2f}; results equal: {same}; "
                  f"load avg (1 min) {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
            print(f"  CPU s (user+sys): local {cpu['local']:.1f} (its process tree); ray {sum(proc_cpu.values()):.1f} "
                  f"(driver + its Ray processes, polled)", flush=True)  # fmt: skip
            trials = sorted(v for k, v in peaks.items() if k not in ("ray", "driver"))
            if trials:
                print(f"  peak RSS: {len(trials)} trial workers {trials[0]:.0f}-{trials[-1]:.0f} MiB each; Ray's "
                      f"own processes {peaks.get('ray', 0):.0f} MiB together; driver {peaks.get('driver', 0):.0f} MiB",
                      flush=True)  # fmt: skip
        print(f"median ratio ray/local over {len(ratios)} repeat(s): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
