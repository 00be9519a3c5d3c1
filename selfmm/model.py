"""The Self-MM network (Yu et al. 2021, Fig. 2; MMSA 2.2.1 ``models/multiTask/SELF_MM.py``): three encoders, four regression heads, named outputs.

```
text (B,3,L) ──BERT──► last_hidden_state[:, 0]          = h_t (B, Ht)    Ht = 768 (BERT-base) | tiny hidden
   or (B,L,Dt) ──LSTM──► h_n ─► Linear                   = h_t (B, text_lstm_hidden)   (precomputed mode)
audio (B,Ta,Da) ──packed LSTM──► h_n ─► Dropout ─► Linear = h_a (B, audio_out)
vision (B,Tv,Dv) ─packed LSTM──► h_n ─► Dropout ─► Linear = h_v (B, video_out)

head X: Dropout ─► Linear ─► ReLU = F*_X (ULGM feature) ─► Linear ─► ReLU ─► Linear(→1) = ŷ_X
M: concat[h_t, h_a, h_v];  T: h_t;  A: h_a;  V: h_v
```

``SelfMM.forward`` returns a :class:`SelfMMOutput` with ``pred`` (ŷ, (B,)), ``feat`` (F*, what ULGM sees) and
``enc`` (h_t, h_a, h_v). :func:`build_optimizer` builds the reference's five Adam parameter groups.

Text encoders: a Hugging Face hub id (loaded from the local cache; there is no network in our tests), a local
directory with ``config.json`` + weights + vocab, or ``"tiny"``: a from-scratch small BERT (``cfg.tiny_bert_*``)
for tests and demos. Precomputed-text mode (``cfg.text_mode="precomputed"``) runs the pickle's ``text`` features
(B, L, Dt) through a 1-layer LSTM over the full length L: the data layer provides no text lengths in that mode
(the MMSA ``text`` arrays are zero-padded BERT features, and an LSTM reading a few zero frames at the end is
what MMSA's non-BERT models do too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from selfmm.bert_cls import use_cls_only
from selfmm.config import MODALITIES, SelfMMConfig
from selfmm.errors import UserError
from selfmm.lstm import LSTM_PATHS, packed_lstm_h_n

# Vocabulary sizes of the reference tokenizers: bert-base-chinese (SIMS, SIMS v2) and bert-base-uncased.
TINY_VOCAB = {"sims": 21128, "simsv2": 21128, "mosi": 30522, "mosei": 30522}


class TextModelNotFound(UserError, RuntimeError):
    """The text encoder named by ``--text-model`` / ``cfg.text_model`` could not be loaded."""


@dataclass
class SelfMMOutput:
    """Named outputs of :class:`SelfMM` (B = batch size).

    pred: ``"M","T","A","V"`` -> (B,) regression outputs ŷ.
    feat: ``"M"`` (B, post_fusion_dim), ``"T"`` (B, post_text_dim), ``"A"`` (B, post_audio_dim),
        ``"V"`` (B, post_video_dim): the first post layer after ReLU (F*), fed to ULGM.
    enc: ``"T"`` (B, text_dim), ``"A"`` (B, audio_out), ``"V"`` (B, video_out): encoder outputs.
    """

    pred: dict[str, Tensor]
    feat: dict[str, Tensor]
    enc: dict[str, Tensor]


# --------------------------------------------------------------------------------------------------------------
# text encoders


def _missing_text_model_message(name: str, err: Exception | None = None) -> str:
    why = f" ({type(err).__name__}: {err})" if err is not None else ""
    return (
        f"text model {name!r} is neither a local directory nor in the Hugging Face cache{why}. "
        "There is no network access: download it elsewhere (e.g. `huggingface-cli download bert-base-chinese "
        "--local-dir models/bert-base-chinese`) and pass the folder with `--text-model models/bert-base-chinese` "
        "(it must hold config.json, the weights (model.safetensors or pytorch_model.bin) and vocab.txt), or use "
        "`--text-model tiny` for a small from-scratch BERT (fast; fine for tests and demos, not for real results)."
    )


def load_text_model(name: str) -> nn.Module:
    """A pretrained transformers model from a local directory or a cached hub id; :class:`TextModelNotFound` else."""
    from transformers import AutoModel

    path = Path(os.path.expanduser(name))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TextModelNotFound(f"{path}: no config.json in this folder. " + _missing_text_model_message(name))
        try:
            return AutoModel.from_pretrained(str(path))
        except (OSError, ValueError) as err:
            raise TextModelNotFound(
                f"{path}: cannot load the model: {err}. " + _missing_text_model_message(name)
            ) from err
    try:
        return AutoModel.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise TextModelNotFound(_missing_text_model_message(name, err)) from None


def tiny_bert(cfg: SelfMMConfig) -> nn.Module:
    """A from-scratch BertModel with ``cfg.tiny_bert_*`` sizes and the dataset's reference vocabulary size."""
    from transformers import BertConfig, BertModel

    h = cfg.tiny_bert_hidden
    if h % cfg.tiny_bert_heads:
        raise ValueError(f"tiny_bert_hidden={h} must be divisible by tiny_bert_heads={cfg.tiny_bert_heads}")
    bc = BertConfig(
        vocab_size=TINY_VOCAB[cfg.dataset],
        hidden_size=h,
        num_hidden_layers=cfg.tiny_bert_layers,
        num_attention_heads=cfg.tiny_bert_heads,
        intermediate_size=4 * h,
        max_position_embeddings=512,
    )
    # No pooler: Self-MM reads the last layer's [CLS], and the pooler would only hold never-updated weights.
    return BertModel(bc, add_pooling_layer=False)


