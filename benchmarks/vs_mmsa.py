"""selfmm against MMSA 2.2.1's own Self-MM trainer and model, side by side on the same data, BERT, preset and seed.

Usage::

    bash benchmarks/setup_mmsa.sh                  # once: MMSA 2.2.1 (--no-deps) + what its training path imports
    python benchmarks/vs_mmsa.py --shape sims      # 3 alternating pairs, 1 thread, BERT hidden 128 x 2 layers
    python benchmarks/vs_mmsa.py --shape mosi --pairs 3 --threads 1 --text-hidden 768 --text-layers 12

What is compared:

- data: ``python -m selfmm synth --profile SHAPE --scale S --seed 0`` written once into ``--work`` (both sides read
  the same pickle); the text model: a random-weight ``BertModel`` of ``--text-hidden`` x ``--text-layers`` with the
  dataset's reference vocabulary size, saved with ``save_pretrained`` into a local folder that both load;
- the preset: selfmm's ``preset(SHAPE)`` (the MMSA 2.2.1 regression values), copied into MMSA's args, so every
  size, rate and dropout is the same (``excludeZero``=True as MMSA's config; SIMS v2 runs MMSA's ``sims`` code);
- MMSA: its ``MMDataLoader`` (``num_workers=0``), ``AMIO`` model, ``ATIO`` trainer ``SELF_MM.do_train`` unchanged,
  instrumented from outside (wrapped methods and hooks) and stopped after ``--epochs`` validation passes;
- selfmm: :func:`selfmm.train.fit` with its :class:`~selfmm.train.PhaseTimer`, ``eval_test_every_epoch=False``,
  ``record_representations=none`` and ``projection=none``: like MMSA, one validation pass per epoch.

Each side runs in its own subprocess (so peak RSS is its own), A/B/A/B...; the first side of each pair alternates
too. Phases per epoch: data (batch building), forward (MMSA: the model call; selfmm: model + loss), backward,
optimizer, labels (ULGM: MMSA's update_labels/features/centers), eval (the validation pass). "training epoch" is the
wall time of the training loop of one epoch (MMSA: from the start of the train-loader pass to the validation call;
selfmm: the in-loop phases incl. per-sample recording); "training epoch, CPU s" the process CPU seconds of the
same span, which a busy shared machine disturbs much less than wall time (at 1 thread it is the work done). Ratios
are selfmm / MMSA per pair: min / median / max.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("data", "forward", "backward", "optimizer", "labels", "eval")
LOOP_PHASES = ("data", "forward", "backward", "labels", "optimizer", "recording")  # selfmm's training loop
MMSA_DATASET = {"sims": "sims", "simsv2": "sims", "mosi": "mosi", "mosei": "mosei"}


# --------------------------------------------------------------------------------------------------------------
# shared set-up


def prepare(work: Path, shape: str, scale: float, hidden: int, layers: int) -> tuple[Path, Path]:
    """The synthetic pickle and the random local BERT folder (cached in ``work``)."""
    work.mkdir(parents=True, exist_ok=True)
    pkl = work / f"{shape}_x{scale:g}.pkl"
    if not pkl.exists():
        cmd = [sys.executable, "-m", "selfmm", "synth", "--profile", shape, "--scale", str(scale), "--seed", "0",
               "--text-dim", "8", "--out", str(pkl)]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=ROOT, env=_env())
    bert = work / f"bert_{'zh' if shape.startswith('sims') else 'en'}_{hidden}x{layers}"
    if not (bert / "config.json").exists():
        import shutil

        import torch
        from transformers import BertConfig, BertModel

        from selfmm.model import TINY_VOCAB

        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=TINY_VOCAB[shape], hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden)  # fmt: skip
        BertModel(cfg).save_pretrained(bert)
        vocab = "bert-base-chinese" if shape.startswith("sims") else "bert-base-uncased"
        shutil.copy(ROOT / "selfmm" / "vocab" / vocab / "vocab.txt", bert / "vocab.txt")  # MMSA loads a tokenizer
    return pkl, bert


def _env() -> dict:
    """The children's environment: the repository first, then the caller's PYTHONPATH (where a machine without
    MMSA installed carries it, e.g. benchmarks/gpu_check.sh's .gpu_site)."""
    extra = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *([extra] if extra else [])])}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------------------------------------------
