"""Self-MM training loop (reference §4.1), resumable and recorded epoch by epoch into a run folder.

``fit(cfg, data_path, out_dir)`` trains until early stopping on the validation loss, reloads the best weights,
tests them and returns the final metrics. Every epoch it records (via :class:`selfmm.runs.writer.RunWriter`) the
epoch-end unimodal labels of every training sample, the loss weights each sample's batch used, the head
predictions on train (from the training forward pass), valid and test, the ULGM centres (ulgm only), a label
generator's extra table, the metrics and, per ``cfg.record_representations``, the head features F* and encoder
outputs. The unimodal targets come from the label generator ``cfg.label_source`` selects (:mod:`selfmm.labels`).

One epoch, in the reference order::

    for each batch (shuffled by a torch.Generator seeded from cfg.seed):
        zero_grad() at the first batch of each group of `update_epochs` batches
        forward; loss with the generator's PRE-update targets/weights (selfmm.losses); backward (summed losses)
        generator update (ULGM: new labels (epoch > 1), store features, recompute centres)
        optimizer.step() after every `update_epochs`-th batch
    drop_tail_batches=True (reference): the last n_batches % update_epochs batches are never applied;
    False: they are applied at the end of the epoch.

Resume: ``weights/last/`` holds the model, the label generator's buffers, optimizer, every RNG state (torch, numpy,
python, the shuffle generator) and the loop counters after the last committed epoch, so a resumed run continues bit-identically.
``weights/last`` and ``weights/best`` are replaced as whole directories (``last.new`` -> ``last``, the previous one
kept as ``last.prev`` until the epoch is committed in run.json; the same for ``best``), and their safetensors are
stamped with their epoch, so a kill at any moment leaves states matching ``epochs_completed`` and ``best.epoch``
(:mod:`selfmm.runs.weights`; checkpoints/README.md, "Commit protocol").

CLI: ``python -m selfmm train ...`` (:func:`main`); ``python -m selfmm seeds`` lives in :mod:`selfmm.experiment`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from selfmm.cli import run_command
from selfmm.config import MODALITIES, SPLITS, UNIMODAL, ConfigError, SelfMMConfig, apply_overrides, preset
from selfmm.data import BatchLoader, DataError, MMSAData, check_token_ids, load_mmsa
from selfmm.labels import LabelGenerator, build_generator
from selfmm.losses import selfmm_loss
from selfmm.metrics import regression_metrics
from selfmm.model import SelfMM, SelfMMOutput, build_optimizer
from selfmm.runs import layout
from selfmm.runs.io import file_sha256, write_json_atomic
from selfmm.runs.provenance import env_info
from selfmm.runs.reader import RunError, RunReader
from selfmm.runs.weights import WeightSlot, check_stamp, stamp_metadata, stamp_of
from selfmm.runs.writer import RunWriter

BEST_EPS = 1e-6  # a new best needs val_loss <= best - 1e-6 (reference)
# MMSA 2.2.1 rounds the validation loss to 4 decimals (`eval_results['Loss'] = round(eval_loss, 4)`) before the
# comparison above, so improvements below ~1e-4 do not count: selection uses the same rounded value.
SELECTION_DECIMALS = 4
# Test hook: "E:B" SIGKILLs this process at epoch E before batch B (B="save": after weights/last, before commit).
_KILL_ENV = "SELFMM_DEBUG_SIGKILL_AT"


# --------------------------------------------------------------------------------------------------------------
# seeds, devices, small helpers


def set_seed(seed: int) -> None:
    """torch / numpy / random seeds and deterministic cuDNN (reference §4.2)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global RNG is what libraries draw from (reference §4.2)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    """``cuda``/``cuda:N`` when available, else CPU (with a warning when CUDA was asked for)."""
    if name.startswith("cuda"):
        if torch.cuda.is_available():
            return torch.device(name)
        warnings.warn(f"device={name!r} asked for but CUDA is not available: training on the CPU", stacklevel=2)
        return torch.device("cpu")
    if name != "cpu":
        raise ConfigError(f"device={name!r}: expected cpu, cuda or cuda:N")
    return torch.device("cpu")


