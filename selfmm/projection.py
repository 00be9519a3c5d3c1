"""2-D projections of recorded representations (UMAP or PCA), comparable across epochs.

For each modality M/T/A/V (``feat_*``) and ``"all"`` (per sample, the concatenation of the z-scored feat_M/T/A/V)
one map is fitted ONCE on the reference epoch (default: the last representation epoch), on all splits together,
with a fixed seed; the other representation epochs are pushed through the same fitted map, so a sample's position
can be compared from epoch to epoch. PCA (numpy SVD) is exact and fast; UMAP (umap-learn, imported lazily) is
slower: it JIT-compiles on first use and ``transform`` of new points costs seconds.

CLI: ``python -m selfmm project RUN_DIR [--method umap|pca] [--reference-epoch E] [--seed S]``.
No torch import.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from selfmm.config import SPLITS
from selfmm.runs.post import write_projections
from selfmm.runs.reader import RunError, RunReader

METHODS = ("umap", "pca")
PROJECTED = ("M", "T", "A", "V", "all")

Transform = Callable[[np.ndarray], np.ndarray]


def fit_pca(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, Transform]:
    """Fit a 2-component PCA on ``x`` (N, d) by SVD of the centred data.

    Returns (embedding of x (N, 2) float64, transform for new rows (M, d) -> (M, 2)). Each component's sign is
    fixed so its largest-magnitude loading is positive (deterministic across platforms). ``seed`` is unused
    (PCA is exact); it is accepted so both methods share one signature. With d < 2 the missing axis is 0.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:2]  # (k, d), k <= 2
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]

    def transform(new: np.ndarray) -> np.ndarray:
        out = (np.asarray(new, dtype=np.float64) - mean) @ comps.T
        if out.shape[1] < 2:
            out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
        return out

    return transform(x), transform


def fit_umap(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, Transform]:
    """Fit a 2-D UMAP (umap-learn, fixed ``random_state``) on ``x`` (N, d); returns (embedding (N, 2), transform)."""
    import umap  # lazy: numba JIT compile on first use (seconds)

    n = len(x)
    if n < 4:
        raise RunError(f"UMAP needs at least 4 samples, got {n}; use --method pca")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed, n_jobs=1, transform_seed=seed)
    emb = reducer.fit_transform(np.asarray(x, dtype=np.float32))
    return np.asarray(emb, dtype=np.float64), lambda new: np.asarray(reducer.transform(np.asarray(new, np.float32)))


FITTERS = {"pca": fit_pca, "umap": fit_umap}


def _stack(reps: dict[str, np.ndarray], splits: list[str], name: str) -> np.ndarray:
    return np.concatenate([reps[f"{s}/{name}"] for s in splits], axis=0)


def _inputs(reps: dict[str, np.ndarray], splits: list[str], scale: dict | None) -> tuple[dict[str, np.ndarray], dict]:
    """Per projected key (M/T/A/V/all) the (N_all, d) matrix; ``scale`` (mean, std per modality) is computed when
    None (the reference epoch) and reused otherwise, so "all" is z-scored the same way in every epoch."""
    out = {m: _stack(reps, splits, f"feat_{m}").astype(np.float64) for m in PROJECTED[:-1]}
    if scale is None:
        scale = {m: (x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)) for m, x in out.items()}
    out["all"] = np.concatenate([(out[m] - scale[m][0]) / scale[m][1] for m in PROJECTED[:-1]], axis=1)
    return out, scale


