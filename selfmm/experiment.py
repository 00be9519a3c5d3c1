"""Label-source experiment: every variant × seed into one folder, one results table.

``python -m selfmm experiment --data PATH.pkl --preset sims --seeds 1111-1115 --variants ulgm,human,multimodal
--out DIR [--set k=v ...]`` trains ``DIR/<variant>/seed_<n>`` for each variant (``cfg.label_source``: the
ULGM-generated labels of Self-MM, the dataset's human unimodal labels, or y_m copied to every head) and seed,
resuming unfinished runs and skipping finished ones, then writes

- ``DIR/results.csv``: one row per (variant, metric): ``scale``, ``mean``, ``std`` (population, as MMSA), ``n`` and
  one column per seed. Test metrics of the best epoch are ×100 (``scale`` 100, like the reference table, MAE too);
  ``label_r_T|A|V`` (``scale`` 1) is the Pearson r between the labels each unimodal head was trained on at the last
  epoch and the dataset's human / ground-truth unimodal labels (absent when the dataset has none), followed per
  modality by y_m's r (the baseline) and the decomposition of :mod:`selfmm.label_health` (``partial_r``, ``gap``,
  ``k_star``, ``r_at_k``; see :func:`label_correlation`);
- ``DIR/results.md``: the same as two markdown tables (metrics by variant; label correlations by variant).

This is the paper's Self-MM vs Human-MM comparison on SIMS (Yu et al. 2021, the SIMS results table: Self-MM vs Human-MM), plus the y_m-only control.

The variant ``cmc`` is another model, not a label source: CMC (:mod:`selfmm.cmc`, its own preset ``--cmc-preset``,
default the ``--preset`` name, and overrides ``--cmc-set``) trained into ``DIR/cmc/seed_<n>`` like any other run
(a finished one is kept, an unfinished one trained again: CMC cannot resume). CMC predicts 3 classes, so only
the test metrics with the same definition enter Self-MM's rows (:func:`cmc_test_metrics`); the rest are listed
as ``cmc_<name>``. Its label figures are those of its frozen PLGM labels, E[s]·(−1, 0, 1)·H.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd

from selfmm import label_health
from selfmm.cli import apply_threads, config_from_args, run_command, train_parser
from selfmm.cmc import config as cmc_config
from selfmm.config import LABEL_SOURCES, UNIMODAL, ConfigError, SelfMMConfig, apply_overrides
from selfmm.runs import layout
from selfmm.runs.io import write_text_atomic
from selfmm.runs.reader import RunReader
from selfmm.sweep.engine import add_engine_args, gpu_device, options_from_args

# --------------------------------------------------------------------------------------------------------------
# seeds: one configuration, several seeds (``python -m selfmm seeds``)


def parse_seeds(text: str) -> list[int]:
    """``"1111-1115"`` -> [1111, ..., 1115]; ``"1,5,9"`` -> [1, 5, 9]; combinations ``"1-3,7"``."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected e.g. 1111-1115 or 1111,1112") from None
    if not out:
        raise ConfigError(f"--seeds {text!r}: no seeds")
    return out


