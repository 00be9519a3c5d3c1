"""Dashboard data-preparation benchmark: per-page time, sample-switch time and peak memory at demo and MOSEI size.

    python benchmarks/dashboard_bench.py                 # demo (SIMS 1368/456/457 x 15) and MOSEI (16326/1871/4659 x 40)
    python benchmarks/dashboard_bench.py --sizes demo    # only the demo-size run
    python benchmarks/dashboard_bench.py --keep DIR      # write the fake runs into DIR and keep them
    python benchmarks/dashboard_bench.py --sizes compare200   # the Compare page over one experiment of 200 runs
    python benchmarks/dashboard_bench.py --sizes experiment   # 5 label generators x 3 seeds on one dataset file

Each page's work is replayed with the dashboard's pure functions (``dashboard.data``, ``dashboard.charts``,
``dashboard.compare``, ``dashboard.generators``) in the order the page calls them, figure building included, with
a cold cache: nothing is reused between pages except the loaded run (``load_run``), exactly like
``cache.run_data`` shares it in the app; ``load_run`` is timed on its own. "sample switch" is what a rerun after
clicking another sample costs once the page's tables are cached: ``sample_detail`` + the drill-down charts + the
sample's projection positions. "generators rerun" is the Label generators page rerun after opening another sample
(a row of its disagreements table): its reads through ``dashboard.cache`` (Streamlit's bare-mode in-memory
caches, filled by one earlier draw; hits unpickle a copy) and everything it recomputes. ``--sizes experiment``
adds an experiment of label generators x seeds on one dataset file: the Label generators page over all its runs,
that rerun, the Samples drill-down's sample switch with the overlay of every generator, and the Compare page.
Peak memory is tracemalloc's peak of Python allocations (numpy/pandas/arrow buffers included) during that step,
and the process's max RSS at the end. Targets: < 1 s per page and < 0.3 s per sample switch at MOSEI size.
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

# the dashboard is not an installed package (pyproject installs selfmm only): import it from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {
    # name: dataset, (train, valid, test), epochs, human unimodal labels, representation epochs
    "demo": ("sims", (1368, 456, 457), 15, True, (1, 15)),
    "mosei": ("mosei", (16326, 1871, 4659), 40, False, (1, 40)),
}
PAGE_TARGET_S, SWITCH_TARGET_S = 1.0, 0.3
# the Compare page over one experiment of many runs: (train, valid, test), epochs, variants x seeds
COMPARE_RUNS = {"compare200": ((300, 100, 100), 5, 4, 50)}
# the Label generators page over one experiment (``python -m selfmm experiment --variants ...``) on one dataset
# file: dataset, (train, valid, test), epochs, variants, seeds
EXPERIMENTS = {"experiment": ("sims", (1368, 456, 457), 15, ("ulgm", "plgm", "human", "multimodal", "cmc"), 3)}
FAKE_SHA = "5e1f" * 16  # the one dataset file every run of a fake experiment was trained on


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float, float, object]:
    """(first-call seconds, best seconds over ``repeat`` more calls, tracemalloc peak MiB, first result).

    The first call also pays one-off imports (plotly.subplots, ...) the first time a code path runs in the
    process; the best repeat is the steady state of a server that has served any page before. tracemalloc slows
    allocation-heavy code several-fold, so memory is measured on one extra call, never on a timed one."""
    gc.collect()
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return first, best if repeat else first, peak, out


def page_steps(run, run_dir: Path, runs_root: Path) -> dict[str, Callable[[], object]]:
    """One callable per page, replaying that page's data preparation (and figure building) for the last epoch."""
    from dashboard import charts, data
    from dashboard import compare as C
    from selfmm.runs.reader import RunReader

    last = int(run.label_epochs[-1])

    def overview():
        data.manifest_summary(run), data.config_table(run), data.test_metrics_table(run)
        names = data.metric_names(run.metrics)
        metric = "MAE" if "MAE" in names else names[0]
        return charts.training_curves(data.curves_frame(run.metrics, metric), metric, run.best_epoch)

    def samples():
        table = data.sample_table(run, last)
        view = data.filter_samples(table, data.SampleFilter())
        return data.csv_bytes(view)  # the download button serialises the filtered table on every rerun

    def dynamics():
        q, drift, carto = data.label_quantiles(run), data.label_drift(run), data.cartography(run, "T")
        return charts.label_distribution(q, "T"), charts.drift_chart(drift), charts.cartography_chart(carto, "T")

    def human():
        if not run.has_human:
            return None
        gvh = data.gen_vs_human_by_epoch(run)
        hvh = data.heads_vs_human_by_epoch(run, "valid")
        table = data.sample_table(run, last)
        train = table[table["split"] == "train"]
        cm = data.confusion3(train["y_T"].to_numpy(), train["gen_T"].to_numpy())
        figs = [charts.agreement_chart(gvh, m, m) for m in ("pearson_r", "mae", "acc_3", "acc_2")]
        figs += [charts.agreement_chart(hvh, m, m) for m in ("pearson_r", "mae", "acc_3", "acc_2")]
        figs += [charts.gen_vs_human_scatter(train, "T", "gen", last), charts.confusion_heatmap(cm, "", "", "")]
        return figs

    def conflicts():
        table = data.sample_table(run, last)
        counts, conf = data.conflict_counts(table), data.conflict_confusion(table)
        out = data.conflict_outcomes(table)
        return charts.conflict_counts_chart(counts), conf, data.csv_bytes(out)

    def embeddings():
        proj = data.load_projections(run.run_dir)
        if proj is None:
            return None
        table = data.sample_table(run, None)
        e = int(proj["epoch"].max())
        view = data.projection_view(proj, table, e, "T", "gen_T")
        data.index_projections(proj)
        return charts.embedding_scatter(view, "gen_T", "")

    def compare():
        runs = C.discover_runs(runs_root)
        readers = {lab: RunReader(d) for lab, d in zip(runs["label"], runs["run_dir"])}
        table = C.metric_table(readers)
        metrics = {k: r.metrics() for k, r in readers.items()}
        cur = C.curves_long(metrics, "loss", "valid")
        fig = C.overlay_curves(cur, "", "", {})
        a = C.final_labels(readers[runs["label"].iloc[0]])
        b = C.final_labels(readers[runs["label"].iloc[-1]])  # a second seed when there is one, else itself
        pairs = C.label_pairs(a, b)
        return table, fig, C.label_scatter(pairs, "A", "B", C.label_agreement(pairs))

    return {
        "overview": overview,
        "samples": samples,
        "dynamics": dynamics,
        "human": human,
        "conflicts": conflicts,
        "embeddings": embeddings,
        "compare": compare,
        "generators": generators_page(runs_root, run_dir.name, ColdReads(), [first_train_id(run)]),
    }


