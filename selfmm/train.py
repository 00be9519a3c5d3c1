"""Self-MM training loop (Yu et al. 2021; MMSA 2.2.1 ``trains/multiTask/SELF_MM.py`` ``do_train``), resumable and recorded epoch by epoch into a run folder.

``fit(cfg, data_path, out_dir)`` trains until early stopping on the validation loss, reloads the best weights,
tests them and returns the final metrics. Every epoch it records (via :class:`selfmm.runs.writer.RunWriter`) the
epoch-end unimodal labels of every training sample, the loss weights each sample's batch used, the head
predictions on train (from the training forward pass), valid and test, the ULGM centres (ulgm only), a label
generator's extra table, the metrics and, per ``cfg.record_representations``, the head features F* and encoder
outputs. The unimodal targets come from the label generator ``cfg.label_source`` selects (:mod:`selfmm.labels`).

The pipeline, one module per step: :func:`fit` opens the run (:mod:`selfmm.open_run`), restores ``weights/last`` on
resume (:func:`_restore`; :mod:`selfmm.checkpoint`), runs epochs (:func:`_run_epoch`: :mod:`selfmm.epoch` trains
and evaluates, :mod:`selfmm.rows` turns the records into the epoch's tables and metric rows) and tests the best
epoch (:func:`_finish`). The order of the operations within one epoch, as MMSA's ``SELF_MM.do_train`` does
them, is in :mod:`selfmm.epoch`'s docstring.

Resume: ``weights/last/`` holds everything a resumed run needs to continue bit-identically, committed with the
epoch (:mod:`selfmm.checkpoint`; checkpoints/README.md, "Commit protocol").

CLI: ``python -m selfmm train ...`` (:func:`main`); ``python -m selfmm seeds`` lives in :mod:`selfmm.experiment`.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import torch

from selfmm.checkpoint import (
    RESUMABLE_KEYS,
    check_resume_config,
    load_module,
    recover_best,
    restore_last,
    save_best,
)
from selfmm.cli import DEFAULT_THREADS, apply_threads, config_from_args, run_command, train_parser
from selfmm.config import SPLITS, UNIMODAL, SelfMMConfig
from selfmm.data import MMSAData
from selfmm.epoch import EpochRecord, EvalRecord, PhaseTimer, evaluate, maybe_kill, train_epoch
from selfmm.metrics import regression_metrics
from selfmm.open_run import TrainingRun, open_run, resolve_device, set_seed
from selfmm.rows import (
    epoch_predictions,
    epoch_representations,
    epoch_rows,
    labels_frame,
    provisional_reps,
    split_metrics,
    valid_metrics,
)
from selfmm.runs import layout
from selfmm.runs.reader import RunError, RunReader
from selfmm.runs.weights import check_stamp, stamp_of

BEST_EPS = 1e-6  # a new best needs val_loss <= best - 1e-6 (reference)
# MMSA 2.2.1 rounds the validation loss to 4 decimals (`eval_results['Loss'] = round(eval_loss, 4)`) before the
# comparison above, so improvements below ~1e-4 do not count: selection uses the same rounded value.
SELECTION_DECIMALS = 4
_check_resume_config = check_resume_config  # its name before the split (tests/test_config.py)


def train_header(cfg: SelfMMConfig, data: MMSAData, data_path: Path, out_dir: Path, device: torch.device,
                 resume_after: int = 0) -> str:  # fmt: skip
    """The lines ``train`` prints before its first epoch: run folder, data and split sizes, device, torch threads,
    epoch limit and the speed switches (docs/speed.md)."""
    n = " / ".join(f"{s} {len(data.splits[s])}" for s in SPLITS)
    limit = f"max epochs {cfg.max_epochs}" if cfg.max_epochs else "no max epochs"
    start = f"resuming after epoch {resume_after}" if resume_after else "new run"
    return (
        f"train: {out_dir} ({start})\n"
        f"  data {data_path} ({cfg.dataset}): {n} samples\n"
        f"  device {device}, {torch.get_num_threads()} torch thread(s) (--threads), {limit}, early stop after "
        f"{cfg.early_stop} epochs without a better valid loss; lstm_backward={cfg.lstm_backward} "
        f"bert_last_layer={cfg.bert_last_layer} amp={cfg.amp}"
    )


def _print_table(title: str, metrics: dict) -> None:
    keys = list(metrics)
    w = max(len(k) for k in keys)
    print(f"\n{title}")
    print(f"  {'metric':<{w}}  value")
    for k in keys:
        v = metrics[k]
        print(f"  {k:<{w}}  {v:.4f}" if isinstance(v, float) else f"  {k:<{w}}  {v}")


# --------------------------------------------------------------------------------------------------------------
# the run: open / restore / run_epoch / finish


def fit(
    cfg: SelfMMConfig,
    data_path,
    out_dir,
    resume: bool = False,
    text_model_path: str | None = None,
    experiment: dict | None = None,
    *,
    verbose: bool = True,
    timer: PhaseTimer | None = None,
    on_epoch=None,
) -> dict:
    """Train Self-MM on an MMSA pickle into the run folder ``out_dir`` and test the best epoch.

    Args:
        cfg: the resolved configuration (saved into run.json).
        data_path: the MMSA ``*.pkl``.
        out_dir: the run folder; must not hold a run unless ``resume``.
        resume: continue the run in ``out_dir`` after its last committed epoch (a fresh start when the folder
            holds no run; an immediate return of the stored result when it is finished).
        text_model_path: overrides ``cfg.text_model`` (hub id, local folder or "tiny").
        experiment: ``{name, variant, seed}`` stored in run.json.
        verbose: tqdm bar, per-epoch summary line and the final table on stdout.
        timer: a :class:`PhaseTimer` to accumulate per-phase seconds (benchmarks).
        on_epoch: ``on_epoch(epoch, {"valid_loss", "best_valid_loss", "best_epoch", "train_loss"})`` after each
            committed epoch (a sweep reports it to Ray Tune / its scheduler); not called for epochs done before a
            resume.

    Returns:
        ``{"run_dir", "status", "epochs", "best": {epoch, valid_loss, valid_metrics}, "test": {metric: value}}``.
    """
    data_path, out_dir = Path(data_path), Path(out_dir)
    log = print if verbose else (lambda *a, **k: None)
    resuming = resume and (out_dir / layout.RUN_JSON).is_file()
    m = None
    if resuming:
        m = RunReader(out_dir).manifest
        finished = _already_finished(cfg, out_dir, m, log)
        if finished is not None:
            return finished
    elif (out_dir / layout.RUN_JSON).exists():
        raise RunError(
            f"{out_dir / layout.RUN_JSON}: this folder already holds a run; pass --resume to continue it or choose "
            "a new --out folder"
        )
    run = open_run(cfg, data_path, out_dir, text_model_path, experiment, m)
    writer = run.writer
    state, done = _restore(run, log)
    log(train_header(cfg, run.data, data_path, out_dir, run.device, done))
    best = None
    if state["best_epoch"] > 0:
        # the unrounded loss (run.json's best.valid_loss), so a resumed run's manifest equals an uninterrupted one's
        best = {"epoch": state["best_epoch"], "valid_loss": state.get("best_valid_loss_raw", state["best_valid_loss"]),
                "valid_loss_selection": state["best_valid_loss"], "valid_metrics": state["best_valid_metrics"]}  # fmt: skip
    with writer.finishing(traceback_limit=5):
        epoch = state["epoch"]
        while True:
            if cfg.max_epochs and epoch >= cfg.max_epochs:
                break
            if epoch > 0 and epoch - state["best_epoch"] >= cfg.early_stop:
                break
            epoch += 1
            best = _run_epoch(run, state, best, epoch, verbose=verbose, timer=timer, on_epoch=on_epoch, log=log)
        return _finish(run, state, best, verbose)


def _already_finished(cfg: SelfMMConfig, out_dir: Path, m: dict, log) -> dict | None:
    """On resume (``m``: run.json): check the config may change, and return the stored result when the run is
    finished and the new settings would not have continued it; None when training goes on."""
    check_resume_config(out_dir, m.get("config") or {}, cfg)
    done, best_epoch = int(m.get("epochs_completed") or 0), int((m.get("best") or {}).get("epoch") or 0)
    # a finished run continues only when the new settings would not have stopped it (a larger max_epochs)
    stopped = (cfg.max_epochs and done >= cfg.max_epochs) or (done > 0 and done - best_epoch >= cfg.early_stop)
    if m.get("status") == "finished" and stopped:
        log(f"{out_dir}: already finished; nothing to resume")
        return {"run_dir": str(out_dir), "status": "finished", "epochs": done, "best": m.get("best"),
                "test": m.get("test")}  # fmt: skip
    return None


def _restore(run: TrainingRun, log) -> tuple[dict, int]:
    """The loop state after the last committed epoch and ``epochs_completed``: restored from weights/last (a
    damaged checkpoint fails the run with a one-line RunError), or, for a new run, epoch 0's labels committed."""
    out_dir, writer, labels, last = run.out_dir, run.writer, run.labels, run.last
    model, optimizer, gen, device, best_slot = run.model, run.optimizer, run.gen, run.device, run.best_slot
    train = run.data.splits["train"]
    state = {"epoch": 0, "best_epoch": 0, "best_valid_loss": math.inf, "best_valid_metrics": None, "n_steps": 0}
    done = writer.epochs_completed
    if done > 0:
        try:  # a damaged or hostile checkpoint: one-line error, and the run is marked failed, not "running"
            src = last.find(done)  # killed between the swap and the commit: the committed state is "last" again
            if src is None:
                raise RunError(
                    f"{out_dir}: run.json says {done} epochs are complete but weights/last holds no matching state; "
                    "the folder is damaged: start a new run"
                )
            state = restore_last(src, model, labels, optimizer, gen, device)
            recover_best(best_slot, int(state["best_epoch"]), out_dir)
        except RunError as err:
            writer.finish("failed", error=str(err))
            raise
        log(f"resuming {out_dir} after epoch {done}")
    elif not layout.epoch_path(out_dir, "labels", 0).exists():
        snap = labels.snapshot()
        writer.write_epoch(0, labels=labels_frame(train, 0, snap.labels, None), predictions=None,
                           centers=None, representations=None, metrics=[], labels_extra=snap.extra)  # fmt: skip
        writer.commit_epoch(0)
    return state, done


