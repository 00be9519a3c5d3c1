"""CMC as one job of a sweep (``python -m selfmm experiment --variants ...,cmc``): run, skip or restart a run folder.

The sweep engine calls every job with resume semantics: a finished run returns its stored result, an unfinished
one continues. CMC's trainer is not resumable (its PLGM state of three splits and two phases is not checkpointed),
so :func:`fit_cmc_job`:

- finished folder with the same settings: returns the stored result, trains nothing;
- finished folder with other settings: ConfigError naming the keys (never overwrites a finished run);
- unfinished folder (killed, interrupted or failed) of a CMC run: takes the folder's writer lock (so a live
  writer is refused, as everywhere), empties the folder and trains from scratch;
- a folder holding a run of another model: RunError (never deleted).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from selfmm.cmc.config import CMCConfig
from selfmm.config import ConfigError
from selfmm.runs.layout import LOCK_FILE, RUN_JSON
from selfmm.runs.lock import RunLock
from selfmm.runs.reader import RunError, read_manifest

# settings that do not change what a finished run computed (a re-run may differ in them)
RUNTIME_KEYS = ("device",)


def _result(run_dir: Path, manifest: dict) -> dict:
    """fit_cmc's return value, from a finished run's run.json."""
    best = manifest.get("best") or {}
    return {"run_dir": str(run_dir), "best": best, "test": manifest.get("test") or {},
            "epochs": manifest.get("epochs_completed")}  # fmt: skip


def _clear_unfinished(run_dir: Path) -> None:
    """Empty ``run_dir`` (an unfinished CMC run) under its writer lock; the lock file itself stays."""
    lock = RunLock(run_dir).acquire()  # RunError when a live process writes it
    try:
        for p in run_dir.iterdir():
            if p.name == LOCK_FILE:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    finally:
        lock.release()


def fit_cmc_job(cfg: CMCConfig, data, run_dir, text_model_path=None, experiment: dict | None = None,
                verbose: bool = False) -> dict:  # fmt: skip
    """Train CMC into ``run_dir`` unless it already holds this finished run (module docstring).

    Returns ``{"run_dir", "best": {epoch, valid_loss, valid_metrics}, "test": {metric: value}, "epochs"}``."""
    from selfmm.cmc.train import fit_cmc

    run_dir = Path(run_dir)
    if (run_dir / RUN_JSON).is_file():
        m = read_manifest(run_dir)
        if m.get("model") != "cmc":
            raise RunError(f"{run_dir}: holds a {m.get('model') or 'selfmm'} run, not CMC; choose another --out")
        if m.get("status") == "finished":
            saved, want = m.get("config") or {}, cfg.to_dict()
            diff = sorted(k for k in set(saved) | set(want) if k not in RUNTIME_KEYS and saved.get(k) != want.get(k))
            if diff:
                raise ConfigError(
                    f"{run_dir}: holds a finished CMC run with other settings ({', '.join(diff)}); use another "
                    "--out or remove that folder"
                )
            if verbose:
                print(f"{run_dir}: already finished; nothing to do")
            return _result(run_dir, m)
        if verbose:
            print(f"{run_dir}: unfinished CMC run ({m.get('status')}); CMC cannot resume, training it again")
        _clear_unfinished(run_dir)
    return fit_cmc(cfg, data, run_dir, text_model_path, verbose=verbose, experiment=experiment)


__all__ = ["fit_cmc_job"]
