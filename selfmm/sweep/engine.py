"""One engine for seeds, experiments and tuning: a stream of jobs, each an ordinary selfmm run folder.

A :class:`Job` is one ``fit(cfg, data, run_dir, resume=True, experiment=...)``. A *source* hands out jobs
(``next()``) and hears how each ended (``done()``); a fixed list (:class:`FixedSource`, for ``seeds`` and
``experiment``) or a search (:class:`selfmm.sweep.tune.TuneSource`). Two engines run a source:

- ``local``: in this process, one job after another (today's path; no Ray needed);
- ``ray``: Ray Tune trials, ``cpus_per_trial`` / ``gpus_per_trial`` (fractional) each, at most ``max_concurrent``
  at once, on a local Ray started with this machine's cores (``num_cpus``) or on the cluster at ``address``.
  Ray's own results go to ``results_dir`` (inside the sweep folder).

Both always call ``fit(..., resume=True)``: a finished run returns its stored result at once, an unfinished one
continues after its last committed epoch, so re-running a killed sweep keeps what was done and finishes the rest
with the same numbers. Each trial sets ``torch.set_num_threads(cpus_per_trial)`` so concurrent trials do not
oversubscribe the cores (results are bit-identical to a local run with the same thread count).

Outcome of a job, as given to ``source.done(job, outcome)``: ``{"status": "finished" | "failed" | "stopped",
"best_valid_loss": float | None, "epochs": int | None, "error": str | None}``; "stopped" = cut by the ASHA
scheduler (the run folder stays unfinished and is not resumed by a later call).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from selfmm.config import ConfigError

ENGINES = ("auto", "local", "ray")
FINISHED = "FINISHED"  # source.next(): no more jobs
# environment variables forwarded from the driver into every Ray trial (the training loop's kill hook for tests)
FORWARD_ENV = ("SELFMM_DEBUG_SIGKILL_AT",)
METRIC = "best_valid_loss"  # what the search and ASHA minimise: the run's best validation loss so far


@dataclass
class Job:
    """One run: ``config`` is a resolved :class:`SelfMMConfig` dict (``model="cmc"``: a
    :class:`selfmm.cmc.config.CMCConfig` dict); paths are absolute (Ray trials change cwd)."""

    id: str
    config: dict
    run_dir: str
    data: str
    experiment: dict | None = None
    text_model_path: str | None = None
    model: str = "selfmm"  # "selfmm" | "cmc" (selfmm.cmc.job: finished -> stored result, unfinished -> retrained)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EngineOptions:
    """How to run jobs. ``engine="auto"``: ray when ``max_concurrent > 1`` or ``address`` is given, else local."""

    engine: str = "auto"
    max_concurrent: int | None = None  # None: as many as the resources allow (ray), 1 (local)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None  # a running Ray cluster ("auto" or "host:port"); None: start a local Ray
    num_cpus: int | None = None  # local Ray only: cores to give it (default: all of this machine's)
    asha: bool = False
    asha_grace: int = 1  # ASHA: epochs every trial gets before it can be cut
    asha_max_t: int = 100  # ASHA: the epoch horizon of its rungs
    results_dir: str | None = None  # Ray's results folder (required for ray)
    verbose: bool = True
    extra: dict = field(default_factory=dict)

    def resolved(self) -> str:
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r}: expected one of {', '.join(ENGINES)}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"--max-concurrent {self.max_concurrent}: must be >= 1")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ConfigError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
        engine = self.engine
        if engine == "auto":
            engine = "ray" if (self.max_concurrent or 1) > 1 or self.address or self.asha else "local"
        if engine == "local":
            if (self.max_concurrent or 1) > 1 or self.address or self.asha:
                raise ConfigError(
                    "--engine local runs one job at a time in this process: drop --max-concurrent/--address/--asha "
                    "or use --engine ray"
                )
        return engine

    def threads(self) -> int:
        return max(1, int(self.cpus_per_trial))


def _outcome(status: str, res: dict | None = None, error: str | None = None) -> dict:
    res = res or {}
    epochs = res.get("epochs", res.get("epoch"))  # local: fit's "epochs"; ray: the last report's "epoch"
    return {"status": status, "best_valid_loss": res.get(METRIC), "epochs": epochs, "error": error}


class FixedSource:
    """A fixed list of jobs, each handed out once (``seeds``, ``experiment``)."""

    def __init__(self, jobs: list[Job]):
        self.jobs = list(jobs)
        self._next = 0
        self.outcomes: dict[str, dict] = {}

    def next(self):
        if self._next >= len(self.jobs):
            return FINISHED
        self._next += 1
        return self.jobs[self._next - 1]

    def done(self, job: Job, outcome: dict) -> None:
        self.outcomes[job.id] = outcome


def _fit_job(job: Job, on_epoch=None, verbose: bool = False) -> dict:
    if job.model == "cmc":  # no per-epoch reports: CMC's trainer has no epoch hook (its outcome comes at the end)
        from selfmm.cmc.config import CMCConfig
        from selfmm.cmc.job import fit_cmc_job

        res = fit_cmc_job(CMCConfig.from_dict(job.config), job.data, job.run_dir, job.text_model_path,
                          experiment=job.experiment, verbose=verbose)  # fmt: skip
        best = res.get("best") or {}
        return {METRIC: best.get("valid_loss"), "epochs": res.get("epochs"), "best_epoch": best.get("epoch")}
    from selfmm.config import SelfMMConfig
    from selfmm.train import fit

    res = fit(SelfMMConfig.from_dict(job.config), job.data, job.run_dir, resume=True,
              text_model_path=job.text_model_path, experiment=job.experiment, verbose=verbose, on_epoch=on_epoch)  # fmt: skip
    best = res.get("best") or {}
    return {METRIC: best.get("valid_loss"), "epochs": res.get("epochs"), "best_epoch": best.get("epoch")}


def run_local(source, opts: EngineOptions) -> None:
    """Every job in this process, in order. Errors propagate (as ``train`` does); the run folder says where."""
    while True:
        job = source.next()
        if job == FINISHED:
            return
        if job is None:  # pragma: no cover - a local source never waits (nothing else is running)
            raise RuntimeError("the job source is waiting for running jobs, but none run in the local engine")
        if opts.verbose:
            print(f"=== {job.id} -> {job.run_dir}", flush=True)
        source.done(job, _outcome("finished", _fit_job(job, verbose=opts.verbose)))


# --------------------------------------------------------------------------------------------------------------
# Ray


def ray_trial(config: dict) -> None:
    """A Ray Tune trial (runs in a Ray worker): one job, reported to Tune after every epoch and at the end."""
    import torch
    from ray import tune

    for k, v in config.get("env", {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    torch.set_num_threads(int(config["threads"]))
    job = Job(**config["job"])

    def report(epoch: int, m: dict) -> None:
        tune.report({"epoch": epoch, **m, "finished": False})

    try:
        res = _fit_job(job, on_epoch=report)
    except Exception as err:  # the one-line reason reaches the driver's summary (Tune keeps the traceback)
        tune.report({"finished": False, "error": f"{type(err).__name__}: {err}".splitlines()[0]})
        raise
    tune.report({"epoch": res["epochs"] or 0, METRIC: res[METRIC], "best_epoch": res["best_epoch"], "finished": True})


def _searcher(source, opts: EngineOptions, env: dict):
    from ray.tune.search import Searcher

    class _JobSearcher(Searcher):
        """Adapts a job source to Ray Tune's Searcher interface (suggest / on_trial_complete)."""

        def __init__(self):
            super().__init__(metric=METRIC, mode="min")
            self.jobs: dict[str, Job] = {}

        def suggest(self, trial_id: str):
            job = source.next()
            if job == FINISHED:
                return Searcher.FINISHED
            if job is None:
                return None
            self.jobs[trial_id] = job
            if opts.verbose:
                print(f"=== {job.id} -> {job.run_dir}", flush=True)
            return {"job": job.to_dict(), "threads": opts.threads(), "env": env}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            job = self.jobs.pop(trial_id, None)
            if job is None:
                return
            result = result or {}
            if error:
                outcome = _outcome("failed", result, error=result.get("error") or _run_error(job))
            elif result.get("finished"):
                outcome = _outcome("finished", result)
            else:
                outcome = _outcome("stopped", result)
            if opts.verbose:
                loss = outcome["best_valid_loss"]
                print(f"    {job.id}: {outcome['status']}" + (f", best valid loss {loss:.4f}" if loss else ""),
                      flush=True)  # fmt: skip
            source.done(job, outcome)

    return _JobSearcher()


