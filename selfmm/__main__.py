"""Command-line entry point: ``python -m selfmm <command> ...``.

Each command lives in its own module, imported only when used, so that ``synth`` or ``project`` do not pay
for importing torch and transformers.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("selfmm.train", "main", "train Self-MM on an MMSA pickle into a run folder"),
    "cmc": (
        "selfmm.cmc.train",
        "main",
        "train CMC (PLGM pretraining, then PFM + MCR) on an MMSA pickle into a run folder",
    ),
    "seeds": ("selfmm.experiment", "seeds_main", "train several seeds and report mean ± std of every metric"),
    "experiment": ("selfmm.experiment", "main", "label-source variants × seeds, one results table"),
    "tune": ("selfmm.sweep.tune", "main", "hyper-parameter search on Ray Tune, one run folder per trial"),
    "synth": ("selfmm.synth", "main", "write a synthetic MMSA pickle with ground-truth unimodal labels"),
    "demo": ("selfmm.demo", "main", "generate the synthetic SIMS profile and train the demo run"),
    "project": ("selfmm.projection", "main", "compute UMAP/PCA projections of a run's representations"),
}


def usage() -> str:
    lines = ["usage: python -m selfmm <command> [options]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "python -m selfmm <command> --help shows the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"selfmm: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[cmd]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
