"""What every ``python -m selfmm`` command shares: one error handler (:func:`run_command`), and the parser, config
and thread options of the training commands (``train``, ``seeds``, ``experiment``, ``tune``, ``demo``).

A command's ``main(argv)`` parses its arguments with argparse, then hands its work to :func:`run_command` as a
closure, so that every command answers a user error and Ctrl-C the same way. Torch-free: ``synth`` and ``project``
use it without importing torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from selfmm.config import ConfigError, SelfMMConfig, apply_overrides, preset
from selfmm.errors import UserError

TRAIN_DESCRIPTION = (
    "Self-MM training loop (Yu et al. 2021; MMSA 2.2.1 trains/multiTask/SELF_MM.py do_train), resumable and "
    "recorded epoch by epoch into a run folder."
)


def run_command(body: Callable[[], object], interrupted: str, prog: str = "error") -> int:
    """Run a command's ``body`` and return the exit status.

    0 when it returns; a :class:`~selfmm.errors.UserError` -> ``"{prog}: {message}"`` on stderr and 2, no
    traceback; Ctrl-C -> ``interrupted`` (what to run to continue) on stderr and 130. Other exceptions propagate:
    they are bugs and keep their traceback.
    """
    try:
        body()
    except UserError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return 130
    return 0


def add_overrides(p, help_text: str = "config overrides, type-checked") -> None:
    """``--set KEY=VALUE ...`` on parser ``p``: repeatable and several per flag (``action="extend"``), so
    ``--set a=1 --set b=2`` keeps both; ``args.set`` is the list (empty by default)."""
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help=help_text)


# benchmarks/threads.py, docs/measurements.md "Threads": 1 thread was fastest for the tiny and the BERT-base model
DEFAULT_THREADS = 1


def train_parser(
    prog: str, description: str = TRAIN_DESCRIPTION, out_help: str = "run folder (train) or parent folder (seeds)"
) -> argparse.ArgumentParser:
    """The options every Self-MM training command shares (train, seeds, experiment): data, preset, out, device,
    text model, ``--set``, quiet and threads, with every ``--set`` key listed in the epilog."""
    from selfmm.cli_help import config_keys_epilog

    p = argparse.ArgumentParser(prog=prog, description=description, epilog=config_keys_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--data", required=True, help="MMSA feature pickle (*.pkl), e.g. data/SIMS/unaligned_39.pkl")
    p.add_argument("--preset", default="sims", help="mosi | mosei | sims | simsv2 | tiny (default sims)")
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: the preset's, cpu)")
    p.add_argument("--text-model", default=None, help="hub id, local BERT folder, or 'tiny'")
    add_overrides(p, "config overrides, type-checked (keys: below)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch CPU threads (default 1: measured fastest on a shared machine, where 2 threads ran "
                        "the tiny model 30x and a BERT-base 1.2x slower; docs/measurements.md). On a machine of "
                        "your own, try more for BERT-base. Keep it fixed across a resume for bit-identical "
                        "results")  # fmt: skip
    return p


def apply_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` when given (CLI ``--threads``, default :data:`DEFAULT_THREADS`)."""
    if n is not None:
        if n < 1:
            raise ConfigError(f"--threads {n}: must be >= 1")
        import torch  # lazily: this module stays torch-free at import (docs/ARCHITECTURE.md)

        torch.set_num_threads(n)


def config_from_args(args) -> SelfMMConfig:
    cfg = apply_overrides(preset(args.preset), list(args.set))
    extra = {}
    if args.device is not None:
        extra["device"] = args.device
    if getattr(args, "seed", None) is not None:
        extra["seed"] = args.seed
    if args.text_model is not None:
        extra["text_model"] = args.text_model
    return apply_overrides(cfg, extra) if extra else cfg


__all__ = [
    "DEFAULT_THREADS",
    "TRAIN_DESCRIPTION",
    "add_overrides",
    "apply_threads",
    "config_from_args",
    "run_command",
    "train_parser",
]
