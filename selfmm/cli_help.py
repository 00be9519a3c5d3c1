"""Help texts shared by the CLI commands: the ``--set`` keys with their defaults and meanings.

The meanings are the comments next to each field of :class:`selfmm.config.SelfMMConfig` (one home: the config
file documents itself, the CLI reads it), so a new field shows up here without a second list to keep.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap

from selfmm.config import SelfMMConfig

# fields without a comment of their own in SelfMMConfig: their meaning by name pattern (first match wins)
_BY_NAME = (
    (r"tiny_bert_(\w+)", 'only for text_model="tiny": the small BERT\'s {0}'),
    (r"(audio|video)_out", "output size of the {0} LSTM subnet"),
    (r"([av])_lstm_hidden_size", "hidden size of the {0} LSTM (a = audio, v = vision)"),
    (r"([av])_lstm_dropout", "dropout of the {0} LSTM subnet (a = audio, v = vision)"),
    (r"post_(\w+)_dim", "width of the {0} head's hidden layer"),
    (r"post_(\w+)_dropout", "dropout before the {0} head"),
    (r"plgm_m0_([AV])", "label momentum m0 of modality {0} (see plgm_m0_T)"),
    (r"batch_size", "samples per batch"),
    (r"learning_rate_(\w+)", "Adam learning rate of the {0} parameters (0 freezes them)"),
    (r"weight_decay_(\w+)", "Adam weight decay of the {0} parameters"),
    (r"seed", "random seed (data order, initialisation, dropout)"),
)
_FIELD = re.compile(r"^\s{4}(\w+):\s*[^=]+=\s*(.+?)\s*(?:#\s*(.*))?$")


def config_keys() -> list[tuple[str, str, str]]:
    """``(key, default, meaning)`` for every config field, in the config's order; the meaning is the field's
    trailing comment, continued by the comment lines right above the next field when it has none."""
    src = inspect.getsource(SelfMMConfig).splitlines()
    meaning: dict[str, str] = {}
    above: list[str] = []
    for line in src:
        m = _FIELD.match(line)
        if m:
            meaning[m.group(1)] = (m.group(3) or " ".join(above)).strip()
            above = []
        elif line.strip().startswith("#") and "---" not in line:
            above.append(line.strip().lstrip("#").strip())
        else:
            above = []
    for name in [k for k, v in meaning.items() if not v]:
        for pattern, text in _BY_NAME:
            m = re.fullmatch(pattern, name)
            if m:
                meaning[name] = text.format(*m.groups())
                break
    defaults = SelfMMConfig()
    return [
        (f.name, repr(getattr(defaults, f.name)), meaning.get(f.name, "")) for f in dataclasses.fields(SelfMMConfig)
    ]


def config_keys_epilog(width: int = 100) -> str:
    """The ``--set`` keys for an argparse epilog (use ``RawDescriptionHelpFormatter``): ``key (default): meaning``
    wrapped to ``width``; the presets change some defaults (``selfmm/config.py`` PRESETS)."""
    lines = ["--set KEY=VALUE keys (value types are checked; defaults before a preset is applied):"]
    for key, default, text in config_keys():
        lines += textwrap.wrap(f"{key} ({default}): {text}" if text else f"{key} ({default})", width,
                               initial_indent="  ", subsequent_indent="      ")  # fmt: skip
    return "\n".join(lines)
