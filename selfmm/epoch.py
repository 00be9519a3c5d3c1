"""One training epoch and one evaluation pass (MMSA 2.2.1 ``trains/multiTask/SELF_MM.py`` ``do_train``): :func:`train_epoch`, :func:`evaluate`.

One epoch, in the reference order::

    for each batch (shuffled by a torch.Generator seeded from cfg.seed):
        zero_grad() at the first batch of each group of `update_epochs` batches
        forward; loss with the generator's PRE-update targets/weights (selfmm.losses); backward (summed losses)
        generator update (ULGM: new labels (epoch > 1), store features, recompute centres)
        optimizer.step() after every `update_epochs`-th batch
    drop_tail_batches=True (reference): the last n_batches % update_epochs batches are never applied;
    False: they are applied at the end of the epoch.

:func:`selfmm.train.fit` calls both once per epoch; what they return (:class:`EpochRecord`, :class:`EvalRecord`,
per sample in index order) becomes the epoch's tables and metric rows in :mod:`selfmm.rows`.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from selfmm.config import MODALITIES, UNIMODAL, SelfMMConfig
from selfmm.data import BatchLoader
from selfmm.labels import LabelGenerator
from selfmm.losses import selfmm_loss
from selfmm.model import SelfMM, SelfMMOutput

# Test hook: "E:B" SIGKILLs this process at epoch E before batch B (B="save": after weights/last, before commit).
_KILL_ENV = "SELFMM_DEBUG_SIGKILL_AT"


def maybe_kill(epoch: int, where) -> None:
    """SIGKILL this process when ``SELFMM_DEBUG_SIGKILL_AT`` is ``f"{epoch}:{where}"`` (the kill/resume tests)."""
    spec = os.environ.get(_KILL_ENV)
    if spec and spec == f"{epoch}:{where}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class PhaseTimer:
    """Accumulated seconds per phase: in the training loop data, forward, backward, labels (the generator's
    update), optimizer, recording (per-sample buffers); per epoch eval, metrics, files (run-folder writes),
    checkpoint (weights + commit).
    CUDA is synchronised at each lap when enabled, so phases are not blurred by asynchronous kernels."""

    enabled: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seconds: dict = field(default_factory=dict)
    _t: float = 0.0

    def start(self) -> None:
        if self.enabled:
            self._sync()
            self._t = time.perf_counter()

    def lap(self, phase: str) -> None:
        if self.enabled:
            self._sync()
            now = time.perf_counter()
            self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._t
            self._t = now

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _autocast(cfg: SelfMMConfig, device: torch.device):
    """The forward's autocast context: bfloat16 when ``cfg.amp == "bf16"``, else a no-op (full float32)."""
    if cfg.amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _forward(model: SelfMM, batch: dict, cfg: SelfMMConfig, device: torch.device) -> SelfMMOutput:
    """The model on a batch; under ``amp=bf16`` the outputs are cast back to float32, so the loss, the label
    generator and the recorded predictions stay in float32."""
    with _autocast(cfg, device):
        out = model(batch["text"], batch["audio"], batch["audio_lengths"], batch["vision"], batch["vision_lengths"])
    if cfg.amp == "none":
        return out
    return SelfMMOutput(*({m: t.float() for m, t in d.items()} for d in (out.pred, out.feat, out.enc)))


def _to(batch: dict, device: torch.device) -> dict:
    # lengths stay on the CPU: pack_padded_sequence needs CPU lengths
    return {k: (v if k.endswith("_lengths") else v.to(device, non_blocking=True)) for k, v in batch.items()}


@dataclass
class EpochRecord:
    """What one training epoch saw, per train sample (rows in dataset index order)."""

    loss: float  # mean total loss per batch
    parts: dict[str, float]  # mean loss_M/T/A/V per batch
    pred: dict[str, np.ndarray]  # "M","T","A","V" -> (N,) training-forward predictions
    target: dict[str, np.ndarray]  # "T","A","V" -> (N,) labels the loss used (pre-update)
    weight: dict[str, np.ndarray]  # "T","A","V" -> (N,) weights the loss used
    enc: dict[str, np.ndarray]  # "T","A","V" -> (N, d) encoder outputs from the training forward
    feat: dict[str, np.ndarray]  # "M","T","A","V" -> (N, d) head features F* from the training forward
    n_batches: int
    n_steps: int  # optimizer.step() calls


