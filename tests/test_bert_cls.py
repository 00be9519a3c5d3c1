"""BERT's last layer for [CLS] alone (selfmm/bert_cls.py): the replica of the layer is bitwise the layer, and the
[CLS]-only layer is the same computation to float32 rounding, drawing the same dropout masks."""

from __future__ import annotations

import copy
import types

import pytest
import torch

from selfmm.bert_cls import PATCH_ATTR, cls_layer_forward, supports_cls_only, use_cls_only

B, L = 6, 9


def _bert(layers: int = 2, **kw):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=64, **kw)  # fmt: skip
    return BertModel(cfg, add_pooling_layer=False)


def _inputs(padded: bool):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 100, (B, L), generator=g)
    mask = torch.ones(B, L)
    if padded:  # one sample full length, the others shorter
        lengths = torch.tensor([L, 1, 3, 5, 7, 8])
        mask = (torch.arange(L) < lengths[:, None]).float()
    return ids, mask


def _run(bert, ids, mask, seed: int = 3):
    """[CLS] of the last layer, every parameter's gradient of a non-degenerate loss, the generator state after."""
    torch.manual_seed(seed)
    bert.zero_grad(set_to_none=True)
    cls = bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state[:, 0]
    # not sum(cls ** 2): after a LayerNorm that is nearly constant and its gradients are rounding noise
    cls.mul(torch.linspace(-1.0, 2.0, cls.shape[-1])).sum().backward()
    grads = {n: p.grad.clone() for n, p in bert.named_parameters() if p.grad is not None}
    return cls.detach(), grads, torch.get_rng_state()


def _replica_of_every_row(bert) -> None:
    layer = bert.encoder.layer[-1]
    layer.forward = types.MethodType(lambda s, h, m=None, *a, **k: cls_layer_forward(s, h, m, rows=h.shape[1]), layer)


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_replica_of_the_last_layer_is_bitwise_the_layer(padded, training):
    """With every row as a query the replica is the layer's own forward bit for bit: outputs, gradients and the
    random draws. This is the check that fails first if a transformers upgrade changes BertLayer or SDPA."""
    ids, mask = _inputs(padded)
    bert = _bert().train(training)
    ref = _run(bert, ids, mask)
    _replica_of_every_row(bert)
    got = _run(bert, ids, mask)
    assert torch.equal(ref[0], got[0])
    assert ref[1].keys() == got[1].keys()
    assert all(torch.equal(ref[1][k], got[1][k]) for k in ref[1])
    assert torch.equal(ref[2], got[2])


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_cls_only_is_the_full_layer_to_float32_rounding(padded, training):
    ids, mask = _inputs(padded)
    bert = _bert().train(training)
    full = _run(bert, ids, mask)
    assert use_cls_only(bert)
    cls = _run(bert, ids, mask)
    # the same dropout draws: the generator ends in the same state, and the outputs agree to rounding
    assert torch.equal(full[2], cls[2])
    torch.testing.assert_close(cls[0], full[0], rtol=0, atol=2e-6 * float(full[0].abs().max()))
    assert full[1].keys() == cls[1].keys()
    scale = max(float(g.abs().max()) for g in full[1].values())
    for k in full[1]:  # key.bias has a zero gradient in exact arithmetic: both sides are rounding noise there
        torch.testing.assert_close(cls[1][k], full[1][k], rtol=0, atol=1e-6 * scale, msg=k)


def test_cls_only_with_other_dropout_masks_would_differ():
    """The test above can fail: drawing the masks for the [CLS] rows alone (a different random stream) moves the
    output far beyond rounding."""
    ids, mask = _inputs(False)
    bert = _bert().train()
    full = _run(bert, ids, mask)
    layer = bert.encoder.layer[-1]

    def own_draws(s, h, m=None, *a, **k):  # nn.Dropout on the [CLS] rows: masks of another shape
        out = cls_layer_forward(s.eval(), h, m, rows=1)
        s.train()
        return torch.nn.functional.dropout(out, 0.1, training=True)

    layer.forward = types.MethodType(own_draws, layer)
    other = _run(bert, ids, mask)
    assert (other[0] - full[0]).abs().max() > 1e-2 * full[0].abs().max()  # far outside the 2e-6 above


def test_patch_keeps_names_state_and_copies():
    bert = _bert()
    keys = list(bert.state_dict())
    assert use_cls_only(bert) and getattr(bert.encoder.layer[-1], PATCH_ATTR)
    assert not hasattr(bert.encoder.layer[0], PATCH_ATTR)  # only the last layer
    assert list(bert.state_dict()) == keys  # checkpoints are unchanged
    twin = copy.deepcopy(bert)  # the bound forward follows the copy
    ids, mask = _inputs(True)
    bert.eval(), twin.eval()
    with torch.no_grad():
        a = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        b = twin(input_ids=ids, attention_mask=mask).last_hidden_state
    assert a.shape == (B, 1, 32) and torch.equal(a, b)


def test_falls_back_to_the_full_layer_under_autocast():
    bert = _bert().eval()
    use_cls_only(bert)
    ids, mask = _inputs(False)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert out.shape == (B, L, 32)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _bert(attn_implementation="eager"),  # another attention code path
        lambda: _bert(is_decoder=True),
        lambda: _bert(chunk_size_feed_forward=4),
    ],
    ids=["eager-attention", "decoder", "chunked-feed-forward"],
)
def test_unchecked_models_are_left_alone(make):
    bert = make()
    assert not supports_cls_only(bert)
    assert not use_cls_only(bert) and not hasattr(bert.encoder.layer[-1], PATCH_ATTR)


def test_roberta_is_left_alone():
    from transformers import RobertaConfig, RobertaModel

    m = RobertaModel(RobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                   intermediate_size=64))  # fmt: skip
    assert not use_cls_only(m)


def test_selfmm_text_encoder_switch():
    from selfmm.model import SelfMM
    from tests.test_train import small_cfg

    dims = {"text": 8, "audio": 5, "vision": 7}
    assert SelfMM(small_cfg(), dims).text_model.cls_only  # the default
    assert not SelfMM(small_cfg(bert_last_layer="full"), dims).text_model.cls_only