def compute_projections(
    run_dir: str | Path, method: str = "umap", reference_epoch: int | None = None, seed: int = 0, progress=None
) -> pd.DataFrame:
    """Project every representation epoch of a run and write ``projections/<method>.parquet`` atomically.
    ``progress`` (a callable taking one line of text, e.g. ``print``) hears of each fit and each epoch: a UMAP
    fit of every modality takes a minute on SIMS, and a silent command looks hung.

    Returns the frame written: epoch (int32), split, sample_id, index (int32), modality (M/T/A/V/all), method,
    x, y (float32); sorted by (epoch, modality, split, index). Raises RunError when the run has no
    representations or ``reference_epoch`` is not one of them.
    """
    if method not in FITTERS:
        raise RunError(f"compute_projections: method={method!r}, expected one of {', '.join(METHODS)}")
    reader = RunReader(run_dir)
    epochs = reader.representation_epochs
    if not epochs:
        raise RunError(
            f"{reader.run_dir}: no representations recorded (record_representations=none?); nothing to project"
        )
    ref = epochs[-1] if reference_epoch is None else int(reference_epoch)
    if ref not in epochs:
        raise RunError(f"{reader.run_dir}: reference epoch {ref} has no representations; available: {epochs}")
    samples = reader.samples()
    ref_reps = reader.representations(ref)
    splits = [s for s in SPLITS if f"{s}/feat_M" in ref_reps]
    ids, index, split_col = [], [], []
    for s in splits:
        part = samples[samples["split"] == s].sort_values("index")
        ids.append(part["sample_id"].to_numpy(dtype=object))
        index.append(part["index"].to_numpy(dtype=np.int32))
        split_col.append(np.full(len(part), s, dtype=object))
    ids, index, split_col = np.concatenate(ids), np.concatenate(index), np.concatenate(split_col)

    x_ref, scale = _inputs(ref_reps, splits, None)
    if len(x_ref["M"]) != len(ids):
        raise RunError(f"{reader.run_dir}: representations have {len(x_ref['M'])} rows but samples.parquet {len(ids)}")
    say = progress or (lambda _line: None)
    fitted = {}
    for k, (m, x) in enumerate(x_ref.items(), start=1):
        say(
            f"fitting {method.upper()} {k}/{len(x_ref)} ({m}) on epoch {ref}: {x.shape[0]} samples × {x.shape[1]} features"
        )
        fitted[m] = FITTERS[method](x, seed)
    frames = []
    for e in epochs:
        say(f"projecting epoch {e} ({epochs.index(e) + 1}/{len(epochs)})")
        x_e = x_ref if e == ref else _inputs(reader.representations(e), splits, scale)[0]
        for m in PROJECTED:
            emb, transform = fitted[m]
            xy = emb if e == ref else transform(x_e[m])
            frames.append(
                pd.DataFrame(
                    {
                        "epoch": np.full(len(ids), e, np.int32),
                        "split": split_col,
                        "sample_id": ids,
                        "index": index,
                        "modality": m,
                        "method": method,
                        "x": xy[:, 0].astype(np.float32),
                        "y": xy[:, 1].astype(np.float32),
                    }
                )
            )
    df = pd.concat(frames, ignore_index=True)
    write_projections(reader.run_dir, method, df)
    return df


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm project RUN_DIR [--method umap|pca] [--reference-epoch E] [--seed S]``."""
    ap = argparse.ArgumentParser(prog="python -m selfmm project", description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, help="a run folder with recorded representations (run.json next to it)")
    ap.add_argument("--method", choices=METHODS, default="umap",
                    help="umap (default; slower, keeps neighbourhoods) or pca (fast, linear)")  # fmt: skip
    ap.add_argument("--reference-epoch", type=int, default=None, help="epoch the map is fitted on (default: last)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the UMAP fit (default 0)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        df = compute_projections(args.run_dir, args.method, args.reference_epoch, args.seed,
                                 progress=lambda line: print(f"selfmm project: {line}", flush=True))  # fmt: skip
    except RunError as e:
        print(f"selfmm project: {e}", file=sys.stderr)
        return 1
    n_ep = df["epoch"].nunique()
    print(
        f"{args.run_dir}/projections/{args.method}.parquet: {n_ep} epochs, {len(df)} rows, {time.perf_counter() - t0:.1f} s"
    )
    return 0
