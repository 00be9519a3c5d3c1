"""Opening a training run: seeds and device, the data, the model, the label generator, the optimizer, the loaders
and the run folder (new, or the one to resume), gathered in one :class:`TrainingRun` that
:func:`selfmm.train.fit` then restores (:mod:`selfmm.checkpoint`), trains (:mod:`selfmm.epoch`) and records
(:mod:`selfmm.rows`)."""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from selfmm.checkpoint import LastState
from selfmm.config import SPLITS, UNIMODAL, ConfigError, SelfMMConfig
from selfmm.data import BatchLoader, DataError, MMSAData, check_token_ids, load_mmsa
from selfmm.labels import LabelGenerator, build_generator
from selfmm.model import SelfMM, build_optimizer
from selfmm.rows import dataset_info, samples_frame
from selfmm.runs import layout
from selfmm.runs.io import file_sha256
from selfmm.runs.provenance import env_info
from selfmm.runs.reader import RunError
from selfmm.runs.weights import WeightSlot
from selfmm.runs.writer import RunWriter


def set_seed(seed: int) -> None:
    """torch / numpy / random seeds and deterministic cuDNN (MMSA 2.2.1 ``run.py``, ``_set_seed``)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global RNG is what libraries draw from (MMSA 2.2.1 ``run.py``, ``_set_seed``)
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


def _generator_for(cfg: SelfMMConfig, data: MMSAData, model: SelfMM, device: torch.device) -> LabelGenerator:
    train = data.splits["train"]
    human = {m: torch.from_numpy(train.y_human[m]) for m in UNIMODAL} if train.y_human else None
    return build_generator(cfg, len(train), torch.from_numpy(train.y_m), human, model.feat_dims).to(device)


def _check_data(cfg: SelfMMConfig, data: MMSAData, model: SelfMM, path: Path) -> None:
    if cfg.label_source == "human" and not data.has_human_unimodal:
        raise DataError(
            f"{path}: label_source=human needs the human unimodal labels regression_labels_T/A/V in every split "
            "(SIMS / SIMS v2 files have them); use label_source=ulgm or multimodal for this dataset"
        )
    if cfg.text_mode == "bert":  # a DataError (one line, exit 2), not an IndexError inside the embedding
        check_token_ids(data, model.text_vocab_size)


@dataclass
class TrainingRun:
    """What :func:`open_run` builds once and every epoch of :func:`selfmm.train.fit` uses."""

    cfg: SelfMMConfig
    data_path: Path
    out_dir: Path
    device: torch.device
    data: MMSAData
    model: SelfMM
    labels: LabelGenerator
    optimizer: torch.optim.Optimizer
    gen: torch.Generator
    loaders: dict[str, BatchLoader]
    last: LastState
    best_slot: WeightSlot
    writer: RunWriter


def open_run(cfg: SelfMMConfig, data_path: Path, out_dir: Path, text_model_path: str | None, experiment: dict | None,
          m: dict | None) -> TrainingRun:  # fmt: skip
    """Seed, load the data, build the model, label generator, optimizer and loaders, and open the run folder:
    a new one (``m`` None) or the run to resume (``m``: its run.json; its data must have the same sha256)."""
    resuming = m is not None
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
    last = LastState(out_dir)
    best_slot = WeightSlot(out_dir, layout.BEST_DIR)

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
        info = {**dataset_info(data, data_path), **data.summary()}
        env = env_info(str(device))
        writer.start(config=cfg.to_dict(), dataset=info, samples=samples_frame(data), env=env, experiment=experiment)
    return TrainingRun(
        cfg, data_path, out_dir, device, data, model, labels, optimizer, gen, loaders, last, best_slot, writer
    )


__all__ = ["TrainingRun", "open_run", "resolve_device", "set_seed"]
