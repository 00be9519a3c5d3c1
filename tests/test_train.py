"""selfmm.train: accumulation and tail batches, label sources, recording, early stopping, CLI, resume, seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from selfmm.config import ConfigError, preset
from selfmm.data import BatchLoader, DataError, load_mmsa
from selfmm.experiment import parse_seeds, seeds_main, summarize
from selfmm.labels.ulgm import ULGM
from selfmm.model import SelfMM, build_optimizer
from selfmm.runs import layout
from selfmm.runs.reader import RunError, RunReader
from selfmm.train import fit, main, train_epoch
from tests.mmsa_fixture import make_mmsa_dict, write_pickle

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def small_cfg(**kw):
    """tiny preset made smaller still: 1-layer 16-wide BERT, batch 4, update every 2 batches, PCA off."""
    base = dict(tiny_bert_hidden=16, tiny_bert_layers=1, tiny_bert_heads=2, batch_size=4, update_epochs=2,
                projection="none", max_epochs=3, early_stop=5)  # fmt: skip
    return preset("tiny", **{**base, **kw})


@pytest.fixture(scope="module")
def pkl(tmp_path_factory, tiny_pkl):
    """22 train samples -> 6 batches of 4 (the last has 2), 3 optimizer steps per epoch with update_epochs=2."""
    d = tmp_path_factory.mktemp("train")
    return {"human": tiny_pkl, "nohuman": write_pickle(make_mmsa_dict(n=(22, 6, 6), seed=4, human=False), d / "n.pkl")}


# --------------------------------------------------------------------------------------------------------------
# accumulation and tail batches


class _Recorder:
    """Wraps optimizer.step to count calls and snapshot one parameter after each."""

    def __init__(self, opt, param):
        self.n, self.after = 0, []
        inner = opt.step

        def step(*a, **k):
            out = inner(*a, **k)
            self.n += 1
            self.after.append(param.detach().clone())
            return out

        opt.step = step


@pytest.mark.timeout(60)
@pytest.mark.parametrize("drop_tail", [True, False])
def test_tail_batches(pkl, drop_tail):
    # 22 samples, batch 4 -> 6 batches; update_epochs 4 -> one full group (step after batch 4) + a tail of 2.
    cfg = small_cfg(update_epochs=4, drop_tail_batches=drop_tail)
    torch.manual_seed(0)
    data = load_mmsa(pkl["human"], dataset="sims")
    train = data.splits["train"]
    model = SelfMM(cfg, data.feature_dims)
    ulgm = ULGM(len(train), model.feat_dims, cfg.H, cfg.exclude_zero)
    ulgm.init_labels(torch.from_numpy(train.y_m))
    opt = build_optimizer(model, cfg)
    p = model.post_fusion.layer_3.weight
    rec = _Recorder(opt, p)
    loader = BatchLoader(train, 4, True, torch.Generator().manual_seed(0))
    out = train_epoch(model, ulgm, opt, loader, cfg, 1, torch.device("cpu"))
    assert len(loader) == 6
    if drop_tail:
        assert rec.n == out.n_steps == 1
        # the tail's gradients were computed (and summed) but never applied
        assert p.grad is not None and p.grad.abs().sum() > 0
        assert torch.equal(p.detach(), rec.after[0])
    else:
        assert rec.n == out.n_steps == 2
        assert not torch.equal(rec.after[1], rec.after[0])  # the tail group moved the weights
        assert torch.equal(p.detach(), rec.after[1])


@pytest.mark.timeout(60)
def test_losses_summed_over_group(pkl):
    """update_epochs=2: the gradient at a step is the SUM of the two batches' gradients (not the mean)."""
    cfg = small_cfg(update_epochs=2, post_fusion_dropout=0.0, post_text_dropout=0.0, post_audio_dropout=0.0)
    torch.manual_seed(0)
    data = load_mmsa(pkl["human"], dataset="sims")
    train = data.splits["train"]
    model = SelfMM(cfg, data.feature_dims).eval()  # eval: no dropout, so per-batch grads can be replayed
    ulgm = ULGM(len(train), model.feat_dims, cfg.H, cfg.exclude_zero)
    ulgm.init_labels(torch.from_numpy(train.y_m))
    grads = []
    for batch in list(BatchLoader(train, 4, False, None))[:2]:
        model.zero_grad()
        out = model(batch["text"], batch["audio"], batch["audio_lengths"], batch["vision"], batch["vision_lengths"])
        (out.pred["M"] - batch["y_m"]).abs().mean().backward()
        grads.append(model.post_fusion.layer_3.weight.grad.clone())
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    seen = []
    inner = opt.step
    opt.step = lambda *a, **k: (seen.append(model.post_fusion.layer_3.weight.grad.clone()), inner(*a, **k))[1]
    model.train = lambda mode=True: model  # keep eval mode inside train_epoch (deterministic replay)
    train_epoch(model, ulgm, opt, BatchLoader(train, 4, False, None), cfg, 1, torch.device("cpu"))
    torch.testing.assert_close(seen[0], grads[0] + grads[1])