def summarize(results: dict, scale: float = 100.0) -> pd.DataFrame:
    """``{seed: {metric: value}}`` -> one row per metric: mean, std (population, as MMSA's np.std), n, per seed;
    values ×``scale`` (the reference table's ×100, MAE included)."""
    from selfmm.metrics import MOSI_KEYS, SIMS_KEYS

    seeds = sorted(results)
    keys = [k for k in results[seeds[0]] if k != "loss"]
    # the metric set's own order (run.json stores keys sorted; SIMS when any SIMS-only key is there), then anything
    # else in the given order
    order = SIMS_KEYS if set(keys) & (set(SIMS_KEYS) - set(MOSI_KEYS)) else MOSI_KEYS
    metrics = [k for k in order if k in keys] + [k for k in keys if k not in order]
    rows = []
    for k in metrics:
        vals = np.array([results[s].get(k, np.nan) for s in seeds], dtype=float) * scale
        row = {"metric": k, "mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}
        row.update({f"seed_{s}": float(v) for s, v in zip(seeds, vals, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame, title: str) -> str:
    lines = [f"# {title}", "", "| metric | mean ± std (×100) | n |", "|---|---|---|"]
    for r in df.itertuples(index=False):
        lines.append(f"| {r.metric} | {r.mean:.2f} ± {r.std:.2f} | {r.n} |")
    return "\n".join(lines) + "\n"


def run_seeds(cfg: SelfMMConfig, data, out, seeds: list[int], text_model_path=None, verbose=True,
              opts=None) -> pd.DataFrame:  # fmt: skip
    """Train every seed into ``out/seed_N`` (resuming unfinished ones); write results.csv / results.md.

    ``opts``: a :class:`selfmm.sweep.engine.EngineOptions` (default: the local engine, one seed after another in
    this process); with ``engine="ray"`` the seeds are concurrent Ray Tune trials (Ray's records in ``out/ray``).
    """
    from selfmm.sweep.engine import EngineOptions, Job, run_jobs

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = opts or EngineOptions(engine="local", verbose=verbose)
    opts.results_dir = opts.results_dir or str(out / "ray")
    data = str(Path(data).resolve())
    jobs = [Job(f"seed_{s}", apply_overrides(cfg, {"seed": s}).to_dict(), str((out / f"seed_{s}").resolve()), data,
                None, text_model_path) for s in seeds]  # fmt: skip
    run_jobs(jobs, opts)
    results = {s: RunReader(j.run_dir).manifest["test"] for s, j in zip(seeds, jobs, strict=True)}
    df = summarize(results)
    tmp = out / ("results.csv" + layout.TMP_SUFFIX)
    df.to_csv(tmp, index=False)
    os.replace(tmp, out / "results.csv")
    md = markdown_table(df, f"Self-MM {cfg.dataset}, test metrics of the best epoch, seeds {seeds}")
    write_text_atomic(out / "results.md", md)
    if verbose:
        print(md)
    return df


def _command_config(args):
    """The threads, engine options and config of a ``seeds`` / ``experiment`` command line: ``(cfg, opts)``."""

    apply_threads(args.threads)
    opts = options_from_args(args, Path(args.out) / "ray")
    return gpu_device(config_from_args(args), opts, explicit=args.device is not None), opts


def _print_results_if_quiet(args) -> None:
    if args.quiet:  # the table is the command's result: print it even when quiet
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))


def seeds_main(argv: list[str] | None = None) -> int:
    """``python -m selfmm seeds --data ... --preset ... --out DIR [--seeds 1111-1115]``."""

    p = train_parser("python -m selfmm seeds")
    p.description = ("Train one run per seed into --out/seed_<n> (resumable) and write the mean ± std of the best "
                     "epoch's test metrics over the seeds to --out/results.csv and results.md.")  # fmt: skip
    p.add_argument("--seeds", default="1111-1115", help="e.g. 1111-1115 (default) or 1111,1113")
    add_engine_args(p)
    args = p.parse_args(argv)

    def body() -> None:
        cfg, opts = _command_config(args)
        run_seeds(cfg, args.data, args.out, parse_seeds(args.seeds), verbose=not args.quiet, opts=opts)
        _print_results_if_quiet(args)

    return run_command(body, f"interrupted; run the same command again to resume {args.out}")


# --------------------------------------------------------------------------------------------------------------
# label-source variants × seeds (``python -m selfmm experiment``)


VARIANTS = (*LABEL_SOURCES, "cmc")  # Self-MM with each label source, and the CMC model


def parse_variants(text: str) -> list[str]:
    """``"ulgm,human,cmc"`` -> ["ulgm", "human", "cmc"]; each must be a label source or ``cmc``."""
    out = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in out if v not in VARIANTS]
    if bad or not out:
        raise ConfigError(f"--variants {text!r}: expected a comma list of {', '.join(VARIANTS)}")
    return list(dict.fromkeys(out))


def cmc_test_metrics(test: dict, dataset: str, fix_non0: bool = False) -> dict[str, float]:
    """CMC's test metrics under Self-MM's names where the two compute the same thing, else ``cmc_<name>``.

    Same thing = the same truth partition of the test set's y_m and the same score. CMC's classes are y < 0,
    y = 0, y > 0 (:func:`selfmm.labels.plgm.classes_of`) and its 2-class prediction is the larger of the neg/pos
    logits, so its Has0 truth is Self-MM's: SIMS y <= 0 vs y > 0 (Self-MM's ``Mult_acc_2``, ``F1_score``: weighted
    F1 of those bins), MOSI/MOSEI y < 0 vs y >= 0 (``Has0_acc_2``, ``Has0_F1_score``). MOSI/MOSEI's Non0 pair only
    with ``fix_non0`` (the reference compares 0/1 predictions with 0/2 truth). Not comparable, hence prefixed:
    Acc_3 / F1_score_3 (CMC's neutral class is y = 0 exactly, Self-MM's Mult_acc_3 bin is (−0.1, 0.1]), and CMC
    has no regression output for MAE / Corr / Mult_acc_5/7. ``loss`` is dropped."""
    if dataset in ("sims", "simsv2"):
        same = {"Has0_acc_2": "Mult_acc_2", "Has0_F1_score": "F1_score"}
    else:
        same = {"Has0_acc_2": "Has0_acc_2", "Has0_F1_score": "Has0_F1_score"}
        if fix_non0:
            same.update(Non0_acc_2="Non0_acc_2", Non0_F1_score="Non0_F1_score")
    out = {same[k]: v for k, v in test.items() if k in same}
    out.update({f"cmc_{k}": v for k, v in test.items() if k not in same and k != "loss"})
    return out


