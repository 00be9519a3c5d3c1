"""Run discovery for comparisons, experiments, and the same-data check (dataset sha256 in run.json).

Pure (no Streamlit); see :mod:`dashboard.compare` for the conventions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import pandas as pd

from dashboard import data

UNIMODAL = ("T", "A", "V")
MODALITY_NAMES = {"M": "multimodal", "T": "text", "A": "audio", "V": "vision"}
MANIFEST = "run.json"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
DEFAULT_MAX_RUNS = 12  # the page's default selection: a few seeds of every variant, not an experiment of 200 runs


class CompareError(ValueError):
    """Inputs cannot be compared; the message names the run or file and what to do."""


class ReaderLike(Protocol):
    """The part of ``selfmm.runs.reader.RunReader`` this module uses."""

    manifest: dict
    epochs: list[int]

    def metrics(self) -> pd.DataFrame: ...

    def labels(self, epochs=None) -> pd.DataFrame: ...


# ----------------------------------------------------------------------------------------------------------------
# discovery and experiments


def runs_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table of :func:`dashboard.data.list_runs` (the app's one discovery, over
    :func:`selfmm.runs.discovery.list_runs`; the sidebar's cached table) in this module's shape.

    Returns one row per run, sorted by ``label``, with columns: ``label`` (path relative to root, ``/``-joined;
    the sidebar's run key), ``run_dir`` (absolute str), ``run_id``, ``status`` ("broken" for a folder that
    cannot be opened), ``dataset``, ``epochs_completed``, ``experiment``, ``variant``, ``seed`` (nullable Int64),
    ``mtime`` (float, of run.json), ``error`` (str for a folder that cannot be opened, else None; a failed run's
    own error message is not an error here: it can still be compared).
    """
    cols = ["label", "run_dir", "run_id", "status", "dataset", "epochs_completed", "experiment", "variant", "seed"]
    cols += ["mtime", "error"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    broken = runs["status"].astype(str) == "broken"
    df = pd.DataFrame(
        {
            "label": runs["key"].astype(str),
            "run_dir": runs["run_dir"].astype(str),
            "run_id": runs["run_id"].where(~broken, None),
            "status": runs["status"].astype(str),
            "dataset": runs["dataset"].where(~broken, None).replace("", None),
            "epochs_completed": runs["epochs_completed"],
            "experiment": runs["experiment"],
            "variant": runs["variant"],
            "seed": pd.to_numeric(runs["seed"], errors="coerce").astype("Int64"),
            "mtime": runs["mtime"].astype(float),
            "error": runs["error"].where(broken, None),
        }
    )
    return df[cols].sort_values("label", kind="stable").reset_index(drop=True)


def discover_runs(root: str | os.PathLike, max_depth: int | None = None) -> pd.DataFrame:
    """All run folders at depth ``<= max_depth`` below ``root`` (:func:`dashboard.data.list_runs`), as
    :func:`runs_frame`."""
    return runs_frame(data.list_runs(root, max_depth))


def experiment_dir(run_dir: str | os.PathLike, manifest: Mapping) -> Path | None:
    """The experiment folder of a run (``<exp_dir>`` in ``<exp_dir>/<variant>/seed_<n>/``), or None.

    None when the manifest has no ``experiment`` entry. The layout is the experiment runner's, so the folder is
    two levels up; it is only returned when that is consistent (the parent folder is named after the variant).
    """
    exp = manifest.get("experiment") if manifest else None
    if not exp:
        return None
    run_dir = Path(run_dir)
    if exp.get("variant") is not None and run_dir.parent.name != str(exp["variant"]):
        return None
    return run_dir.parent.parent


def experiment_members(runs: pd.DataFrame, label: str) -> list[str]:
    """Labels of every run of the same experiment as ``label`` (same name, same experiment folder).

    Falls back to ``[label]`` when the run is not part of an experiment. Ordered by variant then seed.
    """
    row = runs.loc[runs["label"] == label]
    if row.empty:
        return []
    row = row.iloc[0]
    name = row.get("experiment")
    if name is None or (isinstance(name, float) and math.isnan(name)) or pd.isna(name):
        return [label]
    exp_root = Path(row["run_dir"]).parent.parent
    same = runs[(runs["experiment"] == name) & runs["run_dir"].map(lambda d: Path(d).parent.parent == exp_root)]
    same = same.sort_values(["variant", "seed", "label"], kind="stable")
    return same["label"].tolist()


def default_selection(runs: pd.DataFrame, current_run_dir: str | None, limit: int = DEFAULT_MAX_RUNS) -> list[str]:
    """The page's default multiselect: the current run's experiment, or the current run alone, or nothing.

    At most ``limit`` runs: when the experiment has more, the current run and then one seed of every variant in
    turn (the first seeds first), so every variant is shown; in the experiment's order (variant, seed)."""
    if current_run_dir is None or runs.empty:
        return []
    target = str(Path(current_run_dir).resolve())
    hit = runs.loc[runs["run_dir"] == target, "label"]
    if hit.empty:
        return []
    members = experiment_members(runs, hit.iloc[0])
    if len(members) <= limit:
        return members
    variant = runs.set_index("label")["variant"].astype(str)
    by_variant: dict[str, list[str]] = {}
    for m in members:
        by_variant.setdefault(variant.get(m, ""), []).append(m)
    picked = {hit.iloc[0]}
    for i in range(max(len(v) for v in by_variant.values())):
        for labs in by_variant.values():
            if len(picked) < limit and i < len(labs):
                picked.add(labs[i])
    return [m for m in members if m in picked]


# ----------------------------------------------------------------------------------------------------------------
# same data? (run.json dataset.sha256): sample ids only mean the same sample within one dataset file

SHA_SHORT = 12  # characters of a sha256 shown in messages


def _data_key(manifest: Mapping) -> tuple[str | None, str]:
    ds = (manifest or {}).get("dataset") or {}
    return (str(ds["sha256"]) if ds.get("sha256") else None), str(ds.get("name") or "?")


def data_mismatch(manifests: Mapping[str, Mapping]) -> str | None:
    """One sentence when the runs (``{label: run.json}``) record different dataset files (``dataset.sha256``),
    naming each file's runs; None when every recorded sha256 agrees. Runs without a sha256 are not counted here
    (see :func:`pair_data_check`). Dataset *names* are not evidence: two synthetic files can both be "sims"."""
    groups: dict[str, list[str]] = {}
    for label, m in manifests.items():
        sha, name = _data_key(m)
        if sha is not None:
            groups.setdefault(f"{name} sha256 {sha[:SHA_SHORT]}…", []).append(label)
    if len(groups) < 2:
        return None
    parts = "; ".join(f"{g} ({', '.join(labels)})" for g, labels in groups.items())
    return f"The selected runs were trained on different dataset files: {parts}. Their metrics are not comparable."


def pair_data_check(manifest_a: Mapping, manifest_b: Mapping) -> tuple[bool, str | None]:
    """Whether two runs' generated labels may be matched by sample_id: ``(ok, note)``.

    Different recorded sha256 -> ``(False, why)``: the same id can name different samples in two files. A
    missing sha256 -> ``(True, caution)``: the match cannot be verified. Same sha256 -> ``(True, None)``."""
    (sa, na), (sb, nb) = _data_key(manifest_a), _data_key(manifest_b)
    if sa is not None and sb is not None and sa != sb:
        return False, (
            f"Runs A and B were trained on different dataset files ({na} sha256 {sa[:SHA_SHORT]}… vs {nb} sha256 "
            f"{sb[:SHA_SHORT]}…): their sample ids do not name the same samples, so their labels are not matched. "
            "Pick two runs trained on the same file."
        )
    if sa is None or sb is None:
        return True, "One of the runs does not record its dataset's sha256: matching by sample_id is unverified."
    return True, None
