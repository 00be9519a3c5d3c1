"""The demo run that ships in ``checkpoints/demo-sims``: synthetic CH-SIMS data, a small Self-MM, every epoch recorded.

``python -m selfmm demo [--out checkpoints/demo-sims] [--scale 1.0] [--seed 0] [--set key=value ...]``

1. writes the synthetic SIMS profile (:mod:`selfmm.synth`, ground-truth unimodal labels in
   ``regression_labels_T/A/V``) to ``--data`` (default ``data/demo-sims.pkl``, git-ignored);
2. trains the ``tiny`` preset adapted by :data:`DEMO_OVERRIDES` (representations every few epochs, UMAP at the
   end, early stopping with a cap on the epochs so that it finishes in about ten minutes on a 2-core CPU);
3. prunes what a shipped demo does not need (:data:`PRUNED`: the resume state and the weights; the dashboard
   reads neither) and records that in run.json under ``"demo"``;
4. prints the figures of ``docs/demo.md``: wall time, folder size, and per modality the Pearson r of the final
   generated labels vs the ground truth next to r(y_m, ground truth), over the train samples.

The ULGM is the reference's, untouched: the demo only picks the data's signal strengths and the model sizes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from selfmm.cli import add_overrides, run_command
from selfmm.config import UNIMODAL, SelfMMConfig, apply_overrides, preset
from selfmm.errors import UserError
from selfmm.metrics import pearson
from selfmm.runs import layout
from selfmm.runs.post import annotate_run
from selfmm.runs.reader import RunError, RunReader

DEFAULT_OUT = "checkpoints/demo-sims"
DEFAULT_DATA = "data/demo-sims.pkl"
DEFAULT_SEED = 0  # synth seed (the data); the training seed is the config's, 1111

# Per-modality signal strengths of the synthetic data (selfmm.synth ``signal``). Stronger than the profile
# defaults (text 3, audio 1.5, vision 2) so that a small model trained for a few minutes learns each modality's
# own label well enough for the ULGM to move the generated labels toward it (docs/demo.md: what was tried).
DEMO_SIGNAL = {"text": 6.0, "audio": 6.0, "vision": 6.0}
# The precomputed `text` key is unused in bert mode (the tiny BERT reads `text_bert`): 8 dims instead of 768
# keep the pickle small. Audio frames: 50 instead of SIMS's 400. The tiny audio LSTM does not learn the audio
# label through 400 steps in a few minutes (its generated labels then drift to noise); 50 frames learn, and
# train twice as fast. Dims and the other lengths are the real SIMS ones.
DEMO_TEXT_DIM = 8
DEMO_LENGTHS = {"audio": 50}

# The tiny preset, adapted: representations at a handful of epochs, UMAP at the end, early stopping with a cap.
# post_fusion_dropout=0.3: the ULGM's difference term y_m + α_s − α_m assumes α_s and α_m have comparable
# scales. When the fusion features cluster much more sharply than the unimodal ones (α_m ≫ α_s, the rule for a
# small model whose unimodal heads learn slowly), it pushes positives negative and the generated labels settle
# on the inverted fixed point (r ≈ −0.8 with the truth; docs/demo.md). Dropout on the fusion head's input keeps
# its stored features less tight. Not a change of the ULGM math: a config value (MOSEI's preset uses 0.1).
# a_lstm_hidden_size=16 (the SIMS preset's; tiny has 8) and post_audio_dropout=0: the audio head, the weakest,
# learns its label instead of settling on the inverted or flat fixed point (docs/demo.md, runs K1-K4).
DEMO_OVERRIDES: dict = {
    "max_epochs": 20,
    "early_stop": 6,
    "post_fusion_dropout": 0.3,
    "a_lstm_hidden_size": 16,
    "post_audio_dropout": 0.0,
    "record_representations": "every:5",
    "projection": "umap",
}

# What the shipped demo does without (paths relative to the run folder): the resume state (optimizer, RNG,
# counters) and the model weights. The dashboard reads neither; `python -m selfmm demo` recreates both.
PRUNED = (f"{layout.WEIGHTS_DIR}",)


class DemoError(UserError, RuntimeError):
    """The demo cannot run as asked; the message says what to change."""


def demo_config(overrides: list[str] | dict | None = None, seed: int | None = None) -> SelfMMConfig:
    """The demo's configuration: ``tiny`` + :data:`DEMO_OVERRIDES` + ``overrides`` (``["k=v", ...]`` or a dict)."""
    cfg = apply_overrides(preset("tiny"), DEMO_OVERRIDES)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    if seed is not None:
        cfg = apply_overrides(cfg, {"seed": int(seed)})
    return cfg


def make_data(
    path: str | Path,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    signal: dict | None = None,
    dims: dict | None = None,
    lengths: dict | None = None,
) -> dict:
    """Write the synthetic SIMS profile to ``path`` (atomically); returns :func:`selfmm.synth.write`'s summary."""
    from selfmm import synth

    return synth.write(
        path,
        "sims",
        scale=scale,
        seed=seed,
        signal={**DEMO_SIGNAL, **(signal or {})},
        dims=dims,
        lengths={**DEMO_LENGTHS, **(lengths or {})},
        text_dim=DEMO_TEXT_DIM,
    )


