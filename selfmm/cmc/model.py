"""CMC's networks (``src/models.py`` of gw-zhong/CMC: the unimodal encoders, ``CMCModel``, ``TopkRouter``).

```
text   (B,3,L) ─BERT─► last_hidden_state (B,L,Hb) ──────────────┐
audio  (B,Ta,Da) ─► BatchNorm1d(Da) over batch × time ──────────┤ Conv1d(·, d, 1, bias=False) -> (T,B,d)
vision (B,Tv,Dv) ─► BatchNorm1d(Dv) ────────────────────────────┘ -> pre-norm TransformerEncoder (seq-first,
                                                                     ff 4d, dropout 0.1) -> mean over time
                                                                     -> L2 normalise = h_k (B, d), ‖h_k‖ = 1
head k: z = W2·Dropout_p(ReLU(W1 h)) + h;  logits = W_out z  (B, 3)

CMCModel: X = [h_t; h_a; h_v] (B,3,d);  PFM: X' = softmax(X Xᵀ / τ) X;  MCR: gates g = softmax(top-k(W_r ΣX'))
          expert i: o_i = head_i(X'_i);   pred = Σ_i g_i·o_i  (a gate-weighted sum of LOGITS)
```

Reference quirks kept by default: no length masking (``mask_padding=False``: padded frames enter the attention and
the temporal mean; the inputs must then be padded to the split's full length, as the reference's DataLoader does),
BatchNorm statistics over padded frames. Classes: 0 negative, 1 neutral, 2 positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfmm.cmc.config import CMCConfig

MODS = ("T", "A", "V")


class ResidualHead(nn.Module):
    """z = proj2(Dropout_p(ReLU(proj1(h)))) + h; logits = out_layer(z).  h (B, d) -> (B, 3)."""

    def __init__(self, d: int, p: float):
        super().__init__()
        self.proj1 = nn.Linear(d, d)
        self.proj2 = nn.Linear(d, d)
        self.out_layer = nn.Linear(d, 3)
        self.p = p

    def forward(self, h: Tensor) -> Tensor:
        z = self.proj2(F.dropout(F.relu(self.proj1(h)), p=self.p, training=self.training)) + h
        return self.out_layer(z)


def _text_backbone(cfg: CMCConfig, text_model_path: str | None) -> nn.Module:
    from selfmm.model import load_text_model, tiny_bert

    name = text_model_path or cfg.text_model
    return tiny_bert(cfg) if name == "tiny" else load_text_model(name)  # tiny_bert reads cfg.tiny_bert_*, dataset


class Encoder(nn.Module):
    """One modality's encoder: (B, T, D) features (or (B, 3, L) BERT ids) -> unit-norm h (B, d).

    kind "T": BERT's full last hidden state; "A"/"V": BatchNorm1d over the feature dimension first.
    ``lengths`` (B,) is used only with ``mask_padding`` (a fix); the text mask comes from the ids' attention row.
    """

    def __init__(self, kind: str, in_dim: int | None, cfg: CMCConfig, text_model_path: str | None = None):
        super().__init__()
        self.kind = kind
        self.mask_padding = cfg.mask_padding
        self.finetune = False  # set per phase by the trainer (text only)
        if kind == "T":
            self.bert = _text_backbone(cfg, text_model_path)
            in_dim = int(self.bert.config.hidden_size)
        else:
            self.norm = nn.BatchNorm1d(in_dim)
        self.proj = nn.Conv1d(in_dim, cfg.embed_dim, kernel_size=1, bias=False)
        layer = nn.TransformerEncoderLayer(cfg.embed_dim, cfg.nhead, dim_feedforward=4 * cfg.embed_dim, norm_first=True)
        # enable_nested_tensor only matters with a padding mask in eval; off, as norm_first disables it anyway
        self.encoder = nn.TransformerEncoder(layer, cfg.transformer_layers, enable_nested_tensor=False)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        pad = None  # (B, T) True at padded frames, only with mask_padding
        if self.kind == "T":
            ids, mask, seg = x[:, 0].long(), x[:, 1].float(), x[:, 2].long()
            with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
                feats = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=seg).last_hidden_state
            feats = feats.transpose(1, 2)  # (B, Hb, L)
            if self.mask_padding:
                pad = mask < 0.5
        else:
            feats = self.norm(x.transpose(1, 2))  # (B, D, T): statistics over batch × time, padding included
            if self.mask_padding:
                if lengths is None:
                    raise ValueError("mask_padding=True needs the lengths of audio/vision")
                t = torch.arange(x.shape[1], device=x.device)
                pad = t[None, :] >= lengths.to(x.device)[:, None]
        h = self.proj(feats).permute(2, 0, 1)  # (T, B, d)
        h = self.encoder(h, src_key_padding_mask=pad)  # (T, B, d)
        if pad is None:
            h = h.mean(dim=0)  # reference: every frame, padded ones included
        else:
            keep = (~pad).T.unsqueeze(-1).float()  # (T, B, 1)
            h = (h * keep).sum(0) / keep.sum(0).clamp(min=1.0)
        return F.normalize(h, p=2, dim=-1)  # (B, d)


class UnimodalModel(nn.Module):
    """Phase 1 model of one modality (the reference's TextModel / AudioModel / VisionModel): (logits (B,3), h (B,d))."""

    def __init__(self, kind: str, in_dim: int | None, cfg: CMCConfig, text_model_path: str | None = None):
        super().__init__()
        self.enc = Encoder(kind, in_dim, cfg, text_model_path)
        self.head = ResidualHead(cfg.embed_dim, cfg.out_dropout)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.enc(x, lengths)
        return self.head(h), h


@dataclass
class CMCOutput:
    """pred (B, 3) gate-weighted logits; experts {"T","A","V"} -> (B, 3) (zeros where a sample is not routed to
    the expert); gates (B, 3) in T, A, V order; h {"T","A","V"} -> (B, d) pre-PFM unit vectors; sim (B, 3, 3) PFM."""

    pred: Tensor
    experts: dict[str, Tensor]
    gates: Tensor
    h: dict[str, Tensor]
    sim: Tensor


def pfm(x: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """Parameter-free fusion: S = softmax_row(X Xᵀ / τ), X' = S X.  x (B, 3, d) -> (X' (B, 3, d), S (B, 3, 3))."""
    s = torch.softmax(torch.bmm(x, x.transpose(1, 2)) / temperature, dim=-1)
    return torch.bmm(s, x), s


def topk_gates(logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The reference's TopkRouter after its linear layer: keep the top-k logits, −inf elsewhere, softmax.

    logits (B, E) -> (gates (B, E), routed (B, E) bool: the expert is among the sample's top k).
    """
    top, idx = logits.topk(k, dim=-1)
    sparse = torch.full_like(logits, float("-inf")).scatter(-1, idx, top)
    routed = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return torch.softmax(sparse, dim=-1), routed


class CMCModel(nn.Module):
    """Phase 2: the three encoders, PFM, the MCR router (Linear d -> 3) and three residual experts."""

    def __init__(self, cfg: CMCConfig, feature_dims: dict, text_model_path: str | None = None):
        super().__init__()
        self.cfg = cfg
        self.enc = nn.ModuleDict(
            {
                "T": Encoder("T", None, cfg, text_model_path),
                "A": Encoder("A", int(feature_dims["audio"]), cfg),
                "V": Encoder("V", int(feature_dims["vision"]), cfg),
            }
        )
        self.router = nn.Linear(cfg.embed_dim, 3)
        self.experts = nn.ModuleList([ResidualHead(cfg.embed_dim, cfg.out_dropout) for _ in MODS])

    def load_unimodal(self, models: dict[str, UnimodalModel]) -> None:
        """The reference's ``transfer_models``: encoder i and expert i from the phase-1 model of modality i."""
        for i, m in enumerate(MODS):
            self.enc[m].load_state_dict(models[m].enc.state_dict())
            self.experts[i].load_state_dict(models[m].head.state_dict())

    def forward(self, text: Tensor, audio: Tensor, vision: Tensor, lengths: dict | None = None) -> CMCOutput:
        lengths = lengths or {}
        h = {
            "T": self.enc["T"](text),
            "A": self.enc["A"](audio, lengths.get("A")),
            "V": self.enc["V"](vision, lengths.get("V")),
        }
        x = torch.stack([h[m] for m in MODS], dim=1)  # (B, 3, d)
        x2, sim = pfm(x, self.cfg.pfm_temperature)
        gates, routed = topk_gates(self.router(x2.sum(dim=1)), self.cfg.top_k)  # (B, 3)
        experts = {}
        pred = torch.zeros(x.shape[0], 3, device=x.device, dtype=x.dtype)
        for i, m in enumerate(MODS):
            o = self.experts[i](x2[:, i]) * routed[:, i : i + 1]  # (B, 3), zero where not routed
            experts[m] = o
            pred = pred + gates[:, i : i + 1] * o
        return CMCOutput(pred=pred, experts=experts, gates=gates, h=h, sim=sim)


__all__ = ["MODS", "CMCModel", "CMCOutput", "Encoder", "ResidualHead", "UnimodalModel", "pfm", "topk_gates"]
