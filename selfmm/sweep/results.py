"""A sweep's results table, like MMSA's: configurations ranked by validation loss, test metrics over seeds.

Read from the run folders only (never from Ray's records), so a local and a Ray sweep, or a resumed one, give the
same tables. Files written into the sweep folder:

- ``trials.csv``: one row per configuration: ``rank`` (1 = best; empty until all its seeds finished), ``config``,
  ``status`` (finished | incomplete | stopped), ``n_seeds``, ``n_finished``, ``valid_loss`` (mean over seeds of
  each run's best validation loss, the selection criterion), ``valid_loss_std``, ``param/<key>`` for every space
  key, ``test/<metric>`` (mean over seeds, unscaled).
- ``results.csv``: the best configuration and the top-k (by ``valid_loss``): one row per (rank, metric) with
  ``config``, ``scale`` (100: test metrics ×100, MAE too, as MMSA's tables), ``mean``, ``std`` (population, as
  MMSA's np.std), ``n`` and one column per seed.
- ``results.md``: both as Markdown.

Selection is on the validation split: MMSA's tune mode ranks its trials by their test results instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from selfmm.runs import layout
from selfmm.runs.io import write_text_atomic
from selfmm.runs.reader import RunReader

SWEEP_JSON = "sweep.json"
TRIALS_DIR = "trials"  # the run folders
TRIALS_CSV = "trials.csv"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"


def run_dir(sweep_dir: Path, name: str, config_id: int, seed: int) -> Path:
    """``<sweep>/trials/<name>-c<id>-s<seed>``: unique run ids across the sweep (the dashboard keys on them)."""
    return Path(sweep_dir) / TRIALS_DIR / f"{name}-c{config_id:03d}-s{seed}"


def trials_frame(sweep_dir: str | Path) -> pd.DataFrame:
    """The ``trials.csv`` frame (module docstring) of the sweep in ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    state = json.loads((sweep_dir / SWEEP_JSON).read_text(encoding="utf-8"))
    stopped = set(state.get("stopped", []))
    rows = []
    for c in state["configs"]:
        k, losses, tests, status = c["id"], [], [], "finished"
        for s in state["seeds"]:
            d = run_dir(sweep_dir, state["name"], k, s)
            m = RunReader(d).manifest if (d / layout.RUN_JSON).is_file() else {}
            if m.get("status") == "finished":
                losses.append(float(m["best"]["valid_loss"]))
                tests.append(m.get("test") or {})
            elif d.name in stopped:
                status = "stopped"
            elif status == "finished":
                status = "incomplete"
        row = {"config": k, "status": status, "n_seeds": len(state["seeds"]), "n_finished": len(losses)}
        row["valid_loss"] = float(np.mean(losses)) if losses else np.nan
        row["valid_loss_std"] = float(np.std(losses)) if losses else np.nan
        row.update({f"param/{p}": v for p, v in c["params"].items()})
        for metric in tests[0] if tests else []:
            if metric != "loss":
                row[f"test/{metric}"] = float(np.mean([t.get(metric, np.nan) for t in tests]))
        rows.append(row)
    df = pd.DataFrame(rows)
    done = df[df["status"] == "finished"].sort_values(["valid_loss", "config"], kind="stable")
    df["rank"] = pd.Series(dtype="Int64")
    df.loc[done.index, "rank"] = np.arange(1, len(done) + 1)
    df["rank"] = df["rank"].astype("Int64")
    df = df.sort_values(["rank", "config"], na_position="last", kind="stable").reset_index(drop=True)
    return df[["rank"] + [c for c in df.columns if c != "rank"]]


