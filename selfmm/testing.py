"""A complete, plausible run folder written through :class:`selfmm.runs.writer.RunWriter`, without torch or training.

For dashboard tests, demos and the record-size benchmark. The numbers mimic Self-MM's dynamics (the momentum update of MMSA's ``SELF_MM.update_labels``):
generated labels equal y_m at epochs 0 and 1, then move toward a hidden per-modality truth with the momentum
update ``(n-1)/(n+1)·old + 2/(n+1)·new`` (clamped to ±H); the loss weights of epoch e are tanh|y_s − y_m| of the
labels at the end of epoch e−1; predictions improve with the epoch; centres are the means of the fake features of
the samples with label >= 0 / < 0. Metrics lines carry the contract's keys computed with
``selfmm.metrics.regression_metrics``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from selfmm.config import SPLITS, UNIMODAL, preset
from selfmm.metrics import regression_metrics
from selfmm.runs.layout import METRICS_JSONL, epoch_path
from selfmm.runs.provenance import env_info
from selfmm.runs.writer import RunWriter

STATUSES = ("finished", "running", "killed", "failed", "interrupted")


def _label_range(dataset: str) -> float:
    return 1.0 if dataset in ("sims", "simsv2") else 3.0


def _quantise(x: np.ndarray, H: float) -> np.ndarray:
    """SIMS labels are means of 5 annotators (steps of 0.2); MOSI/MOSEI roughly steps of 1/3."""
    step = 0.2 if H == 1.0 else 1.0 / 3.0
    return np.clip(np.round(x / step) * step, -H, H).astype(np.float32)


def _dead_pid() -> int:
    """The pid of a process that has exited (for a run that looks killed)."""
    pid = 2**22 - 1  # above the default pid_max of most systems; probe downward for one that is free
    while pid > 1:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
    return 999_999  # pragma: no cover


def _metric_rows(dataset, prefix: str, pred, true) -> dict:
    return {f"{prefix}/{k}": v for k, v in regression_metrics(dataset, pred, true).items()}


def write_fake_run(
    run_dir: str | Path,
    *,
    dataset: str = "sims",
    n: tuple[int, int, int] = (60, 20, 20),
    epochs: int = 6,
    human: bool = True,
    representation_epochs: tuple[int, ...] = (1, 6),
    status: str = "finished",
    seed: int = 0,
    dims: dict[str, int] | None = None,
) -> Path:
    """Write a fake run into ``run_dir`` (created; must not hold a run) and return its path.

    n: samples per split (train, valid, test). human: add y_T/y_A/y_V to samples.parquet and the metrics keys
    that need them. representation_epochs: epochs whose representations are stored (those beyond the committed
    epochs are skipped). dims: feature sizes {"M", "T", "A", "V", "enc_T", "enc_A", "enc_V"} (defaults: the tiny
    preset's). status:

    - "finished": all ``epochs`` committed, best/test set, PCA projections written;
    - "running": ``max(1, epochs // 2)`` epochs committed, status running with this process's pid (live);
    - "killed": same, plus the next epoch's files and metrics lines written but not committed, a torn last
      metrics line and a stray ``*.tmp``, status running with a dead pid (the reader shows "stale");
    - "failed" / "interrupted": ``max(1, epochs // 2)`` epochs committed, then finished with that status.
    """
    if status not in STATUSES:
        raise ValueError(f"write_fake_run(status={status!r}): expected one of {', '.join(STATUSES)}")
    if epochs < 1:
        raise ValueError("write_fake_run: epochs must be >= 1")
    rng = np.random.default_rng(seed)
    H = _label_range(dataset)
    cfg = preset("tiny", dataset=dataset, H=H, max_epochs=epochs, seed=seed, projection="pca")
    d = {"M": cfg.post_fusion_dim, "T": cfg.post_text_dim, "A": cfg.post_audio_dim, "V": cfg.post_video_dim}
    d.update({"enc_T": cfg.tiny_bert_hidden, "enc_A": cfg.audio_out, "enc_V": cfg.video_out})
    d.update(dims or {})
    sizes = dict(zip(SPLITS, (int(k) for k in n)))
    fake = _FakeRun(rng, dataset, sizes, H, human, d)
    writer = RunWriter(run_dir)
    writer.start(
        config=cfg.to_dict(),
        dataset=_dataset_block(dataset, sizes, H, human),
        samples=fake.samples,
        env=env_info("cpu"),
        git={"sha": None, "dirty": None},
        experiment={"name": "fake", "variant": cfg.label_source, "seed": seed},
    )
    fake.draw_features()
    writer.write_epoch(0, labels=fake.label_frame(), predictions=None, centers=None, representations=None, metrics=[])
    writer.commit_epoch(0)

    n_commit = epochs if status == "finished" else max(1, epochs // 2)
    n_write = n_commit + 1 if status == "killed" and n_commit < epochs else n_commit
    best: dict | None = None
    best_test: dict | None = None
    for e in range(1, n_write + 1):
        metrics = fake.write_epoch(writer, e, e in representation_epochs)
        if e > n_commit:
            break  # killed mid-epoch: files and metrics written, never committed
        valid = metrics[1]
        if best is None or valid["loss"] <= best["valid_loss"] - 1e-6:
            vm = {k.split("/", 1)[1]: v for k, v in valid.items() if k.startswith("pred_M/")}
            best = {"epoch": e, "valid_loss": valid["loss"], "valid_metrics": vm}
            best_test = {k.split("/", 1)[1]: v for k, v in metrics[2].items() if k.startswith("pred_M/")}
        writer.commit_epoch(e, best=best)
    _end(writer, Path(run_dir), status, best, best_test, n_commit, seed)
    return Path(run_dir)


def _dataset_block(dataset: str, sizes: dict[str, int], H: float, human: bool) -> dict:
    return {
        "path": f"fake://{dataset}", "sha256": None, "size_bytes": 0, "name": dataset,
        "n_train": sizes["train"], "n_valid": sizes["valid"], "n_test": sizes["test"],
        "feature_dims": {"text": 768, "audio": 33, "vision": 709}, "seq_lens": {"text": 39, "audio": 400, "vision": 55},
        "has_human_unimodal": human, "label_range": H, "aligned": False,
    }  # fmt: skip


def _end(writer: RunWriter, run_dir: Path, status: str, best, best_test, n_commit: int, seed: int) -> None:
    """Leave the run in ``status`` (see :func:`write_fake_run`)."""
    if status == "finished":
        if writer.manifest["representation_epochs"]:
            from selfmm.projection import compute_projections

            compute_projections(run_dir, method="pca", seed=seed)
        writer.finish("finished", test=best_test, best=best)
    elif status in ("failed", "interrupted"):
        err = "RuntimeError: fake failure for tests" if status == "failed" else None
        writer.finish(status, best=best, error=err)
    elif status == "killed":
        with open(run_dir / METRICS_JSONL, "a", encoding="utf-8") as f:
            f.write(f'{{"epoch": {n_commit + 1}, "split": "tra')  # torn append of a killed process
        tmp = epoch_path(run_dir, "labels", n_commit + 1)
        tmp.with_name(tmp.name + ".tmp").write_bytes(b"PAR1 half-written")
        writer.update_manifest(pid=_dead_pid())


class _FakeRun:
    """The fake run between epochs: samples and hidden truth, the generated labels and weights, the features.
    Every draw comes from ``rng`` in a fixed order, so a seed gives the same run."""

    def __init__(self, rng: np.random.Generator, dataset: str, sizes: dict[str, int], H: float, human: bool, d):
        self.rng, self.dataset, self.sizes, self.H, self.human, self.d = rng, dataset, sizes, H, human, d
        self.samples, self.truth = _fake_samples(rng, dataset, sizes, H, human)
        self.by_split = {s: self.samples[self.samples["split"] == s] for s in SPLITS}
        self.y = {s: self.by_split[s]["y_m"].to_numpy() for s in SPLITS}
        self.labels = {m: self.y["train"].copy() for m in UNIMODAL}
        self.weights = {m: np.zeros(sizes["train"], np.float32) for m in UNIMODAL}

    def draw_features(self) -> None:
        """Fixed per-sample feature "identity" + per-modality sentiment direction: positions drift over epochs."""
        rng, d, sizes = self.rng, self.d, self.sizes
        self.base = {s: {m: rng.normal(0, 1, (sizes[s], d[m])).astype(np.float32) for m in ("M", *UNIMODAL)}
                     for s in SPLITS}  # fmt: skip
        self.direction = {m: rng.normal(0, 1, d[m]).astype(np.float32) for m in ("M", *UNIMODAL)}
        self.enc_map = {m: rng.normal(0, 1 / np.sqrt(d[m]), (d[m], d[f"enc_{m}"])).astype(np.float32)
                        for m in UNIMODAL}  # fmt: skip

    def label_frame(self) -> pd.DataFrame:
        n_tr = self.sizes["train"]
        df = pd.DataFrame({"sample_id": self.by_split["train"]["sample_id"].to_numpy(),
                           "index": np.arange(n_tr, dtype=np.int32)})  # fmt: skip
        for m in UNIMODAL:
            df[f"label_{m}"] = self.labels[m]
        for m in UNIMODAL:
            df[f"weight_{m}"] = self.weights[m]
        return df.iloc[self.rng.permutation(n_tr)]  # any row order: the writer sorts by index

    def _step_labels(self, e: int) -> None:
        H, y_tr = self.H, self.y["train"]
        # weights this epoch = tanh|y_s - y_m| of the labels at the end of the previous epoch (ULGM order)
        self.weights = {m: np.tanh(np.abs(self.labels[m] - y_tr)).astype(np.float32) for m in UNIMODAL}
        if e > 1:  # Self-MM Eq. 7: labels move only from epoch 2, with momentum n = e
            for m in UNIMODAL:
                new = np.clip(self.truth["train"][m] + self.rng.normal(0, 0.25 * H / e, len(y_tr)), -H, H)
                self.labels[m] = np.clip((e - 1) / (e + 1) * self.labels[m] + 2 / (e + 1) * new, -H, H).astype(
                    np.float32
                )

    def _predict(self, e: int) -> tuple[dict, dict, list[dict]]:
        """Predictions and features per split (improving with the epoch) and the metrics rows."""
        H, rng, labels, truth = self.H, self.rng, self.labels, self.truth
        q = 1.0 - np.exp(-e / 3.0)  # training progress in (0, 1)
        preds, feats, metrics = {}, {}, []
        for s in SPLITS:
            y, n = self.y[s], self.sizes[s]
            noise = 0.35 * H * (1.2 - q)
            p = {"M": np.clip(0.9 * q * y + rng.normal(0, noise, n), -H, H)}
            for m in UNIMODAL:
                target = labels[m] if s == "train" else truth[s][m]
                p[m] = np.clip(0.85 * q * target + rng.normal(0, noise * 1.2, n), -H, H)
            preds[s] = {m: v.astype(np.float32) for m, v in p.items()}
            sig = {"M": y, **{m: (labels[m] if s == "train" else truth[s][m]) for m in UNIMODAL}}
            feats[s] = {m: self.base[s][m] + (1.5 * q) * np.outer(sig[m], self.direction[m]) for m in ("M", *UNIMODAL)}
            metrics.append(_split_metrics(self.dataset, s, e, preds[s], y, labels, self.weights, self.by_split[s],
                                          self.human, rng))  # fmt: skip
        return preds, feats, metrics

    def write_epoch(self, writer: RunWriter, e: int, with_representations: bool) -> list[dict]:
        """Advance to epoch ``e`` and write (not commit) its files; returns its metrics rows."""
        self._step_labels(e)
        preds, feats, metrics = self._predict(e)
        pred_df = pd.concat(
            [pd.DataFrame({"split": s, "sample_id": self.by_split[s]["sample_id"].to_numpy(),
                           "index": np.arange(self.sizes[s], dtype=np.int32),
                           **{f"pred_{m}": preds[s][m] for m in ("M", *UNIMODAL)}}) for s in SPLITS],
            ignore_index=True,
        )  # fmt: skip
        centers = {}
        for m in ("M", *UNIMODAL):
            lab = self.y["train"] if m == "M" else self.labels[m]
            f = feats["train"][m]
            pos, neg = lab >= 0, lab < 0
            centers[m] = {
                "pos": f[pos].mean(axis=0) if pos.any() else np.zeros(self.d[m]),
                "neg": f[neg].mean(axis=0) if neg.any() else np.zeros(self.d[m]),
            }
        reps = None
        if with_representations:
            reps = {}
            for s in SPLITS:
                for m in ("M", *UNIMODAL):
                    reps[f"{s}/feat_{m}"] = feats[s][m]
                for m in UNIMODAL:
                    reps[f"{s}/enc_{m}"] = np.tanh(feats[s][m] @ self.enc_map[m])
        writer.write_epoch(
            e, labels=self.label_frame(), predictions=pred_df, centers=centers, representations=reps, metrics=metrics
        )
        return metrics


def _fake_samples(rng, dataset: str, sizes: dict[str, int], H: float, human: bool) -> tuple[pd.DataFrame, dict]:
    """samples.parquet's rows and the hidden per-modality truth {split: {m: (N,)}}."""
    frames, truth = [], {}
    offset = 0
    for split in SPLITS:
        k = np.arange(offset, offset + sizes[split])
        offset += sizes[split]
        y_m = _quantise(rng.normal(0.1 * H, 0.55 * H, len(k)), H)
        # unimodal sentiments mostly agree with y_m; ~25% per modality are pulled elsewhere (conflicts)
        t = {}
        for m in UNIMODAL:
            off = np.where(rng.random(len(k)) < 0.25, rng.normal(0, 0.8 * H, len(k)), rng.normal(0, 0.15 * H, len(k)))
            t[m] = np.clip(y_m + off, -H, H).astype(np.float32)
        truth[split] = t
        df = pd.DataFrame(
            {
                "sample_id": [f"video_{i // 4 + 1:04d}$_${i % 4 + 1}" for i in k],
                "split": split,
                "index": np.arange(len(k), dtype=np.int32),
                "raw_text": [f"fake utterance number {i} of the synthetic {dataset} run" for i in k],
                "y_m": y_m,
            }
        )
        if human:
            for m in UNIMODAL:
                df[f"y_{m}"] = _quantise(t[m] + rng.normal(0, 0.05 * H, len(k)), H)
        frames.append(df)
    return pd.concat(frames, ignore_index=True), truth


def _split_metrics(dataset, split, epoch, pred, y_m, labels, weights, samples, human, rng) -> dict:
    """One metrics.jsonl row with the contract's keys (see docs/ARCHITECTURE.md)."""
    row: dict = {"epoch": epoch, "split": split, "time_s": float(rng.uniform(0.5, 2.0))}
    l1 = {"M": float(np.mean(np.abs(pred["M"] - y_m)))}
    if split == "train":
        for m in UNIMODAL:
            l1[m] = float(np.mean(weights[m] * np.abs(pred[m] - labels[m])))
        row["loss"] = sum(l1.values())
        row.update({f"loss_{m}": v for m, v in l1.items()})
    else:
        row["loss"] = l1["M"]
    row.update(_metric_rows(dataset, "pred_M", pred["M"], y_m))
    for m in UNIMODAL:
        if human:
            row.update(_metric_rows(dataset, f"pred_{m}", pred[m], samples[f"y_{m}"].to_numpy()))
        row.update(_metric_rows(dataset, f"pred_{m}_vs_ym", pred[m], y_m))
        if split == "train":
            row.update(_metric_rows(dataset, f"pred_{m}_vs_gen", pred[m], labels[m]))
            if human:
                row.update(_metric_rows(dataset, f"gen_{m}", labels[m], samples[f"y_{m}"].to_numpy()))
    return row
