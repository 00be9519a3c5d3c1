"""The inversion alarm over a label-health frame (:func:`selfmm.label_health.health_frame`); pure numpy/pandas.

**Inversion alarm** (per run and modality): raised at an epoch when r(gen, y_m) < 0 or sign_agree < 0.5 (NaN
meets neither condition). :func:`inversion_alarms` reports whether it held at any epoch, the first epoch it held
(``first_epoch``), the reason there, the number of epochs it held and whether it still holds at the last epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from selfmm.config import UNIMODAL

ALARM_R = 0.0  # alarm when r(gen, y_m) < ALARM_R
ALARM_SIGN = 0.5  # ... or when the sign agreement < ALARM_SIGN

ALARM_COLUMNS = (
    "run_id",
    "label_source",
    "model",
    "seed",
    "modality",
    "alarm",
    "first_epoch",
    "reason",
    "n_epochs",
    "active_at_last",
    "last_epoch",
)


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def alarm_held(r_gen_ym, sign_agree) -> np.ndarray:
    """Bool array: the inversion alarm's condition, r(gen, y_m) < 0 or sign agreement < 0.5 (NaN meets
    neither). Inputs: scalars or equal-shape arrays."""
    r, s = np.asarray(r_gen_ym, dtype=np.float64), np.asarray(sign_agree, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (r < ALARM_R) | (s < ALARM_SIGN)


def _reason(r: float, s: float) -> str:
    parts = []
    if r < ALARM_R:
        parts.append(f"r(gen, y_m) = {r:.3f} < 0")
    if s < ALARM_SIGN:
        parts.append(f"sign agreement {100 * s:.1f}% < 50%")
    return "; ".join(parts)


def inversion_alarms(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run_id, label_source, model, seed, modality) of a health frame: ``ALARM_COLUMNS``.

    alarm: the condition (:func:`alarm_held`) held at some epoch; first_epoch: the first epoch it held (NA when
    never); reason: why, at that epoch; n_epochs: at how many recorded epochs it held; active_at_last: it holds
    at the last recorded epoch (last_epoch). Sorted by run_id then modality T, A, V.
    """
    if frame.empty:
        return _empty(ALARM_COLUMNS)
    rows = []
    keys = ["run_id", "label_source", "model", "seed", "modality"]
    f = frame.assign(_m=frame["modality"].map({m: i for i, m in enumerate(UNIMODAL)}))
    for _, part in f.sort_values(["run_id", "_m", "epoch"], kind="stable").groupby(
        ["run_id", "_m"], sort=False, dropna=False
    ):
        held = alarm_held(part["r_gen_ym"].to_numpy(), part["sign_agree"].to_numpy())
        first = part.loc[held].iloc[0] if held.any() else None
        row = {k: part[k].iloc[0] for k in keys}
        row.update(
            alarm=bool(held.any()),
            first_epoch=int(first["epoch"]) if first is not None else pd.NA,
            reason=_reason(float(first["r_gen_ym"]), float(first["sign_agree"])) if first is not None else "",
            n_epochs=int(held.sum()),
            active_at_last=bool(held[-1]),
            last_epoch=int(part["epoch"].iloc[-1]),
        )
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(ALARM_COLUMNS))
    out["first_epoch"] = out["first_epoch"].astype("Int64")
    return out


def run_alarm(frame: pd.DataFrame) -> str | None:
    """A one-line message for a run's Overview when any modality's inversion alarm held, else None.

    e.g. "Inversion alarm: T labels from epoch 3 (r(gen, y_m) = -0.412 < 0), still at epoch 20". Modalities in
    T, A, V order; the frame should hold one run.
    """
    alarms = inversion_alarms(frame)
    alarms = alarms[alarms["alarm"]] if not alarms.empty else alarms
    if alarms.empty:
        return None
    parts = []
    for _, a in alarms.iterrows():
        tail = f"still at epoch {a['last_epoch']}" if a["active_at_last"] else f"gone by epoch {a['last_epoch']}"
        parts.append(f"{a['modality']} labels from epoch {a['first_epoch']} ({a['reason']}), {tail}")
    return "Inversion alarm: " + "; ".join(parts)


__all__ = ["ALARM_COLUMNS", "alarm_held", "inversion_alarms", "run_alarm"]
