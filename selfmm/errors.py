"""The one base class of the errors a user can fix (bad input, a bad config, a missing model, a damaged run).

Every command catches :class:`UserError` in one place (:func:`selfmm.cli.run_command`) and prints its message as
one line, without a traceback; anything else is a bug and keeps its traceback. Each module keeps its own subclass
(``ConfigError``, ``DataError``, ``RunError`` ...) so callers can still catch the narrower kind. This module imports
nothing, so torch-free modules can use it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message names the file or option at fault and the fix; shown as one line, exit status 2."""


__all__ = ["UserError"]
