"""How far a live run is: its epoch cap, where early stopping would end it, and the time that takes at its
measured pace. Pure (no Streamlit); the Overview shows it while a run trains."""

from __future__ import annotations

import math

import pandas as pd


def epoch_seconds(metrics: pd.DataFrame) -> float | None:
    """Median wall time of one committed epoch: the sum of its splits' ``time_s`` (train pass + evaluations),
    over the epochs that recorded it; None when none did."""
    if metrics is None or "time_s" not in metrics.columns or metrics.empty:
        return None
    per = metrics[metrics["epoch"] > 0].groupby("epoch")["time_s"].sum(min_count=1).dropna()
    return float(per.median()) if len(per) else None


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def live_progress(config: dict, metrics: pd.DataFrame, done: int, best_epoch: int | None) -> str:
    """One sentence: epoch ``done`` of the cap (``max_epochs``, 0 = none), the epoch where early stopping ends
    the run if validation loss does not improve again (best + ``early_stop``, within the cap), and about how
    long until then and until the cap at the median epoch time."""
    cap = int(config.get("max_epochs") or 0)
    patience = int(config.get("early_stop") or 0)
    sec = epoch_seconds(metrics)
    head = f"Epoch {done} of at most {cap}" if cap else f"Epoch {done} (no epoch cap)"
    parts = [head]
    if patience and best_epoch is not None:
        stop = best_epoch + patience
        stop = min(stop, cap) if cap else stop
        left = max(stop - done, 0)
        eta = f", about {_duration(left * sec)} from now" if sec is not None and left else ""
        parts.append(f"early stopping ends it after epoch {stop} unless validation loss improves again (best so "
                     f"far: epoch {best_epoch}, patience {patience}){eta}")  # fmt: skip
    if cap and sec is not None and done < cap:
        parts.append(f"the cap is about {_duration((cap - done) * sec)} away")
    pace = f" One epoch takes about {_duration(sec)}." if sec is not None and math.isfinite(sec) else ""
    return "; ".join(parts) + "." + pace
