"""CMC training, both phases, recorded into an ordinary selfmm run folder (gw-zhong/CMC ``src/train_pseudo_pretrain.py``, then ``src/train_run.py``).

Phase 1 (``train_pseudo_pretrain.py``), per epoch e with label momentum m_k(e) and teacher momentum μ_k(e):

    train: per batch: c_k = argmax s_k (pre-update); student logits ℓ_k (train mode); t_k = calibrate(softmax ℓ_k
           detached, c_k); s_k <- m s_k + (1-m) t_k; loss Σ_k CE(ℓ_k, c_k) + SupCon([h_t; h_a; h_v], binarised c);
           one step of each of the three Adams; EMA teachers over parameters() only (BatchNorm buffers stay at init)
    valid, test: the same soft-label update from the students in eval mode; losses and predictions from the
           teachers against the pre-update hard labels
    selection per modality on the teacher's valid CE rounded to 4 decimals; any improvement keeps the teachers
    and a copy of all three splits' soft labels; patience counts epochs in which no modality improved.

Phase 2 (``train_run.py``): :class:`~selfmm.cmc.model.CMCModel` from the best teachers (encoders, heads as
experts); pseudo labels frozen at the kept copy; loss CE(pred, class(y_m)) + Σ_k CE(o_k, c_k) + SupCon on the
pre-PFM h; one Adam. Selection per ``cfg.phase2_select`` ("last", the reference's effective behaviour, or
"valid_loss"). The test split is evaluated every epoch for the record, never for a decision.

Run folder (``selfmm.runs``): run.json ``"model": "cmc"``, ``"label_source": "plgm"``; epochs are numbered
through both phases (phase 1: 1..E1, phase 2: E1+1..); metrics rows carry ``phase`` (1 | 2) and ``phase_epoch``.

- labels/: label_T/A/V = E[s]·(−1, 0, 1)·H of the train soft labels (phase 2: the frozen ones), weight_T/A/V = 1;
- predictions/: pred_X = softmax(logits)·(−1, 0, 1)·H; phase 1: T/A/V from the students (train) and teachers
  (valid, test), pred_M NaN; phase 2: M is the gate-weighted logits, T/A/V the experts;
- labels_extra/: every split, every epoch: soft_X_neg/neu/pos, class_X, alpha_X (NaN where not updated: phase 2),
  gate_T/A/V (NaN in phase 1).

Not resumable: a killed CMC run is started again (``--force``). Per-epoch wall time is in the metrics' time_s.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from selfmm.cli import add_overrides, run_command
from selfmm.cmc.config import CMCConfig, apply_overrides, preset
from selfmm.cmc.losses import binarise, supcon
from selfmm.cmc.metrics import classification_metrics
from selfmm.cmc.model import MODS, CMCModel, UnimodalModel
from selfmm.cmc.record import RunRecording, _Record
from selfmm.config import SPLITS
from selfmm.data import BatchLoader, check_token_ids, load_mmsa
from selfmm.labels.plgm import calibrate, classes_of, momentum_schedule, one_hot, soft_update
from selfmm.model import NO_DECAY
from selfmm.runs.writer import RunWriter


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global RNG, as the reference's seed_everything
    torch.manual_seed(seed)


def _full_length(batch: dict, split, device) -> dict:
    """Pad audio/vision back to the split's full length: the reference feeds every padded frame (no masking)."""
    out = {}
    for key, full in (("audio", split.audio.shape[1]), ("vision", split.vision.shape[1])):
        x = batch[key]
        out[key] = F.pad(x, (0, 0, 0, full - x.shape[1])).to(device)
    out["text"] = batch["text"].to(device)
    out["lengths"] = {"A": batch["audio_lengths"].to(device), "V": batch["vision_lengths"].to(device)}
    out["index"] = batch["index"]
    return out