class BertTextEncoder(nn.Module):
    """(B, 3, L) float rows (input_ids, attention_mask, token_type_ids) -> last-layer [CLS] (B, hidden).

    ``cls_only``: the last layer computes the [CLS] row alone where :mod:`selfmm.bert_cls` supports the model
    (``cls_only`` then reads True), else the full layer (``cls_only`` False)."""

    def __init__(self, model: nn.Module, finetune: bool, cls_only: bool = False):
        super().__init__()
        self.model = model
        self.finetune = finetune
        self.cls_only = cls_only and use_cls_only(model)
        self.out_dim = int(model.config.hidden_size)
        self.vocab_size = int(model.config.vocab_size)

    def forward(self, text: Tensor) -> Tensor:
        if text.dim() != 3 or text.shape[1] != 3:
            raise ValueError(f"text must be (B, 3, L) ids/mask/segments, got {tuple(text.shape)}")
        ids, mask, seg = text[:, 0].long(), text[:, 1].float(), text[:, 2].long()  # (B, L) each
        if self.finetune:
            out = self.model(input_ids=ids, attention_mask=mask, token_type_ids=seg)
        else:  # reference `use_finetune=False`: BERT runs without a graph (dropout still follows train/eval)
            with torch.no_grad():
                out = self.model(input_ids=ids, attention_mask=mask, token_type_ids=seg)
        return out.last_hidden_state[:, 0]  # (B, hidden): [CLS] of the last layer, not the pooler


class LSTMTextEncoder(nn.Module):
    """Precomputed text features (B, L, Dt) -> 1-layer LSTM over all L steps -> h_n -> Linear (B, hidden)."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.rnn = nn.LSTM(in_dim, hidden, num_layers=1, batch_first=True)
        self.linear = nn.Linear(hidden, hidden)
        self.out_dim = hidden
        self.vocab_size = None

    def forward(self, text: Tensor) -> Tensor:
        if text.dim() != 3:
            raise ValueError(f"precomputed text must be (B, L, Dt), got {tuple(text.shape)}")
        _, (h_n, _) = self.rnn(text)  # h_n (1, B, hidden)
        return self.linear(h_n.squeeze(0))  # (B, hidden)


# --------------------------------------------------------------------------------------------------------------
# audio / vision subnet and heads


class AuViSubNet(nn.Module):
    """(B, T, D) padded at the end + lengths (B,) -> packed 1-layer LSTM -> h_n -> Dropout -> Linear (B, out)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, fast: bool = True, lstm="fused"):
        super().__init__()
        # fast: when training on the CPU with ragged lengths, selfmm.lstm's path named by `lstm` (cfg.lstm_backward:
        # "exact" = exact_lstm_h_n, bitwise nn.LSTM; "fused" = fused_lstm_h_n); False: always nn.LSTM
        self.fast = fast
        self.lstm = lstm
        # nn.LSTM's own dropout only acts between layers; with 1 layer it is a no-op (as in the reference).
        self.rnn = nn.LSTM(in_dim, hidden, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, out_dim)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        # pack_padded_sequence needs CPU int64 lengths (torch >= 1.7; the reference bug in §7.10).
        lengths = lengths.detach().to("cpu", torch.int64)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        # all lengths equal: PyTorch runs the packed LSTM through oneDNN (dense, with its own fast backward)
        ragged = bool(packed.batch_sizes[0] != packed.batch_sizes[-1])
        # under autocast (amp=bf16) nn.LSTM, whose dtype handling autocast knows
        cpu_fp32 = x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
        if self.fast and ragged and cpu_fp32 and torch.is_grad_enabled():
            h_n = LSTM_PATHS[self.lstm](self.rnn, packed)  # the same forward ops, a cheaper backward
        else:
            _, (h_n, _) = self.rnn(packed)  # h_n (1, B, hidden), in the original batch order
        return self.linear(self.dropout(h_n.squeeze(0)))  # squeeze(0): batch size 1 keeps (1, hidden)


