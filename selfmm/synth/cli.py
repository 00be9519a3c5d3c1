"""The command ``python -m selfmm synth``."""

from __future__ import annotations

import argparse

from selfmm.cli import run_command
from selfmm.synth.io import write
from selfmm.synth.profiles import PROFILES, SynthError


def _kv(option: str, text: str, conv=float) -> dict:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise SynthError(f"{option} {text!r}: expected key=value pairs, e.g. {option} text=3,audio=1.5,vision=2")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = conv(v)
        except ValueError:
            raise SynthError(f"{option} {item!r}: {v!r} is not a number") from None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m selfmm synth",
        description="Write a synthetic MMSA feature pickle with ground-truth unimodal labels.",
    )
    p.add_argument("--profile", required=True, choices=sorted(PROFILES), help="real dataset whose layout to copy")
    p.add_argument("--out", required=True, help="output .pkl path (written atomically)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every split size (default 1 = real sizes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--signal", default="", help="per-modality signal strength, e.g. text=3,audio=1.5,vision=2")
    p.add_argument("--dims", default="", help="feature dims, e.g. audio=8,vision=16 (shrink for tests)")
    p.add_argument("--lengths", default="", help="padded lengths, e.g. text=24,audio=40,vision=20")
    p.add_argument("--text-dim", type=int, default=768, help="Dt of the precomputed `text` key (default 768)")
    p.add_argument("--neg-inf-rate", type=float, default=None, help="share of audio frames with a -inf value")
    args = p.parse_args(argv)

    def body() -> None:
        summary = write(
            args.out,
            args.profile,
            scale=args.scale,
            seed=args.seed,
            signal=_kv("--signal", args.signal),
            dims=_kv("--dims", args.dims, int),
            lengths=_kv("--lengths", args.lengths, int),
            text_dim=args.text_dim,
            neg_inf_rate=args.neg_inf_rate,
        )
        n = summary["n"]
        print(
            f"wrote {summary['path']}: {n['train']}/{n['valid']}/{n['test']} clips, "
            f"{summary['size_bytes'] / 2**20:.1f} MiB in {summary['seconds']:.1f} s"
        )

    return run_command(body, "interrupted; nothing was written (the pickle is written atomically)", "selfmm synth")