def _bert_groups(named, cfg: CMCConfig) -> list[dict]:
    """The reference's three Adam groups: BERT decay (lr_bert, wd_bert), BERT no-decay (lr_bert, 0), rest (lr, 0)."""
    decay, no_decay, rest = [], [], []
    for name, p in named:
        if ".bert." in f".{name}":
            (no_decay if any(nd in name for nd in NO_DECAY) else decay).append(p)
        else:
            rest.append(p)
    return [
        {"params": decay, "lr": cfg.lr_bert, "weight_decay": cfg.weight_decay_bert},
        {"params": no_decay, "lr": cfg.lr_bert, "weight_decay": 0.0},
        {"params": rest, "lr": cfg.lr, "weight_decay": 0.0},
    ]


class CMCTrainer(RunRecording):
    """Both phases over one MMSA pickle; see the module docstring. ``fit`` runs everything."""

    def __init__(self, cfg: CMCConfig, data_path, out_dir, text_model_path=None, verbose=True, experiment=None):
        self.cfg = cfg
        self.experiment = experiment  # {name, variant, seed} of an experiment, stored in run.json
        self.data_path, self.out_dir = Path(data_path), Path(out_dir)
        self.text_model_path = text_model_path
        self.log = print if verbose else (lambda *a, **k: None)
        set_seed(cfg.seed)
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            warnings.warn(f"device={cfg.device!r} asked for but CUDA is not available: CPU", stacklevel=2)
            self.device = torch.device("cpu")
        else:
            self.device = torch.device(cfg.device)
        self.data = load_mmsa(self.data_path, dataset=cfg.dataset, text_mode="bert")
        self.H = float(self.data.label_range)
        self.splits = self.data.splits
        self.y_cls = {s: classes_of(torch.from_numpy(sp.y_m)) for s, sp in self.splits.items()}
        self.human_cls = (
            {s: {m: classes_of(torch.from_numpy(sp.y_human[m])) for m in MODS} for s, sp in self.splits.items()}
            if self.data.has_human_unimodal
            else None
        )
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.loaders = {
            "train": BatchLoader(self.splits["train"], cfg.batch_size, True, self.gen),
            "valid": BatchLoader(self.splits["valid"], cfg.batch_size, False, None),
            "test": BatchLoader(self.splits["test"], cfg.batch_size, False, None),
        }
        # PLGM state of every split (cpu): soft (N, 3) per modality, initially one-hot(class(y_m)); α of the last visit
        self.soft = {s: {m: one_hot(self.y_cls[s]) for m in MODS} for s in SPLITS}
        self.alpha = {s: {m: torch.full((len(self.splits[s]),), float("nan")) for m in MODS} for s in SPLITS}
        self.epoch = 0
        self.epoch_seconds: list[float] = []

    # -- phase 1 ---------------------------------------------------------------------------------------------

    def _plgm_step(self, split: str, idx: torch.Tensor, student_logits: dict, m_label: dict) -> dict:
        """Pre-update hard labels of these rows, then the soft-label update from the detached student logits."""
        hard = {}
        for m in MODS:
            s = self.soft[split][m][idx]
            c = torch.argmax(s, dim=-1)
            hard[m] = c
            target, alpha = calibrate(torch.softmax(student_logits[m].detach().float().cpu(), dim=-1), c)
            self.soft[split][m][idx] = soft_update(s, target, m_label[m])
            self.alpha[split][m][idx] = alpha
        return hard

    def _phase1_models(self) -> tuple[dict, dict, dict]:
        """The students (T on BERT), their EMA teachers (eval mode, no gradients) and one Adam per student."""
        cfg, dims = self.cfg, self.data.feature_dims
        students = {
            "T": UnimodalModel("T", None, cfg, self.text_model_path),
            "A": UnimodalModel("A", int(dims["audio"]), cfg),
            "V": UnimodalModel("V", int(dims["vision"]), cfg),
        }
        students["T"].enc.finetune = cfg.finetune_bert_phase1
        # a DataError (one line, exit 2) rather than an IndexError inside BERT's embedding
        check_token_ids(self.data, int(students["T"].enc.bert.config.vocab_size))
        for mdl in students.values():
            mdl.to(self.device)
        teachers = {m: copy.deepcopy(students[m]).eval() for m in MODS}
        for t in teachers.values():
            t.requires_grad_(False)
        opts = {
            "T": torch.optim.Adam(_bert_groups(students["T"].named_parameters(), cfg)),
            "A": torch.optim.Adam(students["A"].parameters()),  # library defaults: --lr does not reach them
            "V": torch.optim.Adam(students["V"].parameters()),
        }
        return students, teachers, opts

    def _phase1_train(self, students, teachers, opts, rec: _Record, m_label: dict, m_teacher: dict) -> None:
        """One phase-1 pass over train: PLGM update, the students' step, the teachers' EMA; recorded in ``rec``."""
        cfg, dev = self.cfg, self.device
        for mdl in students.values():
            mdl.train()
        for batch in self.loaders["train"]:
            b = _full_length(batch, self.splits["train"], dev)
            idx = b["index"]
            out = {m: students[m](x, b["lengths"].get(m)) for m, x in zip(MODS, (b["text"], b["audio"], b["vision"]))}
            logits = {m: out[m][0] for m in MODS}
            hard = self._plgm_step("train", idx, logits, m_label)
            ce = {m: F.cross_entropy(logits[m], hard[m].to(dev)) for m in MODS}
            h = torch.cat([out[m][1] for m in MODS])
            lc = supcon(h, binarise(torch.cat([hard[m] for m in MODS]), cfg.dataset).to(dev),
                        cfg.supcon_temperature)  # fmt: skip
            for o in opts.values():
                o.zero_grad()
            (ce["T"] + ce["A"] + ce["V"] + lc).backward()
            for o in opts.values():
                o.step()
            with torch.no_grad():
                for m in MODS:
                    mu = m_teacher[m]
                    for p, q in zip(students[m].parameters(), teachers[m].parameters()):
                        q.copy_(mu * q + (1 - mu) * p)
                for m in MODS:
                    rec.logits[m][idx] = logits[m].detach().float().cpu()
                rec.add_loss({**ce, "c": lc}, len(idx))

    def _phase1_eval(self, students, teachers, recs: dict[str, _Record], m_label: dict) -> None:
        """valid / test: student eval-mode soft-label updates, teacher losses and predictions."""
        cfg, dev = self.cfg, self.device
        for mdl in students.values():
            mdl.eval()
        with torch.no_grad():
            for s in ("valid", "test"):
                for batch in self.loaders[s]:
                    b = _full_length(batch, self.splits[s], dev)
                    idx = b["index"]
                    xs = dict(zip(MODS, (b["text"], b["audio"], b["vision"])))
                    st = {m: students[m](xs[m], b["lengths"].get(m))[0] for m in MODS}
                    tout = {m: teachers[m](xs[m], b["lengths"].get(m)) for m in MODS}
                    hard = self._plgm_step(s, idx, st, m_label)
                    ce = {m: F.cross_entropy(tout[m][0], hard[m].to(dev)) for m in MODS}
                    h = torch.cat([tout[m][1] for m in MODS])
                    lc = supcon(h, binarise(torch.cat([hard[m] for m in MODS]), cfg.dataset).to(dev),
                                cfg.supcon_temperature)  # fmt: skip
                    for m in MODS:
                        recs[s].logits[m][idx] = tout[m][0].float().cpu()
                    recs[s].add_loss({**ce, "c": lc}, len(idx))

    def _phase1(self, w: RunWriter) -> dict[str, UnimodalModel]:
        cfg = self.cfg
        students, teachers, opts = self._phase1_models()
        best_loss = {m: float("inf") for m in MODS}
        best_state = {m: copy.deepcopy(teachers[m].state_dict()) for m in MODS}
        best_epoch = dict.fromkeys(MODS, 0)
        kept_soft = {s: {m: self.soft[s][m].clone() for m in MODS} for s in SPLITS}
        patience = cfg.patience
        for e in range(1, cfg.phase1_epochs + 1):
            t0 = time.perf_counter()
            self.epoch += 1
            m_label = {m: momentum_schedule(*cfg.momentum("label", m), e) for m in MODS}
            m_teacher = {m: momentum_schedule(*cfg.momentum("teacher", m), e) for m in MODS}
            recs = {s: _Record(len(self.splits[s]), MODS) for s in SPLITS}
            self._phase1_train(students, teachers, opts, recs["train"], m_label, m_teacher)
            self._phase1_eval(students, teachers, recs, m_label)
            # selection per modality on the teacher's valid CE, rounded as the reference
            v = recs["valid"].mean_loss()
            better = False
            for m in MODS:
                r = round(v[m], 4)
                if r < best_loss[m]:
                    better = True
                    best_loss[m], best_epoch[m] = r, e
                    best_state[m] = copy.deepcopy(teachers[m].state_dict())
            if better:
                patience = cfg.patience
                kept_soft = {s: {m: self.soft[s][m].clone() for m in MODS} for s in SPLITS}
            else:
                patience -= 1
            self._write(w, recs, self._metrics_rows(recs, 1, e, t0), None, gates=False)
            self.epoch_seconds.append(time.perf_counter() - t0)
            changed = " ".join(f"{m} {float((self.soft['train'][m].argmax(-1) != self.y_cls['train']).float().mean()):.3f}" for m in MODS)  # fmt: skip
            self.log(f"phase 1 epoch {e:3d} | valid CE T {v['T']:.4f} A {v['A']:.4f} V {v['V']:.4f}"
                     f"{' *' if better else '  '} | train classes != M: {changed} | {self.epoch_seconds[-1]:.1f}s")  # fmt: skip
            if patience <= 0:
                break
        for m in MODS:
            teachers[m].load_state_dict(best_state[m])
        self.soft = kept_soft  # phase 2 trains on the soft labels of the last improving epoch
        self.alpha = {s: {m: torch.full((len(self.splits[s]),), float("nan")) for m in MODS} for s in SPLITS}
        self.phase1_info = {"epochs": e, "best_epoch": best_epoch, "best_valid_ce": best_loss}
        return teachers

    # -- phase 2 ---------------------------------------------------------------------------------------------

    def _phase2_pass(self, model: CMCModel, split: str, train: bool, opt=None) -> _Record:
        cfg, dev = self.cfg, self.device
        rec = _Record(len(self.splits[split]), ("M", *MODS))
        hard_all = {m: torch.argmax(self.soft[split][m], dim=-1) for m in MODS}  # frozen
        model.train(train)
        with torch.set_grad_enabled(train):
            for batch in self.loaders[split]:
                b = _full_length(batch, self.splits[split], dev)
                idx = b["index"]
                out = model(b["text"], b["audio"], b["vision"], b["lengths"])
                hard = {m: hard_all[m][idx].to(dev) for m in MODS}
                parts = {"M": F.cross_entropy(out.pred, self.y_cls[split][idx].to(dev))}
                parts.update({m: F.cross_entropy(out.experts[m], hard[m]) for m in MODS})
                h = torch.cat([out.h[m] for m in MODS])
                parts["c"] = supcon(h, binarise(torch.cat([hard[m] for m in MODS]), cfg.dataset),
                                    cfg.supcon_temperature)  # fmt: skip
                if train:
                    opt.zero_grad()
                    sum(parts.values()).backward()
                    opt.step()
                rec.logits["M"][idx] = out.pred.detach().float().cpu()
                for m in MODS:
                    rec.logits[m][idx] = out.experts[m].detach().float().cpu()
                rec.gates[idx] = out.gates.detach().float().cpu()
                rec.add_loss({k: v.detach() for k, v in parts.items()}, len(idx))
        return rec

    def _phase2(self, w: RunWriter, teachers: dict[str, UnimodalModel]) -> tuple[CMCModel, dict]:
        cfg = self.cfg
        model = CMCModel(cfg, self.data.feature_dims, self.text_model_path)
        model.load_unimodal(teachers)
        model.enc["T"].finetune = cfg.finetune_bert_phase2
        model.to(self.device)
        opt = torch.optim.Adam(_bert_groups(model.named_parameters(), cfg))
        best, best_state, best_loss, patience = None, None, float("inf"), cfg.patience
        for e in range(1, cfg.phase2_epochs + 1):
            t0 = time.perf_counter()
            self.epoch += 1
            recs = {"train": self._phase2_pass(model, "train", True, opt)}
            for s in ("valid", "test"):
                recs[s] = self._phase2_pass(model, s, False)
            v = sum(recs["valid"].mean_loss().values())
            if cfg.phase2_select == "last":
                improved = True  # the reference compares with a best loss it never updates
            else:
                improved = v < best_loss
            if improved:
                best_loss, patience = min(best_loss, v), cfg.patience
                best_state = copy.deepcopy(model.state_dict())
            else:
                patience -= 1
            rows = self._metrics_rows(recs, 2, e, t0)
            if improved:
                vm = next(r for r in rows if r["split"] == "valid")
                best = {"epoch": self.epoch, "valid_loss": v,
                        "valid_metrics": {k[7:]: vm[k] for k in vm if k.startswith("pred_M/")}}  # fmt: skip
            self._write(w, recs, rows, best, gates=True)
            self.epoch_seconds.append(time.perf_counter() - t0)
            self.log(f"phase 2 epoch {e:3d} | valid loss {v:.4f}{' *' if improved else '  '} | "
                     f"valid Has0_acc_2 {rows[1]['pred_M/Has0_acc_2']:.4f} | {self.epoch_seconds[-1]:.1f}s")  # fmt: skip
            if cfg.phase2_select == "valid_loss" and patience <= 0:
                break
        model.load_state_dict(best_state)
        return model, best

    def fit(self) -> dict:
        w = self._start_writer()
        with w.finishing():
            w.write_epoch(0, labels=self._labels_frame(), predictions=None, centers=None, representations=None,
                          metrics=[], labels_extra=self._extra_frame(None))  # fmt: skip
            w.commit_epoch(0)
            teachers = self._phase1(w)
            model, best = self._phase2(w, teachers)
            rec = self._phase2_pass(model, "test", False)
            test = {"loss": float(sum(rec.mean_loss().values()))}
            test.update(classification_metrics(self.cfg.dataset, rec.logits["M"].numpy(), self.y_cls["test"].numpy(),
                                               self.cfg.fix_non0_metrics))  # fmt: skip
            from selfmm.checkpoint import save_module

            wdir = self.out_dir / "weights" / "best"
            wdir.mkdir(parents=True, exist_ok=True)
            save_module(model, wdir / "model.safetensors")
            w.update_manifest(
                cmc={"phase1": self.phase1_info, "epoch_seconds": [round(s, 3) for s in self.epoch_seconds]}
            )
            w.finish("finished", test=test, best=best)
        return {"run_dir": str(self.out_dir), "best": best, "test": test, "epochs": self.epoch}