# --------------------------------------------------------------------------------------------------------------
# full runs


@pytest.fixture(scope="module")
def ulgm_run(pkl, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ulgm"
    res = fit(small_cfg(max_epochs=3), pkl["human"], out, verbose=False)
    return out, res


def test_ulgm_unimodal_loss_zero_in_epochs_1_and_2(ulgm_run):
    out, _ = ulgm_run
    m = RunReader(out).metrics()
    tr = m[m.split == "train"].set_index("epoch")
    for e in (1, 2):
        assert (tr.loc[e, ["loss_T", "loss_A", "loss_V"]] == 0.0).all()
    assert (tr.loc[3, ["loss_T", "loss_A", "loss_V"]] > 0).all()
    labels = RunReader(out).labels()
    assert (labels[labels.epoch <= 2][["weight_T", "weight_A", "weight_V"]] == 0).all().all()
    assert (labels[labels.epoch == 3][["weight_T"]] > 0).any().any()
    # epoch 1 labels are still y_m; epoch 2 moved them
    samples = RunReader(out).samples().query("split == 'train'").set_index("index")
    e1 = labels[labels.epoch == 1].set_index("index")
    np.testing.assert_array_equal(e1["label_T"].to_numpy(), samples.loc[e1.index, "y_m"].to_numpy())
    e2 = labels[labels.epoch == 2].set_index("index")
    assert not np.array_equal(e2["label_T"].to_numpy(), samples.loc[e2.index, "y_m"].to_numpy())


def test_run_folder_aligned_under_shuffling(ulgm_run):
    """Epoch-end labels in the file equal the ULGM buffer row for row (index) and carry the right sample_id."""
    out, res = ulgm_run
    r = RunReader(out)
    assert r.status == "finished" and r.epochs == [0, 1, 2, 3] and r.epochs_completed == 3
    from safetensors.torch import load_file

    buf = load_file(str(out / "weights" / "last" / "ulgm.safetensors"))
    lab = r.labels(3)
    assert lab["index"].tolist() == list(range(22))
    for m in "TAV":
        np.testing.assert_array_equal(lab[f"label_{m}"].to_numpy(), buf[f"labels_{m}"].numpy())
    s = r.samples().query("split == 'train'")
    assert lab["sample_id"].tolist() == s.sort_values("index")["sample_id"].tolist()
    # the weights each sample's loss used at epoch 3 = tanh(|label_T at end of epoch 2 - y_m|) of that sample
    e2 = r.labels(2).set_index("sample_id")
    e3 = lab.set_index("sample_id")
    y_m = s.set_index("sample_id")["y_m"]
    expect = np.tanh(np.abs(e2.loc[e3.index, "label_T"] - y_m.loc[e3.index])).to_numpy()
    np.testing.assert_allclose(e3["weight_T"].to_numpy(), expect, rtol=1e-6)
    # predictions: every split, every sample, each epoch
    p = r.predictions(3)
    assert p.groupby("split").size().to_dict() == {"train": 22, "valid": 6, "test": 6}
    # representations: first and last epoch, train feat = the ULGM bank
    assert r.representation_epochs == [1, 3]
    reps = r.representations(3)
    np.testing.assert_allclose(reps["train/feat_M"], buf["features_M"].numpy(), atol=2e-3, rtol=1e-2)
    assert reps["valid/enc_T"].shape == (6, 16) and reps["test/feat_V"].shape == (6, 8)
    assert set(r.centers(3)) == {"M", "T", "A", "V"}
    man = r.manifest
    assert man["best"]["epoch"] == res["best"]["epoch"] and man["test"] == res["test"]
    assert len(man["dataset"]["sha256"]) == 64 and man["dataset"]["n_train"] == 22
    assert man["env"]["torch"] and "sha" in man["git"]
    m = r.metrics()
    cols = set(m.columns)
    for what in ("pred_M", "pred_T", "pred_T_vs_ym", "pred_T_vs_gen", "gen_T"):
        assert f"{what}/MAE" in cols
    assert m[m.split == "valid"]["pred_T_vs_gen/MAE"].isna().all()
    # valid loss is the batch-averaged M L1, recorded per epoch
    assert set(m.split) == {"train", "valid", "test"}
    # test metrics of the best epoch were recomputed after reloading best weights: equal to the epoch's record
    best = man["best"]["epoch"]
    rec = m[(m.split == "test") & (m.epoch == best)].iloc[0]
    assert rec["pred_M/MAE"] == pytest.approx(man["test"]["MAE"], abs=1e-6)


@pytest.mark.timeout(60)
def test_label_source_human(pkl, tmp_path):
    out = tmp_path / "h"
    fit(small_cfg(label_source="human", max_epochs=2), pkl["human"], out, verbose=False)
    r = RunReader(out)
    s = r.samples().query("split == 'train'").set_index("sample_id")
    for e in (1, 2):
        lab = r.labels(e).set_index("sample_id")
        for m in "TAV":
            np.testing.assert_array_equal(lab[f"label_{m}"].to_numpy(), s.loc[lab.index, f"y_{m}"].to_numpy())
            w = np.tanh(np.abs(s.loc[lab.index, f"y_{m}"] - s.loc[lab.index, "y_m"])).to_numpy()
            np.testing.assert_allclose(lab[f"weight_{m}"].to_numpy(), w, rtol=1e-6)
    tr = r.metrics().query("split == 'train'")
    assert (tr[["loss_T", "loss_A", "loss_V"]] > 0).all().all()  # human labels differ from y_m from epoch 1


@pytest.mark.timeout(60)
def test_label_source_multimodal_and_tasks(pkl, tmp_path):
    out = tmp_path / "m"
    fit(small_cfg(label_source="multimodal", tasks="MT", max_epochs=2), pkl["nohuman"], out, verbose=False)
    r = RunReader(out)
    s = r.samples().query("split == 'train'").set_index("index")
    lab = r.labels(2).set_index("index")
    for m in "TAV":
        np.testing.assert_array_equal(lab[f"label_{m}"].to_numpy(), s.loc[lab.index, "y_m"].to_numpy())
        assert (lab[f"weight_{m}"] == 1.0).all()  # weighting auto -> none for multimodal
    tr = r.metrics().query("split == 'train'")
    assert (tr["loss_T"] > 0).all() and (tr["loss_A"] == 0).all() and (tr["loss_V"] == 0).all()
    assert "pred_T/MAE" not in tr.columns  # no human labels in this file


def test_label_source_human_needs_human_labels(pkl, tmp_path):
    with pytest.raises(DataError, match="regression_labels_T/A/V"):
        fit(small_cfg(label_source="human"), pkl["nohuman"], tmp_path / "x", verbose=False)
    assert not (tmp_path / "x" / "run.json").exists()


# --------------------------------------------------------------------------------------------------------------
# CLI, early stopping, seeds


@pytest.mark.timeout(90)
def test_cli_early_stopping_prints_test_metrics(pkl, tmp_path, capsys):
    # all learning rates 0: the valid loss never improves after epoch 1, so patience 2 stops after epoch 3
    lr0 = [f"learning_rate_{k}=0" for k in ("bert", "audio", "video", "other")]
    args = ["--data", str(pkl["human"]), "--preset", "tiny", "--out", str(tmp_path / "cli"), "--seed", "7", "-q"]
    args += ["--set", "max_epochs=0", "early_stop=2", "tiny_bert_hidden=16", "tiny_bert_layers=1", "projection=none"]
    assert main(args + lr0) == 0
    printed = capsys.readouterr().out
    assert "test metrics of the best epoch (1," in printed and "Mult_acc_2" in printed and "Corr" in printed
    r = RunReader(tmp_path / "cli")
    assert r.epochs_completed == 3 and r.manifest["best"]["epoch"] == 1 and r.manifest["config"]["seed"] == 7
    # a second run into the same folder is refused with the fix; unknown override keys are refused
    assert main(args + lr0) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["--data", str(pkl["human"]), "--preset", "tiny", "--out", str(tmp_path / "y"), "--set", "nope=1"]) == 2
    assert "unknown config key 'nope'" in capsys.readouterr().err