def _run_epoch(run: TrainingRun, state: dict, best: dict | None, epoch: int, *, verbose: bool, timer: PhaseTimer | None,
               on_epoch, log) -> dict | None:  # fmt: skip
    """Train, evaluate, record and commit ``epoch``; updates ``state`` in place and returns the best so far."""
    cfg, data, loaders = run.cfg, run.data, run.loaders
    t0 = time.perf_counter()
    rec = _train_pass(run, epoch, timer, verbose)
    if timer is not None:
        timer.start()
    state["n_steps"] += rec.n_steps
    t_train = time.perf_counter() - t0
    snap = run.labels.snapshot()
    ev, ev_s = {}, {}  # time_s of a valid/test row: the seconds of that split's evaluation pass
    for s in ("valid", "test") if cfg.eval_test_every_epoch else ("valid",):
        t_eval = time.perf_counter()
        ev[s] = evaluate(run.model, loaders[s], run.device, cfg)
        ev_s[s] = time.perf_counter() - t_eval
    if timer is not None:
        timer.lap("eval")
    sel = round(ev["valid"].loss, SELECTION_DECIMALS)
    is_best = sel <= state["best_valid_loss"] - BEST_EPS
    rows, gaps = epoch_rows(cfg, data, rec, snap, ev, ev_s, t_train)
    if timer is not None:
        timer.lap("metrics")
    run.writer.write_epoch(
        epoch,
        labels=labels_frame(data.splits["train"], epoch, snap.labels, rec.weight),
        predictions=epoch_predictions(data, rec, ev),
        centers=snap.centers,
        labels_extra=snap.extra,
        representations=epoch_representations(cfg, rec, ev),
        metrics=rows,
    )
    if timer is not None:
        timer.lap("files")
    best = _commit(run, state, best, epoch, ev["valid"].loss if is_best else None, sel, rows)
    if on_epoch is not None:
        on_epoch(epoch, {"valid_loss": ev["valid"].loss, "best_valid_loss": best["valid_loss"],
                         "best_epoch": best["epoch"], "train_loss": rec.loss})  # fmt: skip
    if timer is not None:
        timer.lap("checkpoint")
    mark = " *" if is_best else ""
    gap = " ".join(f"{m} {gaps[m]:.3f}" for m in UNIMODAL)
    log(
        f"epoch {epoch:3d} | train loss {rec.loss:.4f} | valid MAE {ev['valid'].loss:.4f}{mark:2s} | "
        f"|y_s-y_m| {gap} | {time.perf_counter() - t0:.1f}s"
    )
    return best