class Head(nn.Module):
    """Dropout -> Linear -> ReLU (= F*) -> Linear -> ReLU -> Linear(->1).  (B, in) -> ((B,), (B, hidden))."""

    def __init__(self, in_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.layer_1 = nn.Linear(in_dim, hidden)
        self.layer_2 = nn.Linear(hidden, hidden)
        self.layer_3 = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feat = torch.relu(self.layer_1(self.dropout(x)))  # (B, hidden) = F*
        pred = self.layer_3(torch.relu(self.layer_2(feat)))  # (B, 1)
        return pred.squeeze(-1), feat


# --------------------------------------------------------------------------------------------------------------
# the model


class SelfMM(nn.Module):
    """Self-MM: text/audio/vision encoders and the M, T, A, V heads.

    Args:
        cfg: the run configuration (sizes, dropouts, text encoder).
        feature_dims: ``{"text": 768 | Dt, "audio": Da, "vision": Dv}`` (``MMSAData.feature_dims``); "text" is
            used only in precomputed mode.
        text_model_path: overrides ``cfg.text_model`` (hub id, local directory or "tiny").
    """

    def __init__(self, cfg: SelfMMConfig, feature_dims: dict, text_model_path: str | None = None):
        super().__init__()
        for key in ("audio", "vision") + (("text",) if cfg.text_mode == "precomputed" else ()):
            if key not in feature_dims:
                raise ValueError(f"SelfMM: feature_dims lacks {key!r}: got {feature_dims}")
        self.cfg = cfg
        name = text_model_path or cfg.text_model
        if cfg.text_mode == "precomputed":
            self.text_model = LSTMTextEncoder(int(feature_dims["text"]), cfg.text_lstm_hidden)
        else:
            bert = tiny_bert(cfg) if name == "tiny" else load_text_model(name)
            self.text_model = BertTextEncoder(bert, cfg.finetune_bert, cls_only=cfg.bert_last_layer == "cls")
        text_dim = self.text_model.out_dim
        self.audio_model = AuViSubNet(
            int(feature_dims["audio"]), cfg.a_lstm_hidden_size, cfg.audio_out, cfg.a_lstm_dropout,
            lstm=cfg.lstm_backward,
        )  # fmt: skip
        self.video_model = AuViSubNet(
            int(feature_dims["vision"]), cfg.v_lstm_hidden_size, cfg.video_out, cfg.v_lstm_dropout,
            lstm=cfg.lstm_backward,
        )  # fmt: skip
        fusion_in = text_dim + cfg.audio_out + cfg.video_out
        self.post_fusion = Head(fusion_in, cfg.post_fusion_dim, cfg.post_fusion_dropout)
        self.post_text = Head(text_dim, cfg.post_text_dim, cfg.post_text_dropout)
        self.post_audio = Head(cfg.audio_out, cfg.post_audio_dim, cfg.post_audio_dropout)
        self.post_video = Head(cfg.video_out, cfg.post_video_dim, cfg.post_video_dropout)

    @property
    def feat_dims(self) -> dict[str, int]:
        """ULGM feature size per head: ``{"M": post_fusion_dim, "T": post_text_dim, ...}``."""
        c = self.cfg
        return {"M": c.post_fusion_dim, "T": c.post_text_dim, "A": c.post_audio_dim, "V": c.post_video_dim}

    @property
    def text_vocab_size(self) -> int | None:
        """The text encoder's vocabulary size (None in precomputed mode)."""
        return self.text_model.vocab_size

    def forward(
        self, text: Tensor, audio: Tensor, audio_lengths: Tensor, vision: Tensor, vision_lengths: Tensor
    ) -> SelfMMOutput:
        """text (B,3,L) or (B,L,Dt); audio (B,Ta,Da); audio_lengths (B,); vision (B,Tv,Dv); vision_lengths (B,)."""
        h_t = self.text_model(text)  # (B, text_dim)
        h_a = self.audio_model(audio, audio_lengths)  # (B, audio_out)
        h_v = self.video_model(vision, vision_lengths)  # (B, video_out)
        fusion = torch.cat([h_t, h_a, h_v], dim=-1)  # (B, text_dim + audio_out + video_out)
        pred, feat = {}, {}
        for m, head, x in (
            ("M", self.post_fusion, fusion),
            ("T", self.post_text, h_t),
            ("A", self.post_audio, h_a),
            ("V", self.post_video, h_v),
        ):
            pred[m], feat[m] = head(x)
        return SelfMMOutput(pred=pred, feat=feat, enc={"T": h_t, "A": h_a, "V": h_v})


# --------------------------------------------------------------------------------------------------------------
# optimiser

# The reference's no-decay name fragments; transformers 5.x still names BERT's norms `LayerNorm`.
NO_DECAY = ("bias", "LayerNorm.bias", "LayerNorm.weight")


def _no_decay(name: str, module_is_norm: bool) -> bool:
    # Intent of the reference: no weight decay on biases and normalisation parameters. Matching the norm module
    # type as well keeps that intent for text models whose norms are called e.g. `layer_norm` or `ln`.
    return module_is_norm or any(nd in name for nd in NO_DECAY)


def param_groups(model: SelfMM, cfg: SelfMMConfig) -> list[dict]:
    """The five parameter groups of MMSA 2.2.1's ``SELF_MM.do_train`` optimizer, each with a ``name`` key.

    bert_decay / bert_no_decay (lr_bert; wd_bert / 0), audio (``audio_model``), video (``video_model``), other
    (every head; in precomputed-text mode also the text LSTM, which is trained from scratch, so the BERT
    fine-tuning rate does not suit it).
    """
    bert_decay, bert_no_decay, audio, video, other = [], [], [], [], []
    is_bert = isinstance(model.text_model, BertTextEncoder)
    norm_params = set()
    if is_bert:
        for mod in model.text_model.modules():
            if isinstance(mod, nn.LayerNorm) or type(mod).__name__.lower().endswith(("layernorm", "rmsnorm")):
                norm_params.update(id(p) for p in mod.parameters(recurse=False))
    for name, p in model.named_parameters():
        if name.startswith("text_model.") and is_bert:
            (bert_no_decay if _no_decay(name, id(p) in norm_params) else bert_decay).append(p)
        elif name.startswith("audio_model."):
            audio.append(p)
        elif name.startswith("video_model."):
            video.append(p)
        else:
            other.append(p)
    return [
        {
            "name": "bert_decay",
            "params": bert_decay,
            "lr": cfg.learning_rate_bert,
            "weight_decay": cfg.weight_decay_bert,
        },
        {"name": "bert_no_decay", "params": bert_no_decay, "lr": cfg.learning_rate_bert, "weight_decay": 0.0},
        {"name": "audio", "params": audio, "lr": cfg.learning_rate_audio, "weight_decay": cfg.weight_decay_audio},
        {"name": "video", "params": video, "lr": cfg.learning_rate_video, "weight_decay": cfg.weight_decay_video},
        {"name": "other", "params": other, "lr": cfg.learning_rate_other, "weight_decay": cfg.weight_decay_other},
    ]


def build_optimizer(model: SelfMM, cfg: SelfMMConfig) -> torch.optim.Adam:
    """Adam (coupled L2 weight decay, default betas/eps, no scheduler) over the five groups of :func:`param_groups`.

    ``foreach=True``: torch's multi-tensor implementation, which CUDA already uses by default. On the CPU it is
    bit-for-bit the default single-tensor loop's result (tests/test_train.py trains against MMSA's trainer, whose
    Adam runs that loop) and about 3x faster: at the SIMS shape with a 21,128-word BERT vocabulary an Adam step
    took 19 ms single-tensor and 7 ms multi-tensor (benchmarks/vs_mmsa.py shows the optimizer phase)."""
    return torch.optim.Adam(param_groups(model, cfg), foreach=True)


__all__ = [
    "MODALITIES",
    "NO_DECAY",
    "AuViSubNet",
    "BertTextEncoder",
    "Head",
    "LSTMTextEncoder",
    "SelfMM",
    "SelfMMOutput",
    "TextModelNotFound",
    "build_optimizer",
    "load_text_model",
    "packed_lstm_h_n",
    "param_groups",
    "tiny_bert",
]
