"""What every ``python -m selfmm`` command shares: one error handler (:func:`run_command`).

A command's ``main(argv)`` parses its arguments with argparse, then hands its work to :func:`run_command` as a
closure, so that every command answers a user error and Ctrl-C the same way. Torch-free: ``synth`` and ``project``
use it without importing torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from selfmm.errors import UserError


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


__all__ = ["add_overrides", "run_command"]
