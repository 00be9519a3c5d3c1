"""Data-derived strings shown literally.

Streamlit's text elements (st.markdown, st.caption, st.error, st.warning, st.info, st.subheader ...) interpret
Markdown, so a sample id, a raw text, a run folder name, an error message or a URL parameter such as
``![x](http://evil.example/x.png)`` would otherwise render as an image request or a link. Backslash escapes are not
enough: GFM autolinks (``http://...``, ``www.``, ``a@b.c``) ignore them. So every such string goes through
:func:`md_escape`, which puts it in a Markdown code span (never parsed: no links, images, HTML or LaTeX), or is
shown with st.text / in a dataframe cell, which are plain text.
"""

from __future__ import annotations

import re

_TICKS = re.compile(r"`+")


def md_escape(text: object) -> str:
    """``text`` as a Markdown code span that shows it literally: the fence is one backtick longer than the longest
    backtick run inside (CommonMark), padded with spaces; newlines become spaces."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    fence = "`" * (max((len(m) for m in _TICKS.findall(s)), default=0) + 1)
    return f"{fence} {s} {fence}"
