"""Figure export: a chart as SVG or PDF (Plotly's static export through kaleido, which drives a headless
Chromium) and the data behind it as CSV. Pure (no Streamlit); :func:`dashboard.components.chart` offers both next to
every chart of the app.

Kaleido needs a Chromium: Debian's ``/usr/bin/chromium`` (the one the browser tests use) is taken when
``BROWSER_PATH`` is not set. Without one, :func:`figure_image` raises :class:`ExportError` with what to install.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

FORMATS = {"svg": "image/svg+xml", "pdf": "application/pdf"}
CHROMIUM = Path("/usr/bin/chromium")
# the arrays a trace draws, in the order the CSV lists them (x, y first; box statistics; heatmap cells)
_ARRAYS = ("x", "y", "z", "q1", "median", "q3", "lowerfence", "upperfence", "mean", "text")


class ExportError(RuntimeError):
    """A figure cannot be exported; the message says what to install or set."""


def figure_image(fig: go.Figure, fmt: str, width: int | None = None, height: int | None = None) -> bytes:
    """``fig`` as ``fmt`` ("svg" | "pdf") bytes, the size the figure's layout asks for (else 1000×500 px)."""
    if fmt not in FORMATS:
        raise ValueError(f"figure_image: format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not os.environ.get("BROWSER_PATH") and CHROMIUM.exists():
        os.environ["BROWSER_PATH"] = str(CHROMIUM)  # kaleido (choreographer) looks here first
    width = width or fig.layout.width or 1000
    height = height or fig.layout.height or 500
    try:
        return fig.to_image(format=fmt, width=width, height=height)
    except Exception as exc:  # noqa: BLE001 - kaleido's errors (no Chromium, no kaleido) become one line
        raise ExportError(
            f"Could not export the figure as {fmt.upper()}: {exc}. Needs `pip install kaleido==1.5.0` and a "
            "Chromium (apt-get install chromium, or set BROWSER_PATH)."
        ) from exc


def _column(v, n: int) -> np.ndarray | None:
    a = np.asarray(v, dtype=object) if v is not None else None
    return a if a is not None and a.ndim == 1 and len(a) == n else None


def figure_data(fig: go.Figure) -> pd.DataFrame:
    """The data behind ``fig``, long: one row per drawn point (per heatmap cell), columns ``trace`` (its legend
    name), ``x``, ``y`` (and ``z``, box statistics, ``text`` where the trace has them), ``customdata_<i>``
    (``customdata_0`` is the sample id on the app's scatter charts) and ``color`` for a per-point colour scale.
    Reference lines are traces too, so a baseline is in the CSV as it is on screen."""
    parts = []
    panel = _panel_titles(fig)
    for i, t in enumerate(fig.data):
        name = t.name if t.name is not None else f"trace {i}"
        if panel:
            name = f"{panel.get(getattr(t, 'xaxis', None) or 'x', '')}: {name}"
        if t.type == "heatmap" and t.z is not None:
            z = np.asarray(t.z, dtype=object)
            rows = list(t.y) if t.y is not None else list(range(z.shape[0]))
            cols = list(t.x) if t.x is not None else list(range(z.shape[1]))
            parts.append(pd.DataFrame({"trace": name, "y": np.repeat(rows, len(cols)), "x": np.tile(cols, len(rows)),
                                       "z": z.reshape(-1)}))  # fmt: skip
            continue
        xs = getattr(t, "x", None)
        n = len(xs) if xs is not None else len(getattr(t, "y", None) or getattr(t, "q1", None) or [])
        if n == 0:
            continue
        cols = {"trace": [name] * n}
        for a in _ARRAYS:
            c = _column(getattr(t, a, None), n) if hasattr(t, a) else None
            if c is not None:
                cols[a] = c
        cd = getattr(t, "customdata", None)
        if cd is not None:
            cd = np.asarray(cd, dtype=object)
            cd = cd.reshape(len(cd), -1) if cd.ndim == 1 else cd
            if len(cd) == n:
                cols.update({f"customdata_{k}": cd[:, k] for k in range(cd.shape[1])})
        marker = getattr(t, "marker", None)
        color = _column(getattr(marker, "color", None), n) if marker is not None else None
        if color is not None:
            cols["color"] = color
        parts.append(pd.DataFrame(cols))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"trace": []})


def _panel_titles(fig: go.Figure) -> dict[str, str]:
    """``{"x": title, "x2": title, ...}`` for a figure of side-by-side subplots with subplot titles (the trace
    names repeat in every panel, so the CSV names the panel too); empty for a single plot."""
    axes = list(dict.fromkeys((getattr(t, "xaxis", None) or "x") for t in fig.data))
    titles = [a.text for a in fig.layout.annotations if getattr(a, "text", None)]
    if len(axes) < 2 or len(titles) < len(axes):
        return {}
    order = sorted(axes, key=lambda a: int(a[1:] or 1))
    return dict(zip(order, titles, strict=False))


def figure_csv(fig: go.Figure) -> bytes:
    """:func:`figure_data` as UTF-8 CSV bytes."""
    return figure_data(fig).to_csv(index=False).encode("utf-8")