def first_train_id(run) -> str:
    return str(run.split_frame("train")["sample_id"].iloc[0])


def sample_switch(run, proj_by_id, sample_ids: list[str]) -> Callable[[], object]:
    """What a rerun after picking another sample recomputes (components.render_sample_drilldown)."""
    from dashboard import charts, data

    it = iter(sample_ids * 1000)

    def step():
        sid = next(it)
        d = data.sample_detail(run, sid)
        figs = [charts.prediction_trajectory(d["predictions"], d["info"])]
        if len(d["labels"]):
            figs += [charts.label_trajectory(d["labels"], d["info"]), charts.weight_trajectory(d["labels"])]
        if proj_by_id is not None:
            data.sample_positions(proj_by_id, sid)
        return figs

    return step


class CachedReads:
    """The same reads through ``dashboard.cache`` (Streamlit's bare-mode in-memory caches, as in a server): what
    a rerun of the page pays once its first draw filled the caches (hits unpickle a copy; a bounded cache that
    is too small for the selection misses again)."""

    def runs(self, root: Path):
        from dashboard import cache, data

        return cache.runs(str(root), data.run_mtime(root), 0.0)  # components.runs_table: keyed on mtimes

    def manifest(self, d: str) -> dict:
        from dashboard import cache, data

        return cache.manifest(d, data.run_mtime(d))

    def health(self, d: str):
        from dashboard import cache, data

        return cache.label_health(d, data.run_mtime(d))

    def recovery(self, d: str):
        from dashboard import cache, data

        return cache.recovery_counts(d, data.run_mtime(d))

    def labels(self, d: str):
        from dashboard import cache, data

        return cache.labels(d, data.run_mtime(d))

    def samples(self, d: str):
        from dashboard import cache, data

        return cache.samples(d, data.run_mtime(d))