def cmc_config_for(cfg: SelfMMConfig, name: str, overrides: list[str], text_model: str | None = None):
    """The CMC config of an experiment: preset ``name`` + ``overrides`` (``key=value``), on Self-MM's dataset and
    device (one data set, one machine); a preset or override naming another dataset is a ConfigError."""
    c = cmc_config.apply_overrides(cmc_config.preset(name), overrides)
    if c.dataset != cfg.dataset:
        raise ConfigError(
            f"CMC dataset {c.dataset!r} (--cmc-preset {name}) differs from Self-MM's {cfg.dataset!r}: pass "
            f"--cmc-set dataset={cfg.dataset} or a --cmc-preset for that dataset"
        )
    extra = {"device": cfg.device, **({"text_model": text_model} if text_model else {})}
    return dataclasses.replace(c, **extra)


# (results key prefix, selfmm.label_health column) of the final-label figures, per modality, in table order
LABEL_FIGURES = (
    ("label_r", "r_gen_human"),
    ("ym_r", "r_ym_human"),
    ("partial_r", "partial_r"),
    ("gap", "gap"),
    ("k_star", "k_star"),
    ("r_at_k", "r_at_k"),
)


def label_correlation(run_dir: str | Path) -> dict[str, float]:
    """The last epoch's training labels against the human labels, per unimodal head ({} without human labels):
    ``label_r_<m>`` = r(final labels, human), ``ym_r_<m>`` = r(y_m, human) (the baseline), and the
    decomposition of :mod:`selfmm.label_health`: ``partial_r_<m>`` (partial r given y_m), ``gap_<m>`` (mean
    |labels − y_m|), ``k_star_<m>`` (least-squares shrink factor; NaN when the labels equal y_m) and
    ``r_at_k_<m>`` (r of y_m + k*·(labels − y_m))."""
    r = RunReader(run_dir)
    if not r.has_human_unimodal or not r.epochs:
        return {}
    info = label_health.run_info(r.manifest, r.run_id)
    h = label_health.health_frame(r.labels(r.epochs[-1]), r.samples(), **info).set_index("modality")
    return {f"{key}_{m}": float(h.loc[m, col]) for m in UNIMODAL if m in h.index for key, col in LABEL_FIGURES}


def run_experiment(
    cfg: SelfMMConfig,
    data,
    out,
    seeds: list[int],
    variants: list[str],
    name: str | None = None,
    text_model_path: str | None = None,
    verbose: bool = True,
    opts=None,
    cmc_cfg=None,
) -> pd.DataFrame:
    """Train all variants × seeds (resuming), write results.csv / results.md, and return the results frame.

    ``opts``: a :class:`selfmm.sweep.engine.EngineOptions` (default: the local engine, in this process, in order);
    with ``engine="ray"`` the runs are concurrent Ray Tune trials (Ray's records in ``out/ray``). ``cmc_cfg``: the
    :class:`selfmm.cmc.config.CMCConfig` of the ``cmc`` variant (its seed is set per run; default
    :func:`cmc_config_for` of the preset named like ``cfg.dataset``)."""
    from selfmm.sweep.engine import EngineOptions, Job, run_jobs

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = name or out.name
    opts = opts or EngineOptions(engine="local", verbose=verbose)
    opts.results_dir = opts.results_dir or str(out / "ray")
    if "cmc" in variants and cmc_cfg is None:
        cmc_cfg = cmc_config_for(cfg, cfg.dataset, [])
    jobs = []
    for variant in variants:
        for s in seeds:
            if variant == "cmc":
                c, model = dataclasses.replace(cmc_cfg, seed=s), "cmc"
            else:
                c, model = apply_overrides(cfg, {"label_source": variant, "seed": s}), "selfmm"
            jobs.append(Job(f"{variant}/seed_{s}", c.to_dict(), str((out / variant / f"seed_{s}").resolve()),
                            str(Path(data).resolve()), {"name": name, "variant": variant, "seed": s},
                            text_model_path, model))  # fmt: skip
    run_jobs(jobs, opts)
    frames = []
    for variant in variants:
        tests, corrs = {}, {}
        for s in seeds:
            run_dir = out / variant / f"seed_{s}"
            tests[s] = RunReader(run_dir).manifest["test"]
            if variant == "cmc":
                tests[s] = cmc_test_metrics(tests[s], cmc_cfg.dataset, cmc_cfg.fix_non0_metrics)
            corrs[s] = label_correlation(run_dir)
        df = summarize(tests).assign(scale=100.0)
        if all(corrs.values()):
            df = pd.concat([df, summarize(corrs, scale=1.0).assign(scale=1.0)], ignore_index=True)
        frames.append(df.assign(variant=variant))
    res = pd.concat(frames, ignore_index=True)
    first = ["variant", "metric", "scale", "mean", "std", "n"]
    res = res[first + [c for c in res.columns if c not in first]]
    tmp = out / ("results.csv" + layout.TMP_SUFFIX)
    res.to_csv(tmp, index=False)
    os.replace(tmp, out / "results.csv")
    md = results_markdown(res, f"Label-source experiment {name!r}: {cfg.dataset}, seeds {seeds}")
    if "cmc" in variants:
        md += CMC_NOTE
    tmp = out / ("results.md" + layout.TMP_SUFFIX)
    tmp.write_text(md, encoding="utf-8")
    os.replace(tmp, out / "results.md")
    if verbose:
        print(md)
    return res


