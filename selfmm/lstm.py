"""Final hidden state of a packed 1-layer LSTM (the audio/vision subnets) for CPU training, three implementations.

Each takes a ``PackedSequence`` built with ``enforce_sorted=False`` and ragged lengths and returns ``h_n``
(1, B, hidden) in the original batch order, the state at each sample's own length, as ``nn.LSTM(packed)[1][0]``.

- :func:`packed_lstm_h_n`: the very operations of PyTorch's CPU packed LSTM, recorded by autograd, with the input
  projection cut by one ``split`` (``nn.LSTM``'s per-step ``narrow`` costs O(T^2) in its backward). Forward values
  and gradients bitwise ``nn.LSTM``'s. The reference the two others are tested against.
- :func:`exact_lstm_h_n` (``lstm_backward="exact"``, bitwise MMSA): the same forward operations run without
  autograd into preallocated buffers, and a backward that calls, step by step, the kernels autograd would call on
  operands of the same shapes and strides, summing in autograd's order: bitwise ``nn.LSTM``'s gradients too, minus
  autograd's per-node bookkeeping, zero-filled slice gradients and per-step concatenations.
- :func:`fused_lstm_h_n` (``lstm_backward="fused"``, the default): the same forward; a hand-written backward with only
  the recurrence per time step (one matmul, four elementwise ops) and the weight and bias gradients as one matmul
  over all steps. ``nn.LSTM``'s backward is per-step operator overhead (SIMS audio: 400 steps of a 16-wide LSTM);
  this one runs about 2-2.5x faster. Gradients differ from ``nn.LSTM``'s by float32 summation order only:
  tests/test_model.py checks both against float64 to the same bound.

Packed layout (``torch.nn.utils.rnn``): rows of time step t are ``data[off[t] : off[t] + bs[t]]`` with
``bs`` = ``batch_sizes`` non-increasing; row j of a step is sample j in length-sorted order.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor, nn


def _check(rnn: nn.LSTM) -> None:
    if rnn.num_layers != 1 or rnn.bidirectional or not rnn.bias or rnn.proj_size:
        raise ValueError("packed LSTM: only 1-layer, unidirectional LSTMs with biases")


def packed_lstm_h_n(rnn: nn.LSTM, packed) -> Tensor:
    """``rnn(packed)[1][0]``, the final hidden state (1, B, hidden) in the original batch order, computed with
    the very operations of PyTorch's CPU packed LSTM (``aten/src/ATen/native/RNN.cpp``, ``PackedLayer`` +
    ``LSTMCell``), so forward values and gradients are bitwise equal to ``nn.LSTM`` (tests/test_model.py checks
    it with ``torch.equal``). 1 layer, unidirectional, batch_first input packed with ``enforce_sorted=False``,
    lengths not all equal (with equal lengths PyTorch takes its oneDNN path, whose rounding differs: callers keep
    ``nn.LSTM`` there).

    Why: the native layer slices the precomputed input projection once per time step with ``narrow``; autograd
    turns each slice into a zero-filled tensor of the whole projection's size plus an add, O(T^2) work (on SIMS
    audio, T=400, about 90 % of the audio subnet's backward). Here the projection is cut with one ``split``,
    whose backward is a single concatenation of the same per-step gradients.
    """
    _check(rnn)
    data, batch_sizes = packed.data, packed.batch_sizes.tolist()
    w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
    n0 = batch_sizes[0]
    zeros = torch.zeros(1, n0, rnn.hidden_size, dtype=data.dtype, device=data.device)
    h, c = zeros.unbind(0)[0], zeros.unbind(0)[0]  # nn.LSTM passes zero hx/cx; _lstm_impl unbinds per layer
    steps = torch.nn.functional.linear(data, w_ih, b_ih).split(batch_sizes, 0)  # pre_compute_input on the CPU
    done_h: list[Tensor] = []
    last = n0
    for bs, x_w in zip(batch_sizes, steps, strict=True):
        if bs < last:  # sequences that ended: their state is final (hidden_slice in PackedLayer)
            done_h.append(h.narrow(0, bs, last - bs))
            h, c = h.narrow(0, 0, bs), c.narrow(0, 0, bs)
        last = bs
        gates = torch.nn.functional.linear(h, w_hh, b_hh).add_(x_w)
        i, f, g, o = gates.unsafe_chunk(4, 1)
        i, f, g, o = i.sigmoid_(), f.sigmoid_(), g.tanh_(), o.sigmoid_()
        c = (f * c).add_(i * g)
        h = o * c.tanh()
    done_h.append(h)
    h_n = torch.stack([torch.cat(done_h[::-1], 0)], 0)  # (1, B, hidden) in sorted order
    if packed.unsorted_indices is not None:
        h_n = h_n.index_select(1, packed.unsorted_indices)
    return h_n


def _layout(batch_sizes: list[int]) -> tuple[list[int], Tensor, Tensor]:
    """Step offsets; ``last`` (B,): packed row of each sorted sample's final step; ``prev`` (N,): packed row of the
    same sample one step earlier, ``N`` (a zero row appended by the caller) at step 0."""
    off = [0]
    for bs in batch_sizes:
        off.append(off[-1] + bs)
    n, b = off[-1], batch_sizes[0]
    bs_t = torch.tensor(batch_sizes)
    steps = torch.repeat_interleave(torch.arange(len(batch_sizes)), bs_t)  # (N,) time step of each row
    row = torch.arange(n) - torch.tensor(off[:-1]).repeat_interleave(bs_t)  # (N,) sorted sample of each row
    prev = torch.where(steps > 0, torch.tensor(off[:-1])[(steps - 1).clamp(min=0)] + row, n)
    lengths = (bs_t.unsqueeze(1) > torch.arange(b)).sum(0)  # (B,) sorted lengths
    last = torch.tensor(off[:-1])[lengths - 1] + torch.arange(b)
    return off, last, prev


# The per-time-step loops, as plain functions of tensors and int lists so that TorchScript can compile them (it
# calls the very same aten kernels, minus Python's per-operation overhead: about a third of these loops' time); when
# scripting is unavailable the Python functions run, with the same results (tests/test_model.py checks both).


def _forward_loop(xw: Tensor, w_hh: Tensor, b_hh: Tensor, bsz: list[int], gates: Tensor,
                  cs: Tensor, tcs: Tensor, hs: Tensor) -> None:  # fmt: skip
    """packed_lstm_h_n's forward operations (``linear`` == ``addmm`` for 2-D input), rows written into ``gates``
    (post-activation i, f, g, o), ``cs`` (c), ``tcs`` (tanh c) and ``hs`` (h), all in packed row order."""
    h = torch.zeros(bsz[0], w_hh.shape[1], dtype=xw.dtype, device=xw.device)
    c = h
    wt = w_hh.t()
    xw_, gates_, cs_, tcs_, hs_ = xw.split(bsz), gates.split(bsz), cs.split(bsz), tcs.split(bsz), hs.split(bsz)
    for t in range(len(bsz)):
        bs = bsz[t]
        h, c = h[:bs], c[:bs]
        ch = torch.addmm(b_hh, h, wt, out=gates_[t]).add_(xw_[t]).unsafe_chunk(4, 1)
        i, f, g, o = ch[0].sigmoid_(), ch[1].sigmoid_(), ch[2].tanh_(), ch[3].sigmoid_()
        c = torch.mul(f, c, out=cs_[t]).add_(i * g)
        h = torch.mul(o, torch.tanh(c, out=tcs_[t]), out=hs_[t])


def _fast_forward_loop(xwb: Tensor, w_hh: Tensor, bsz: list[int], gates: Tensor, cs: Tensor, tcs: Tensor,
                       hs: Tensor) -> None:  # fmt: skip
    """The fused path's forward, fewer operations per step than :func:`_forward_loop`: ``xwb`` holds both biases
    and the gate columns are ordered i, f, o, g, so one ``addmm`` makes the pre-activations, one ``sigmoid_`` and
    one ``tanh_`` activate them, and ``addcmul_`` adds i * g. Fills ``gates`` (post-activation, i f o g order),
    ``cs``, ``tcs`` and ``hs`` in packed row order; the same values as the reference to float32 rounding."""
    hid = w_hh.shape[1]
    wt = w_hh.t()
    gates_, xwb_, cs_, tcs_, hs_ = gates.split(bsz), xwb.split(bsz), cs.split(bsz), tcs.split(bsz), hs.split(bsz)
    sig_, tnh_ = gates[:, : 3 * hid].split(bsz), gates[:, 3 * hid :].split(bsz)
    i_, f_, o_ = gates[:, :hid].split(bsz), gates[:, hid : 2 * hid].split(bsz), gates[:, 2 * hid : 3 * hid].split(bsz)
    for t in range(len(bsz)):
        bs = bsz[t]
        if t == 0:  # h = c = 0 before step 0
            gates_[t].copy_(xwb_[t])
        else:
            torch.addmm(xwb_[t], hs_[t - 1][:bs], wt, out=gates_[t])
        sig_[t].sigmoid_()
        tnh_[t].tanh_()
        if t == 0:
            torch.mul(i_[t], tnh_[t], out=cs_[t])
        else:
            torch.mul(f_[t], cs_[t - 1][:bs], out=cs_[t]).addcmul_(i_[t], tnh_[t])
        torch.mul(o_[t], torch.tanh(cs_[t], out=tcs_[t]), out=hs_[t])


def _exact_backward_loop(dh: Tensor, dc: Tensor, dg: Tensor, gates: Tensor, cs: Tensor, tcs: Tensor, hs: Tensor,
                         w_hh: Tensor, bsz: list[int]) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The kernels autograd runs for packed_lstm_h_n's graph, step by step, last step first (see
    :class:`_ExactPackedLSTM`); fills ``dh``, ``dc``, ``dg`` (N, 4H) and returns (d w_hh, d b_hh (1, 4H))."""
    # per-step row blocks, cut once (views with the strides of the slices autograd sees)
    ch = gates.unsafe_chunk(4, 1)
    i, f, g, o = ch[0].split(bsz), ch[1].split(bsz), ch[2].split(bsz), ch[3].split(bsz)
    dch = dg.unsafe_chunk(4, 1)
    di, df, dgg, do = dch[0].split(bsz), dch[1].split(bsz), dch[2].split(bsz), dch[3].split(bsz)
    dh_, dc_, dg_ = dh.split(bsz), dc.split(bsz), dg.split(bsz)
    cs_, tcs_, hs_ = cs.split(bsz), tcs.split(bsz), hs.split(bsz)
    zeros = torch.zeros(bsz[0], hs.shape[1], dtype=hs.dtype, device=hs.device)  # h and c before step 0
    d_whh: Tensor | None = None
    d_bhh: Tensor | None = None
    for t in range(len(bsz) - 1, -1, -1):
        bs = bsz[t]
        nb = bsz[t + 1] if t + 1 < len(bsz) else 0  # rows that continue to step t + 1
        dh_t, dc_t, tc_t = dh_[t], dc_[t], tcs_[t]
        if nb > 0:  # h_t -> gates_{t+1}: mm_mat1_backward = grad.mm(mat2.t())
            torch.mm(dg_[t + 1], w_hh, out=dh_t[:nb])
        d_o = dh_t * tc_t  # h = o * tanh(c)
        torch.ops.aten.tanh_backward(dh_t * o[t], tc_t, grad_input=dc_t)
        if nb > 0:  # c_t -> c_{t+1} = f_{t+1} * c_t + ...
            dc_t[:nb].add_(dc_[t + 1] * f[t + 1])
        c_prev = cs_[t - 1][:bs] if t > 0 else zeros
        h_prev = hs_[t - 1][:bs] if t > 0 else zeros
        torch.ops.aten.sigmoid_backward(dc_t * g[t], i[t], grad_input=di[t])
        torch.ops.aten.sigmoid_backward(dc_t * c_prev, f[t], grad_input=df[t])
        torch.ops.aten.tanh_backward(dc_t * i[t], g[t], grad_input=dgg[t])
        torch.ops.aten.sigmoid_backward(d_o, o[t], grad_input=do[t])
        dg_t = dg_[t]
        dw = dg_t.t().mm(h_prev)  # mm_mat2_backward of w_hh.t() (column-major): grad.t().mm(mat1)
        db = dg_t.sum([0], keepdim=True)  # sum_to of the broadcast bias
        d_whh = dw if d_whh is None else d_whh.add_(dw)
        d_bhh = db if d_bhh is None else d_bhh.add_(db)
    assert d_whh is not None and d_bhh is not None
    return d_whh, d_bhh