def _train_pass(run: TrainingRun, epoch: int, timer: PhaseTimer | None, verbose: bool) -> EpochRecord:
    """:func:`selfmm.epoch.train_epoch` with a tqdm bar on stderr when ``verbose``."""
    bar = None
    if verbose:
        from tqdm import tqdm

        bar = tqdm(total=len(run.loaders["train"]), desc=f"epoch {epoch}", leave=False, file=sys.stderr)
    rec = train_epoch(
        run.model, run.labels, run.optimizer, run.loaders["train"], run.cfg, epoch, run.device, timer, bar
    )
    if bar is not None:
        bar.close()
    return rec


def _commit(run: TrainingRun, state: dict, best: dict | None, epoch: int, best_loss: float | None, sel: float,
            rows: list[dict]) -> dict | None:  # fmt: skip
    """Stage weights/best (when ``best_loss``, the raw valid loss of a new best, is given), save weights/last,
    swap, then commit the epoch in run.json (the commit protocol, :mod:`selfmm.checkpoint`); the new best."""
    cfg, model, labels, best_slot, last = run.cfg, run.model, run.labels, run.best_slot, run.last
    is_best = best_loss is not None
    if is_best:
        state.update(best_epoch=epoch, best_valid_loss=sel, best_valid_metrics=valid_metrics(rows),
                     best_valid_loss_raw=best_loss)  # fmt: skip
        best = {"epoch": epoch, "valid_loss": best_loss, "valid_loss_selection": sel,
                "valid_metrics": state["best_valid_metrics"]}  # fmt: skip
        save_best(best_slot, model, labels, epoch)
    state["epoch"] = epoch
    last.save(model, labels, run.optimizer, run.gen, state)
    if is_best:
        best_slot.swap()
    maybe_kill(epoch, "save")
    run.writer.commit_epoch(epoch, best=best, drop_representations=provisional_reps(cfg, epoch))
    last.committed()
    best_slot.settle()
    return best