def _run_error(job: Job) -> str:
    """The error a failed trial left in its run.json (or a generic line when it died before writing one)."""
    from selfmm.runs.reader import RunError, RunReader

    try:
        err = (RunReader(job.run_dir).manifest.get("error") or "").strip()
    except RunError:
        err = ""
    return err.splitlines()[0] if err else "the trial process died (killed, out of memory, or a node was lost)"


def _ray_experiment_name(results_dir: Path) -> str:
    """A new Tune experiment name per invocation (``run_001``, ``run_002``, ...): the search state lives in the
    sweep folder, so each resume is a fresh Tune experiment and Ray's records of earlier calls are kept."""
    n = 1
    while (results_dir / f"run_{n:03d}").exists():
        n += 1
    return f"run_{n:03d}"


def _trial_name(trial) -> str:
    """Ray's trial folder/name = the job id (the run folder's name), not Ray's default dump of the config."""
    return f"{trial.config['job']['id'].replace('/', '-')}-{trial.trial_id}"


def _connect(ray, opts: EngineOptions) -> None:
    """``ray.init(address=...)``; a cluster that cannot be reached (none there, or refused: with Ray 2.60 a head
    that has ~/.ray/auth_token requires that token) -> one-line ConfigError saying what to do."""
    try:
        ray.init(address=opts.address, log_to_driver=opts.verbose)
    except Exception as err:  # ConnectionError from RuntimeError (no GCS there, or its AuthenticationError)
        chain, e = [], err
        while e is not None and len(chain) < 5:  # Ray raises ConnectionError from the RuntimeError that says why
            chain.append(str(e))
            e = e.__cause__ or e.__context__
        text = "\n".join(chain)
        if "InvalidAuthToken" in text or "AuthenticationError" in text or "auth token" in text.lower():
            why = "the cluster refused this machine's authentication token"
            hint = "export RAY_AUTH_MODE=token and copy the head's ~/.ray/auth_token to this machine"
        else:
            why = (text.strip().splitlines() or [type(err).__name__])[0][:200]
            hint = "check `ray status` on the head and the address it printed"
        raise ConfigError(f"--address {opts.address}: cannot connect to a Ray cluster ({why}); {hint} (README: "
                          "Ray cluster)") from None  # fmt: skip