# the two sides (each in its own subprocess)


def run_selfmm(pkl: Path, bert: Path, shape: str, epochs: int, out: Path, overrides: list[str]) -> dict:
    import tempfile

    import torch

    from selfmm.config import apply_overrides, preset
    from selfmm.train import PhaseTimer, fit

    cfg = preset(shape, max_epochs=epochs, early_stop=epochs + 1, projection="none", record_representations="none",
                 eval_test_every_epoch=False, exclude_zero=True, text_model=str(bert), seed=1111)  # fmt: skip

    class Timer(PhaseTimer):  # also the process CPU seconds of the training loop's phases
        cpu: float = 0.0
        _c: float = 0.0

        def start(self) -> None:
            super().start()
            self._c = time.process_time()

        def lap(self, phase: str) -> None:
            super().lap(phase)
            now = time.process_time()
            if phase in LOOP_PHASES:
                self.cpu += now - self._c
            self._c = now

    timer = Timer(enabled=True, device=torch.device(os.environ.get("SELFMM_BENCH_DEVICE", "cpu")))
    cfg = apply_overrides(cfg, [f"device={timer.device}", *overrides])
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fit(cfg, pkl, Path(tmp) / "run", verbose=False, timer=timer)
    s = timer.seconds
    loop = sum(s.get(k, 0.0) for k in LOOP_PHASES)
    phases = {"data": s.get("data", 0.0), "forward": s.get("forward", 0.0), "backward": s.get("backward", 0.0),
              "optimizer": s.get("optimizer", 0.0), "labels": s.get("labels", 0.0), "eval": s.get("eval", 0.0)}  # fmt: skip
    return {"train_epoch": loop / epochs, "train_epoch_cpu": timer.cpu / epochs,
            "phases": {k: v / epochs for k, v in phases.items()}}  # fmt: skip


