"""CMC: SupCon, PFM/MCR, metrics against hand-computed values; a tiny two-phase run end to end, read back."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfmm.cmc.config import ConfigError, preset
from selfmm.cmc.losses import binarise, supcon
from selfmm.cmc.metrics import classification_metrics
from selfmm.cmc.model import CMCModel, UnimodalModel, pfm, topk_gates
from selfmm.cmc.train import fit_cmc, main
from selfmm.runs.reader import RunReader
from tests.mmsa_fixture import make_mmsa_dict, write_pickle

T = torch.tensor


def test_supcon_hand_value():
    f = T([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    y = T([1.0, 1.0, 0.0])
    # τ = 0.5: s/τ = 2·[[1,0,1],[0,1,0],[1,0,1]]. anchor 0: pos {1}: e^0 / (e^0 + e^2); anchor 1: pos {0}:
    # e^0 / (e^0 + e^0); anchor 2 has no positive (excluded)
    want = (math.log(1 + math.e**2) + math.log(2)) / 2
    assert supcon(f, y, 0.5).item() == pytest.approx(want, rel=1e-6)
    assert supcon(f, T([0.0, 1.0, 2.0]), 0.5).item() == 0.0  # no anchor has a positive
    assert binarise(T([0, 1, 2]), "sims").tolist() == [0.0, 0.0, 1.0]
    assert binarise(T([0, 1, 2]), "mosi").tolist() == [0.0, 1.0, 1.0]


def test_pfm_and_router_hand_values():
    x = torch.nn.functional.normalize(T([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]), dim=-1)  # (1, 3, 2)
    x2, s = pfm(x, 1.0)
    # row 0: cosines (1, 1, 0) -> softmax (e, e, 1)/(2e+1); X'_0 = (2e, 1)/(2e+1)
    e = math.e
    assert torch.allclose(s[0, 0], T([e, e, 1.0]) / (2 * e + 1), atol=1e-6)
    assert torch.allclose(x2[0, 0], T([2 * e, 1.0]) / (2 * e + 1), atol=1e-6)
    g, routed = topk_gates(T([[1.0, 2.0, 0.0]]), 2)
    assert routed.tolist() == [[True, True, False]]
    assert torch.allclose(g, T([[1.0, e, 0.0]]) / (1 + e), atol=1e-6)
    g3, _ = topk_gates(T([[1.0, 2.0, 0.0]]), 3)
    assert torch.allclose(g3, torch.softmax(T([[1.0, 2.0, 0.0]]), -1))


@pytest.mark.parametrize("top_k", [3, 1])
def test_cmc_model_shapes_and_gate_weighted_logit_sum(top_k):
    torch.manual_seed(0)
    cfg = preset("tiny", top_k=top_k)
    model = CMCModel(cfg, {"audio": 5, "vision": 4}).eval()
    B, L = 4, 6
    ids = torch.randint(1000, 2000, (B, L)).float()
    text = torch.stack([ids, torch.ones(B, L), torch.zeros(B, L)], 1)
    out = model(text, torch.randn(B, 7, 5), torch.randn(B, 3, 4))
    assert out.pred.shape == (B, 3) and out.gates.shape == (B, 3) and out.sim.shape == (B, 3, 3)
    assert all(out.h[m].shape == (B, cfg.embed_dim) for m in "TAV")
    assert torch.allclose(out.h["A"].norm(dim=-1), torch.ones(B), atol=1e-5)
    assert torch.allclose(out.gates.sum(-1), torch.ones(B), atol=1e-6)
    want = sum(out.gates[:, i : i + 1] * out.experts[m] for i, m in enumerate("TAV"))
    assert torch.allclose(out.pred, want, atol=1e-6)
    if top_k == 1:
        zero = torch.stack([(out.experts[m] == 0).all(-1) for m in "TAV"], -1)  # (B, 3)
        assert ((out.gates > 0) != zero).all()  # a sample's only non-zero expert is the one it is routed to


def test_mask_padding_ignores_padded_frames():
    torch.manual_seed(0)
    m = UnimodalModel("A", 5, preset("tiny", mask_padding=True), None).eval()
    x = torch.randn(2, 6, 5)
    x2 = x.clone()
    x2[:, 4:] = 7.0  # garbage in the padded frames
    lens = T([4, 4])
    # BatchNorm statistics come from running stats in eval, so only attention and the mean could see the padding
    assert torch.allclose(m(x, lens)[0], m(x2, lens)[0], atol=1e-5)
    ref = UnimodalModel("A", 5, preset("tiny"), None).eval()
    ref.load_state_dict(m.state_dict())
    assert not torch.allclose(ref(x, lens)[0], ref(x2, lens)[0], atol=1e-3)  # reference: padding counts


def test_metrics_hand_values_and_non0_bug():
    # logits -> (neg, pos) argmax: rows 0,1 -> pos (1); rows 2,3 -> neg (0); 3-class argmax: 2, 1, 0, 0
    logits = np.array([[0.0, 0.0, 1.0], [0.0, 5.0, 1.0], [2.0, 0.0, 1.0], [3.0, 4.0, 0.0]])
    true = np.array([2, 1, 0, 2])
    r = classification_metrics("sims", logits, true)
    # Has0 (sims): truth (1, 0, 0, 1), pred (1, 1, 0, 0) -> 2/4
    assert r["Has0_acc_2"] == pytest.approx(0.5)
    assert r["Acc_3"] == pytest.approx(3 / 4)
    # Non0 rows 0, 2, 3: pred (1, 0, 0) vs reference truth (2, 0, 2): only row 2 matches -> 1/3
    assert r["Non0_acc_2"] == pytest.approx(1 / 3)
    # fixed: truth (1, 0, 1): rows 0, 2 match -> 2/3
    assert classification_metrics("sims", logits, true, fix_non0=True)["Non0_acc_2"] == pytest.approx(2 / 3)
    # mosi Has0: truth class >= 1 -> (1, 1, 0, 1); pred (1, 1, 0, 0) -> 3/4
    assert classification_metrics("mosi", logits, true)["Has0_acc_2"] == pytest.approx(3 / 4)


def test_config_validation():
    with pytest.raises(ConfigError, match="phase2_select"):
        preset("tiny", phase2_select="best")
    with pytest.raises(ConfigError, match="nhead"):
        preset("sims", embed_dim=32, nhead=5)
    assert (preset("sims").transformer_layers, preset("simsv2").nhead, preset("mosi").out_dropout) == (5, 2, 0.5)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread):
    d = tmp_path_factory.mktemp("cmc")
    pkl = write_pickle(make_mmsa_dict(n=(18, 6, 6), seed=5, human=True), d / "t.pkl")
    res = fit_cmc(preset("tiny", phase2_select="valid_loss"), pkl, d / "run", verbose=False)
    return pkl, d / "run", res


@pytest.mark.timeout(120)
def test_tiny_cmc_end_to_end_reads_back(tiny_run):
    pkl, run, res = tiny_run
    r = RunReader(run)
    assert r.status == "finished" and r.manifest["model"] == "cmc" and r.manifest["label_source"] == "plgm"
    assert r.manifest["epochs_completed"] == 4 and res["epochs"] == 4
    m = r.metrics()
    assert sorted(set(zip(m["epoch"], m["phase"]))) == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert {"pred_M/Has0_acc_2", "pred_T/Acc_3", "pred_A_vs_ym/F1_score_3", "pseudo_changed_V"} <= set(m.columns)
    extra = r.labels_extra()
    assert set(extra["split"]) == {"train", "valid", "test"} and sorted(set(extra["epoch"])) == [0, 1, 2, 3, 4]
    # soft vectors are distributions; gates exist in phase 2 only and sum to 1
    soft = extra[[f"soft_T_{c}" for c in ("neg", "neu", "pos")]].to_numpy()
    assert np.allclose(soft.sum(1), 1.0, atol=1e-5)
    p1, p2 = extra[extra["epoch"] == 1], extra[extra["epoch"] == 3]
    assert p1["gate_T"].isna().all() and p1["alpha_T"].notna().all()
    assert np.allclose(p2[["gate_T", "gate_A", "gate_V"]].sum(axis=1), 1.0, atol=1e-5)
    # phase 2 keeps the pseudo labels frozen: epochs 3 and 4 hold the same soft vectors
    e3 = extra[extra["epoch"] == 3].reset_index(drop=True)
    e4 = extra[extra["epoch"] == 4].reset_index(drop=True)
    assert np.array_equal(e3.filter(like="soft_").to_numpy(), e4.filter(like="soft_").to_numpy())
    # labels are E[s]·(−1, 0, 1)·H of the train soft vectors
    lab = r.labels(1).sort_values("index")
    tr = extra[(extra["epoch"] == 1) & (extra["split"] == "train")].sort_values("index")
    assert np.allclose(lab["label_A"].to_numpy(), (tr["soft_A_pos"] - tr["soft_A_neg"]).to_numpy(), atol=1e-6)
    # epoch 0 is one-hot(class(y_m))
    y = r.samples().query("split == 'train'").sort_values("index")["y_m"].to_numpy()
    assert np.allclose(r.labels(0).sort_values("index")["label_V"].to_numpy(), np.sign(y))
    pred = r.predictions(2)
    assert pred["pred_M"].isna().all() and pred["pred_T"].between(-1, 1).all()
    assert r.predictions(4)["pred_M"].notna().all()
    assert set(r.manifest["test"]) >= {"Has0_acc_2", "Acc_3", "F1_score_3", "loss"}


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "missing.pkl"), "--preset", "tiny", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["--data", "x.pkl", "--preset", "tiny", "--out", str(tmp_path / "r"), "--set", "nope=1"]) == 2
    assert "unknown CMC config key" in capsys.readouterr().err


def test_cmc_refuses_token_ids_beyond_the_vocabulary_in_one_line(tmp_path, capsys):
    d = make_mmsa_dict(n=(6, 3, 3))
    d["valid"]["text_bert"][2, 0, 1] = 40000  # a bert-base-uncased-sized id in a SIMS (21,128-entry) file
    p = write_pickle(d, tmp_path / "v.pkl")
    argv = ["--data", str(p), "--preset", "tiny", "--out", str(tmp_path / "r"), "-q", "--threads", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{p}: split 'valid', key 'text_bert': token id 40000 at row 2" in err[0]
