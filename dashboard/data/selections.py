"""Projections (embeddings), chart selections, sample positions and CSV export.

Pure pandas/numpy, no Streamlit; see :mod:`dashboard.data` for the conventions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.data.runs import (
    DashboardDataError,
)
from dashboard.data.tables import (
    nearest_epoch,
)


def load_projections(run_dir: Path | str, method: str | None = None) -> pd.DataFrame | None:
    """projections/<method>.parquet as one frame (or None when none were computed)."""
    from selfmm.runs.reader import RunReader

    try:
        df = RunReader(run_dir).projections(method)
    except Exception as exc:  # noqa: BLE001
        raise DashboardDataError(
            f"Could not read projections of {run_dir}: {exc}. Delete the projections/ folder and recompute them."
        ) from exc
    if df is None or len(df) == 0:
        return None
    df = df.copy()
    df["sample_id"] = df["sample_id"].astype(str)
    df["modality"] = df["modality"].astype(str)
    df["split"] = df["split"].astype(str)
    return df


def projection_view(proj: pd.DataFrame, table: pd.DataFrame, epoch: int, modality: str, color: str) -> pd.DataFrame:
    """Points of one (epoch, modality) projection joined with the colour column of :func:`sample_table`:
    ``sample_id, split, x, y, y_m[, y_T, y_A, y_V], color`` (the human labels for the hover). The join is on
    sample_id, so a projection never mislabels a point."""
    sub = proj[(proj["epoch"] == epoch) & (proj["modality"] == modality)]
    out = pd.DataFrame({"sample_id": sub["sample_id"].to_numpy(), "split": sub["split"].to_numpy(),
                        "x": sub["x"].to_numpy(np.float32), "y": sub["y"].to_numpy(np.float32)})  # fmt: skip
    for c in ("y_m", "y_T", "y_A", "y_V"):
        if c in table.columns:
            out[c] = table[c].reindex(out["sample_id"]).to_numpy(dtype=np.float64, na_value=np.nan)
    if color in table.columns and color != "split":
        col = table[color].reindex(out["sample_id"])
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            # nullable integer columns (sign_flips, settle_epoch: <NA> outside train) -> float with NaN for Plotly
            out["color"] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out["color"] = col.astype(str).to_numpy()
    else:
        out["color"] = out["split"]
    return out


def selected_ids(event) -> list[str]:
    """Sample ids of a Plotly selection event (``st.plotly_chart(on_select=...)``): each point carries its
    sample id as ``customdata[0]`` (or as plain ``customdata``)."""
    if not event:
        return []
    sel = event.get("selection", event) if hasattr(event, "get") else getattr(event, "selection", {})
    points = sel.get("points", []) if hasattr(sel, "get") else []
    ids = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list | tuple):
            cd = cd[0] if cd else None
        if cd is not None:
            ids.append(str(cd))
    return list(dict.fromkeys(ids))


def index_projections(proj: pd.DataFrame | None) -> pd.DataFrame | None:
    """The projection frame indexed by sample_id, so :func:`sample_positions` is a hash lookup."""
    if proj is None:
        return None
    return proj.set_index("sample_id", drop=False).rename_axis(None).sort_index()


def sample_positions(proj_by_id: pd.DataFrame | None, sample_id: str, epoch: int | None = None) -> pd.DataFrame:
    """Where one sample sits in each modality's projection at ``epoch`` (default: last projected):
    ``modality, x, y``. ``proj_by_id`` comes from :func:`index_projections`. Empty when not projected."""
    empty = pd.DataFrame(columns=["modality", "x", "y"])
    if proj_by_id is None or len(proj_by_id) == 0 or sample_id not in proj_by_id.index:
        return empty
    sub = proj_by_id.loc[[sample_id]]
    e = nearest_epoch(np.unique(sub["epoch"].to_numpy()), epoch)
    sub = sub[sub["epoch"] == e]
    return sub[["modality", "x", "y"]].reset_index(drop=True)


def csv_bytes(table: pd.DataFrame) -> bytes:
    """The (filtered) sample table as UTF-8 CSV for the download button (header row; the index is not written;
    strings quoted only where needed; missing values empty). Arrow's writer: ~8x faster than ``to_csv`` on the
    MOSEI-size table, which the page re-serialises on every rerun."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    pcsv.write_csv(pa.Table.from_pandas(table, preserve_index=False), buf, pcsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()
