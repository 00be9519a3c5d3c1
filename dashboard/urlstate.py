"""The view in the URL: which session-state values each page carries in ``?key=value`` and how they are spelled.

Pure (no Streamlit). :func:`dashboard.state.read_url` decodes a link once per session into session state (widget
keys included, so the widgets open on those values) and :func:`dashboard.state.write_url` encodes the page's
current values at the end of every run, so the address bar is always a link to what is on screen.

Spelling: a query parameter's name is the session-state key itself (one name per concept); lists are repeated
parameters (``?samples_splits=train&samples_splits=test``), ranges ``lo,hi``, booleans ``1``/``0``. A value that
does not parse is dropped with a note (the widget then opens on its default), never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# kinds: str, int, float, bool, list (of str), range (two floats)
GLOBAL = {
    "run": "str",  # state.RUN_ID's URL name (below): the picked run's key
    "sample": "str",
    "epoch": "int",
    "embeddings_epoch_value": "int",
    "selected_ids": "list",
}
# the session-state key behind a URL name, where they differ
KEY_OF = {"run": "run_id", "sample": "sample_id"}

PAGES: dict[str, dict[str, str]] = {
    "overview": {"overview_metric": "str"},
    "samples": {
        "samples_splits": "list", "samples_text": "str", "samples_hconf": "list", "samples_gconf": "list",
        "samples_gh": "float", "samples_gy": "float", "samples_flips": "bool", "samples_sort": "str",
        "samples_sort_desc": "bool", "samples_use_selection": "bool", "samples_columns": "list",
        **{f"samples_range_y_{m}": "range" for m in "mTAV"},
    },
    "dynamics": {"dynamics_modality": "str", "dynamics_color": "str"},
    "human": {"human_modality": "str", "human_split": "str"},
    "conflicts": {"conflicts_outcome": "list"},
    "embeddings": {"embeddings_method": "str", "embeddings_modality": "str", "embeddings_color": "str"},
    "compare": {
        "compare_runs": "list", "compare_metric": "str", "compare_split": "str", "compare_run_a": "str",
        "compare_run_b": "str", "compare_pair_modality": "str",
    },
    "generators": {"generators_runs": "list", "generators_metric": "str", "generators_modality": "str"},
}  # fmt: skip
MAX_LIST = 2000  # a longer list (a huge lasso) is not put in the link: browsers and proxies cut long URLs


def params_of(page: str | None) -> dict[str, str]:
    """URL name -> kind for a page's URL path (the global values plus the page's own)."""
    return {**GLOBAL, **PAGES.get(page or "", {})}


def _num(s: str, kind: str) -> int | float:
    v = int(s) if kind == "int" else float(s)
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(s)
    return v


def decode(params: Mapping[str, list[str]]) -> tuple[dict[str, object], list[str]]:
    """``{URL name: [values]}`` (every name of every page is accepted) -> ``({session key: value}, notes)``.

    Unknown names are ignored (other tools' parameters); a value that does not parse gives a note naming it."""
    kinds = {**GLOBAL, **{k: v for page in PAGES.values() for k, v in page.items()}}
    out: dict[str, object] = {}
    notes: list[str] = []
    for name, values in params.items():
        kind = kinds.get(name)
        values = [str(v) for v in values]
        if kind is None or not values:
            continue
        key = KEY_OF.get(name, name)
        try:
            if kind == "list":
                out[key] = [v for v in values if v != ""]
            elif kind == "str":
                out[key] = values[-1]
            elif kind == "bool":
                if values[-1] not in ("1", "0"):
                    raise ValueError(values[-1])
                out[key] = values[-1] == "1"
            elif kind == "range":
                lo, hi = (_num(x, "float") for x in values[-1].split(","))
                if lo > hi:
                    raise ValueError(values[-1])
                out[key] = (lo, hi)
            else:
                out[key] = _num(values[-1], kind)
        except ValueError:
            notes.append(f"{name}={values[-1]!r} in the link is not a valid {kind}; ignored")
    return out, notes


def encode(values: Mapping[str, object], names: Iterable[str]) -> dict[str, str | list[str]]:
    """The URL parameters for ``names`` (URL names) from ``values`` (session state). Unset values (None, empty,
    False) are left out, as are lists longer than :data:`MAX_LIST`."""
    kinds = {**GLOBAL, **{k: v for page in PAGES.values() for k, v in page.items()}}
    out: dict[str, str | list[str]] = {}
    for name in names:
        v = values.get(KEY_OF.get(name, name))
        kind = kinds[name]
        if v is None or v is False or (isinstance(v, str | list | tuple) and len(v) == 0):
            continue
        if kind == "list":
            if len(v) <= MAX_LIST:
                out[name] = [str(x) for x in v]
        elif kind == "bool":
            out[name] = "1" if v else "0"
        elif kind == "range":
            out[name] = f"{float(v[0]):g},{float(v[1]):g}"
        elif kind in ("int", "float"):
            out[name] = f"{v:g}" if kind == "float" else str(int(v))
        else:
            out[name] = str(v)
    return out