def run_ray(source, opts: EngineOptions) -> None:
    """Every job as a Ray Tune trial (module docstring)."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ConfigError(
            "--engine ray needs ray[tune]: pip install -r requirements.txt, or use --engine local"
        ) from None
    if opts.results_dir is None:  # pragma: no cover - callers always set it
        raise ValueError("run_ray needs opts.results_dir")
    results_dir = Path(opts.results_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    started = False
    if not ray.is_initialized():
        t0 = time.perf_counter()
        if opts.address:
            _connect(ray, opts)
        else:
            ray.init(num_cpus=opts.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=opts.verbose)
        started = True
        if opts.verbose:
            print(f"ray: started in {time.perf_counter() - t0:.1f}s, {ray.cluster_resources()}", flush=True)
    env = {k: os.environ.get(k) for k in FORWARD_ENV}
    resources = {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial}
    scheduler = None
    if opts.asha:
        from ray.tune.schedulers import ASHAScheduler

        # time_attr="epoch": a trial resumed from epoch 5 is compared at its true epoch, not at its 1st report
        scheduler = ASHAScheduler(metric=METRIC, mode="min", time_attr="epoch", grace_period=opts.asha_grace,
                                  max_t=opts.asha_max_t)  # fmt: skip
    tuner = tune.Tuner(
        tune.with_resources(ray_trial, resources),
        tune_config=tune.TuneConfig(
            search_alg=_searcher(source, opts, env),
            scheduler=scheduler,
            num_samples=-1,
            max_concurrent_trials=opts.max_concurrent,
            reuse_actors=True,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),  # fmt: skip
        run_config=tune.RunConfig(
            storage_path=str(results_dir),
            name=_ray_experiment_name(results_dir),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),  # fmt: skip
    )
    try:
        tuner.fit()
    finally:
        if started:
            ray.shutdown()


def run(source, opts: EngineOptions) -> None:
    """Run every job of ``source`` on the engine ``opts`` selects."""
    if opts.resolved() == "ray":
        run_ray(source, opts)
    else:
        run_local(source, opts)


def run_jobs(jobs: list[Job], opts: EngineOptions) -> dict[str, dict]:
    """Run a fixed list of jobs (``seeds``, ``experiment``); raise RunError naming the failed ones (the others are
    kept: run the same command again to resume). Returns ``{job id: outcome}``."""
    from selfmm.runs.reader import RunError

    src = FixedSource(jobs)
    run(src, opts)
    bad = failures(src.outcomes)
    if bad:
        raise RunError(f"{len(bad)} run(s) failed ({bad[0]}); see their run.json, then run the same command again")
    return src.outcomes


def add_engine_args(p, default: str = "auto") -> None:
    """The engine flags, shared by ``seeds``, ``experiment`` and ``tune``."""
    g = p.add_argument_group("engine (local: in this process; ray: Ray Tune trials, locally or on a cluster)")
    g.add_argument("--engine", default=default, choices=ENGINES,
                   help="auto (default for seeds/experiment): ray when --max-concurrent > 1 or --address is given")  # fmt: skip
    g.add_argument("--max-concurrent", type=int, default=None, help="runs at once (ray; default: as cores allow)")
    g.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per run (ray); also its torch threads")
    g.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per run (ray), fractional allowed: 0.5")
    g.add_argument("--address", default=None, help="a running Ray cluster: 'auto' or host:port (README)")
    g.add_argument("--num-cpus", type=int, default=None, help="local Ray only: cores it may use (default: all)")


def options_from_args(args, results_dir, asha: bool = False) -> EngineOptions:
    """EngineOptions from :func:`add_engine_args`' flags (``-q`` -> not verbose)."""
    return EngineOptions(engine=args.engine, max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial,
                         gpus_per_trial=args.gpus_per_trial, address=args.address, num_cpus=args.num_cpus, asha=asha,
                         results_dir=str(results_dir), verbose=not getattr(args, "quiet", False))  # fmt: skip


def gpu_device(cfg, opts: EngineOptions, explicit: bool):
    """A run given a GPU trains on it: device=cuda unless the user chose a device (Ray sets CUDA_VISIBLE_DEVICES)."""
    from selfmm.config import apply_overrides

    if opts.gpus_per_trial > 0 and cfg.device == "cpu" and not explicit:
        return apply_overrides(cfg, {"device": "cuda"})
    return cfg


def failures(outcomes: dict[str, dict]) -> list[str]:
    """``"<job id>: <error>"`` for every failed job."""
    return [f"{k}: {o.get('error')}" for k, o in outcomes.items() if o["status"] == "failed"]


__all__ = [
    "ENGINES",
    "FINISHED",
    "METRIC",
    "EngineOptions",
    "FixedSource",
    "Job",
    "add_engine_args",
    "failures",
    "gpu_device",
    "options_from_args",
    "ray_trial",
    "run",
    "run_jobs",
]
