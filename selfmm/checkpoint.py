"""The training checkpoint: what ``weights/last`` and ``weights/best`` hold, and how a resume restores it.

``weights/last/`` holds the model, the label generator's buffers, optimizer, every RNG state (torch, numpy, python,
the shuffle generator) and the loop counters (state.json) after the last committed epoch, so a resumed run
continues bit-identically; ``weights/best/`` the model and generator of the best epoch. Both are replaced as whole
directories (``last.new`` -> ``last``, the previous one kept as ``last.prev`` until the epoch is committed in
run.json; the same for ``best``), and their safetensors are stamped with their epoch, so a kill at any moment
leaves states matching ``epochs_completed`` and ``best.epoch`` (:mod:`selfmm.runs.weights`; checkpoints/README.md,
"Commit protocol"). :func:`check_resume_config` says which settings may change on resume.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from selfmm.config import LEGACY_DEFAULTS, ConfigError, SelfMMConfig
from selfmm.labels import LabelGenerator
from selfmm.runs import layout
from selfmm.runs.io import write_json_atomic
from selfmm.runs.reader import RunError
from selfmm.runs.weights import WeightSlot, stamp_metadata, stamp_of


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


def _storage_key(t: torch.Tensor) -> tuple:
    return (t.device, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)


def save_module(module: torch.nn.Module, path: Path, epoch: int | None = None) -> None:
    """``module.state_dict()`` as safetensors, atomically (``*.tmp`` then ``os.replace``).

    Every tensor is written from storage of its own: on CUDA, cuDNN flattens an LSTM's weights into one buffer and
    each weight is a view of it, which ``safetensors.torch.save_model`` refuses ("None is covering the entire
    storage"). A tensor registered under two names (tied weights) is written once; the file's metadata maps each
    dropped name to the kept one, as ``save_model`` does, so files of either writer load with :func:`load_module`.
    ``epoch`` is stamped into the metadata (:func:`selfmm.runs.weights.stamp_of` reads it back).
    """
    from safetensors.torch import save_file

    metadata = {} if epoch is None else stamp_metadata(epoch)
    tensors: dict[str, torch.Tensor] = {}
    kept: dict[tuple, str] = {}
    for name, t in sorted(module.state_dict().items()):
        key = _storage_key(t)
        if key in kept:
            metadata[name] = kept[key]
            continue
        kept[key] = name
        whole = t.is_contiguous() and t.untyped_storage().nbytes() == t.numel() * t.element_size()
        tensors[name] = t.detach() if whole else t.detach().clone(memory_format=torch.contiguous_format)
    tmp = path.with_name(path.name + layout.TMP_SUFFIX)
    save_file(tensors, str(tmp), metadata=metadata or None)
    os.replace(tmp, path)


def load_module(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors written by :func:`save_module` (or ``save_model``) into ``module``, strictly: every key,
    no extra. Copies into the module's own tensors, so cuDNN's flattened LSTM weights stay flattened."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:  # tensors and metadata from one open
        aliases = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    for name in module.state_dict():
        if name not in state and aliases.get(name) in state:
            state[name] = state[aliases[name]]  # a tied tensor written once
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RunError(f"{path}: the weights do not match this model ({str(err).splitlines()[-1].strip()})") from None


def _torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + layout.TMP_SUFFIX)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _generator_file(labels: LabelGenerator) -> str:
    """weights/{last,best}/<label_source>.safetensors: the generator's buffers (ulgm.safetensors for ulgm)."""
    return layout.LABEL_STATE_FILE.format(label_source=labels.name)


class LastState:
    """weights/last: staged as weights/last.new, swapped in, the previous kept as last.prev until the commit."""

    def __init__(self, run_dir: Path):
        self.slot = WeightSlot(run_dir, layout.LAST_DIR)
        self.last = self.slot.current

    def save(self, model, labels, optimizer, gen, state: dict) -> None:
        new = self.slot.stage()
        save_module(model, new / layout.MODEL_FILE, state["epoch"])
        save_module(labels, new / _generator_file(labels), state["epoch"])
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


def save_best(slot: WeightSlot, model, labels, epoch: int) -> None:
    """Stage weights/best.new for ``epoch``; the caller swaps it in with weights/last, before the commit."""
    new = slot.stage()
    save_module(model, new / layout.MODEL_FILE, epoch)
    save_module(labels, new / _generator_file(labels), epoch)


def recover_best(slot: WeightSlot, best_epoch: int, out_dir: Path) -> None:
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


def restore_last(src: Path, model, labels, optimizer, gen, device) -> dict:
    """Load weights/last into the live objects; a file that cannot be loaded is a one-line RunError naming it."""
    path = src / layout.MODEL_FILE
    try:
        load_module(model, path)
        path = src / _generator_file(labels)
        load_module(labels, path)
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


# settings that may change on resume: they do not alter what the finished epochs computed
RESUMABLE_KEYS = ("max_epochs", "device", "projection", "eval_test_every_epoch", "early_stop")


def check_resume_config(out_dir: Path, saved: dict, cfg: SelfMMConfig) -> None:
    """ConfigError (one line) unless ``cfg`` differs from the run's saved config only in :data:`RESUMABLE_KEYS`."""
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
    old = {k: saved[k] if k in saved else LEGACY_DEFAULTS.get(k, getattr(SelfMMConfig(), k)) for k in bad}
    if saved and bad:
        raise ConfigError(
            f"{out_dir}: resuming with a different configuration ({', '.join(f'{k}: {old[k]!r} -> {now.get(k)!r}' for k in bad)}); "
            "resume with the run's own settings (only "
            + ", ".join(RESUMABLE_KEYS)
            + " may change) or start a new run folder"
        )