class ColdReads(CachedReads):
    """The Label generators page's reads with nothing cached (its first draw): :class:`CachedReads` after
    emptying the Streamlit data caches, at the page's first read (the runs table). Through the caches, as the page
    reads: label health and conflict recovery share each run's cached labels and samples."""

    def runs(self, root: Path):
        import streamlit as st

        st.cache_data.clear()  # the page reads no cache_resource (cache.run_data)
        return super().runs(root)


def generators_page(runs_root: Path, current: str, reads, sample_ids: list[str]) -> Callable[[], object]:
    """dashboard/app_pages/generators.py's work in its order, figures included: every readable run's run.json,
    the default selection (every run on the same dataset file as ``current``, the sidebar's run), each run's
    label health, the default figure's seed bands and y_m baseline with its three charts, the inversion alarms,
    the conflict recovery per run and over seeds (with human labels), the disagreements table (modality T) and
    the trajectory overlay of the open sample (the next of ``sample_ids`` at each call: a rerun after clicking a
    row). ``reads``: :class:`ColdReads` or :class:`CachedReads`. Returns (runs selected, tables, figures)."""
    from dashboard import cache, data
    from dashboard import generator_charts as GC
    from dashboard import generators as G
    from dashboard import seed_summary as SS
    from selfmm import label_health

    it = iter(sample_ids * 1000)

    def step():
        runs = reads.runs(runs_root)
        ok = runs[runs["status"].astype(str) != "broken"]
        run_dir = dict(zip(ok["key"], ok["run_dir"], strict=True))
        rows = G.run_rows({k: reads.manifest(d) for k, d in run_dir.items()})
        sel = rows[rows["label"].isin(G.same_data_labels(rows, current))]
        G.same_data(sel)
        generators = dict(zip(sel["label"], sel["generator"], strict=True))
        health = G.health_long({lab: reads.health(run_dir[lab]) for lab in sel["label"]}, generators)
        has_human = bool(health["r_gen_human"].notna().any()) if len(health) else False
        metric = "r_gen_human" if has_human else "r_gen_ym"  # the page's default figure
        bands = G.seed_bands(health, metric)
        base = G.ym_baseline(health) if metric == "r_gen_human" else {}
        figs = []
        for m in G.UNIMODAL:
            fig = GC.generator_r_chart(bands, m, base.get(m))
            fig.update_layout(title=f"{metric}, {GC.MOD_NAMES[m]}")
            figs.append(fig.update_yaxes(title_text=metric))
        tables = [label_health.inversion_alarms(health.drop(columns=["label", "generator"]))]
        if has_human:
            per_run = {lab: reads.recovery(run_dir[lab]) for lab in sel["label"]}
            tables.append(SS.recovery_over_seeds(per_run, generators))
        all_labels = {lab: reads.labels(run_dir[lab]) for lab in sel["label"]}
        readable = tuple((lab, run_dir[lab], data.run_mtime(run_dir[lab]), generators[lab]) for lab in all_labels)
        samples = reads.samples(run_dir[sel["label"].iloc[0]])
        tables.append(G.disagreements(cache.generator_labels(readable), samples, "T", top=25))
        sid = next(it)
        traj = G.sample_trajectories(all_labels, sel, sid, "T")
        if len(traj):
            hit = samples[samples["sample_id"] == sid].iloc[0]
            figs.append(GC.trajectory_overlay(traj, "T", float(hit["y_m"]), hit.get("y_T")))
        return len(sel), tables, figs

    return step