def _finish(run: TrainingRun, state: dict, best: dict | None, verbose: bool) -> dict:
    """Reload the best weights, test them, compute the projection (if asked) and mark the run finished."""
    cfg, model, out_dir, writer = run.cfg, run.model, run.out_dir, run.writer
    loaders, device, best_dir, test = run.loaders, run.device, run.best_slot.current, run.data.splits["test"]
    if best is None:
        raise RuntimeError("no epoch was trained (max_epochs reached before the first epoch?)")
    if stamp_of(best_dir / layout.MODEL_FILE) is not None:  # unstamped: best weights of an older selfmm
        check_stamp(best_dir / layout.MODEL_FILE, best["epoch"])
    load_module(model, best_dir / layout.MODEL_FILE)
    ev_test = evaluate(model, loaders["test"], device, cfg)
    test_metrics = {"loss": ev_test.loss, **regression_metrics(cfg.dataset, ev_test.pred["M"], test.y_m)}
    test_metrics = {k: float(v) for k, v in test_metrics.items()}
    if cfg.projection != "none" and cfg.record_representations != "none":
        try:
            from selfmm.projection import compute_projections

            compute_projections(out_dir, method=cfg.projection)
        except Exception as err:  # a failed projection must not lose the trained run
            warnings.warn(f"{out_dir}: projection {cfg.projection!r} failed: {err}", stacklevel=2)
    writer.finish("finished", test=test_metrics, best=best)
    if verbose:
        _print_table(f"test metrics of the best epoch ({best['epoch']}, valid loss {best['valid_loss']:.4f})",
                     test_metrics)  # fmt: skip
    return {"run_dir": str(out_dir), "status": "finished", "epochs": state["epoch"], "best": best,
            "test": test_metrics}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm train --data PATH.pkl --preset sims --out checkpoints/NAME [...]``."""
    p = train_parser("python -m selfmm train")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 1111)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    args = p.parse_args(argv)

    def body() -> None:
        apply_threads(args.threads)
        res = fit(config_from_args(args), args.data, args.out, resume=args.resume, verbose=not args.quiet)
        if args.quiet:  # the final table is the command's result: print it even when quiet
            best = res["best"] or {}
            _print_table(f"test metrics of the best epoch ({best.get('epoch')}, valid loss "
                         f"{best.get('valid_loss', float('nan')):.4f})", res["test"])  # fmt: skip

    return run_command(body, f"interrupted; continue with --resume --out {args.out}")


__all__ = [
    "DEFAULT_THREADS",
    "RESUMABLE_KEYS",
    "EpochRecord",
    "EvalRecord",
    "PhaseTimer",
    "apply_threads",
    "config_from_args",
    "evaluate",
    "fit",
    "main",
    "resolve_device",
    "set_seed",
    "split_metrics",
    "train_epoch",
    "train_header",
    "train_parser",
]