def fit_cmc(cfg: CMCConfig, data_path, out_dir, text_model_path=None, verbose=True, experiment=None) -> dict:
    """Train CMC (phase 1 then phase 2) on an MMSA pickle into the new run folder ``out_dir``; ``experiment``
    ({name, variant, seed}) is stored in run.json."""
    return CMCTrainer(cfg, data_path, out_dir, text_model_path, verbose, experiment).fit()


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm cmc --data PATH.pkl --preset sims --out checkpoints/NAME [--set k=v ...]``."""
    p = argparse.ArgumentParser(prog="python -m selfmm cmc", description="train CMC (both phases) into a run folder")
    p.add_argument("--data", required=True, help="MMSA feature pickle (*.pkl)")
    p.add_argument("--preset", default="sims", help="sims | simsv2 | mosi | mosei | tiny (default sims)")
    p.add_argument("--out", required=True, help="new run folder")
    p.add_argument("--text-model", default=None, help="hub id, local BERT folder, or 'tiny'")
    add_overrides(p, "CMC config overrides, type-checked")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch lines")
    args = p.parse_args(argv)

    def body() -> None:
        if args.threads is not None:
            torch.set_num_threads(max(1, args.threads))
        cfg = apply_overrides(preset(args.preset), list(args.set))
        res = fit_cmc(cfg, args.data, args.out, args.text_model, verbose=not args.quiet)
        print(f"test ({res['run_dir']}): " + ", ".join(f"{k} {v:.4f}" for k, v in res["test"].items()))

    return run_command(body, f"interrupted: {args.out} is marked interrupted; train again into a new --out")


__all__ = ["CMCTrainer", "fit_cmc", "main"]

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