def test_parse_seeds_and_summarize():
    assert parse_seeds("1111-1113") == [1111, 1112, 1113] and parse_seeds("1,5-6") == [1, 5, 6]
    with pytest.raises(ConfigError):
        parse_seeds("5-1")
    df = summarize({1: {"MAE": 0.4, "Corr": 0.5, "loss": 9}, 2: {"MAE": 0.6, "Corr": 0.7, "loss": 9}})
    row = df.set_index("metric").loc["MAE"]
    assert row["mean"] == pytest.approx(50.0) and row["std"] == pytest.approx(10.0) and row["seed_2"] == 60.0
    assert "loss" not in df.metric.tolist()
    # rows in the metric set's own order, whatever the stored order (run.json sorts keys)
    sims = {k: 0.5 for k in sorted(["Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE", "Corr", "x"])}
    assert summarize({1: sims}).metric.tolist() == ["Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE",
                                                    "Corr", "x"]  # fmt: skip
    mosi = {k: 0.5 for k in sorted(["Has0_acc_2", "Mult_acc_5", "Mult_acc_7", "MAE", "Corr"])}
    assert summarize({1: mosi}).metric.tolist() == ["Has0_acc_2", "Mult_acc_5", "Mult_acc_7", "MAE", "Corr"]


@pytest.mark.timeout(120)
def test_seeds_main(pkl, tmp_path, capsys):
    out = tmp_path / "seeds"
    args = ["--data", str(pkl["human"]), "--preset", "tiny", "--out", str(out), "--seeds", "1-2", "-q"]
    args += ["--set", "max_epochs=1", "tiny_bert_hidden=16", "tiny_bert_layers=1", "projection=none"]
    assert seeds_main(args) == 0
    tests = {s: json.loads((out / f"seed_{s}" / "run.json").read_text())["test"] for s in (1, 2)}
    df = pd.read_csv(out / "results.csv").set_index("metric")
    vals = np.array([tests[1]["MAE"], tests[2]["MAE"]]) * 100
    assert df.loc["MAE", "mean"] == pytest.approx(vals.mean()) and df.loc["MAE", "std"] == pytest.approx(vals.std())
    assert tests[1] != tests[2]  # different seeds, different runs
    md = (out / "results.md").read_text()
    assert f"| MAE | {vals.mean():.2f} ± {vals.std():.2f} | 2 |" in md
    assert md in capsys.readouterr().out
    mtime = (out / "seed_1" / "run.json").stat().st_mtime_ns
    assert seeds_main(args) == 0  # finished seeds are not retrained
    assert (out / "seed_1" / "run.json").stat().st_mtime_ns == mtime


