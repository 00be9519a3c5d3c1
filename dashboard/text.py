"""Data-derived strings shown literally.

Streamlit's text elements (st.markdown, st.caption, st.error, st.warning, st.info, st.subheader ...) interpret
Markdown, so a sample id, a raw text, a run folder name, an error message or a URL parameter such as
``![x](http://evil.example/x.png)`` would otherwise render as an image request or a link. Every such string goes
through :func:`md_escape` before it reaches one of those elements (or is shown with st.text / in a dataframe cell,
which are plain text).
"""

from __future__ import annotations

_MD_SPECIAL = set("\\`*_{}[]()!|$<>~&")  # inline Markdown, LaTeX ($) and HTML openers
_BLOCK_START = set("#+-=>")  # block markers, special only at the start of the (single-line) string


def md_escape(text: object) -> str:
    """``text`` with every Markdown/LaTeX/HTML special character backslash-escaped, so Streamlit's markdown
    elements show it literally; newlines become spaces (a line break cannot start a block element)."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    out = "".join("\\" + c if c in _MD_SPECIAL else c for c in s)
    return "\\" + out if out[:1] in _BLOCK_START else out
