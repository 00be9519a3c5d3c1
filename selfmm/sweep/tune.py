"""``python -m selfmm tune``: hyper-parameter search on Ray Tune, every trial an ordinary selfmm run folder.

``python -m selfmm tune --data PATH.pkl --preset sims --out DIR --trials 50 --search random|optuna --space
mmsa|FILE --seeds 1111-1113 [--max-concurrent N --cpus-per-trial C --gpus-per-trial G --address ADDR --asha]``

- A *configuration* ``c<k>`` is one draw from the space (:mod:`selfmm.sweep.spaces`; ``--space mmsa`` is MMSA's
  own Self-MM tune space). Each configuration is trained once per seed: ``DIR/trials/<name>-c<k>-s<seed>/`` is an
  ordinary run folder with run.json ``experiment = {name, variant: "c<k>", params, seed}``, so the dashboard,
  ``train --resume`` and every analysis read it unchanged.
- Configurations are ranked by the mean over seeds of each run's best **validation** loss (the Self-MM selection
  criterion, MAE of ŷ_m); MMSA's tune mode instead scores each trial on the **test** set, with one seed. The test
  metrics are reported, never used for selection.
- ``DIR/sweep.json`` holds the search state (settings and every configuration drawn so far), ``DIR/ray/`` Ray's own
  results (one Tune experiment per call), then ``trials.csv`` / ``results.csv`` / ``results.md``
  (:mod:`selfmm.sweep.results`).
- Resume: run the same command again. Finished runs are kept, unfinished ones continue after their last committed
  epoch, configurations already drawn are reused (random search draws configuration k as a pure function of
  ``--sweep-seed`` and k, so a resumed sweep equals an uninterrupted one; optuna is told the finished
  configurations again and proposes the rest, which may differ from an uninterrupted run's). ``--trials`` may grow
  on a later call to extend the sweep.
- ``--asha``: ASHA early stopping (Ray's ASHAScheduler on the best validation loss per epoch); a stopped run is
  listed in sweep.json ``stopped`` and not resumed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from selfmm.config import ConfigError, SelfMMConfig, apply_overrides
from selfmm.runs import layout
from selfmm.runs.io import write_json_atomic
from selfmm.runs.reader import RunError, RunReader
from selfmm.sweep import engine as eng
from selfmm.sweep import results as res
from selfmm.sweep import spaces

SEARCHES = ("random", "optuna")
# settings that must match when a sweep folder is resumed (trials may grow)
SWEEP_KEYS = ("name", "base_config", "space", "search", "seeds", "sweep_seed", "data")


class TuneSource:
    """Hands out (configuration × seed) jobs; draws a configuration when the previous one's seeds are out."""

    def __init__(self, sweep_dir: Path, state: dict, n_trials: int, text_model_path: str | None = None):
        self.dir, self.state, self.n_trials = sweep_dir, state, n_trials
        self.space = state["space"]
        self.base = SelfMMConfig.from_dict(state["base_config"])
        self.text_model_path = text_model_path
        self.queue: list[eng.Job] = []
        self.outcomes: dict[str, dict] = {}
        self.pending: dict[int, dict[int, dict]] = {}  # config id -> {seed: outcome}
        self.study = self.dists = None
        self.asked: dict[int, object] = {}  # config id -> optuna trial asked in this process
        if state["search"] == "optuna":
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self.dists, _ = spaces.optuna_distributions(self.space)
            sampler = optuna.samplers.TPESampler(seed=state["sweep_seed"])
            self.study = optuna.create_study(direction="minimize", sampler=sampler)
            for c in state["configs"]:  # tell optuna what earlier calls finished
                losses = self._finished_losses(c["id"])
                if losses is not None:
                    self._tell(c["id"], c["params"], sum(losses) / len(losses))
        for c in state["configs"][:n_trials]:
            self._enqueue(c)

    def _finished_losses(self, k: int) -> list[float] | None:
        out = []
        for s in self.state["seeds"]:
            d = res.run_dir(self.dir, self.state["name"], k, s)
            m = RunReader(d).manifest if (d / layout.RUN_JSON).is_file() else {}
            if m.get("status") != "finished":
                return None
            out.append(float(m["best"]["valid_loss"]))
        return out

    def _tell(self, k: int, params: dict, value: float | None) -> None:
        import optuna

        searched = {p: params[p] for p in self.dists}
        if k in self.asked:
            trial = self.asked.pop(k)
            if value is None:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, value)
        elif value is not None:
            self.study.add_trial(optuna.trial.create_trial(params=searched, distributions=self.dists, value=value))

    def _enqueue(self, c: dict) -> None:
        k = c["id"]
        for s in self.state["seeds"]:
            d = res.run_dir(self.dir, self.state["name"], k, s)
            if d.name in self.state["stopped"]:
                continue
            cfg = apply_overrides(self.base, {**c["params"], "seed": s})
            exp = {"name": self.state["name"], "variant": f"c{k:03d}", "params": c["params"], "seed": s}
            self.queue.append(eng.Job(d.name, cfg.to_dict(), str(d), self.state["data"], exp, self.text_model_path))

    def _draw(self) -> dict:
        k = len(self.state["configs"])
        if self.study is None:
            params = spaces.sample(self.space, self.state["sweep_seed"], k)
        else:
            trial = self.study.ask(self.dists)
            self.asked[k] = trial
            params = {**spaces.optuna_distributions(self.space)[1], **trial.params}
            params = {p: params[p] for p in sorted(params)}
        apply_overrides(self.base, params)  # type-check before anything runs
        c = {"id": k, "params": params}
        self.state["configs"].append(c)
        save_state(self.dir, self.state)
        return c

    def next(self):
        if not self.queue and len(self.state["configs"]) < self.n_trials:
            self._enqueue(self._draw())
        return self.queue.pop(0) if self.queue else eng.FINISHED

    def done(self, job: eng.Job, outcome: dict) -> None:
        self.outcomes[job.id] = outcome
        if outcome["status"] == "stopped":
            self.state["stopped"] = sorted({*self.state["stopped"], job.id})
            save_state(self.dir, self.state)
        k, s = int(job.experiment["variant"][1:]), job.experiment["seed"]
        got = self.pending.setdefault(k, {})
        got[s] = outcome
        if self.study is not None and len(got) == len(self.state["seeds"]):
            ok = all(o["status"] == "finished" for o in got.values())
            value = sum(o["best_valid_loss"] for o in got.values()) / len(got) if ok else None
            self._tell(k, job.experiment["params"], value)