def _fused_backward_loop(dh: Tensor, dc: Tensor, dg3: Tensor, dg_o: Tensor, dg: Tensor, f: Tensor, k3: Tensor,
                         k_o: Tensor, dc_from_h: Tensor, w_hh: Tensor, bsz: list[int]) -> None:  # fmt: skip
    """The recurrence of :class:`_FusedPackedLSTM`'s backward, last step first: fills dh, dc and dg (N, 4H)."""
    # per-step row blocks, cut once: step t + 1's block is exactly the rows that continue from step t, so only
    # the two in-place targets need a slice per step (slicing was a tenth of a training epoch's CPU time)
    dh_, dc_, dg3_, dgo_, dg_ = dh.split(bsz), dc.split(bsz), dg3.split(bsz), dg_o.split(bsz), dg.split(bsz)
    f_, k3_, ko_, dch_ = f.split(bsz), k3.split(bsz), k_o.split(bsz), dc_from_h.split(bsz)
    for t in range(len(bsz) - 1, -1, -1):
        nb = bsz[t + 1] if t + 1 < len(bsz) else 0  # rows that continue to step t + 1
        dh_t, dc_t = dh_[t], dc_[t]
        if nb > 0:
            dh_t[:nb].addmm_(dg_[t + 1], w_hh)  # through h_t -> gates_{t+1}
        torch.mul(dh_t, dch_[t], out=dc_t)
        if nb > 0:
            dc_t[:nb].addcmul_(dc_[t + 1], f_[t + 1])  # through c_t -> c_{t+1}
        torch.mul(dc_t.unsqueeze(1), k3_[t], out=dg3_[t])
        torch.mul(dh_t, ko_[t], out=dgo_[t])


