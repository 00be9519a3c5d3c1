"""Entrypoint: ``streamlit run dashboard/app.py [-- --runs DIR]`` (or ``SELFMM_RUNS_DIR=DIR``).

Sets up the page, session state (and the deep link in the URL), the sidebar run picker, and the navigation.
Pages live in ``dashboard/app_pages/`` and read the picked run from session state.
"""

import sys
from pathlib import Path

# The app runs from the checkout: Streamlit puts dashboard/ itself (not the repo root) on sys.path, and pyproject
# installs selfmm only (a top-level "dashboard" would collide with other installed packages of that name), so the
# repo root goes first here: this checkout's dashboard/ is the one imported, never another installed "dashboard".
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from dashboard import components, state  # noqa: E402

st.set_page_config(page_title="Self-MM runs", page_icon="📈", layout="wide")
state.init_state(sys.argv[1:])

_HERE = Path(__file__).parent
# Streamlit serves a default page at "/" only, never at its url_path: a hidden default page at the root that
# forwards to the Overview keeps "/" working and makes every page, Overview included, reachable by its url_path.
overview = st.Page("app_pages/overview.py", title="Overview", url_path="overview")
home = st.Page(lambda: None, title="Self-MM runs", url_path="home", default=True, visibility="hidden")
pages = {
    "Run": [
        home,
        overview,
        st.Page("app_pages/samples.py", title="Samples", url_path="samples"),
    ],
    "Self-MM labels": [
        st.Page("app_pages/dynamics.py", title="Label dynamics", url_path="dynamics"),
        st.Page("app_pages/human.py", title="Generated vs human", url_path="human"),
        st.Page("app_pages/conflicts.py", title="Conflicts", url_path="conflicts"),
        st.Page("app_pages/embeddings.py", title="Embeddings", url_path="embeddings"),
    ],
}
if (_HERE / "app_pages" / "compare.py").is_file():
    pages["Runs"] = [st.Page("app_pages/compare.py", title="Compare runs", url_path="compare")]
pages.setdefault("Runs", []).append(st.Page("app_pages/generators.py", title="Label generators", url_path="generators"))

page = st.navigation(pages)
if page is home:
    # keep ?run=...&sample=... (a deep link to "/"); switch_page would clear them otherwise
    st.switch_page(overview, query_params=st.query_params.to_dict())
slot = components.run_picker()
try:
    page.run()
finally:  # also after st.stop(): the sidebar shows what the page selected in this same run, the URL this view
    components.selection_panel(slot)
    state.write_url(page.url_path)