def label_figures(run_dir: str | Path, epoch: int | None = None) -> dict:
    """Per unimodal s, over the train samples: ``r_gen`` = r(generated label at ``epoch``, y_s),
    ``r_ym`` = r(y_m, y_s), ``mae_gen`` / ``mae_ym`` (mean |· − y_s|), ``moved`` = mean |generated − y_m|, and the
    same restricted to the samples whose ground truth differs from y_m (``r_gen_diff``, ``r_ym_diff``,
    ``n_diff``). ``epoch`` defaults to the last committed one.

    Raises DemoError when the run has no ground-truth (human) unimodal labels.
    """
    reader = RunReader(run_dir)
    if not reader.has_human_unimodal:
        raise DemoError(f"{run_dir}: the dataset has no unimodal labels (regression_labels_T/A/V) to compare with")
    epoch = reader.epochs[-1] if epoch is None else int(epoch)
    samples = reader.samples()
    train = samples[samples["split"] == "train"].sort_values("index")
    labels = reader.labels([epoch]).sort_values("index")
    if not np.array_equal(train["sample_id"].to_numpy(str), labels["sample_id"].to_numpy(str)):
        raise DemoError(f"{run_dir}: labels of epoch {epoch} are not aligned with samples.parquet")
    y_m = train["y_m"].to_numpy(np.float64)
    nan = float("nan")
    out: dict = {"epoch": epoch}
    for m in UNIMODAL:
        truth = train[f"y_{m}"].to_numpy(np.float64)
        gen = labels[f"label_{m}"].to_numpy(np.float64)
        diff = ~np.isclose(truth, y_m)
        out[m] = {
            "r_gen": pearson(gen, truth),
            "r_ym": pearson(y_m, truth),
            "mae_gen": float(np.mean(np.abs(gen - truth))),
            "mae_ym": float(np.mean(np.abs(y_m - truth))),
            "moved": float(np.mean(np.abs(gen - y_m))),
            "n_diff": int(diff.sum()),
            "r_gen_diff": pearson(gen[diff], truth[diff]),
            "r_ym_diff": pearson(y_m[diff], truth[diff]),
            # does the move away from y_m point toward the truth? r of the two deviations, and the share of
            # the differing samples whose generated label is closer to the truth than y_m is
            "r_delta": pearson(gen[diff] - y_m[diff], truth[diff] - y_m[diff]),
            "closer": float(np.mean(np.abs(gen - truth)[diff] < np.abs(y_m - truth)[diff])) if diff.any() else nan,
        }
    return out