def _rng_state(gen: torch.Generator) -> dict:
    """Every RNG state as tensors/ints, loadable with ``torch.load(weights_only=True)``."""
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "shuffle": gen.get_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "python_version": int(py_state[0]),
        "python_state": torch.tensor(py_state[1], dtype=torch.int64),
        "python_gauss": py_state[2],
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _set_rng_state(state: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["shuffle"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np_state = ("MT19937", keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"])
    np.random.set_state(np_state)  # noqa: NPY002
    random.setstate(
        (state["python_version"], tuple(int(x) for x in state["python_state"].tolist()), state["python_gauss"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_module(module: torch.nn.Module, path: Path, epoch: int | None = None) -> None:
    """safetensors, atomically (``*.tmp`` then ``os.replace``); ``save_model`` handles shared tensors.
    ``epoch`` is stamped into the file's metadata (:func:`selfmm.runs.weights.stamp_of` reads it back)."""
    from safetensors.torch import save_model

    tmp = path.with_name(path.name + layout.TMP_SUFFIX)
    save_model(module, str(tmp), metadata=None if epoch is None else stamp_metadata(epoch))
    os.replace(tmp, path)


def _load_module(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_model

    missing, unexpected = load_model(module, str(path), strict=True)
    if missing or unexpected:  # pragma: no cover - strict=True raises first
        raise RunError(f"{path}: missing {missing} / unexpected {unexpected}; the weights do not match")


def _torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + layout.TMP_SUFFIX)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _maybe_kill(epoch: int, where) -> None:
    spec = os.environ.get(_KILL_ENV)
    if spec and spec == f"{epoch}:{where}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _rep_policy(cfg: SelfMMConfig, epoch: int) -> bool:
    """True when this epoch's representations are kept for good (first_last keeps the last one separately)."""
    rr = cfg.record_representations
    if rr == "all":
        return True
    if rr == "none":
        return False
    if rr == "first_last":
        return epoch == 1
    return epoch % int(rr[6:]) == 0 or epoch == 1


# --------------------------------------------------------------------------------------------------------------
# epoch functions


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
        _maybe_kill(epoch, b)
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


# --------------------------------------------------------------------------------------------------------------
# metrics rows


def _block(dataset: str, what: str, pred: np.ndarray, true: np.ndarray) -> dict:
    with warnings.catch_warnings():  # constant predictions (early epochs) make Corr NaN; that is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return {f"{what}/{k}": float(v) for k, v in regression_metrics(dataset, pred, true).items()}


def split_metrics(dataset: str, split, pred: dict[str, np.ndarray], gen: dict | None = None) -> dict:
    """The ``<what>/<metric>`` keys of the contract for one split (``gen``: train targets and epoch-end labels)."""
    row = _block(dataset, "pred_M", pred["M"], split.y_m)
    for m in UNIMODAL:
        if split.y_human:
            row.update(_block(dataset, f"pred_{m}", pred[m], split.y_human[m]))
        row.update(_block(dataset, f"pred_{m}_vs_ym", pred[m], split.y_m))
        if gen is not None:
            row.update(_block(dataset, f"pred_{m}_vs_gen", pred[m], gen["target"][m]))
            if split.y_human:
                row.update(_block(dataset, f"gen_{m}", gen["labels"][m], split.y_human[m]))
    return row


# --------------------------------------------------------------------------------------------------------------
# the run


def _samples_frame(data: MMSAData) -> pd.DataFrame:
    parts = []
    for s, sp in data.splits.items():
        d = {
            "sample_id": sp.ids.astype(str),
            "split": s,
            "index": np.arange(len(sp), dtype=np.int32),
            "raw_text": np.asarray(sp.raw_text, dtype=object),
            "y_m": sp.y_m,
        }
        if data.has_human_unimodal:
            d.update({f"y_{m}": sp.y_human[m] for m in UNIMODAL})
        parts.append(pd.DataFrame(d))
    return pd.concat(parts, ignore_index=True)


def _labels_frame(split, epoch: int, labels: dict, weights: dict | None) -> pd.DataFrame:
    n = len(split)
    d = {"epoch": epoch, "sample_id": split.ids.astype(str), "index": np.arange(n, dtype=np.int32)}
    for m in UNIMODAL:
        d[f"label_{m}"] = labels[m]
        d[f"weight_{m}"] = weights[m] if weights is not None else np.zeros(n, dtype=np.float32)
    return pd.DataFrame(d)


def _pred_frame(split, name: str, pred: dict) -> pd.DataFrame:
    d = {"split": name, "sample_id": split.ids.astype(str), "index": np.arange(len(split), dtype=np.int32)}
    d.update({f"pred_{m}": pred[m] for m in MODALITIES})
    return pd.DataFrame(d)


def _dataset_info(data: MMSAData, path: Path) -> dict:
    return {"path": str(path.resolve()), "sha256": file_sha256(path), "size_bytes": path.stat().st_size}


def _generator_for(cfg: SelfMMConfig, data: MMSAData, model: SelfMM, device: torch.device) -> LabelGenerator:
    train = data.splits["train"]
    human = {m: torch.from_numpy(train.y_human[m]) for m in UNIMODAL} if train.y_human else None
    return build_generator(cfg, len(train), torch.from_numpy(train.y_m), human, model.feat_dims).to(device)


def _generator_file(labels: LabelGenerator) -> str:
    """weights/{last,best}/<label_source>.safetensors: the generator's buffers (ulgm.safetensors for ulgm)."""
    return layout.LABEL_STATE_FILE.format(label_source=labels.name)


def _check_data(cfg: SelfMMConfig, data: MMSAData, model: SelfMM, path: Path) -> None:
    if cfg.label_source == "human" and not data.has_human_unimodal:
        raise DataError(
            f"{path}: label_source=human needs the human unimodal labels regression_labels_T/A/V in every split "
            "(SIMS / SIMS v2 files have them); use label_source=ulgm or multimodal for this dataset"
        )
    if cfg.text_mode == "bert":  # a DataError (one line, exit 2), not an IndexError inside the embedding
        check_token_ids(data, model.text_vocab_size)


class _LastState:
    """weights/last: staged as weights/last.new, swapped in, the previous kept as last.prev until the commit."""

    def __init__(self, run_dir: Path):
        self.slot = WeightSlot(run_dir, layout.LAST_DIR)
        self.last = self.slot.current

    def save(self, model, labels, optimizer, gen, state: dict) -> None:
        new = self.slot.stage()
        _save_module(model, new / layout.MODEL_FILE, state["epoch"])
        _save_module(labels, new / _generator_file(labels), state["epoch"])
        _torch_save(optimizer.state_dict(), new / layout.OPTIMIZER_FILE)
        _torch_save(_rng_state(gen), new / layout.RNG_FILE)
        write_json_atomic(new / layout.STATE_FILE, state)
        self.slot.swap()

    def committed(self) -> None:
        self.slot.settle()

    def find(self, epoch: int) -> Path | None:
        """Make the folder whose state.json says ``epoch`` (last, else last.prev) weights/last; None if neither."""

        def holds(d: Path) -> bool:
            try:  # unreadable or damaged: not the committed state (neither holding it is a RunError)
                return _read_state(d / layout.STATE_FILE)["epoch"] == epoch
            except (OSError, ValueError):
                return False

        return self.slot.recover(holds)


def _save_best(slot: WeightSlot, model, labels, epoch: int) -> None:
    """Stage weights/best.new for ``epoch``; the caller swaps it in with weights/last, before the commit."""
    new = slot.stage()
    _save_module(model, new / layout.MODEL_FILE, epoch)
    _save_module(labels, new / _generator_file(labels), epoch)


def _recover_best(slot: WeightSlot, best_epoch: int, out_dir: Path) -> None:
    """On resume: weights/best must hold the committed best epoch (a killed epoch may have swapped in its own)."""
    if best_epoch <= 0:
        slot.clear()
        return

    def holds(d: Path) -> bool:
        stamp = stamp_of(d / layout.MODEL_FILE)
        return stamp == best_epoch or (stamp is None and d == slot.current)  # unstamped: written before stamps

    if slot.recover(holds) is None:
        raise RunError(
            f"{slot.current}: no weights of the best epoch {best_epoch} (run.json); the folder is damaged: start a "
            "new run folder"
        )


def _read_state(path: Path) -> dict:
    """weights/last/state.json; ValueError unless it has the keys and types ``fit`` reads from it."""
    state = json.loads(path.read_text())
    ints = ("epoch", "best_epoch", "n_steps")
    if (
        not isinstance(state, dict)
        or any(type(state.get(k)) is not int for k in ints)
        or type(state.get("best_valid_loss")) not in (int, float)
        or "best_valid_metrics" not in state
    ):
        raise ValueError("not a selfmm training state (int epoch, best_epoch, n_steps; number best_valid_loss)")
    return state


def _restore_last(src: Path, model, labels, optimizer, gen, device) -> dict:
    """Load weights/last into the live objects; a file that cannot be loaded is a one-line RunError naming it."""
    path = src / layout.MODEL_FILE
    try:
        _load_module(model, path)
        path = src / _generator_file(labels)
        _load_module(labels, path)
        path = src / layout.OPTIMIZER_FILE
        optimizer.load_state_dict(torch.load(path, weights_only=True, map_location=device))
        path = src / layout.RNG_FILE
        _set_rng_state(torch.load(path, weights_only=True), gen)
        path = src / layout.STATE_FILE
        return _read_state(path)
    except Exception as err:  # noqa: BLE001 - any failure here means the checkpoint file is unusable
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise RunError(
            f"{path}: cannot be loaded ({type(err).__name__}: {first}); it is damaged or was not written by "
            "selfmm: start a new run folder"
        ) from None


def train_header(cfg: SelfMMConfig, data: MMSAData, data_path: Path, out_dir: Path, device: torch.device,
                 resume_after: int = 0) -> str:  # fmt: skip
    """The lines ``train`` prints before its first epoch: run folder, data and split sizes, device, torch threads,
    epoch limit and the speed switches (docs/speed.md)."""
    n = " / ".join(f"{s} {len(data.splits[s])}" for s in SPLITS)
    limit = f"max epochs {cfg.max_epochs}" if cfg.max_epochs else "no max epochs"
    start = f"resuming after epoch {resume_after}" if resume_after else "new run"
    return (
        f"train: {out_dir} ({start})\n"
        f"  data {data_path} ({cfg.dataset}): {n} samples\n"
        f"  device {device}, {torch.get_num_threads()} torch thread(s) (--threads), {limit}, early stop after "
        f"{cfg.early_stop} epochs without a better valid loss; lstm_backward={cfg.lstm_backward} amp={cfg.amp}"
    )


def _print_table(title: str, metrics: dict) -> None:
    keys = list(metrics)
    w = max(len(k) for k in keys)
    print(f"\n{title}")
    print(f"  {'metric':<{w}}  value")
    for k in keys:
        v = metrics[k]
        print(f"  {k:<{w}}  {v:.4f}" if isinstance(v, float) else f"  {k:<{w}}  {v}")


def fit(
    cfg: SelfMMConfig,
    data_path,
    out_dir,
    resume: bool = False,
    text_model_path: str | None = None,
    experiment: dict | None = None,
    *,
    verbose: bool = True,
    timer: PhaseTimer | None = None,
    on_epoch=None,
) -> dict:
    """Train Self-MM on an MMSA pickle into the run folder ``out_dir`` and test the best epoch.

    Args:
        cfg: the resolved configuration (saved into run.json).
        data_path: the MMSA ``*.pkl``.
        out_dir: the run folder; must not hold a run unless ``resume``.
        resume: continue the run in ``out_dir`` after its last committed epoch (a fresh start when the folder
            holds no run; an immediate return of the stored result when it is finished).
        text_model_path: overrides ``cfg.text_model`` (hub id, local folder or "tiny").
        experiment: ``{name, variant, seed}`` stored in run.json.
        verbose: tqdm bar, per-epoch summary line and the final table on stdout.
        timer: a :class:`PhaseTimer` to accumulate per-phase seconds (benchmarks).
        on_epoch: ``on_epoch(epoch, {"valid_loss", "best_valid_loss", "best_epoch", "train_loss"})`` after each
            committed epoch (a sweep reports it to Ray Tune / its scheduler); not called for epochs done before a
            resume.

    Returns:
        ``{"run_dir", "status", "epochs", "best": {epoch, valid_loss, valid_metrics}, "test": {metric: value}}``.
    """
    data_path, out_dir = Path(data_path), Path(out_dir)
    log = print if verbose else (lambda *a, **k: None)
    resuming = resume and (out_dir / layout.RUN_JSON).is_file()
    if resuming:
        m = RunReader(out_dir).manifest
        _check_resume_config(out_dir, m.get("config") or {}, cfg)
        done, best_epoch = int(m.get("epochs_completed") or 0), int((m.get("best") or {}).get("epoch") or 0)
        # a finished run continues only when the new settings would not have stopped it (a larger max_epochs)
        stopped = (cfg.max_epochs and done >= cfg.max_epochs) or (done > 0 and done - best_epoch >= cfg.early_stop)
        if m.get("status") == "finished" and stopped:
            log(f"{out_dir}: already finished; nothing to resume")
            return {"run_dir": str(out_dir), "status": "finished", "epochs": done, "best": m.get("best"),
                    "test": m.get("test")}  # fmt: skip
    elif (out_dir / layout.RUN_JSON).exists():
        raise RunError(
            f"{out_dir / layout.RUN_JSON}: this folder already holds a run; pass --resume to continue it or choose "
            "a new --out folder"
        )

    set_seed(cfg.seed)
    device = resolve_device(cfg.device)
    data = load_mmsa(data_path, dataset=cfg.dataset, text_mode=cfg.text_mode)
    model = SelfMM(cfg, data.feature_dims, text_model_path).to(device)
    _check_data(cfg, data, model, data_path)
    labels = _generator_for(cfg, data, model, device)
    optimizer = build_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    train, valid, test = (data.splits[s] for s in SPLITS)
    loaders = {
        "train": BatchLoader(train, cfg.batch_size, True, gen, cfg.text_mode),
        "valid": BatchLoader(valid, cfg.batch_size, False, None, cfg.text_mode),
        "test": BatchLoader(test, cfg.batch_size, False, None, cfg.text_mode),
    }
    last = _LastState(out_dir)
    best_slot = WeightSlot(out_dir, layout.BEST_DIR)
    best_dir = best_slot.current

    if resuming:
        saved_sha = (m.get("dataset") or {}).get("sha256")
        if saved_sha and saved_sha != file_sha256(data_path):
            raise RunError(
                f"{out_dir}: resuming with {data_path}, whose sha256 differs from the data this run was trained on "
                f"({(m.get('dataset') or {}).get('path')}); pass the same --data or start a new run folder"
            )
        writer = RunWriter(out_dir, resume=True)
        writer.update_manifest(config=cfg.to_dict(), **({"experiment": experiment} if experiment else {}))
    else:
        writer = RunWriter(out_dir, resume=False)
        info = {**_dataset_info(data, data_path), **data.summary()}
        env = env_info(str(device))
        writer.start(config=cfg.to_dict(), dataset=info, samples=_samples_frame(data), env=env, experiment=experiment)

    state = {"epoch": 0, "best_epoch": 0, "best_valid_loss": math.inf, "best_valid_metrics": None, "n_steps": 0}
    done = writer.epochs_completed
    if done > 0:
        try:  # a damaged or hostile checkpoint: one-line error, and the run is marked failed, not "running"
            src = last.find(done)  # killed between the swap and the commit: the committed state is "last" again
            if src is None:
                raise RunError(
                    f"{out_dir}: run.json says {done} epochs are complete but weights/last holds no matching state; "
                    "the folder is damaged: start a new run"
                )
            state = _restore_last(src, model, labels, optimizer, gen, device)
            _recover_best(best_slot, int(state["best_epoch"]), out_dir)
        except RunError as err:
            writer.finish("failed", error=str(err))
            raise
        log(f"resuming {out_dir} after epoch {done}")
    elif not layout.epoch_path(out_dir, "labels", 0).exists():
        snap = labels.snapshot()
        writer.write_epoch(0, labels=_labels_frame(train, 0, snap.labels, None), predictions=None,
                           centers=None, representations=None, metrics=[], labels_extra=snap.extra)  # fmt: skip
        writer.commit_epoch(0)

    log(train_header(cfg, data, data_path, out_dir, device, done))
    best = None
    if state["best_epoch"] > 0:
        # the unrounded loss (run.json's best.valid_loss), so a resumed run's manifest equals an uninterrupted one's
        best = {"epoch": state["best_epoch"], "valid_loss": state.get("best_valid_loss_raw", state["best_valid_loss"]),
                "valid_loss_selection": state["best_valid_loss"], "valid_metrics": state["best_valid_metrics"]}  # fmt: skip
    with writer.finishing(traceback_limit=5):
        epoch = state["epoch"]
        while True:
            if cfg.max_epochs and epoch >= cfg.max_epochs:
                break
            if epoch > 0 and epoch - state["best_epoch"] >= cfg.early_stop:
                break
            epoch += 1
            t0 = time.perf_counter()
            bar = None
            if verbose:
                from tqdm import tqdm

                bar = tqdm(total=len(loaders["train"]), desc=f"epoch {epoch}", leave=False, file=sys.stderr)
            rec = train_epoch(model, labels, optimizer, loaders["train"], cfg, epoch, device, timer, bar)
            if bar is not None:
                bar.close()
            if timer is not None:
                timer.start()
            state["n_steps"] += rec.n_steps
            t_train = time.perf_counter() - t0
            snap = labels.snapshot()
            ev, ev_s = {}, {}  # time_s of a valid/test row: the seconds of that split's evaluation pass
            for s in ("valid", "test") if cfg.eval_test_every_epoch else ("valid",):
                t_eval = time.perf_counter()
                ev[s] = evaluate(model, loaders[s], device, cfg)
                ev_s[s] = time.perf_counter() - t_eval
            if timer is not None:
                timer.lap("eval")
            sel = round(ev["valid"].loss, SELECTION_DECIMALS)
            is_best = sel <= state["best_valid_loss"] - BEST_EPS
            gen_info = {"target": rec.target, "labels": snap.labels}
            train_row = {"split": "train", "time_s": t_train, "loss": rec.loss}
            train_row.update({f"loss_{m}": rec.parts[m] for m in MODALITIES})
            gaps = {m: float(np.mean(np.abs(snap.labels[m] - train.y_m))) for m in UNIMODAL}
            train_row.update({f"gap_{m}": gaps[m] for m in UNIMODAL})
            train_row["n_steps"] = rec.n_steps
            train_row.update(split_metrics(cfg.dataset, train, rec.pred, gen_info))
            rows = [train_row]
            for s, e in ev.items():
                rows.append({"split": s, "time_s": ev_s[s], "loss": e.loss,
                             **split_metrics(cfg.dataset, data.splits[s], e.pred)})  # fmt: skip
            if timer is not None:
                timer.lap("metrics")
            preds = [_pred_frame(train, "train", rec.pred)]
            preds += [_pred_frame(data.splits[s], s, e.pred) for s, e in ev.items()]
            reps = None
            if cfg.record_representations != "none":
                reps = {f"train/feat_{m}": rec.feat[m] for m in MODALITIES}
                reps.update({f"train/enc_{m}": rec.enc[m] for m in UNIMODAL})
                for s, e in ev.items():
                    reps.update({f"{s}/feat_{m}": e.feat[m] for m in MODALITIES})
                    reps.update({f"{s}/enc_{m}": e.enc[m] for m in UNIMODAL})
            writer.write_epoch(
                epoch,
                labels=_labels_frame(train, epoch, snap.labels, rec.weight),
                predictions=pd.concat(preds, ignore_index=True),
                centers=snap.centers,
                labels_extra=snap.extra,
                representations=reps,
                metrics=rows,
            )
            if timer is not None:
                timer.lap("files")
            if is_best:
                state.update(best_epoch=epoch, best_valid_loss=sel, best_valid_metrics=_valid_m(rows),
                             best_valid_loss_raw=ev["valid"].loss)  # fmt: skip
                best = {"epoch": epoch, "valid_loss": ev["valid"].loss, "valid_loss_selection": sel,
                        "valid_metrics": state["best_valid_metrics"]}  # fmt: skip
                _save_best(best_slot, model, labels, epoch)
            state["epoch"] = epoch
            last.save(model, labels, optimizer, gen, state)
            if is_best:
                best_slot.swap()
            _maybe_kill(epoch, "save")
            writer.commit_epoch(epoch, best=best, drop_representations=_provisional_reps(cfg, epoch))
            last.committed()
            best_slot.settle()
            if on_epoch is not None:
                on_epoch(epoch, {"valid_loss": ev["valid"].loss, "best_valid_loss": best["valid_loss"],
                                 "best_epoch": best["epoch"], "train_loss": rec.loss})  # fmt: skip
            if timer is not None:
                timer.lap("checkpoint")
            mark = " *" if is_best else ""
            gap = " ".join(f"{m} {gaps[m]:.3f}" for m in UNIMODAL)
            log(
                f"epoch {epoch:3d} | train loss {rec.loss:.4f} | valid MAE {ev['valid'].loss:.4f}{mark:2s} | "
                f"|y_s-y_m| {gap} | {time.perf_counter() - t0:.1f}s"
            )

        # reload the best weights and test them
        if best is None:
            raise RuntimeError("no epoch was trained (max_epochs reached before the first epoch?)")
        if stamp_of(best_dir / layout.MODEL_FILE) is not None:  # unstamped: best weights of an older selfmm
            check_stamp(best_dir / layout.MODEL_FILE, best["epoch"])
        _load_module(model, best_dir / layout.MODEL_FILE)
        ev_test = evaluate(model, loaders["test"], device, cfg)
        test_metrics = {"loss": ev_test.loss, **regression_metrics(cfg.dataset, ev_test.pred["M"], test.y_m)}
        test_metrics = {k: float(v) for k, v in test_metrics.items()}
        if cfg.projection != "none" and cfg.record_representations != "none":
            try:
                from selfmm.projection import compute_projections

                compute_projections(out_dir, method=cfg.projection)
            except Exception as err:  # a failed projection must not lose the trained run
                warnings.warn(f"{out_dir}: projection {cfg.projection!r} failed: {err}", stacklevel=2)
        writer.finish("finished", test=test_metrics, best=best)
        if verbose:
            _print_table(f"test metrics of the best epoch ({best['epoch']}, valid loss {best['valid_loss']:.4f})",
                         test_metrics)  # fmt: skip
        return {"run_dir": str(out_dir), "status": "finished", "epochs": state["epoch"], "best": best,
                "test": test_metrics}  # fmt: skip


# settings that may change on resume: they do not alter what the finished epochs computed
RESUMABLE_KEYS = ("max_epochs", "device", "projection", "eval_test_every_epoch", "early_stop")


def _check_resume_config(out_dir: Path, saved: dict, cfg: SelfMMConfig) -> None:
    from selfmm.config import config_changes  # through the dataclass: keys added since the run take defaults

    now = cfg.to_dict()
    try:  # a run.json edited by hand or written by a version that accepted more: one line, not a traceback
        if not isinstance(saved, dict):
            raise ConfigError(f"a {type(saved).__name__}, not a mapping")
        changed = config_changes(saved, cfg)
    except (ConfigError, TypeError) as err:  # TypeError: keys of mixed types cannot be sorted for the warning
        raise ConfigError(
            f"{out_dir / layout.RUN_JSON}: the run's saved config is invalid ({err}); it cannot be resumed: start a "
            "new run folder"
        ) from None
    bad = [k for k in changed if k not in RESUMABLE_KEYS]
    old = {k: saved[k] if k in saved else getattr(SelfMMConfig(), k) for k in bad}  # absent: the default applied
    if saved and bad:
        raise ConfigError(
            f"{out_dir}: resuming with a different configuration ({', '.join(f'{k}: {old[k]!r} -> {now.get(k)!r}' for k in bad)}); "
            "resume with the run's own settings (only "
            + ", ".join(RESUMABLE_KEYS)
            + " may change) or start a new run folder"
        )


def _valid_m(rows: list[dict]) -> dict:
    v = next(r for r in rows if r["split"] == "valid")
    return {k[len("pred_M/") :]: v[k] for k in v if k.startswith("pred_M/")}


def _provisional_reps(cfg: SelfMMConfig, epoch: int) -> tuple[int, ...]:
    """first_last / every:N: the previous epoch's representations were kept only in case it was the last one;
    committing ``epoch`` drops them (inside the commit's run.json write)."""
    prev = epoch - 1
    if prev < 1 or _rep_policy(cfg, prev) or cfg.record_representations in ("all", "none"):
        return ()
    return (prev,)


# --------------------------------------------------------------------------------------------------------------
# CLI


# benchmarks/threads.py, docs/measurements.md "Threads": 1 thread was fastest for the tiny and the BERT-base model
DEFAULT_THREADS = 1


def train_parser(prog: str) -> argparse.ArgumentParser:
    from selfmm.cli_help import config_keys_epilog

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0], epilog=config_keys_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--data", required=True, help="MMSA feature pickle (*.pkl), e.g. data/SIMS/unaligned_39.pkl")
    p.add_argument("--preset", default="sims", help="mosi | mosei | sims | simsv2 | tiny (default sims)")
    p.add_argument("--out", required=True, help="run folder (train) or parent folder (seeds)")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: the preset's, cpu)")
    p.add_argument("--text-model", default=None, help="hub id, local BERT folder, or 'tiny'")
    p.add_argument(
        "--set",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, type-checked (keys: below)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch CPU threads (default 1: measured fastest on a shared machine, where 2 threads ran "
                        "the tiny model 30x and a BERT-base 1.2x slower; docs/measurements.md). On a machine of "
                        "your own, try more for BERT-base. Keep it fixed across a resume for bit-identical "
                        "results")  # fmt: skip
    return p


def apply_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` when given (CLI ``--threads``, default :data:`DEFAULT_THREADS`)."""
    if n is not None:
        if n < 1:
            raise ConfigError(f"--threads {n}: must be >= 1")
        torch.set_num_threads(n)


def config_from_args(args) -> SelfMMConfig:
    cfg = apply_overrides(preset(args.preset), list(args.set))
    extra = {}
    if args.device is not None:
        extra["device"] = args.device
    if getattr(args, "seed", None) is not None:
        extra["seed"] = args.seed
    if args.text_model is not None:
        extra["text_model"] = args.text_model
    return apply_overrides(cfg, extra) if extra else cfg


def main(argv: list[str] | None = None) -> int:
    """``python -m selfmm train --data PATH.pkl --preset sims --out checkpoints/NAME [...]``."""
    p = train_parser("python -m selfmm train")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 1111)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    args = p.parse_args(argv)

    def body() -> None:
        apply_threads(args.threads)
        res = fit(config_from_args(args), args.data, args.out, resume=args.resume, verbose=not args.quiet)
        if args.quiet:  # the final table is the command's result: print it even when quiet
            best = res["best"] or {}
            _print_table(f"test metrics of the best epoch ({best.get('epoch')}, valid loss "
                         f"{best.get('valid_loss', float('nan')):.4f})", res["test"])  # fmt: skip

    return run_command(body, f"interrupted; continue with --resume --out {args.out}")


__all__ = [
    "EpochRecord",
    "EvalRecord",
    "PhaseTimer",
    "evaluate",
    "fit",
    "main",
    "resolve_device",
    "set_seed",
    "split_metrics",
    "train_epoch",
    "train_header",
]