CMC_NOTE = """
## cmc

CMC predicts 3 classes (neg: y < 0, neu: y = 0, pos: y > 0). Its Has0_acc_2 / Has0_F1_score have the same truth
(y_m <= 0 vs > 0 on SIMS) as Self-MM's Mult_acc_2 / F1_score and are in those rows (MOSI/MOSEI: the Has0 rows).
Not comparable, so listed as cmc_*: Acc_3 / F1_score_3 (neutral = y = 0 exactly, not Self-MM's (−0.1, 0.1] bin) and
the reference's Non0 pair; Self-MM's MAE, Corr and Mult_acc_3/5 have no CMC counterpart (no regression output).
CMC's label figures are its frozen phase-1 PLGM labels, E[s]·(−1, 0, 1)·H.
"""


def results_markdown(res: pd.DataFrame, title: str) -> str:
    """Metrics (×100) as rows and variants as columns, then the label correlations, as markdown tables."""
    variants = list(dict.fromkeys(res["variant"]))
    lines = [f"# {title}", ""]
    for scale, head in ((100.0, "Test metrics of the best epoch, mean ± std ×100"),
                        (1.0, "Last epoch's training labels vs the human unimodal labels (selfmm.label_health)")):  # fmt: skip
        part = res[res["scale"] == scale]
        if part.empty:
            continue
        lines += [f"## {head}", "", "| metric | " + " | ".join(variants) + " |", "|---" * (len(variants) + 1) + "|"]
        for metric in dict.fromkeys(part["metric"]):
            cells = []
            for v in variants:
                row = part[(part["variant"] == v) & (part["metric"] == metric)]
                fmt = "{:.2f} ± {:.2f}" if scale == 100.0 else "{:.3f} ± {:.3f}"
                cells.append(fmt.format(row["mean"].iloc[0], row["std"].iloc[0]) if len(row) else "–")
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm experiment --data ... --preset ... --seeds ... --variants ... --out DIR``."""

    p = train_parser("python -m selfmm experiment", description=__doc__.split("\n")[0],
                     out_help="experiment folder: <out>/<variant>/seed_<n>")  # fmt: skip
    p.add_argument("--seeds", default="1111-1115", help="e.g. 1111-1115 (default) or 1111,1113")
    p.add_argument("--variants", default="ulgm,human,multimodal",
                   help=f"comma list, each one of: {', '.join(VARIANTS)} (label sources of Self-MM, and cmc: the CMC "
                        "model; default ulgm,human,multimodal)")  # fmt: skip
    p.add_argument("--name", default=None, help="experiment name stored in run.json (default: the --out folder name)")
    p.add_argument("--cmc-preset", default=None, help="CMC preset of the cmc variant (default: the --preset name)")
    p.add_argument(
        "--cmc-set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help="CMC config overrides"
    )
    add_engine_args(p)
    args = p.parse_args(argv)

    def body() -> None:
        cfg, opts = _command_config(args)
        variants = parse_variants(args.variants)
        cmc = (cmc_config_for(cfg, args.cmc_preset or args.preset, list(args.cmc_set), args.text_model)
               if "cmc" in variants else None)  # fmt: skip
        run_experiment(cfg, args.data, args.out, parse_seeds(args.seeds), variants, name=args.name,
                       verbose=not args.quiet, opts=opts, cmc_cfg=cmc)  # fmt: skip
        _print_results_if_quiet(args)

    return run_command(body, f"interrupted; run the same command again to resume {args.out}")


__all__ = [
    "VARIANTS",
    "cmc_config_for",
    "cmc_test_metrics",
    "label_correlation",
    "main",
    "parse_variants",
    "results_markdown",
    "run_experiment",
]