def folder_bytes(path: str | Path) -> int:
    """Total size of the regular files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def prune(run_dir: str | Path, paths: tuple[str, ...] = PRUNED) -> dict:
    """Delete ``paths`` (relative to the run folder) and record ``{"pruned": [...], "pruned_bytes": n}`` in run.json
    under ``"demo"``. Returns that dict."""
    run_dir = Path(run_dir)
    removed, n = [], 0
    for rel in paths:
        p = run_dir / rel
        if p.is_dir():
            n += folder_bytes(p)
            shutil.rmtree(p)
            removed.append(rel)
        elif p.is_file():
            n += p.stat().st_size
            p.unlink()
            removed.append(rel)
    info = {"pruned": removed, "pruned_bytes": n}
    annotate_run(run_dir, demo={**RunReader(run_dir).manifest.get("demo", {}), **info})
    return info


def format_figures(fig: dict) -> str:
    lines = [
        f"generated labels at epoch {fig['epoch']} vs ground truth (train samples):",
        "  mod  r(gen,y_s)  r(y_m,y_s)  MAE(gen)  MAE(y_m)  |gen-y_m|"
        "  | where y_s != y_m:   n  r(gen)  r(y_m)  r(dgen,dy)  closer",
    ]
    for m in UNIMODAL:
        f = fig[m]
        lines.append(
            f"  {m}    {f['r_gen']:9.3f}  {f['r_ym']:10.3f}  {f['mae_gen']:8.3f}  {f['mae_ym']:8.3f}  {f['moved']:9.3f}"
            f"  | {f['n_diff']:20d}  {f['r_gen_diff']:6.3f}  {f['r_ym_diff']:6.3f}  {f['r_delta']:10.3f}"
            f"  {f['closer']:6.1%}"
        )
    return "\n".join(lines)


def run_demo(
    out: str | Path = DEFAULT_OUT,
    data: str | Path = DEFAULT_DATA,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    overrides: list[str] | dict | None = None,
    signal: dict | None = None,
    dims: dict | None = None,
    lengths: dict | None = None,
    force: bool = False,
    keep_weights: bool = False,
    verbose: bool = True,
) -> dict:
    """Generate the data, train, prune and measure. Returns ``{"run_dir", "seconds", "synth_seconds",
    "train_seconds", "size_bytes", "epochs", "figures", "pruned"}``.

    ``force`` deletes an existing run in ``out`` first (otherwise that is a :class:`RunError`).
    """
    from selfmm.train import fit

    out, data = Path(out), Path(data)
    cfg = demo_config(overrides)
    if (out / layout.RUN_JSON).exists():
        if not force:
            raise RunError(
                f"{out / layout.RUN_JSON}: a run is already there; pass --force to replace it or choose another --out"
            )
        shutil.rmtree(out)
    log = print if verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()
    s = make_data(data, scale=scale, seed=seed, signal=signal, dims=dims, lengths=lengths)
    t_synth = time.perf_counter() - t0
    n = s["n"]
    log(f"synthetic SIMS: {data} ({n['train']}/{n['valid']}/{n['test']} clips) in {t_synth:.1f} s")
    res = fit(cfg, data, out, verbose=verbose)
    t_train = time.perf_counter() - t0 - t_synth
    pruned = prune(out, () if keep_weights else PRUNED)
    fig = label_figures(out)
    total = time.perf_counter() - t0
    size = folder_bytes(out)
    demo_info = {
        "command": "python -m selfmm demo " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["demo"] else None,
        "synth": {"profile": "sims", "scale": scale, "seed": seed, "signal": {**DEMO_SIGNAL, **(signal or {})},
                  "text_dim": DEMO_TEXT_DIM, "dims": dims, "lengths": {**DEMO_LENGTHS, **(lengths or {})}},
        "seconds": {"synth": round(t_synth, 1), "train": round(t_train, 1), "total": round(total, 1)},
        "size_bytes": size,
        "figures": fig,
        **pruned,
    }  # fmt: skip
    annotate_run(out, demo=demo_info)
    log("")
    log(format_figures(fig))
    log(
        f"\ndemo run {out}: {res['epochs']} epochs (best {res['best']['epoch']}), {total:.0f} s in all "
        f"(synth {t_synth:.0f} s, training {t_train:.0f} s), folder {size / 2**20:.1f} MiB"
        + (f", pruned {', '.join(pruned['pruned'])}" if pruned["pruned"] else "")
    )
    return {
        "run_dir": str(out),
        "seconds": total,
        "synth_seconds": t_synth,
        "train_seconds": t_train,
        "size_bytes": size,
        "epochs": res["epochs"],
        "figures": fig,
        "pruned": pruned["pruned"],
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm demo [--out DIR] [--data PKL] [--scale F] [--seed S] [--set k=v ...]``."""
    from selfmm.cli import apply_threads
    from selfmm.synth import _kv

    p = argparse.ArgumentParser(prog="python -m selfmm demo", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help=f"run folder (default {DEFAULT_OUT})")
    p.add_argument(
        "--data", default=DEFAULT_DATA, help=f"where the synthetic pickle is written (default {DEFAULT_DATA})"
    )
    p.add_argument("--scale", type=float, default=1.0, help="synthetic split sizes × F (default 1 = CH-SIMS size)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic data seed (training: --set seed=N)")
    p.add_argument("--signal", default="", help="signal strengths over the demo's, e.g. text=3,audio=1.5,vision=2")
    p.add_argument("--dims", default="", help="audio/vision dims, e.g. audio=8,vision=16 (smaller, faster)")
    p.add_argument("--lengths", default="", help="padded lengths, e.g. text=24,audio=40,vision=20")
    add_overrides(p, "config overrides over the demo's")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared 2-core machine 2 threads ran 10x slower)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace an existing run in --out")
    p.add_argument("--keep-weights", action="store_true", help="keep weights/ (best model and resume state)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the final figures")
    args = p.parse_args(argv)

    def body() -> None:
        apply_threads(args.threads)
        res = run_demo(
            out=args.out,
            data=args.data,
            scale=args.scale,
            seed=args.seed,
            overrides=list(args.set),
            signal=_kv("--signal", args.signal),
            dims=_kv("--dims", args.dims, int),
            lengths=_kv("--lengths", args.lengths, int),
            force=args.force,
            keep_weights=args.keep_weights,
            verbose=not args.quiet,
        )
        if args.quiet:
            print(format_figures(res["figures"]))
            print(f"{res['run_dir']}: {res['seconds']:.0f} s, {res['size_bytes'] / 2**20:.1f} MiB")

    return run_command(body, f"interrupted; run again with --force to replace {args.out}", "selfmm demo")


__all__ = [
    "DEFAULT_DATA",
    "DEFAULT_OUT",
    "DEMO_LENGTHS",
    "DEMO_OVERRIDES",
    "DEMO_SIGNAL",
    "PRUNED",
    "DemoError",
    "demo_config",
    "folder_bytes",
    "format_figures",
    "label_figures",
    "main",
    "make_data",
    "prune",
    "run_demo",
]
