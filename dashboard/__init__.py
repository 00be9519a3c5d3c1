"""Streamlit dashboard for selfmm runs: ``streamlit run dashboard/app.py [-- --runs DIR]``.

``data`` and ``charts`` are pure (no Streamlit) and tested on their own; ``cache`` and ``state`` wrap them for the
pages in ``app_pages/``.
"""