@functools.cache
def _loops(script: bool) -> dict:
    """The loop functions, TorchScript-compiled when ``script`` and possible (else the Python ones)."""
    fns = {"forward": _forward_loop, "fast_forward": _fast_forward_loop, "exact": _exact_backward_loop,
           "fused": _fused_backward_loop}  # fmt: skip
    if not script:
        return fns
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            return {k: torch.jit.script(fn) for k, fn in fns.items()}
    except Exception:  # no TorchScript in this torch build: same results, only slower
        return fns


def _run(name: str, *args):
    """Loop ``name`` of :func:`_loops`; TorchScript's plain interpreter (``optimized_execution(False)``): its
    profiling executor re-specialises on every new batch shape and fuses nothing here, so it only costs time."""
    with torch.jit.optimized_execution(False):
        return _loops(_SCRIPT)[name](*args)


def use_torchscript(on: bool) -> None:
    """Whether the loops run TorchScript-compiled (default True; tests compare both)."""
    global _SCRIPT
    _SCRIPT = on


_SCRIPT = True


def _ifog(hid: int, device) -> Tensor:
    """Row order of the four gate blocks i, f, o, g in PyTorch's i, f, g, o weight layout."""
    blocks = [torch.arange(k * hid, (k + 1) * hid, device=device) for k in (0, 1, 3, 2)]
    return torch.cat(blocks)


