"""Session state keys and URL sync: what a view is, not how it is drawn (widgets live in dashboard/components.py).

Shared values live in plain session-state variables (widget values reset across pages). The URL carries the run,
the open sample, the epochs, the chart selection and the page's own controls (``dashboard/urlstate.py``), so a
link reopens the same view; it is read once per session (deep link) and rewritten at the end of every run.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data, urlstate

# ----- keys (no bare strings in pages) -------------------------------------------------------------------------
RUNS_ROOT = "runs_root"  # str: folder holding run folders (tests may set it before the first run)
RUN_ID = "run_id"  # str: the picked run's key (folder path relative to the runs root); also the picker's key
SAMPLE_ID = "sample_id"  # str | None: the sample opened in the drill-down
SELECTED_IDS = "selected_ids"  # list[str] | None: a box/lasso/cartography selection that filters the table
EPOCH = "epoch"  # int | None: the epoch shown by the epoch-dependent pages (None = last)
EMBED_EPOCH = "embeddings_epoch_value"  # int | None: the Embeddings page's representation epoch (its own)
_URL_READ = "_url_read"  # bool: the deep link was read for this session
LINK_RUN = "_link_run"  # str: the run a link asked for (to say so when it does not exist)
URL_NOTES = "_url_notes"  # list[str]: link values that did not parse
MISSING_RUN = "_missing_run"  # str | None: a linked run that is not in the runs folder (shown until another pick)
LOADED_MTIME = "_loaded_run_mtime"  # float: mtime of run.json when require_run loaded the current run
LIVE_REFRESH_S = 5  # how often the Overview polls a run that is still training

QP_RUN, QP_SAMPLE = "run", "sample"


def init_state(argv: list[str] | None = None) -> None:
    """Defaults once per session; the runs root from ``-- --runs DIR`` / $SELFMM_RUNS_DIR / <repo>/checkpoints."""
    if RUNS_ROOT not in st.session_state:
        st.session_state[RUNS_ROOT] = str(data.runs_root_from(argv))
    st.session_state.setdefault(SAMPLE_ID, None)
    st.session_state.setdefault(SELECTED_IDS, None)
    st.session_state.setdefault(EPOCH, None)
    st.session_state.setdefault(EMBED_EPOCH, None)
    if not st.session_state.get(_URL_READ):
        st.session_state[_URL_READ] = True
        read_url()


def read_url() -> None:
    """A link's view into session state (once per session): run, sample, epochs, selection and the opened
    page's widgets (``dashboard/urlstate.py`` lists them). Values that do not parse are reported, not applied."""
    qp = st.query_params
    values, notes = urlstate.decode({name: qp.get_all(name) for name in qp})
    for key, value in values.items():
        st.session_state[key] = value
    if values.get(RUN_ID):
        st.session_state[LINK_RUN] = values[RUN_ID]
    st.session_state[URL_NOTES] = notes


def write_url(page_path: str | None) -> None:
    """Rewrite the address bar from the page's current values (end of every run): a copied URL is this view."""
    names = urlstate.params_of(page_path)
    st.query_params.from_dict(urlstate.encode(st.session_state, names))


def run_changed() -> None:  # a new run: the old sample, selection and epochs mean nothing there
    st.session_state[MISSING_RUN] = None
    st.session_state[URL_NOTES] = []
    set_sample(None)
    st.session_state[SELECTED_IDS] = None
    st.session_state[EPOCH] = None
    st.session_state[EMBED_EPOCH] = None


def clear_selection() -> None:
    st.session_state[SELECTED_IDS] = None


def set_sample(sample_id: str | None) -> None:
    """Open a sample everywhere (session state + URL)."""
    st.session_state[SAMPLE_ID] = sample_id
    if sample_id:
        st.query_params[QP_SAMPLE] = sample_id
    else:
        st.query_params.pop(QP_SAMPLE, None)


def take_chart_selection(key: str) -> None:
    """Apply the selection of the chart ``key`` (``st.plotly_chart(on_select="rerun", key=key)``) from its widget
    state, before the chart is drawn, and only when it changed: a click opens that sample, a box or lasso sets
    the chart selection. A selection already applied is not applied again (a cleared sample stays cleared)."""
    event = st.session_state.get(key)
    ids = data.selected_ids(event)
    sel = event.get("selection", {}) if hasattr(event, "get") else {}
    is_click = len(ids) == 1 and not sel.get("box") and not sel.get("lasso")
    seen = f"_{key}_applied"
    if not ids or st.session_state.get(seen) == (tuple(ids), is_click):
        return
    st.session_state[seen] = (tuple(ids), is_click)
    st.session_state[SELECTED_IDS] = ids
    if is_click:
        set_sample(ids[0])
