"""BERT's last layer for the [CLS] row alone (``bert_last_layer="cls"``, the default).

Self-MM reads one vector from BERT: the last layer's hidden state at position 0. In that layer every other row
is dead computation. Keys and values are still needed for every token, but the query, the attention output, both
LayerNorms and the feed-forward network are only needed for [CLS]. At the SIMS benchmark shape (BERT 128 x 2, 39
tokens) that cuts the text encoder's forward + backward by about a quarter; for BERT-base by about 1/13.

It is the same computation, not an approximation:

- the layer's three dropouts draw masks of the full shape, in the same order, with the same ATen calls as the
  full layer (``empty(shape).bernoulli_(1 - p).div_(1 - p)``, what ``at::dropout`` does on the CPU), and keep the
  [CLS] rows. The random stream, and every later draw, is the one the full model would consume;
- in training the attention replays SDPA's math path (the CPU kernel SDPA picks when dropout is on): q and k
  each scaled by sqrt(scale), the boolean mask turned additive, ``_safe_softmax``, dropout, ``attn @ v``.

With the query rows set to all tokens, :func:`cls_layer_forward` is bitwise the layer's own forward: outputs,
gradients and the generator state (``tests/test_bert_cls.py``, the net for a transformers upgrade). With [CLS]
alone the matmuls have other shapes, so results differ from the full layer by float32 rounding only (the
[CLS] output by about 1e-7 relative; the gradients within 1e-6 of their scale): a run is then not bitwise
MMSA's. ``bert_last_layer="full"`` runs the layer unchanged, and with it a run is bitwise MMSA 2.2.1's
(``tests/test_train.py``).

Patched only where those facts were checked: a ``transformers`` ``BertModel`` (no decoder, no cross-attention,
no feed-forward chunking) whose attention is ``sdpa``. At run time the patched layer falls back to its own forward
off the CPU (CUDA's dropout and SDPA kernels draw their random numbers differently) and under autocast.
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PATCH_ATTR = "_selfmm_cls_only"  # set on the patched layer (tests, the train header)


def _noise(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """``at::dropout``'s CPU noise for a tensor of ``shape``: Bernoulli(1 - p) / (1 - p), same draws, same order."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1 - p).div_(1 - p)


def _dropout_rows(x: Tensor, module: nn.Dropout, full_shape: tuple[int, ...], rows: int, training: bool) -> Tensor:
    """``module(x_full)[..., :rows, :]`` for ``x`` = the first ``rows`` rows (dim -2) of a ``full_shape`` tensor."""
    if not training or module.p == 0:
        return x
    return x * _noise(full_shape, module.p, x)[..., :rows, :]


def _query_rows_of_mask(mask: Tensor | None, rows: int) -> Tensor | None:
    # HF's 4-D masks are (B or 1, 1, Q or 1, L); a mask per query row keeps the rows asked for
    if mask is None or mask.shape[-2] == 1:
        return mask
    return mask[..., :rows, :]


def _attention(att: nn.Module, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, n_tokens: int) -> Tensor:
    """(B, heads, rows, d) context for the query rows ``q`` against every token's ``k``, ``v``."""
    p = att.dropout.p if att.training else 0.0
    if p == 0.0:  # no random draws: SDPA's own kernel, whatever it picks
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=att.scaling)
    sf = math.sqrt(att.scaling)  # SDPA's math path: sqrt(scale) on q and on k
    attn = torch.matmul(q * sf, k.transpose(-2, -1) * sf)
    if mask is not None:
        if mask.dtype == torch.bool:  # convert_boolean_attn_mask: False -> -inf
            mask = torch.zeros_like(mask, dtype=attn.dtype).masked_fill_(mask.logical_not(), -math.inf)
        attn.add_(mask)
    attn = torch.ops.aten._safe_softmax(attn, -1)
    b, heads, rows, _ = attn.shape
    attn = attn * _noise((b, heads, n_tokens, n_tokens), p, attn)[:, :, :rows]
    return torch.matmul(attn, v)


def cls_layer_forward(layer: nn.Module, hidden_states: Tensor, attention_mask: Tensor | None, rows: int = 1) -> Tensor:
    """A ``BertLayer``'s output for the first ``rows`` positions only: (B, L, H) -> (B, rows, H).

    ``rows = L`` is the layer's own forward, bitwise (the tests' check on this replica)."""
    b, n, h = hidden_states.shape
    att = layer.attention.self
    heads, hd = att.num_attention_heads, att.attention_head_size
    q = att.query(hidden_states[:, :rows]).view(b, rows, heads, hd).transpose(1, 2)
    k = att.key(hidden_states).view(b, n, heads, hd).transpose(1, 2)
    v = att.value(hidden_states).view(b, n, heads, hd).transpose(1, 2)
    ctx = _attention(att, q, k, v, _query_rows_of_mask(attention_mask, rows), n)
    ctx = ctx.transpose(1, 2).reshape(b, rows, h).contiguous()
    so = layer.attention.output  # BertSelfOutput: dense -> dropout -> LayerNorm(+ residual)
    x = _dropout_rows(so.dense(ctx), so.dropout, (b, n, h), rows, so.training)
    attention_output = so.LayerNorm(x + hidden_states[:, :rows])
    out = layer.output  # BertOutput, after BertIntermediate
    x = _dropout_rows(out.dense(layer.intermediate(attention_output)), out.dropout, (b, n, h), rows, out.training)
    return out.LayerNorm(x + attention_output)


_CROSS_OR_CACHE = ("encoder_hidden_states", "encoder_attention_mask", "past_key_values")


def _patched_forward(self, hidden_states: Tensor, attention_mask: Tensor | None = None, *args, **kwargs) -> Tensor:
    # BertEncoder passes encoder_hidden_states positionally (None for an encoder); anything set there, a cache,
    # another device or autocast: the layer's own forward (see the module docstring)
    other = any(a is not None for a in args) or any(kwargs.get(k) is not None for k in _CROSS_OR_CACHE)
    if other or not hidden_states.is_cpu or torch.is_autocast_enabled("cpu"):
        return type(self).forward(self, hidden_states, attention_mask, *args, **kwargs)
    return cls_layer_forward(self, hidden_states, attention_mask, rows=1)


def supports_cls_only(bert: nn.Module) -> bool:
    """Whether ``bert`` is a model this module's replica was checked against (module docstring)."""
    try:
        from transformers import BertModel
    except ImportError:  # pragma: no cover - transformers is a dependency
        return False
    cfg = getattr(bert, "config", None)
    return (
        type(bert) is BertModel
        and cfg is not None
        and getattr(cfg, "_attn_implementation", None) == "sdpa"
        and not cfg.is_decoder
        and not cfg.add_cross_attention
        and not cfg.chunk_size_feed_forward
        and len(bert.encoder.layer) > 0
    )


def use_cls_only(bert: nn.Module) -> bool:
    """Make ``bert``'s last layer compute the [CLS] row only (its ``last_hidden_state`` becomes (B, 1, H)).

    The layer's forward is replaced on the instance, so parameter names, state dicts and checkpoints are
    unchanged. Returns False (and changes nothing) for a model :func:`supports_cls_only` does not accept."""
    if not supports_cls_only(bert):
        return False
    layer = bert.encoder.layer[-1]
    layer.forward = types.MethodType(_patched_forward, layer)
    setattr(layer, PATCH_ATTR, True)
    return True


__all__ = ["cls_layer_forward", "supports_cls_only", "use_cls_only"]