# --------------------------------------------------------------------------------------------------------------
# resume


def _fingerprint(run: Path) -> dict:
    r = RunReader(run)
    m = r.metrics().drop(columns=["time_s"])
    from safetensors.torch import load_file

    return {
        "labels": r.labels(),
        "predictions": r.predictions(),
        "metrics": m,
        "test": r.manifest["test"],
        "best": r.manifest["best"],
        "model": load_file(str(run / "weights" / "last" / "model.safetensors")),
        "ulgm": load_file(str(run / "weights" / "best" / "ulgm.safetensors")),
    }


def _assert_same(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["labels"], b["labels"])
    pd.testing.assert_frame_equal(a["predictions"], b["predictions"])
    pd.testing.assert_frame_equal(a["metrics"], b["metrics"])
    assert a["test"] == b["test"] and a["best"] == b["best"]
    for k in ("model", "ulgm"):
        assert a[k].keys() == b[k].keys()
        for name in a[k]:
            assert torch.equal(a[k][name], b[k][name]), name


@pytest.fixture(scope="module")
def reference_run(pkl, tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "full"
    fit(small_cfg(max_epochs=4), pkl["human"], out, verbose=False)
    return _fingerprint(out)


@pytest.mark.timeout(90)
def test_resume_after_max_epochs_is_bit_identical(pkl, tmp_path, reference_run):
    out = tmp_path / "cap"
    fit(small_cfg(max_epochs=2), pkl["human"], out, verbose=False)
    assert RunReader(out).status == "finished"
    with pytest.raises(ConfigError, match="batch_size"):
        fit(small_cfg(max_epochs=4, batch_size=8), pkl["human"], out, resume=True, verbose=False)
    with pytest.raises(RunError, match="sha256 differs"):
        fit(small_cfg(max_epochs=4), pkl["nohuman"], out, resume=True, verbose=False)
    res = fit(small_cfg(max_epochs=4), pkl["human"], out, resume=True, verbose=False)
    assert res["epochs"] == 4
    _assert_same(_fingerprint(out), reference_run)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill_at", ["3:1", "2:save"])
def test_resume_after_sigkill_is_bit_identical(pkl, tmp_path, reference_run, kill_at):
    """A subprocess SIGKILLed mid-epoch 3 (or between saving weights/last and committing epoch 2) resumes exactly."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "selfmm", "train", "--data", str(pkl["human"]), "--preset", "tiny", "--out", str(out)]
    cmd += ["-q", "--set", "max_epochs=4", "tiny_bert_hidden=16", "tiny_bert_layers=1", "batch_size=4"]
    cmd += ["update_epochs=2", "projection=none", "early_stop=5"]
    env = {**os.environ, "SELFMM_DEBUG_SIGKILL_AT": kill_at, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=100)
    assert proc.returncode == -9, proc.stderr[-2000:]
    r = RunReader(out)
    assert r.status == "stale" and r.epochs_completed == (2 if kill_at == "3:1" else 1)
    res = fit(small_cfg(max_epochs=4), pkl["human"], out, resume=True, verbose=False)
    assert res["status"] == "finished" and not (out / "weights" / "last.prev").exists()
    _assert_same(_fingerprint(out), reference_run)
    assert RunReader(out).manifest["resumed_at"]


def test_rng_state_roundtrip_weights_only(ulgm_run):
    out, _ = ulgm_run
    rng = torch.load(out / layout.WEIGHTS_DIR / "last" / layout.RNG_FILE, weights_only=True)
    assert {"torch", "shuffle", "numpy_keys", "python_state"} <= set(rng)
    opt = torch.load(out / layout.WEIGHTS_DIR / "last" / layout.OPTIMIZER_FILE, weights_only=True)
    assert [g["name"] for g in opt["param_groups"]] == ["bert_decay", "bert_no_decay", "audio", "video", "other"]
    state = json.loads((out / layout.WEIGHTS_DIR / "last" / layout.STATE_FILE).read_text())
    assert state["epoch"] == 3 and state["n_steps"] == 9  # 6 batches / update_epochs 2 = 3 steps per epoch


# --------------------------------------------------------------------------------------------------------------
# statuses, devices, precomputed text


@pytest.mark.parametrize("exc, status", [(KeyboardInterrupt, "interrupted"), (RuntimeError, "failed")])
def test_interrupt_and_failure_statuses(pkl, tmp_path, monkeypatch, exc, status):
    import selfmm.train as T

    real = T.evaluate
    calls = {"n": 0}

    def boom(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 2's valid pass (epoch 1: valid + test)
            raise exc("stop here")
        return real(*a, **k)

    monkeypatch.setattr(T, "evaluate", boom)
    with pytest.raises(exc):
        fit(small_cfg(max_epochs=3), pkl["human"], tmp_path / "s", verbose=False)
    r = RunReader(tmp_path / "s")
    assert r.status == status and r.epochs_completed == 1
    if status == "failed":
        assert r.manifest["error"].startswith("RuntimeError: stop here")
    monkeypatch.setattr(T, "evaluate", real)
    res = fit(small_cfg(max_epochs=3), pkl["human"], tmp_path / "s", resume=True, verbose=False)
    assert res["status"] == "finished" and RunReader(tmp_path / "s").epochs_completed == 3


def test_cuda_request_falls_back_with_warning():
    from selfmm.train import resolve_device

    if torch.cuda.is_available():  # pragma: no cover - CPU CI
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert resolve_device("cuda").type == "cpu"
    with pytest.raises(ConfigError, match="device='tpu'"):
        resolve_device("tpu")


@pytest.mark.timeout(60)
def test_precomputed_text_fit(pkl, tmp_path):
    res = fit(small_cfg(text_mode="precomputed", max_epochs=1), pkl["human"], tmp_path / "p", verbose=False)
    r = RunReader(tmp_path / "p")
    assert res["status"] == "finished" and r.representations(1)["valid/enc_T"].shape == (6, 64)


# --------------------------------------------------------------------------------------------------------------
# equivalence with the authors' training loop (MMSA 2.2.1 trains/multiTask/SELF_MM.py + models/.../SELF_MM.py)


class _RefLoader:
    """Feeds the reference trainer our BatchLoader's batches in its dict layout.

    The reference makes one extra pass over the train loader to initialise the labels; that pass is served in index
    order without drawing from the shuffle generator, so the training epochs see the same orders as ``fit``.
    """

    def __init__(self, loader: BatchLoader, init_pass: bool):
        self.loader, self.init_pass = loader, init_pass

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        shuffle = self.loader.shuffle
        if self.init_pass:
            self.loader.shuffle, self.init_pass = False, False
        try:
            for b in self.loader:
                ids = self.loader.split.ids[b["index"].numpy()].tolist()
                yield {"text": b["text"], "audio": b["audio"], "vision": b["vision"], "index": b["index"], "id": ids,
                       "audio_lengths": b["audio_lengths"], "vision_lengths": b["vision_lengths"],
                       "labels": {"M": b["y_m"].view(-1, 1)}}  # fmt: skip
        finally:
            self.loader.shuffle = shuffle


@pytest.mark.timeout(120)
def test_fit_matches_mmsa_trainer_bit_for_bit(pkl, tmp_path, reference_args):
    """The authors' trainer and model, run on the same batches from the same seed and initial weights, reach
    bitwise-equal generated labels, validation losses, best epoch, final weights and test predictions.
    bert_last_layer="full" and lstm_backward="exact" (the rest are defaults): the default [CLS]-only last layer
    and fused LSTM backward are the same computation to float32 rounding only
    (test_cls_only_last_layer_trains_like_the_full_layer, tests/test_model.py)."""
    import logging

    from safetensors.torch import load_file

    from tests.reference_mmsa import (
        load_reference,  # loads MMSA's trainer module by file
        load_reference_model,
    )
    from tests.test_model import _to_reference_name

    logging.getLogger("MMSA").setLevel(logging.ERROR)
    trainer_cls = load_reference()[0]  # fails with the fix if MMSA is absent
    SELF_MM = load_reference_model()
    cfg = small_cfg(max_epochs=0, early_stop=4, update_epochs=2, seed=5, bert_last_layer="full", lstm_backward="exact")
    out = tmp_path / "ours"
    fit(cfg, pkl["human"], out, verbose=False)
    ours = RunReader(out)

    # the reference run: same seed, same initial weights, same batches
    data = load_mmsa(pkl["human"], dataset="sims")
    from selfmm.train import set_seed

    set_seed(cfg.seed)
    model0 = SelfMM(cfg, data.feature_dims)  # consumes the RNG exactly as fit does before its first batch
    rng_after_init = torch.get_rng_state()
    c = cfg
    args = reference_args(
        cfg, data.feature_dims, train_mode="regression", dataset_name="sims", train_samples=22,
        device=torch.device("cpu"), H=c.H, excludeZero=c.exclude_zero, update_epochs=c.update_epochs,
        early_stop=c.early_stop, KeyEval="Loss", save_labels=False, model_name="self_mm", cur_seed=1,
        model_save_path=str(tmp_path / "ref.pth"), res_save_dir=str(tmp_path),
        learning_rate_bert=c.learning_rate_bert, learning_rate_audio=c.learning_rate_audio,
        learning_rate_video=c.learning_rate_video, learning_rate_other=c.learning_rate_other,
        weight_decay_bert=c.weight_decay_bert, weight_decay_audio=c.weight_decay_audio,
        weight_decay_video=c.weight_decay_video, weight_decay_other=c.weight_decay_other,
    )  # fmt: skip
    ref_net = SELF_MM(args)
    ref_net.load_state_dict({_to_reference_name(k): v for k, v in model0.state_dict().items()}, strict=True)

    class Wrap(torch.nn.Module):  # MMSA's AMIO wrapper: the trainer reads model.Model
        def __init__(self, m):
            super().__init__()
            self.Model = m

        def forward(self, *a):
            return self.Model(*a)

    model = Wrap(ref_net)
    torch.set_rng_state(rng_after_init)
    gen = torch.Generator().manual_seed(cfg.seed)
    sp = data.splits
    loaders = {
        "train": _RefLoader(BatchLoader(sp["train"], 4, True, gen), init_pass=True),
        "valid": _RefLoader(BatchLoader(sp["valid"], 4, False, None), init_pass=False),
        "test": _RefLoader(BatchLoader(sp["test"], 4, False, None), init_pass=False),
    }
    trainer = trainer_cls(args)
    results = trainer.do_train(model, loaders, return_epoch_results=True)

    m = ours.metrics()
    valid = m[m.split == "valid"]["loss"].round(4).tolist()
    assert valid == [r["Loss"] for r in results["valid"]]  # same epochs, same (rounded) validation losses
    assert ours.epochs_completed == len(results["valid"]) >= 4, valid
    # generated labels at the end of training
    buf = load_file(str(out / "weights" / "last" / "ulgm.safetensors"))
    for m_, name in (("T", "text"), ("A", "audio"), ("V", "vision"), ("M", "fusion")):
        assert torch.equal(buf[f"labels_{m_}"], trainer.label_map[name]), m_
        assert torch.equal(buf[f"features_{m_}"], trainer.feature_map[name]), m_
    assert (buf["labels_T"] - buf["labels_M"]).abs().mean() > 0.05  # the labels did move away from y_m
    # final weights
    last = load_file(str(out / "weights" / "last" / "model.safetensors"))
    ref_sd = ref_net.state_dict()
    for k, v in last.items():
        assert torch.equal(v, ref_sd[_to_reference_name(k)]), k
    # the best model on test
    best_ref = torch.load(tmp_path / "ref.pth", weights_only=True)
    model.load_state_dict(best_ref)
    ref_test = trainer.do_test(model, loaders["test"], mode="TEST")
    assert round(ours.manifest["test"]["loss"], 4) == ref_test["Loss"]
    assert ours.manifest["test"]["MAE"] == pytest.approx(ref_test["MAE"], abs=1e-4)  # MMSA rounds to 4 decimals


@pytest.mark.timeout(120)
def test_train_header_and_amp_bf16(pkl, tmp_path, capsys):
    """verbose fit prints the header (run folder, split sizes, device, threads, epoch limit, switches); amp=bf16
    trains with float32 outputs recorded, finite and different from the float32 run's; amp=none is the default."""
    assert preset("sims").amp == "none"
    res = {}
    for amp in ("none", "bf16"):
        out = tmp_path / amp
        fit(small_cfg(max_epochs=1, amp=amp), pkl["human"], out, verbose=True)
        res[amp] = RunReader(out).predictions(1, "valid").sort_values("index")
    text = capsys.readouterr().out
    assert f"train: {tmp_path / 'bf16'} (new run)" in text
    assert "train 22 / valid 6 / test 6 samples" in text and "device cpu, 1 torch thread(s)" in text
    assert "max epochs 1" in text and "amp=bf16" in text
    a, b = res["none"]["pred_M"].to_numpy(), res["bf16"]["pred_M"].to_numpy()
    assert b.dtype == np.float32 and np.isfinite(b).all() and not np.array_equal(a, b)
    assert np.abs(a - b).max() < 0.1  # the same model, rounded differently


def test_threads_default_is_one_for_train_and_seeds():
    """--threads defaults to 1 (the measured fastest, docs/measurements.md "Threads") in train and what shares its
    parser; an explicit value still wins."""
    from selfmm.train import train_parser

    p = train_parser("x")
    assert p.parse_args(["--data", "d.pkl", "--out", "o"]).threads == 1
    assert p.parse_args(["--data", "d.pkl", "--out", "o", "--threads", "3"]).threads == 3


def test_cls_only_last_layer_trains_like_the_full_layer(pkl, tmp_path):
    """The default bert_last_layer="cls" against "full" (bitwise MMSA's): the same epochs, and per-sample training
    predictions and generated labels that agree to float32 rounding after 3 epochs (same dropout draws)."""
    runs = {}
    for mode in ("cls", "full"):
        fit(small_cfg(max_epochs=3, seed=7, bert_last_layer=mode), pkl["human"], tmp_path / mode, verbose=False)
        runs[mode] = RunReader(tmp_path / mode)
    a, b = runs["cls"], runs["full"]
    assert a.epochs_completed == b.epochs_completed == 3
    for e in (1, 3):
        pa, pb = a.predictions(e), b.predictions(e)
        cols = [c for c in pa.columns if c.startswith("pred_")]
        assert cols and pa.shape == pb.shape
        np.testing.assert_allclose(pa[cols].to_numpy(), pb[cols].to_numpy(), rtol=0, atol=1e-6)  # seen: 3e-8
        la, lb = a.labels(e), b.labels(e)
        gen = [c for c in la.columns if c.startswith(("gen_", "label_"))]
        assert gen
        np.testing.assert_allclose(la[gen].to_numpy(), lb[gen].to_numpy(), rtol=0, atol=1e-4)  # seen: 4e-6
    ma, mb = a.metrics(), b.metrics()
    np.testing.assert_allclose(ma["loss"].to_numpy(), mb["loss"].to_numpy(), rtol=1e-4)