def save_state(sweep_dir: Path, state: dict) -> None:
    write_json_atomic(sweep_dir / res.SWEEP_JSON, state)


def open_state(sweep_dir: Path, new: dict) -> dict:
    """The sweep.json state: ``new`` for a fresh folder, the stored one (checked against ``new``) on resume."""
    path = sweep_dir / res.SWEEP_JSON
    if not path.is_file():
        if sweep_dir.is_dir() and any(sweep_dir.iterdir()):
            raise RunError(f"{sweep_dir}: not empty and holds no {res.SWEEP_JSON}; choose a new --out folder")
        return {**new, "configs": [], "stopped": []}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunError(f"{path}: not valid JSON ({err}); restore it or start a new --out folder") from None
    diff = [k for k in SWEEP_KEYS if json.dumps(old.get(k), sort_keys=True) != json.dumps(new[k], sort_keys=True)]
    if diff:
        raise ConfigError(
            f"{path}: this sweep was started with different {', '.join(diff)}; resume it with its own settings "
            "(only --trials and the engine flags may change) or choose a new --out folder"
        )
    return old


def run_tune(
    cfg: SelfMMConfig,
    data,
    out,
    space_spec: str = "mmsa",
    search: str = "random",
    n_trials: int = 50,
    seeds: list[int] | None = None,
    opts: eng.EngineOptions | None = None,
    name: str | None = None,
    sweep_seed: int = 0,
    top_k: int = 5,
    text_model_path: str | None = None,
):
    """Run (or resume) the sweep into ``out``; write the tables; return (trials, results) frames.

    Raises RunError after writing the tables when some trials failed (run the same call again to resume them).
    """
    if search not in SEARCHES:
        raise ConfigError(f"--search {search!r}: expected one of {', '.join(SEARCHES)}")
    if n_trials < 1:
        raise ConfigError(f"--trials {n_trials}: must be >= 1")
    out = Path(out).resolve()
    data = Path(data).resolve()
    if not data.is_file():
        raise ConfigError(f"--data {data}: no such file")
    space, source = spaces.load_space(space_spec)
    seeds = list(seeds or [cfg.seed])
    new = {"name": name or out.name, "base_config": cfg.to_dict(), "space": space, "space_source": source,
           "search": search, "seeds": seeds, "sweep_seed": sweep_seed, "data": str(data)}  # fmt: skip
    state = open_state(out, new)
    out.mkdir(parents=True, exist_ok=True)
    state["trials"] = max(n_trials, len(state["configs"]))
    save_state(out, state)
    opts = opts or eng.EngineOptions(engine="ray")
    opts.results_dir = str(out / "ray")
    if opts.asha:
        opts.asha_max_t = cfg.max_epochs or opts.asha_max_t
    src = TuneSource(out, state, n_trials, text_model_path)
    eng.run(src, opts)
    trials, table = res.write_tables(out, spaces.searched_keys(space), top_k)
    bad = eng.failures(src.outcomes)
    if bad:
        raise RunError(
            f"{out}: {len(bad)} trial(s) failed ({bad[0]}); see their run.json, then run the same command again to "
            "resume them"
        )
    return trials, table


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm tune --data ... --preset ... --out DIR [...]`` (module docstring)."""
    from selfmm.cli import add_overrides, config_from_args, run_command
    from selfmm.experiment import parse_seeds

    p = argparse.ArgumentParser(prog="python -m selfmm tune", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="MMSA feature pickle (*.pkl)")
    p.add_argument("--preset", default="sims", help="mosi | mosei | sims | simsv2 | tiny (default sims)")
    p.add_argument("--out", required=True, help="sweep folder (created; run the same command again to resume)")
    p.add_argument("--trials", type=int, default=50, help="configurations to draw (default 50, as MMSA)")
    p.add_argument("--search", default="random", choices=SEARCHES, help="random (MMSA's) or optuna (TPE)")
    p.add_argument("--space", default="mmsa", help="'mmsa' (MMSA 2.2.1's Self-MM tune space) or a JSON file")
    p.add_argument("--seeds", default=None, help="seeds per configuration, e.g. 1111-1113 (default: the preset's)")
    p.add_argument("--sweep-seed", type=int, default=0, help="seed of the search itself (default 0)")
    p.add_argument("--top-k", type=int, default=5, help="configurations in the results table (default 5)")
    p.add_argument("--name", default=None, help="sweep name stored in run.json (default: the --out folder name)")
    p.add_argument("--asha", action="store_true", help="ASHA early stopping of unpromising trials")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N")
    p.add_argument("--text-model", default=None, help="hub id, local BERT folder, or 'tiny'")
    add_overrides(p)
    p.add_argument("-q", "--quiet", action="store_true", help="only the final table")
    eng.add_engine_args(p, default="ray")
    args = p.parse_args(argv)

    def body() -> None:
        cfg = config_from_args(args)
        opts = eng.options_from_args(args, Path(args.out) / "ray", asha=args.asha)
        cfg = eng.gpu_device(cfg, opts, explicit=args.device is not None)
        seeds = parse_seeds(args.seeds) if args.seeds else None
        run_tune(cfg, args.data, args.out, args.space, args.search, args.trials, seeds, opts, args.name,
                 args.sweep_seed, args.top_k)  # fmt: skip
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))

    return run_command(body, f"interrupted; run the same command again to resume {args.out}")


__all__ = ["SEARCHES", "TuneSource", "main", "open_state", "run_tune"]
