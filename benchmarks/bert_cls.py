"""The text encoder's forward + backward per batch with BERT's last layer whole (``bert_last_layer=full``) and for
[CLS] alone (``cls``, the default): ``selfmm/bert_cls.py``.

Usage::

    python benchmarks/bert_cls.py                                   # BERT 128 x 2 (vs_mmsa's default), 1 thread
    python benchmarks/bert_cls.py --hidden 768 --layers 12          # BERT-base shape

A random-weight ``BertModel`` (SIMS vocabulary size, no download) in training mode (dropout on), batch 32 of 39
tokens (SIMS' padded text length), 1 torch thread; the two modes alternate, ``--repeats`` timed batches each after a
warm-up; medians in ms.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--tokens", type=int, default=39)
    p.add_argument("--repeats", type=int, default=9)
    a = p.parse_args()
    import torch
    from transformers import BertConfig, BertModel

    from selfmm.bert_cls import use_cls_only
    from selfmm.model import TINY_VOCAB

    torch.set_num_threads(1)
    cfg = BertConfig(vocab_size=TINY_VOCAB["sims"], hidden_size=a.hidden, num_hidden_layers=a.layers,
                     num_attention_heads=max(1, a.hidden // 64), intermediate_size=4 * a.hidden)  # fmt: skip
    models = {}
    for mode in ("full", "cls"):
        torch.manual_seed(0)
        models[mode] = BertModel(cfg, add_pooling_layer=False).train()
        if mode == "cls":
            assert use_cls_only(models[mode])
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg.vocab_size, (a.batch, a.tokens), generator=g)
    mask = torch.ones(a.batch, a.tokens)
    w = torch.linspace(-1.0, 2.0, a.hidden)
    times: dict[str, list[float]] = {"full": [], "cls": []}
    for i in range(a.repeats + 1):
        for mode, model in models.items():
            model.zero_grad(set_to_none=True)
            t = time.perf_counter()
            model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0].mul(w).sum().backward()
            if i:  # the first round warms up
                times[mode].append(time.perf_counter() - t)
    full, cls = (statistics.median(times[m]) * 1e3 for m in ("full", "cls"))
    print(f"BERT {a.hidden} x {a.layers}, batch {a.batch} x {a.tokens} tokens, 1 thread, forward + backward, median of "
          f"{a.repeats}: full {full:.1f} ms, cls {cls:.1f} ms, cls/full {cls / full:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