def overlay_switch(runs_root: Path, current: str, sample_ids: list[str]) -> Callable[[], object]:
    """What the sample drill-down adds to a sample switch when other runs share the open run's dataset file
    (generator_overlay.render_sample_overlay): the runs table and their labels from the caches, the overlay of
    every generator. Cached reads (:class:`CachedReads`), as a rerun pays them."""
    from dashboard import generator_charts as GC
    from dashboard import generators as G

    reads, it = CachedReads(), iter(sample_ids * 1000)

    def step():
        runs = reads.runs(runs_root)
        ok = runs[runs["status"].astype(str) != "broken"]
        run_dir = dict(zip(ok["key"], ok["run_dir"], strict=True))
        rows = G.run_rows({k: reads.manifest(d) for k, d in run_dir.items()})
        same = G.same_data_labels(rows, current)
        if len(same) < 2:
            return None
        labels = {lab: reads.labels(run_dir[lab]) for lab in same}
        traj = G.sample_overlay(labels, rows[rows["label"].isin(same)], next(it))
        return GC.overlay_grid(traj, 0.0, {}, current=current) if len(traj) else None

    return step


def switch_times(step: Callable[[], object], n: int) -> tuple[float, float, float]:
    """(max s, median s, tracemalloc peak MiB) of ``n`` calls of ``step`` after one warm-up call (its first draw)."""
    step()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    _, _, peak, _ = timed(step, repeat=0)
    return max(times), sorted(times)[len(times) // 2], peak


def cache_hit_line(run_dir: Path) -> str:
    """What every page pays to get the run from ``cache.run_data`` once it is cached (bare mode: Streamlit's
    in-memory cache, as in a server): a copy of the whole RunData under st.cache_data, a lookup under
    st.cache_resource."""
    import logging

    from dashboard import cache, data

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # bare mode warns once per call
    mtime = data.run_mtime(run_dir)
    cache.run_data(str(run_dir), mtime)  # the miss: load_run, timed above
    _, dt, peak, _ = timed(lambda: cache.run_data(str(run_dir), mtime), repeat=3)
    return f"{'cache.run_data hit':<22}{'':>9}{dt:>9.3f}{peak:>10.0f}  (every page, every rerun)"


def bench(name: str, root: Path) -> list[str]:
    from dashboard import data
    from selfmm.testing import write_fake_run

    dataset, n, epochs, human, rep = SIZES[name]
    quiet_cache()
    runs_root = root / name
    run_dir = runs_root / f"{name}-s1"
    t = time.perf_counter()
    write_fake_run(run_dir, dataset=dataset, n=n, epochs=epochs, human=human, representation_epochs=rep, seed=1)
    write_fake_run(runs_root / f"{name}-s2", dataset=dataset, n=n, epochs=epochs, human=human,
                   representation_epochs=(), seed=2)  # fmt: skip
    size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file()) / 2**20
    lines = [
        f"## {name}: {dataset} {n[0]}/{n[1]}/{n[2]} x {epochs} epochs (human labels: {human}); run folder "
        f"{size:.0f} MiB, written in {time.perf_counter() - t:.1f} s",
        f"{'step':<22}{'first s':>9}{'repeat s':>9}{'peak MiB':>10}  target",
    ]
    first, dt, peak, run = timed(lambda: data.load_run(run_dir), repeat=1)
    lines.append(
        f"{'load_run (once)':<22}{first:>9.3f}{dt:>9.3f}{peak:>10.0f}  (shared by the pages via cache.run_data)"
    )
    lines.append(cache_hit_line(run_dir))
    for page, fn in page_steps(run, run_dir, runs_root).items():
        first, dt, peak, out = timed(fn, repeat=1)
        flag = "" if first < PAGE_TARGET_S else "  <-- over target"
        lines.append(f"{page:<22}{first:>9.3f}{dt:>9.3f}{peak:>10.0f}  < {PAGE_TARGET_S:g} s{flag}" if out is not None
                     else f"{page:<22}{'n/a':>9}{'':>19}  (nothing to show for this run)")  # fmt: skip
    proj = data.load_projections(run.run_dir)
    by_id = data.index_projections(proj) if proj is not None else None
    ids = list(run.split_frame("train")["sample_id"].iloc[:: max(1, n[0] // 20)])
    ids += list(run.split_frame("test")["sample_id"].iloc[:5])
    step = sample_switch(run, by_id, ids)
    step()  # the drill-down's first draw (imports) is part of the page, not of a switch
    times = []
    for _ in ids:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    _, _, peak, _ = timed(step, repeat=0)
    worst = max(times)
    flag = "" if worst < SWITCH_TARGET_S else "  <-- over target"
    lines.append(f"{'sample switch (max)':<22}{worst:>9.3f}{sorted(times)[len(times) // 2]:>9.3f}{peak:>10.0f}  "
                 f"< {SWITCH_TARGET_S:g} s (max / median of {len(ids)} samples){flag}")  # fmt: skip
    train_ids = [i for i in ids if i in set(run.split_frame("train")["sample_id"])]
    lines.append(switch_line("generators rerun (max)", generators_page(runs_root, run_dir.name, CachedReads(), train_ids),
                             len(train_ids), "Label generators page, cached reads, another sample"))  # fmt: skip
    return lines


def switch_line(label: str, step: Callable[[], object], n: int, what: str, width: int = 22) -> str:
    """One table line for a rerun after a sample switch: max / median of ``n`` calls, flagged over the target."""
    worst, median, peak = switch_times(step, n)
    flag = "" if worst < SWITCH_TARGET_S else "  <-- over target"
    return (f"{label:<{width}}{worst:>9.3f}{median:>9.3f}{peak:>10.0f}  < {SWITCH_TARGET_S:g} s ({what}; max / median "
            f"of {n}){flag}")  # fmt: skip


def quiet_cache() -> None:
    """Empty Streamlit's bare-mode caches (each size starts cold) and silence their once-per-call warning."""
    import logging

    import streamlit as st

    for name in ["streamlit", *logging.root.manager.loggerDict]:  # streamlit sets a level on each of its loggers
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)
    st.cache_data.clear()
    st.cache_resource.clear()


def compare_page(runs_root: Path, current: str, pairwise: bool, select_all: bool = False) -> Callable[[], object]:
    """The Compare page's work with its default selection (the current run's experiment, bounded by
    ``compare.default_selection``; ``select_all``: every run, as a user who adds them all), figures included;
    ``pairwise``: also the opt-in run × run matrix over the selection. Reads are not cached (a cold page)."""
    from dashboard import compare as C
    from selfmm.runs.reader import RunReader

    def step():
        runs = C.discover_runs(runs_root)
        selected = runs["label"].tolist() if select_all else C.default_selection(runs, str(runs_root / current))
        run_dir = dict(zip(runs["label"], runs["run_dir"], strict=True))
        readers = {lab: RunReader(run_dir[lab]) for lab in selected}
        table = C.metric_table(readers)
        metrics = {k: r.metrics() for k, r in readers.items()}
        figs = [C.overlay_curves(C.curves_long(metrics, c, "valid"), "", "", {}) for c in ("loss", "pred_M/Corr")]
        labels = {lab: C.final_labels(r) for lab, r in readers.items()}
        a, b = selected[0], selected[-1]
        pairs = C.label_pairs(labels[a], labels[b])
        figs.append(C.label_scatter(pairs, a, b, C.label_agreement(pairs)))
        mat = C.pairwise_agreement(labels, "T") if pairwise else None
        return len(selected), table, figs, mat

    return step


def bench_compare(name: str, root: Path) -> list[str]:
    """Time the Compare page over one experiment of variants x seeds fake runs (``COMPARE_RUNS``)."""
    from selfmm.testing import write_fake_run

    n, epochs, n_variants, n_seeds = COMPARE_RUNS[name]
    runs_root = root / name
    t = time.perf_counter()
    reused = len(list(runs_root.glob("exp/*/seed_*/run.json"))) == n_variants * n_seeds  # --keep DIR, run again
    for v in range(n_variants if not reused else 0):
        for s in range(n_seeds):
            d = write_fake_run(runs_root / "exp" / f"v{v}" / f"seed_{s}", n=n, epochs=epochs,
                               representation_epochs=(), seed=s)  # fmt: skip
            _tag(d, "exp", f"v{v}", s)
    lines = [
        f"## {name}: one experiment of {n_variants} variants x {n_seeds} seeds = {n_variants * n_seeds} runs, sims "
        f"{n[0]}/{n[1]}/{n[2]} x {epochs} epochs; "
        + ("reused" if reused else f"written in {time.perf_counter() - t:.0f} s"),
        f"{'step':<30}{'first s':>9}{'repeat s':>9}{'peak MiB':>10}  runs selected",
    ]
    steps = (("compare page (default)", False, False), ("  + pairwise r (opt-in)", True, False),
             ("all runs selected", False, True), ("  + pairwise r (opt-in)", True, True))  # fmt: skip
    for label, pairwise, every in steps:
        first, dt, peak, out = timed(compare_page(runs_root, "exp/v0/seed_0", pairwise, every), repeat=1)
        flag = "" if first < PAGE_TARGET_S else "  <-- over the page target"
        lines.append(f"{label:<30}{first:>9.3f}{dt:>9.3f}{peak:>10.0f}  {out[0]}{flag}")
    return lines


def write_experiment(runs_root: Path, name: str) -> tuple[int, float]:
    """Fake runs laid out as ``python -m selfmm experiment`` writes them (``<exp>/<variant>/seed_<n>``), every one
    on the same dataset file (run.json dataset.sha256 ``FAKE_SHA``, one samples.parquet); each variant's run.json
    says its generator (config.label_source; model "cmc" with label_source "plgm" for cmc, as selfmm.cmc
    records). The labels are write_fake_run's Self-MM-like dynamics for every variant (a different draw per run):
    the page's work does not depend on their values. Returns (runs, seconds); reuses a complete --keep folder."""
    import json
    import shutil as sh

    from selfmm.testing import write_fake_run

    dataset, n, epochs, variants, seeds = EXPERIMENTS[name]
    dirs = [(v, s, runs_root / "exp" / v / f"seed_{s}") for v in variants for s in range(1, seeds + 1)]
    t = time.perf_counter()
    if all((d / "run.json").is_file() for _, _, d in dirs):
        return len(dirs), 0.0
    for i, (variant, seed, d) in enumerate(dirs):
        write_fake_run(d, dataset=dataset, n=n, epochs=epochs, human=dataset in ("sims", "simsv2"),
                        representation_epochs=(), seed=100 + i)  # fmt: skip
        m = json.loads((d / "run.json").read_text())
        m["config"].update(label_source="plgm" if variant == "cmc" else variant, seed=seed)
        m["dataset"]["sha256"] = FAKE_SHA
        m["experiment"] = {"name": "exp", "variant": variant, "seed": seed}
        if variant == "cmc":
            m.update(model="cmc", label_source="plgm")
        (d / "run.json").write_text(json.dumps(m))
        if i:
            sh.copyfile(dirs[0][2] / "samples.parquet", d / "samples.parquet")  # one dataset file: same samples
    return len(dirs), time.perf_counter() - t


def bench_experiment(name: str, root: Path) -> list[str]:
    """Time the Label generators page, a sample switch and the Compare page over one experiment of label
    generators x seeds on one dataset file (``EXPERIMENTS``), the sidebar on the first variant's first seed."""
    from dashboard import data

    dataset, n, epochs, variants, seeds = EXPERIMENTS[name]
    runs_root = root / name
    n_runs, dt = write_experiment(runs_root, name)
    current = f"exp/{variants[0]}/seed_1"
    quiet_cache()
    lines = [
        f"## {name}: {len(variants)} generators ({', '.join(variants)}) x {seeds} seeds = {n_runs} runs on one "
        f"dataset file, {dataset} {n[0]}/{n[1]}/{n[2]} x {epochs} epochs; " + (f"written in {dt:.0f} s" if dt else "reused"),
        f"{'step':<30}{'first s':>9}{'repeat s':>9}{'peak MiB':>10}  target",
    ]  # fmt: skip
    first, _, peak, run = timed(lambda: data.load_run(runs_root / current), repeat=0)
    lines.append(f"{'load_run (sidebar run)':<30}{first:>9.3f}{'':>9}{peak:>10.0f}  (shared by the pages)")
    tr = run.split_frame("train")["sample_id"]
    ids = [str(i) for i in tr.iloc[:: max(1, len(tr) // 20)]]
    first, dt, peak, out = timed(generators_page(runs_root, current, ColdReads(), ids), repeat=1)
    flag = "" if first < PAGE_TARGET_S else "  <-- over target"
    lines.append(f"{'generators page (cold)':<30}{first:>9.3f}{dt:>9.3f}{peak:>10.0f}  < {PAGE_TARGET_S:g} s "
                 f"({out[0]} runs selected){flag}")  # fmt: skip
    lines.append(switch_line("generators rerun (max)", generators_page(runs_root, current, CachedReads(), ids),
                             len(ids), "cached reads, another sample", width=30))  # fmt: skip
    proj = data.load_projections(run.run_dir)
    by_id = data.index_projections(proj) if proj is not None else None
    drill, overlay = sample_switch(run, by_id, ids), overlay_switch(runs_root, current, ids)
    lines.append(switch_line("sample switch + overlay (max)", lambda: (drill(), overlay()), len(ids),
                             "Samples drill-down with every generator's overlay", width=30))  # fmt: skip
    first, dt, peak, out = timed(compare_page(runs_root, current, False), repeat=1)
    flag = "" if first < PAGE_TARGET_S else "  <-- over target"
    lines.append(f"{'compare page (default)':<30}{first:>9.3f}{dt:>9.3f}{peak:>10.0f}  < {PAGE_TARGET_S:g} s "
                 f"({out[0]} runs selected){flag}")  # fmt: skip
    return lines


def _tag(run_dir: Path, name: str, variant: str, seed: int) -> None:
    """Make a fake run look like one of an experiment's (run.json ``experiment``), as the experiment runner does."""
    import json

    m = json.loads((run_dir / "run.json").read_text())
    m["experiment"] = {"name": name, "variant": variant, "seed": seed}
    (run_dir / "run.json").write_text(json.dumps(m))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="demo,mosei", help="comma-separated: demo, mosei, compare200, experiment")
    ap.add_argument("--keep", type=Path, default=None, help="write the fake runs here and keep them")
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES and s not in COMPARE_RUNS and s not in EXPERIMENTS]
    if bad:
        ap.error(f"unknown size(s) {bad}; choose from {', '.join([*SIZES, *COMPARE_RUNS, *EXPERIMENTS])}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="selfmm-dash-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        for s in sizes:
            run = bench_compare if s in COMPARE_RUNS else bench_experiment if s in EXPERIMENTS else bench
            print("\n".join(run(s, root)), flush=True)
            print(flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"process max RSS: {rss:.0f} MiB (python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
