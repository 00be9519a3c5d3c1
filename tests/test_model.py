"""selfmm.model: shapes and named outputs, packing, text encoders, the five optimiser groups, error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfmm.config import preset
from selfmm.data import BatchLoader, load_mmsa
from selfmm.model import SelfMM, TextModelNotFound, build_optimizer
from tests.mmsa_fixture import make_mmsa_dict, write_pickle
from tests.reference_mmsa import load_reference_model

DIMS = {"text": 16, "audio": 5, "vision": 7}


pytestmark = pytest.mark.usefixtures("one_thread")


def small_cfg(**kw):
    base = dict(tiny_bert_hidden=16, tiny_bert_layers=1, tiny_bert_heads=2, batch_size=4)
    return preset("tiny", **{**base, **kw})


@pytest.fixture(scope="module")
def data_paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    return {
        "unaligned": write_pickle(make_mmsa_dict(n=(9, 4, 4), seed=1), d / "u.pkl"),
        "aligned": write_pickle(make_mmsa_dict(n=(9, 4, 4), seed=2, aligned=True), d / "a.pkl"),
    }


def _batch(path, text_mode="bert", bs=4):
    data = load_mmsa(path, dataset="sims", text_mode=text_mode)
    batch = next(iter(BatchLoader(data.splits["train"], bs, False, None, text_mode)))
    return data, batch


def _run(model, b):
    return model(b["text"], b["audio"], b["audio_lengths"], b["vision"], b["vision_lengths"])


@pytest.mark.parametrize("kind", ["unaligned", "aligned"])
def test_forward_shapes_and_names(data_paths, kind):
    torch.manual_seed(0)
    cfg = small_cfg()
    data, b = _batch(data_paths[kind])
    model = SelfMM(cfg, data.feature_dims)
    out = _run(model, b)
    assert set(out.pred) == set(out.feat) == {"M", "T", "A", "V"} and set(out.enc) == {"T", "A", "V"}
    assert all(out.pred[m].shape == (4,) for m in "MTAV")
    assert out.feat["M"].shape == (4, cfg.post_fusion_dim) and out.feat["T"].shape == (4, cfg.post_text_dim)
    assert out.feat["A"].shape == (4, cfg.post_audio_dim) and out.feat["V"].shape == (4, cfg.post_video_dim)
    assert out.enc["T"].shape == (4, 16) and out.enc["A"].shape == (4, 16) and out.enc["V"].shape == (4, 32)
    assert all((out.feat[m] >= 0).all() for m in "MTAV")  # F* is taken after the ReLU


def test_batch_size_one(data_paths):
    torch.manual_seed(0)
    data, b = _batch(data_paths["unaligned"], bs=1)
    out = _run(SelfMM(small_cfg(), data.feature_dims), b)
    assert out.pred["M"].shape == (1,) and out.enc["A"].shape == (1, 16)


def test_packing_ignores_padding_and_cls_is_last_layer(data_paths):
    """Frames past a sample's length do not change its output; enc T is the last layer's [CLS] row."""
    torch.manual_seed(0)
    data, b = _batch(data_paths["unaligned"])
    model = SelfMM(small_cfg(), data.feature_dims).eval()
    with torch.no_grad():
        out = _run(model, b)
        b2 = dict(b)
        audio = b["audio"].clone()
        for i, n in enumerate(b["audio_lengths"].tolist()):
            audio[i, n:] = 99.0  # garbage in the padding
        b2["audio"] = audio
        out2 = _run(model, b2)
        torch.testing.assert_close(out2.enc["A"], out.enc["A"], rtol=0, atol=0)
        # a change inside the valid frames does change it
        audio[0, 0] += 1.0
        assert not torch.equal(_run(model, b2).enc["A"][0], out.enc["A"][0])
        t = b["text"]
        hs = model.text_model.model(input_ids=t[:, 0].long(), attention_mask=t[:, 1], token_type_ids=t[:, 2].long())
        torch.testing.assert_close(out.enc["T"], hs.last_hidden_state[:, 0])


def test_precomputed_text_mode(data_paths):
    torch.manual_seed(0)
    cfg = small_cfg(text_mode="precomputed", text_lstm_hidden=12)
    data, b = _batch(data_paths["unaligned"], text_mode="precomputed")
    assert b["text"].shape[-1] == 16
    model = SelfMM(cfg, data.feature_dims)
    out = _run(model, b)
    assert out.enc["T"].shape == (4, 12) and out.pred["M"].shape == (4,)
    groups = {g["name"]: g for g in build_optimizer(model, cfg).param_groups}
    assert groups["bert_decay"]["params"] == [] and groups["bert_no_decay"]["params"] == []
    text_ids = {id(p) for p in model.text_model.parameters()}
    assert text_ids <= {id(p) for p in groups["other"]["params"]}


def test_five_optimizer_groups():
    torch.manual_seed(0)
    cfg = small_cfg(learning_rate_bert=1e-5, weight_decay_bert=0.5, learning_rate_audio=2e-3, weight_decay_audio=0.2,
                    learning_rate_video=3e-3, weight_decay_video=0.3, learning_rate_other=4e-3, weight_decay_other=0.4)  # fmt: skip
    model = SelfMM(cfg, DIMS)
    opt = build_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.Adam)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: g for g in opt.param_groups}
    assert list(groups) == ["bert_decay", "bert_no_decay", "audio", "video", "other"]
    expect = {"bert_decay": (1e-5, 0.5), "bert_no_decay": (1e-5, 0.0), "audio": (2e-3, 0.2), "video": (3e-3, 0.3),
              "other": (4e-3, 0.4)}  # fmt: skip
    for k, (lr, wd) in expect.items():
        assert (groups[k]["lr"], groups[k]["weight_decay"]) == (lr, wd)
    member = {k: sorted(names[id(p)] for p in g["params"]) for k, g in groups.items()}
    assert sum(len(v) for v in member.values()) == len(names)  # every parameter exactly once
    assert "text_model.model.embeddings.LayerNorm.weight" in member["bert_no_decay"]
    assert "text_model.model.encoder.layer.0.attention.self.query.bias" in member["bert_no_decay"]
    assert "text_model.model.encoder.layer.0.attention.self.query.weight" in member["bert_decay"]
    assert "text_model.model.embeddings.word_embeddings.weight" in member["bert_decay"]
    assert all(n.startswith("text_model.") for n in member["bert_decay"] + member["bert_no_decay"])
    assert not any("bias" in n or "LayerNorm" in n for n in member["bert_decay"])
    assert all(n.startswith("audio_model.") for n in member["audio"]) and len(member["audio"]) == 6
    assert all(n.startswith("video_model.") for n in member["video"]) and len(member["video"]) == 6
    assert all(n.startswith("post_") for n in member["other"]) and len(member["other"]) == 4 * 6


def test_frozen_bert_gets_no_gradient(data_paths):
    torch.manual_seed(0)
    data, b = _batch(data_paths["unaligned"])
    model = SelfMM(small_cfg(finetune_bert=False), data.feature_dims)
    _run(model, b).pred["M"].sum().backward()
    assert all(p.grad is None for p in model.text_model.parameters())
    assert model.post_fusion.layer_1.weight.grad is not None and model.audio_model.rnn.weight_ih_l0.grad is not None


def test_tiny_vocab_per_dataset():
    """The tiny text model's vocabulary is the dataset's WordPiece vocabulary (token ids are checked against it by
    selfmm.data.check_token_ids, tests/test_data.py)."""
    assert SelfMM(small_cfg(), DIMS).text_vocab_size == 21128
    assert SelfMM(small_cfg(dataset="mosi", H=3.0), DIMS).text_vocab_size == 30522


def test_missing_text_model_message(tmp_path):
    with pytest.raises(TextModelNotFound) as e:
        SelfMM(small_cfg(), DIMS, text_model_path="no-such-org/no-such-bert")
    msg = str(e.value)
    assert "--text-model" in msg and "config.json" in msg and "vocab" in msg and "tiny" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextModelNotFound, match="no config.json"):
        SelfMM(small_cfg(), DIMS, text_model_path=str(tmp_path / "empty"))


def test_local_bert_directory_loads(tmp_path):
    """A folder holding config.json + weights loads through AutoModel and gives identical outputs."""
    torch.manual_seed(0)
    src = SelfMM(small_cfg(), DIMS)
    src.text_model.model.save_pretrained(tmp_path / "bert")
    loaded = SelfMM(small_cfg(), DIMS, text_model_path=str(tmp_path / "bert"))
    ids = torch.tensor([[101.0, 2000, 3000, 102, 0]])
    text = torch.stack([ids, (ids > 0).float(), torch.zeros_like(ids)], 1)
    src.eval(), loaded.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(loaded.text_model(text).numpy(), src.text_model(text).numpy())


# --------------------------------------------------------------------------------------------------------------
# equivalence with the authors' model (MMSA 2.2.1 models/multiTask/SELF_MM.py)


def _to_reference_name(name: str) -> str:
    for ours, ref in (("post_fusion.", "post_fusion_"), ("post_text.", "post_text_"), ("post_audio.", "post_audio_"),
                      ("post_video.", "post_video_"), ("audio_model.linear.", "audio_model.linear_1."),
                      ("video_model.linear.", "video_model.linear_1.")):  # fmt: skip
        if name.startswith(ours):
            return ref + name[len(ours) :]
    return name


@pytest.mark.timeout(60)
def test_matches_mmsa_model_forward_and_optimizer_groups(data_paths, reference_args):
    """Same weights and seed -> bitwise-equal predictions and ULGM features (eval AND train mode, i.e. the same
    dropout draws in the same order); the reference's optimiser grouping picks the same parameters. With the
    bitwise-MMSA switches (the defaults [CLS]-only last layer and fused LSTM differ by float32 rounding)."""
    SELF_MM = load_reference_model()
    cfg = small_cfg(post_text_dropout=0.3, post_audio_dropout=0.2, post_fusion_dropout=0.1, post_video_dropout=0.1,
                    bert_last_layer="full", lstm_backward="exact")  # fmt: skip
    data, b = _batch(data_paths["unaligned"])
    torch.manual_seed(0)
    ours = SelfMM(cfg, data.feature_dims)
    args = reference_args(cfg, data.feature_dims)
    ref = SELF_MM(args)
    ours_sd = ours.state_dict()
    ref.load_state_dict({_to_reference_name(k): v for k, v in ours_sd.items()}, strict=True)
    feat_key = {"M": "Feature_f", "T": "Feature_t", "A": "Feature_a", "V": "Feature_v"}
    for mode in ("eval", "train"):
        getattr(ours, mode)(), getattr(ref, mode)()
        torch.manual_seed(123)
        o = _run(ours, b)
        torch.manual_seed(123)
        r = ref(b["text"], (b["audio"], b["audio_lengths"]), (b["vision"], b["vision_lengths"]))
        for m in "MTAV":
            assert torch.equal(o.pred[m], r[m].squeeze(-1)), (mode, m)
            assert torch.equal(o.feat[m], r[feat_key[m]]), (mode, m)
    # optimiser groups: the reference's rule applied to its own parameter names
    nd = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
    ref_named = dict(ref.named_parameters())
    ref_groups = [
        [n for n in ref_named if n.startswith("text_model.") and not any(x in n for x in nd)],
        [n for n in ref_named if n.startswith("text_model.") and any(x in n for x in nd)],
        [n for n in ref_named if n.startswith("audio_model.")],
        [n for n in ref_named if n.startswith("video_model.")],
        [n for n in ref_named if not n.startswith(("text_model.", "audio_model.", "video_model."))],
    ]
    names = {id(p): _to_reference_name(n) for n, p in ours.named_parameters()}
    our_groups = [[names[id(p)] for p in g["params"]] for g in build_optimizer(ours, cfg).param_groups]
    assert [sorted(g) for g in our_groups] == [sorted(g) for g in ref_groups]


def _ragged_case(B: int, T: int, D: int, H: int, seed: int):
    """An nn.LSTM(D, H) (global-RNG init, as nn.LSTM does), a (B, T, D) input and ragged lengths that include T,
    1 and (B > 3) a tie, drawn from a generator seeded with ``seed``; the generator is returned so a test can draw
    more from it in the same order."""
    g = torch.Generator().manual_seed(seed)
    rnn = torch.nn.LSTM(D, H, batch_first=True)
    x = torch.randn(B, T, D, generator=g)
    lens = torch.randint(1, T + 1, (B,), generator=g)
    lens[0], lens[-1] = T, 1
    if B > 3:
        lens[2] = lens[1]
    return g, rnn, x, lens


@pytest.mark.parametrize("threads", [1, 2])
def test_packed_lstm_is_bitwise_nn_lstm(threads):
    """The audio/vision LSTM's faster path (selfmm.model.packed_lstm_h_n) gives bitwise the h_n and parameter
    gradients of nn.LSTM on packed input: ragged lengths incl. 1 and ties, SIMS-audio size, 1 and 2 threads."""
    from torch.nn.utils.rnn import pack_padded_sequence

    from selfmm.model import AuViSubNet, packed_lstm_h_n

    n = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for B, T, D, H, seed in [(32, 400, 33, 16, 0), (5, 7, 3, 4, 2), (2, 9, 3, 4, 3), (8, 55, 70, 64, 4)]:
            g, rnn, x, lens = _ragged_case(B, T, D, H, seed)
            res = []
            for fast in (False, True):
                rnn.zero_grad()
                pk = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
                h_n = packed_lstm_h_n(rnn, pk) if fast else rnn(pk)[1][0]
                weights = torch.arange(h_n.numel(), dtype=torch.float32).reshape(h_n.shape).sin()
                (h_n * weights).sum().backward()
                res.append((h_n.detach().clone(), [p.grad.clone() for p in rnn.parameters()]))
            assert torch.equal(res[0][0], res[1][0]), (B, T)
            for a, b in zip(res[0][1], res[1][1], strict=True):
                assert torch.equal(a, b), (B, T)
            assert res[0][1][0].abs().sum() > 0  # gradients did flow
        # the subnet: the fast path and nn.LSTM (fast=False) agree bitwise; equal lengths take nn.LSTM's path
        sub = AuViSubNet(6, 8, 4, 0.0, lstm="exact")
        x = torch.randn(4, 10, 6, generator=torch.Generator().manual_seed(9))
        for lens in (torch.tensor([10, 3, 7, 1]), torch.tensor([5, 5, 5, 5])):
            outs = []
            for fast in (True, False):
                sub.fast = fast
                sub.zero_grad()
                y = sub(x, lens)
                y.sum().backward()
                outs.append((y.detach(), sub.rnn.weight_hh_l0.grad.clone()))
            assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize("threads,script", [(1, True), (2, True), (1, False)])
def test_fused_lstm_forward_and_gradients_as_close_to_float64(threads, script):
    """lstm_backward="fused" (selfmm.lstm.fused_lstm_h_n, the default): h_n and every gradient (parameters and
    input) no further from a float64 nn.LSTM's than nn.LSTM's own float32 result plus 1e-6, relative to the
    largest entry (nn.LSTM's own error reaches 1.0e-6 at 2 threads): the fused forward (gates reordered, both
    biases added once, addcmul) and the hand-written backward only reorder float32 sums and products. Ragged
    lengths incl. 1 and ties, SIMS audio and vision sizes, an input that requires grad too."""
    from torch.nn.utils.rnn import pack_padded_sequence

    from selfmm.lstm import fused_lstm_h_n, use_torchscript
    from selfmm.model import AuViSubNet

    n = torch.get_num_threads()
    torch.set_num_threads(threads)
    use_torchscript(script)
    try:
        for B, T, D, H, seed in [(32, 400, 33, 16, 0), (5, 7, 3, 4, 2), (2, 9, 3, 4, 3), (32, 55, 709, 64, 4)]:
            g, rnn, x, lens = _ragged_case(B, T, D, H, seed)
            weights = torch.randn(1, B, H, generator=g)
            res = {}
            for name, dtype in (("native", torch.float32), ("fused", torch.float32), ("f64", torch.float64)):
                rnn.to(dtype).zero_grad()
                xi = x.to(dtype).detach().clone().requires_grad_(True)
                pk = pack_padded_sequence(xi, lens, batch_first=True, enforce_sorted=False)
                h_n = fused_lstm_h_n(rnn, pk) if name == "fused" else rnn(pk)[1][0]
                (h_n * weights.to(dtype)).sum().backward()
                res[name] = (h_n.detach().double(), [p.grad.double() for p in rnn.parameters()] + [xi.grad.double()])
            rnn.float()
            assert not torch.equal(res["fused"][0], res["f64"][0])  # float32, not float64's
            fused = [res["fused"][0], *res["fused"][1]]
            for ours, native, ref in zip(fused, [res["native"][0], *res["native"][1]], [res["f64"][0], *res["f64"][1]],
                                         strict=True):  # fmt: skip
                scale = ref.abs().max()
                err, err_native = (ours - ref).abs().max() / scale, (native - ref).abs().max() / scale
                assert err <= err_native + 1e-6 and err <= 2e-6, (B, T, float(err), float(err_native))
                assert not torch.equal(ours, torch.zeros_like(ours))
        # the subnet follows cfg.lstm_backward; eval mode and equal lengths take nn.LSTM's own path
        sub = AuViSubNet(6, 8, 4, 0.0, lstm="fused")
        x = torch.randn(4, 10, 6, generator=torch.Generator().manual_seed(9))
        lens = torch.tensor([10, 3, 7, 1])
        outs = []
        for path in ("fused", "exact"):
            sub.lstm = path
            sub.zero_grad()
            y = sub(x, lens)
            y.sum().backward()
            outs.append((y.detach(), sub.rnn.weight_hh_l0.grad.clone()))
        torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-5, atol=1e-7)
    finally:
        torch.set_num_threads(n)
        use_torchscript(True)


def test_lstm_backward_switch_reaches_the_subnets():
    from selfmm.config import ConfigError

    torch.manual_seed(0)
    assert preset("sims").lstm_backward == "fused"  # default; "exact" is bitwise MMSA (tests/test_train.py)
    model = SelfMM(small_cfg(lstm_backward="exact"), {"audio": 5, "vision": 6})
    assert model.audio_model.lstm == model.video_model.lstm == "exact"
    with pytest.raises(ConfigError, match="lstm_backward"):
        small_cfg(lstm_backward="fast")


@pytest.mark.parametrize("threads,script", [(1, True), (2, True), (1, False)])
def test_exact_lstm_is_bitwise_nn_lstm(threads, script):
    """lstm_backward="exact" (selfmm.lstm.exact_lstm_h_n, the bitwise-MMSA training path): h_n and the gradients of
    every parameter and of the input bitwise those of nn.LSTM on packed input (ragged lengths incl. 1 and ties,
    SIMS audio and vision sizes, MOSEI-like audio, 1 and 2 threads), also when gradients accumulate over two
    backward passes (update_epochs > 1); with the loops TorchScript-compiled (the default) and in plain Python."""
    from torch.nn.utils.rnn import pack_padded_sequence

    from selfmm.lstm import exact_lstm_h_n, use_torchscript

    n = torch.get_num_threads()
    torch.set_num_threads(threads)
    use_torchscript(script)
    try:
        cases = [(32, 400, 33, 16, 0), (5, 7, 3, 4, 2), (2, 9, 3, 4, 3), (32, 55, 709, 64, 4), (16, 500, 74, 16, 6)]
        for B, T, D, H, seed in cases:
            g, rnn, x, lens = _ragged_case(B, T, D, H, seed)
            weights = torch.randn(1, B, H, generator=g)
            res = []
            for exact in (False, True):
                rnn.zero_grad()
                xi = x.clone().requires_grad_(True)
                for k in (1.0, -0.5):  # two passes: the second adds to the first's .grad
                    pk = pack_padded_sequence(xi, lens, batch_first=True, enforce_sorted=False)
                    h_n = exact_lstm_h_n(rnn, pk) if exact else rnn(pk)[1][0]
                    (h_n * weights * k).sum().backward()
                res.append([h_n.detach()] + [p.grad.clone() for p in rnn.parameters()] + [xi.grad.clone()])
            for a, b in zip(*res, strict=True):
                assert torch.equal(a, b), (B, T)
            assert res[1][1].abs().sum() > 0
    finally:
        torch.set_num_threads(n)
        use_torchscript(True)


def _flatten_like_cudnn(rnn: torch.nn.LSTM) -> torch.Tensor:
    """Make the LSTM's weights views of one flat buffer, the layout cuDNN gives them on CUDA."""
    params = [getattr(rnn, n) for n in rnn._flat_weights_names]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        p.data = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    return flat