def run_mmsa(pkl: Path, bert: Path, shape: str, epochs: int, out: Path) -> dict:
    import logging

    import torch
    from MMSA.config import get_config_regression
    from MMSA.data_loader import MMDataLoader
    from MMSA.models import AMIO
    from MMSA.trains import ATIO
    from MMSA.utils import setup_seed

    from selfmm.config import preset

    logging.getLogger("MMSA").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")
    p = preset(shape)
    device = torch.device(os.environ.get("SELFMM_BENCH_DEVICE", "cpu"))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)  # phases not blurred by async kernels
    args = get_config_regression("self_mm", MMSA_DATASET[shape])
    same = ("batch_size", "learning_rate_bert", "learning_rate_audio", "learning_rate_video", "learning_rate_other",
            "weight_decay_bert", "weight_decay_audio", "weight_decay_video", "weight_decay_other",
            "a_lstm_hidden_size", "v_lstm_hidden_size", "audio_out", "video_out", "a_lstm_dropout", "v_lstm_dropout",
            "post_fusion_dim", "post_text_dim", "post_audio_dim", "post_video_dim", "post_fusion_dropout",
            "post_text_dropout", "post_audio_dropout", "post_video_dropout", "H", "update_epochs", "early_stop")  # fmt: skip
    args.update({k: getattr(p, k) for k in same})
    args.update(featurePath=str(pkl), pretrained=str(bert), device=device, train_mode="regression",
                custom_feature=None, feature_T=None, feature_A=None, feature_V=None, cur_seed=1,
                model_save_path=str(out.parent / f"mmsa-{os.getpid()}.pth"), res_save_dir=str(out.parent),
                early_stop=10**6)  # fmt: skip
    from transformers import BertConfig

    args["text_out"] = BertConfig.from_pretrained(str(bert)).hidden_size
    setup_seed(1111)
    loaders = MMDataLoader(args, 0)
    args["train_samples"] = len(loaders["train"].dataset)
    model = AMIO(args).to(args["device"])
    trainer = ATIO().getTrain(args)

    acc = dict.fromkeys(PHASES, 0.0)
    marks = {"epoch_start": [], "val_start": [], "epoch_start_cpu": [], "val_start_cpu": []}

    def timed(phase, fn):
        def wrapper(*a, **k):
            sync()
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                sync()
                acc[phase] += time.perf_counter() - t

        return wrapper

    class Stop(Exception):
        pass

    class TimedLoader:  # the train DataLoader, timing each batch fetch and marking each pass
        def __init__(self, inner):
            self.inner, self.passes = inner, 0
            self.dataset = inner.dataset

        def __len__(self):
            return len(self.inner)

        def __iter__(self):
            self.passes += 1
            if self.passes > 1:  # pass 1 is the reference's label initialisation
                marks["epoch_start"].append(time.perf_counter())
                marks["epoch_start_cpu"].append(time.process_time())
            it = iter(self.inner)
            while True:
                t = time.perf_counter()
                try:
                    b = next(it)
                except StopIteration:
                    return
                if self.passes > 1:
                    acc["data"] += time.perf_counter() - t
                yield b

    loaders["train"] = TimedLoader(loaders["train"])
    inner_forward = model.forward

    def forward(*a, **k):
        if model.training:
            return timed("forward", inner_forward)(*a, **k)
        return inner_forward(*a, **k)

    model.forward = forward
    tensor_backward = torch.Tensor.backward
    torch.Tensor.backward = timed("backward", tensor_backward)
    opt_t = {}
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    register_optimizer_step_pre_hook(lambda *a: opt_t.update(t=time.perf_counter()))
    register_optimizer_step_post_hook(
        lambda *a: acc.__setitem__("optimizer", acc["optimizer"] + time.perf_counter() - opt_t["t"])
    )
    for name in ("update_labels", "update_features", "update_centers"):
        setattr(trainer, name, timed("labels", getattr(trainer, name)))
    do_test = trainer.do_test

    def test(*a, **k):
        sync()
        marks["val_start"].append(time.perf_counter())
        marks["val_start_cpu"].append(time.process_time())
        t = time.perf_counter()
        res = do_test(*a, **k)
        acc["eval"] += time.perf_counter() - t
        if len(marks["val_start"]) >= epochs:
            raise Stop
        return res

    trainer.do_test = test
    try:
        trainer.do_train(model, loaders)
    except Stop:
        pass
    torch.Tensor.backward = tensor_backward
    train = [v - s for s, v in zip(marks["epoch_start"], marks["val_start"], strict=True)]
    cpu = [v - s for s, v in zip(marks["epoch_start_cpu"], marks["val_start_cpu"], strict=True)]
    Path(args["model_save_path"]).unlink(missing_ok=True)
    return {"train_epoch": sum(train) / epochs, "train_epoch_cpu": sum(cpu) / epochs,
            "phases": {k: v / epochs for k, v in acc.items()}}  # fmt: skip


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    paths = (Path(args.pkl), Path(args.bert), args.shape, args.epochs, Path(args.json))
    res = run_selfmm(*paths, list(args.set)) if args.child == "selfmm" else run_mmsa(*paths)
    res["peak_rss_mib"] = _peak_rss_mib()
    res["threads"] = torch.get_num_threads()
    Path(args.json).write_text(json.dumps(res))


# --------------------------------------------------------------------------------------------------------------
# driver