def _record_forward(ctx, data: Tensor, w_ih: Tensor, w_hh: Tensor, batch_sizes: list[int], fill) -> Tensor:
    """Allocate the per-row buffers, let ``fill(gates, cs, tcs, hs)`` run a forward loop into them and save what both
    backwards read; returns h_n (B, hidden) in length-sorted order."""
    _, last, prev = _layout(batch_sizes)
    n, hid = data.shape[0], w_hh.shape[1]
    gates = data.new_empty(n, 4 * hid)  # post-activation gates of every row (the loop's gate order)
    cs, tcs, hs = data.new_empty(n, hid), data.new_empty(n, hid), data.new_empty(n, hid)
    fill(gates, cs, tcs, hs)
    ctx.save_for_backward(data, w_ih, w_hh, gates, cs, tcs, hs, last, prev)
    ctx.batch_sizes = batch_sizes
    return hs.index_select(0, last)


class _FusedPackedLSTM(torch.autograd.Function):
    """(data (N, D), w_ih, w_hh, b_ih, b_hh, batch_sizes list) -> h_n (B, hidden) in length-sorted order.

    Forward: :func:`_fast_forward_loop` on the gate blocks reordered to i, f, o, g (weights and biases permuted
    once per call, both biases added to the input projection once). Backward: the recurrence per step, the weight
    and bias gradients as matmuls over all steps, in PyTorch's i, f, g, o order."""

    @staticmethod
    def forward(ctx, data, w_ih, w_hh, b_ih, b_hh, batch_sizes):
        perm = _ifog(w_hh.shape[1], data.device)
        xwb = torch.addmm((b_ih + b_hh)[perm], data, w_ih[perm].t())  # (N, 4H): x W_ih^T + b_ih + b_hh
        w_hh_p = w_hh[perm]
        return _record_forward(
            ctx, data, w_ih, w_hh, batch_sizes, lambda *buf: _run("fast_forward", xwb, w_hh_p, batch_sizes, *buf)
        )  # i, f, o, g

    @staticmethod
    def backward(ctx, grad_hn):
        data, w_ih, w_hh, gates, cs, tcs, hs, last, prev = ctx.saved_tensors
        n, hid = hs.shape
        i, f, o, g = gates.unsafe_chunk(4, 1)
        c_prev = torch.cat([cs, cs.new_zeros(1, hid)]).index_select(0, prev)  # (N, hid); zero at step 0
        # d gates = [dc * k_i, dc * k_f, dc * k_g, dh * k_o] with the pre-activation derivatives folded in
        k = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tcs * o * (1 - o)], 1)  # (N,4,h)
        dh = grad_hn.new_zeros(n, hid).index_copy_(0, last, grad_hn.contiguous())  # only h_n gets outside grads
        dc = torch.empty_like(dh)
        dg = dh.new_empty(n, 4, hid)  # PyTorch's i, f, g, o order: the weights' own layout
        _run("fused", dh, dc, dg[:, :3], dg[:, 3], dg.view(n, 4 * hid), f, k[:, :3], k[:, 3],
                                 o * (1 - tcs * tcs), w_hh, ctx.batch_sizes)  # fmt: skip
        dg = dg.view(n, 4 * hid)
        h_prev = torch.cat([hs, hs.new_zeros(1, hid)]).index_select(0, prev)
        d_bias = dg.sum(0)
        d_data = dg.mm(w_ih) if ctx.needs_input_grad[0] else None
        return d_data, dg.t().mm(data), dg.t().mm(h_prev), d_bias, d_bias.clone(), None