def train_epoch(
    model: SelfMM,
    labels: LabelGenerator,
    optimizer: torch.optim.Optimizer,
    loader: BatchLoader,
    cfg: SelfMMConfig,
    epoch: int,
    device: torch.device,
    timer: PhaseTimer | None = None,
    progress=None,
) -> EpochRecord:
    """One training epoch in the reference order (module docstring). ``progress``: a tqdm bar or None."""
    timer = timer or PhaseTimer()
    model.train()
    n = loader.n
    U = cfg.update_epochs
    pred_buf = torch.zeros(len(MODALITIES), n, device=device)
    tgt_buf = torch.zeros(len(UNIMODAL), n, device=device)
    w_buf = torch.zeros(len(UNIMODAL), n, device=device)
    enc_buf: dict[str, torch.Tensor] = {}
    feat_buf: dict[str, torch.Tensor] = {}
    loss_sum = torch.zeros((), device=device)
    part_sum = torch.zeros(len(MODALITIES), device=device)
    n_batches = len(loader)
    n_steps = 0
    timer.start()
    for b, batch in enumerate(loader):
        maybe_kill(epoch, b)
        batch = _to(batch, device)
        idx = batch["index"]
        if b % U == 0:
            optimizer.zero_grad()
        timer.lap("data")
        out = _forward(model, batch, cfg, device)
        unimodal, weights = labels.targets(idx)  # pre-update labels and weights
        targets = {"M": batch["y_m"], **unimodal}
        loss, parts = selfmm_loss(out.pred, targets, weights, cfg.tasks)
        timer.lap("forward")
        loss.backward()
        timer.lap("backward")
        labels.update(idx, out.feat, {m: p.detach().reshape(-1) for m, p in out.pred.items()}, epoch)
        timer.lap("labels")
        if (b + 1) % U == 0:
            optimizer.step()
            n_steps += 1
            timer.lap("optimizer")
        with torch.no_grad():
            for i, m in enumerate(MODALITIES):
                pred_buf[i, idx] = out.pred[m].detach()
                f = out.feat[m].detach()
                feat_buf.setdefault(m, torch.zeros(n, f.shape[1], device=device))[idx] = f
            for i, m in enumerate(UNIMODAL):
                tgt_buf[i, idx] = targets[m]
                w_buf[i, idx] = weights[m]
                e = out.enc[m].detach()
                if m not in enc_buf:
                    enc_buf[m] = torch.zeros(n, e.shape[1], device=device)
                enc_buf[m][idx] = e
            loss_sum += loss.detach()
            part_sum += torch.stack([parts[m].detach() for m in MODALITIES])
        timer.lap("recording")
        if progress is not None:
            progress.update(1)
    if not cfg.drop_tail_batches and n_batches % U:
        optimizer.step()  # apply the tail group's summed gradients (deviation from the reference, opt-in)
        n_steps += 1
        timer.lap("optimizer")
    parts_mean = (part_sum / n_batches).cpu().numpy()
    rec = EpochRecord(
        loss=float(loss_sum / n_batches),
        parts={m: float(parts_mean[i]) for i, m in enumerate(MODALITIES)},
        pred={m: pred_buf[i].cpu().numpy() for i, m in enumerate(MODALITIES)},
        target={m: tgt_buf[i].cpu().numpy() for i, m in enumerate(UNIMODAL)},
        weight={m: w_buf[i].cpu().numpy() for i, m in enumerate(UNIMODAL)},
        enc={m: t.cpu().numpy() for m, t in enc_buf.items()},
        feat={m: t.cpu().numpy() for m, t in feat_buf.items()},
        n_batches=n_batches,
        n_steps=n_steps,
    )
    timer.lap("recording")
    return rec


@dataclass
class EvalRecord:
    """What one evaluation pass saw, per sample of the split (rows in index order)."""

    loss: float  # mean over batches of the batch-mean |ŷ_m − y_m| (the selection criterion)
    pred: dict[str, np.ndarray]  # "M","T","A","V" -> (N,)
    feat: dict[str, np.ndarray]  # "M","T","A","V" -> (N, d)
    enc: dict[str, np.ndarray]  # "T","A","V" -> (N, d)


@torch.no_grad()
def evaluate(model: SelfMM, loader: BatchLoader, device: torch.device, cfg: SelfMMConfig | None = None) -> EvalRecord:
    """Eval-mode pass over a split in index order (no shuffle); ``cfg`` (optional) for its ``amp`` setting."""
    model.eval()
    n = loader.n
    preds = {m: torch.zeros(n, device=device) for m in MODALITIES}
    feat: dict[str, torch.Tensor] = {}
    enc: dict[str, torch.Tensor] = {}
    losses = []
    for batch in loader:
        batch = _to(batch, device)
        idx = batch["index"]
        out = _forward(model, batch, cfg or model.cfg, device)
        losses.append(torch.mean(torch.abs(out.pred["M"] - batch["y_m"])))
        for m in MODALITIES:
            preds[m][idx] = out.pred[m]
            feat.setdefault(m, torch.zeros(n, out.feat[m].shape[1], device=device))[idx] = out.feat[m]
        for m in UNIMODAL:
            enc.setdefault(m, torch.zeros(n, out.enc[m].shape[1], device=device))[idx] = out.enc[m]
    return EvalRecord(
        # a Python (double) sum of per-batch float32 means, as the reference's `eval_loss += loss.item()`
        loss=sum(x.item() for x in losses) / len(losses),
        pred={m: t.cpu().numpy() for m, t in preds.items()},
        feat={m: t.cpu().numpy() for m, t in feat.items()},
        enc={m: t.cpu().numpy() for m, t in enc.items()},
    )


__all__ = ["EpochRecord", "EvalRecord", "PhaseTimer", "evaluate", "train_epoch"]