def results_frame(sweep_dir: str | Path, trials: pd.DataFrame, top_k: int = 5) -> pd.DataFrame:
    """Test metrics ×100 over seeds for the top ``top_k`` ranked configurations (rank 1 = the best)."""
    from selfmm.experiment import summarize

    sweep_dir = Path(sweep_dir)
    state = json.loads((sweep_dir / SWEEP_JSON).read_text(encoding="utf-8"))
    frames = []
    for r in trials.dropna(subset=["rank"]).head(top_k).itertuples(index=False):
        tests = {}
        for s in state["seeds"]:
            m = RunReader(run_dir(sweep_dir, state["name"], r.config, s)).manifest
            tests[s] = m["test"]
        frames.append(summarize(tests).assign(rank=int(r.rank), config=int(r.config), scale=100.0))
    if not frames:
        return pd.DataFrame(columns=["rank", "config", "metric", "scale", "mean", "std", "n"])
    res = pd.concat(frames, ignore_index=True)
    first = ["rank", "config", "metric", "scale", "mean", "std", "n"]
    return res[first + [c for c in res.columns if c not in first]]


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def results_markdown(state: dict, trials: pd.DataFrame, res: pd.DataFrame, searched: list[str]) -> str:
    """Best configuration (params + metrics) and the top-k ranking as Markdown."""
    lines = [f"# Sweep {state['name']!r}: {state['base_config']['dataset']}, {state['search']} search over "
             f"{state['space_source']}, {len(state['configs'])} configurations × seeds {state['seeds']}", "",
             "Configurations are ranked by the mean over seeds of each run's best validation loss (MMSA's tune mode "
             "ranks on the test set instead).", ""]  # fmt: skip
    ranked = trials.dropna(subset=["rank"])
    if ranked.empty:
        return "\n".join(lines + ["No configuration has finished all its seeds yet.", ""])
    best = ranked.iloc[0]
    lines += [f"## Best configuration: c{int(best['config']):03d} (valid loss {best['valid_loss']:.4f} ± "
              f"{best['valid_loss_std']:.4f})", "", "| parameter | value |", "|---|---|"]  # fmt: skip
    lines += [f"| {p} | {_fmt(best[f'param/{p}'])} |" for p in searched]
    b = res[res["rank"] == 1]
    lines += ["", "| metric | mean ± std (×100) | n |", "|---|---|---|"]
    lines += [f"| {r.metric} | {r.mean:.2f} ± {r.std:.2f} | {r.n} |" for r in b.itertuples(index=False)]
    metrics = list(dict.fromkeys(res["metric"]))
    lines += ["", f"## Top {res['rank'].nunique()} configurations by validation loss", ""]
    lines += ["| rank | config | valid loss | " + " | ".join(metrics) + " | " + " | ".join(searched) + " |"]
    lines += ["|---" * (3 + len(metrics) + len(searched)) + "|"]
    for rank, g in res.groupby("rank", sort=True):
        t = ranked[ranked["rank"] == rank].iloc[0]
        cells = [f"{g[g.metric == m]['mean'].iloc[0]:.2f} ± {g[g.metric == m]['std'].iloc[0]:.2f}" for m in metrics]
        cells += [_fmt(t[f"param/{p}"]) for p in searched]
        lines.append(f"| {rank} | c{int(t['config']):03d} | {t['valid_loss']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(sweep_dir: str | Path, searched: list[str], top_k: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write trials.csv, results.csv and results.md into the sweep folder; return (trials, results)."""
    sweep_dir = Path(sweep_dir)
    state = json.loads((sweep_dir / SWEEP_JSON).read_text(encoding="utf-8"))
    trials = trials_frame(sweep_dir)
    res = results_frame(sweep_dir, trials, top_k)
    write_text_atomic(sweep_dir / TRIALS_CSV, trials.to_csv(index=False))
    write_text_atomic(sweep_dir / RESULTS_CSV, res.to_csv(index=False))
    write_text_atomic(sweep_dir / RESULTS_MD, results_markdown(state, trials, res, searched))
    return trials, res


__all__ = [
    "RESULTS_CSV",
    "RESULTS_MD",
    "SWEEP_JSON",
    "TRIALS_CSV",
    "TRIALS_DIR",
    "results_frame",
    "results_markdown",
    "run_dir",
    "trials_frame",
    "write_tables",
]