class _ExactPackedLSTM(torch.autograd.Function):
    """A forward running :func:`packed_lstm_h_n`'s operations without autograd (:func:`_forward_loop`, bitwise
    ``nn.LSTM``'s); a backward that replays, step by step, the very kernels autograd
    runs for :func:`packed_lstm_h_n`'s graph (``derivatives.yaml``: ``mul``, ``sigmoid_backward``, ``tanh_backward``,
    ``mm_mat1/mat2_backward``, ``sum_to`` for the broadcast bias), on operands of the same shapes and strides, with
    the per-step weight and bias gradients summed in the engine's order (last step first). So the gradients are
    bitwise those of ``nn.LSTM`` (tests/test_model.py), without autograd's per-node bookkeeping, the zero-filled
    slice gradients and the per-step concatenation of the four gate gradients."""

    @staticmethod
    def forward(ctx, data, w_ih, w_hh, b_ih, b_hh, batch_sizes):
        xw = torch.nn.functional.linear(data, w_ih, b_ih)  # the native pre_compute_input
        return _record_forward(
            ctx, data, w_ih, w_hh, batch_sizes, lambda *buf: _run("forward", xw, w_hh, b_hh, batch_sizes, *buf)
        )  # i, f, g, o

    @staticmethod
    def backward(ctx, grad_hn):
        data, w_ih, w_hh, gates, cs, tcs, hs, last, prev = ctx.saved_tensors
        n, hid = hs.shape
        dh = grad_hn.new_zeros(n, hid).index_copy_(0, last, grad_hn.contiguous())  # only h_n gets outside grads
        dc = torch.empty_like(dh)
        dg = dh.new_empty(n, 4 * hid)
        d_whh, d_bhh = _run("exact", dh, dc, dg, gates, cs, tcs, hs, w_hh, ctx.batch_sizes)
        d_data = dg.mm(w_ih) if ctx.needs_input_grad[0] else None
        d_bih = dg.sum([0], keepdim=True).view(-1)
        return d_data, dg.t().mm(data), d_whh, d_bih, d_bhh.view(-1), None


def exact_lstm_h_n(rnn: nn.LSTM, packed) -> Tensor:
    """``rnn(packed)[1][0]`` (1, B, hidden) in the original batch order with forward values and gradients bitwise
    ``nn.LSTM``'s (:class:`_ExactPackedLSTM`). Same preconditions as :func:`packed_lstm_h_n`."""
    return _apply(_ExactPackedLSTM, rnn, packed)


def _apply(fn, rnn: nn.LSTM, packed) -> Tensor:
    _check(rnn)
    h_n = fn.apply(
        packed.data, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0, packed.batch_sizes.tolist()
    ).unsqueeze(0)
    if packed.unsorted_indices is not None:
        h_n = h_n.index_select(1, packed.unsorted_indices)
    return h_n


def fused_lstm_h_n(rnn: nn.LSTM, packed) -> Tensor:
    """``rnn(packed)[1][0]`` (1, B, hidden) in the original batch order: forward bitwise ``nn.LSTM``'s, the
    backward hand-written (module docstring). Same preconditions as :func:`packed_lstm_h_n`."""
    return _apply(_FusedPackedLSTM, rnn, packed)


LSTM_PATHS = {"exact": exact_lstm_h_n, "fused": fused_lstm_h_n}  # cfg.lstm_backward -> path

__all__ = ["LSTM_PATHS", "exact_lstm_h_n", "fused_lstm_h_n", "packed_lstm_h_n", "use_torchscript"]