def test_weights_save_and_load_with_cudnn_flattened_lstm_weights(tmp_path):
    """On CUDA every LSTM weight is a view of one cuDNN buffer, which safetensors' save_model refused ("None is
    covering the entire storage": no run could be saved on a GPU). save_module writes each from its own copy and
    load_module copies into the flattened views, keeping them views."""
    from safetensors.torch import save_model

    from selfmm.checkpoint import load_module, save_module

    torch.manual_seed(0)
    model = SelfMM(small_cfg(), DIMS)
    flat = _flatten_like_cudnn(model.audio_model.rnn)
    with pytest.raises(RuntimeError, match="None is covering the entire storage"):
        save_model(model, str(tmp_path / "refused.safetensors"))
    save_module(model, tmp_path / "model.safetensors", epoch=3)
    from selfmm.runs.weights import stamp_of

    assert stamp_of(tmp_path / "model.safetensors") == 3
    torch.manual_seed(1)
    fresh = SelfMM(small_cfg(), DIMS)
    fresh_flat = _flatten_like_cudnn(fresh.audio_model.rnn)
    load_module(fresh, tmp_path / "model.safetensors")
    for k, v in model.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k
    assert torch.equal(fresh_flat, flat)  # loaded through the views into the one buffer
    assert fresh.audio_model.rnn.weight_ih_l0.untyped_storage().data_ptr() == fresh_flat.untyped_storage().data_ptr()