def _side(name: str, a, pkl: Path, bert: Path, i: int) -> dict:
    out = a.work / f"result-{name}-{i}.json"
    cmd = [sys.executable, __file__, "--child", name, "--pkl", str(pkl), "--bert", str(bert), "--shape", a.shape,
           "--epochs", str(a.epochs), "--threads", str(a.threads), "--json", str(out), "--set", *a.set]  # fmt: skip
    env = {
        **_env(),
        "SELFMM_BENCH_DEVICE": a.device,
        "OMP_NUM_THREADS": str(a.threads),
        "MKL_NUM_THREADS": str(a.threads),
        "TQDM_DISABLE": "1",
    }
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def _mmm(xs: list[float]) -> str:
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="sims", choices=sorted(MMSA_DATASET), help="dataset layout (synthetic)")
    p.add_argument("--scale", type=float, default=1.0, help="split sizes x this (default 1 = the real sizes)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each side (default 1)")
    p.add_argument("--text-hidden", type=int, default=128, help="random BERT hidden size (768 = BERT-base)")
    p.add_argument("--text-layers", type=int, default=2, help="random BERT layers (12 = BERT-base)")
    p.add_argument("--pairs", type=int, default=3, help="alternating MMSA/selfmm pairs (default 3)")
    p.add_argument(
        "--epochs", type=int, default=2, help="training epochs per run (default 2: epoch 2 generates labels)"
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N, both sides (default cpu)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="selfmm config overrides, e.g. lstm_backward=fused (docs/speed.md)")  # fmt: skip
    p.add_argument("--work", type=Path, default=Path("/tmp/selfmm-vs-mmsa"), help="cache folder (data, BERT)")
    p.add_argument("--child", choices=("selfmm", "mmsa"), help=argparse.SUPPRESS)
    p.add_argument("--pkl", help=argparse.SUPPRESS)
    p.add_argument("--bert", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a)
        return
    pkl, bert = prepare(a.work, a.shape, a.scale, a.text_hidden, a.text_layers)
    print(f"shape {a.shape} x{a.scale:g}, BERT {a.text_hidden}x{a.text_layers} (random), {a.threads} thread(s), "
          f"{a.epochs} epoch(s) per run, {a.pairs} pairs, {a.device}; selfmm --set {' '.join(a.set) or '(none)'}; data {pkl}")  # fmt: skip
    rows = []
    for i in range(a.pairs):
        order = ("mmsa", "selfmm") if i % 2 == 0 else ("selfmm", "mmsa")
        r = {name: _side(name, a, pkl, bert, i) for name in order}
        rows.append(r)
        print(f"pair {i + 1} ({order[0]} first): training epoch MMSA {r['mmsa']['train_epoch']:.2f} s, "
              f"selfmm {r['selfmm']['train_epoch']:.2f} s, ratio {r['selfmm']['train_epoch'] / r['mmsa']['train_epoch']:.2f} (CPU s {r['mmsa']['train_epoch_cpu']:.2f} / "
              f"{r['selfmm']['train_epoch_cpu']:.2f}, ratio {r['selfmm']['train_epoch_cpu'] / r['mmsa']['train_epoch_cpu']:.2f})", flush=True)  # fmt: skip
    print(f"\n{'seconds per epoch (median)':<28} {'MMSA':>8} {'selfmm':>8} {'ratio min / median / max':>26}")
    for k in ("train_epoch", "train_epoch_cpu", *PHASES):
        get = (lambda r, s, k=k: r[s][k]) if k.startswith("train") else (lambda r, s, k=k: r[s]["phases"][k])
        m = [get(r, "mmsa") for r in rows]
        s = [get(r, "selfmm") for r in rows]
        ratios = [b / x if x > 0 else float("nan") for x, b in zip(m, s, strict=True)]
        label = {"train_epoch": "training epoch", "train_epoch_cpu": "training epoch, CPU s"}.get(k, k)
        print(f"{label:<28} {statistics.median(m):8.3f} {statistics.median(s):8.3f} {_mmm(ratios):>26}")
    m = [r["mmsa"]["peak_rss_mib"] for r in rows]
    s = [r["selfmm"]["peak_rss_mib"] for r in rows]
    ratios = [b / x for x, b in zip(m, s, strict=True)]
    print(f"{'peak RSS (MiB)':<28} {statistics.median(m):8.0f} {statistics.median(s):8.0f} {_mmm(ratios):>26}")


if __name__ == "__main__":
    main()
