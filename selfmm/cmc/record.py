"""The run folder of a CMC run (see :mod:`selfmm.cmc.train` for what each table holds): per-epoch buffers
(:class:`_Record`), the frames and metrics rows written from them, and the writer's start."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from selfmm.cmc.metrics import classification_metrics
from selfmm.cmc.model import MODS
from selfmm.config import SPLITS
from selfmm.labels.plgm import CLASS_NAMES
from selfmm.runs.io import file_sha256
from selfmm.runs.provenance import env_info
from selfmm.runs.writer import RunWriter

ANCHORS = torch.tensor((-1.0, 0.0, 1.0))


def expected(logits_or_probs: torch.Tensor, H: float, probs: bool = False) -> np.ndarray:
    """(N, 3) logits (or probabilities) -> (N,) E[(−1, 0, 1)]·H as float32 numpy."""
    p = logits_or_probs if probs else torch.softmax(logits_or_probs.float(), dim=-1)
    return (p.cpu() @ ANCHORS * H).numpy().astype(np.float32)


class _Record:
    """Per-split buffers of one epoch: logits per output, gates, loss sums."""

    def __init__(self, n: int, outputs: tuple[str, ...]):
        self.logits = {k: torch.full((n, 3), float("nan")) for k in outputs}
        self.gates = torch.full((n, 3), float("nan"))
        self.loss: dict[str, float] = {}
        self.n = n

    def add_loss(self, parts: dict[str, torch.Tensor], bs: int) -> None:
        for k, v in parts.items():
            self.loss[k] = self.loss.get(k, 0.0) + float(v) * bs

    def mean_loss(self) -> dict[str, float]:
        return {k: v / self.n for k, v in self.loss.items()}


class RunRecording:
    """What :class:`~selfmm.cmc.train.CMCTrainer` writes into its run folder; reads the trainer's state (cfg,
    data, splits, soft, alpha, H, y_cls, human_cls, epoch) and never changes it."""

    def _keys(self, s: str) -> dict:
        sp = self.splits[s]
        return {"split": s, "sample_id": sp.ids.astype(str), "index": np.arange(len(sp), dtype=np.int32)}

    def _samples(self) -> pd.DataFrame:
        parts = []
        for s, sp in self.splits.items():
            d = {"sample_id": sp.ids.astype(str), "split": s, "index": np.arange(len(sp), dtype=np.int32),
                 "raw_text": np.asarray(sp.raw_text, dtype=object), "y_m": sp.y_m}  # fmt: skip
            if self.data.has_human_unimodal:
                d.update({f"y_{m}": sp.y_human[m] for m in MODS})
            parts.append(pd.DataFrame(d))
        return pd.concat(parts, ignore_index=True)

    def _start_writer(self) -> RunWriter:
        w = RunWriter(self.out_dir)
        info = {"path": str(self.data_path.resolve()), "sha256": file_sha256(self.data_path),
                "size_bytes": self.data_path.stat().st_size, **self.data.summary()}  # fmt: skip
        w.start(config=self.cfg.to_dict(), dataset=info, samples=self._samples(), env=env_info(str(self.device)),
                experiment=self.experiment)  # fmt: skip
        w.update_manifest(model="cmc", label_source="plgm")
        return w

    def _labels_frame(self) -> pd.DataFrame:
        sp = self.splits["train"]
        d = {"sample_id": sp.ids.astype(str), "index": np.arange(len(sp), dtype=np.int32)}
        for m in MODS:
            d[f"label_{m}"] = expected(self.soft["train"][m], self.H, probs=True)
            d[f"weight_{m}"] = np.ones(len(sp), dtype=np.float32)  # CE is unweighted
        return pd.DataFrame(d)

    def _extra_frame(self, recs: dict[str, _Record] | None) -> pd.DataFrame:
        parts = []
        for s in SPLITS:
            sp = self.splits[s]
            d = self._keys(s)
            for m in MODS:
                soft = self.soft[s][m]
                for c, name in enumerate(CLASS_NAMES):
                    d[f"soft_{m}_{name}"] = soft[:, c].numpy().astype(np.float32)
                d[f"class_{m}"] = torch.argmax(soft, dim=-1).numpy().astype(np.int8)
                d[f"alpha_{m}"] = self.alpha[s][m].numpy().astype(np.float32)
            gates = recs[s].gates if recs is not None else torch.full((len(sp), 3), float("nan"))
            for i, m in enumerate(MODS):
                d[f"gate_{m}"] = gates[:, i].numpy().astype(np.float32)
            parts.append(pd.DataFrame(d))
        return pd.concat(parts, ignore_index=True)

    def _pred_frame(self, recs: dict[str, _Record]) -> pd.DataFrame:
        parts = []
        for s in SPLITS:
            sp = self.splits[s]
            d = self._keys(s)
            for k in ("M", *MODS):
                lg = recs[s].logits.get(k)
                d[f"pred_{k}"] = expected(lg, self.H) if lg is not None else np.full(len(sp), np.nan, np.float32)
            parts.append(pd.DataFrame(d))
        return pd.concat(parts, ignore_index=True)

    def _metrics_rows(self, recs: dict[str, _Record], phase: int, phase_epoch: int, t0: float) -> list[dict]:
        rows = []
        fix = self.cfg.fix_non0_metrics
        for s in SPLITS:
            r = recs[s]
            row = {"split": s, "phase": phase, "phase_epoch": phase_epoch, "time_s": time.perf_counter() - t0}
            losses = r.mean_loss()
            row["loss"] = float(sum(losses.values()))
            row.update({f"loss_{k}": v for k, v in losses.items()})
            hard = {m: torch.argmax(self.soft[s][m], dim=-1) for m in MODS}
            for k, lg in r.logits.items():
                lgn = lg.numpy()
                if k == "M":
                    row.update({f"pred_M/{n}": v for n, v in classification_metrics(
                        self.cfg.dataset, lgn, self.y_cls[s].numpy(), fix).items()})  # fmt: skip
                    continue
                targets = {"_vs_ym": self.y_cls[s], "_vs_pseudo": hard[k]}
                if self.human_cls is not None:
                    targets[""] = self.human_cls[s][k]
                for suffix, true in targets.items():
                    res = classification_metrics(self.cfg.dataset, lgn, true.numpy(), fix)
                    row.update({f"pred_{k}{suffix}/{n}": v for n, v in res.items()})
            for m in MODS:  # how far PLGM moved from the M class: the share of rows whose hard label differs
                row[f"pseudo_changed_{m}"] = float((hard[m] != self.y_cls[s]).float().mean())
            rows.append(row)
        return rows

    def _write(self, w: RunWriter, recs, rows: list[dict], best: dict | None, gates: bool) -> None:
        """Write and commit epoch ``self.epoch``: labels, predictions, labels_extra (gates only when ``gates``)."""
        w.write_epoch(self.epoch, labels=self._labels_frame(), predictions=self._pred_frame(recs), centers=None,
                      representations=None, metrics=rows, labels_extra=self._extra_frame(recs if gates else None))  # fmt: skip
        w.commit_epoch(self.epoch, best=best)
