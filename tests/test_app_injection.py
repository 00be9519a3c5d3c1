"""Data- and URL-derived strings are shown literally: no page renders a crafted sample id, raw text, run name or
``?sample=`` value as Markdown (an image request or a link), and the escape helper keeps the text readable."""

import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import md_escape
from selfmm.testing import write_fake_run

APP = "../dashboard/app.py"
PAGES = ["overview", "samples", "dynamics", "human", "conflicts", "embeddings", "compare"]
EVIL_ID = "![x](http://evil.example/id.png)<img src=http://evil.example/i.png>"
EVIL_TEXT = "[click me](http://evil.example/phish) ![t](http://evil.example/t.png) **bold** <script>x</script>"
EVIL_URL = "![u](http://evil.example/url.png)"
MARKDOWN_KINDS = ("markdown", "caption", "error", "warning", "info", "success", "subheader", "title", "header")
CODE_SPAN = re.compile(r"(`+) .*? \1")
LIVE = (r"https?://", r"(?<!\\)!\[", r"(?<!\\)\]\(", r"(?<!\\)<(img|script|a)\b")
pytestmark = pytest.mark.timeout(180)


def _rename_sample(run_dir, old: str, new: str, raw_text: str) -> None:
    """Give one sample a crafted id (in every per-sample table) and a crafted raw text."""
    for path in run_dir.rglob("*.parquet"):
        df = pd.read_parquet(path)
        if "sample_id" in df.columns:
            df["sample_id"] = df["sample_id"].replace(old, new)
            if "raw_text" in df.columns:
                df.loc[df["sample_id"] == new, "raw_text"] = raw_text
            df.to_parquet(path, index=False)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil_runs")
    run = write_fake_run(root / "evil", n=(20, 8, 8), epochs=2, representation_epochs=(2,))
    _rename_sample(run, "video_0001$_$1", EVIL_ID, EVIL_TEXT)
    return root


def _markdown_sources(at: AppTest) -> list[str]:
    out = []
    for kind in MARKDOWN_KINDS:
        out += [str(e.value) for e in at.get(kind)]
    out += [str(e.value) for e in at.sidebar.get("caption")] + [str(e.value) for e in at.sidebar.get("markdown")]
    return out


def _assert_no_live_markdown(at: AppTest, page: str) -> None:
    for src in _markdown_sources(at):
        src = CODE_SPAN.sub("", src)  # code spans are shown literally
        for live in LIVE:  # an unescaped link/image opener or HTML tag
            assert not re.search(live, src), (page, src)


def test_md_escape_shows_data_literally():
    assert md_escape("video_0001$_$1") == "` video_0001$_$1 `"
    assert md_escape("a `b` c") == "`` a `b` c ``"  # the fence outgrows any backtick run inside
    assert md_escape("x``y`") == "``` x``y` ```"
    assert md_escape("a\nb") == "` a b `"  # no block element can start inside a message


def test_crafted_sample_id_and_text_are_plain_on_every_page(runs_root):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["runs_root"] = str(runs_root)
    at.session_state["sample_id"] = EVIL_ID
    at.run()
    assert not at.exception
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page
        _assert_no_live_markdown(at, page)
    at.switch_page("app_pages/samples.py").run()
    assert EVIL_TEXT in [str(t.value) for t in at.text]  # the raw text itself is shown, verbatim
    assert "Sample " + md_escape(EVIL_ID) in [str(s.value) for s in at.subheader]


def test_crafted_url_sample_is_plain(runs_root):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["runs_root"] = str(runs_root)
    at.query_params["sample"] = EVIL_URL
    at.query_params["run"] = "evil"
    at.run()
    assert not at.exception
    _assert_no_live_markdown(at, "overview")
    assert any(md_escape(EVIL_URL) in str(c.value) for c in at.sidebar.get("caption"))
    at.switch_page("app_pages/samples.py").run()
    assert not at.exception
    _assert_no_live_markdown(at, "samples")  # "not in this run" names the id, escaped
