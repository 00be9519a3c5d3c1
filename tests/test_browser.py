"""Real-browser smoke tests of the dashboard: a `streamlit run` server + Debian's headless Chromium via Playwright.

Every page of the app's navigation is opened, must render without an exception, with its title and its charts, and
is saved as a full-page screenshot (1280×900 viewport) to ``artifacts/screenshots/<page>.png`` for a person to look
at. Then one interaction (a page's widget changes the view) and the ``?run=...&sample=...`` deep link.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` Python package; never
``playwright install`` (no browser downloads here). Without them the module FAILS with a message saying what to
install: a browser suite that skips silently is a suite that never runs. Deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("SELFMM_CHROMIUM", "/usr/bin/chromium"))
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
# generous: under a full-suite run on 2 cores a rerun plus a Plotly redraw has taken more than 30 s. Waits are on
# explicit conditions, so a generous limit costs nothing when the machine is idle.
TIMEOUT_MS = 90_000

_MISSING = None
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - exercised only on a machine without playwright
    _MISSING = "the `playwright` Python package (pip install -r requirements.txt)"
else:
    expect.set_options(timeout=TIMEOUT_MS)  # every expect(...) waits as long as the page and locator waits
if _MISSING is None and not CHROMIUM.exists():
    _MISSING = f"Chromium at {CHROMIUM} (apt-get install chromium, or set SELFMM_CHROMIUM to a Chromium binary)"


@pytest.fixture(scope="module", autouse=True)
def _browser_requirements():
    """Fail (never skip) every browser test when the browser stack is missing; `-m "not browser"` deselects them
    without importing anything from playwright."""
    if _MISSING:
        pytest.fail(f"tests/test_browser.py needs {_MISSING}; never `playwright install` here. "
                    "Deselect with -m 'not browser'.", pytrace=False)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# fixtures: a runs folder, the streamlit server, the browser


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """Two SIMS-like runs with human unimodal labels (seeds 1111 and 1112 of one experiment) + a flat run."""
    from selfmm.testing import write_fake_run

    root = tmp_path_factory.mktemp("browser_runs")
    write_fake_run(root / "demo-sims", dataset="sims", n=(48, 16, 16), epochs=4, human=True, seed=0)
    for seed in (1111, 1112):
        d = write_fake_run(
            root / "exp" / "ulgm" / f"seed_{seed}", dataset="sims", n=(48, 16, 16), epochs=4, human=True, seed=seed
        )
        _tag_experiment(d, "exp", "ulgm", seed)
    (root / "exp" / "results.csv").write_text(
        "variant,metric,mean,std,n\nulgm,MAE,0.4321,0.0123,2\nulgm,Corr,0.55,0.02,2\n", encoding="utf-8"
    )
    return root


def _tag_experiment(run_dir, name: str, variant: str, seed: int) -> None:
    """Mark a fake run as an experiment member (what `python -m selfmm experiment` writes into run.json)."""
    import json

    p = Path(run_dir) / "run.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["experiment"] = {"name": name, "variant": variant, "seed": seed}
    p.write_text(json.dumps(m), encoding="utf-8")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(runs_root: Path | None):
    """`streamlit run dashboard/app.py` on a free port; yields the base URL. ``runs_root=None`` starts it exactly
    as the README does, with no runs folder given (the app then opens the shipped ``checkpoints/``). Its output
    goes to a temp file (a PIPE that nobody reads can fill up and block the server)."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="streamlit-", delete=False)  # noqa: SIM115
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("SELFMM_RUNS_DIR", None)
    if runs_root is not None:
        env["SELFMM_RUNS_DIR"] = str(runs_root)
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py")]
    cmd += ["--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1"]
    # no file watcher and no rerun-on-save: a file written elsewhere in the repo during the run (another test, a
    # formatter) must not rerun the app under the browser's feet
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{Path(log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                    if r.read().decode() == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after 45 s:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        os.unlink(log.name)


@pytest.fixture(scope="module")
def server(runs_root):
    with streamlit_server(runs_root) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One tab for the whole module, opened on the app's default page. Tests move between pages by clicking the
    sidebar navigation (a client-side page switch, as a user does): a full reload per page re-parses the Plotly
    bundle and costs ~3x more on a 2-core machine. The deep-link test reloads on purpose."""
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    open_page(pg, f"{server}/?run=demo-sims")
    yield pg
    ctx.close()


def wait_for_app_run(page: Page) -> None:
    """Wait until the script has finished and every element rendered (Streamlit's own e2e recipe). The short
    pause gets past the widget debounce so the previous run's notRunning is not mistaken for this one's; callers
    that change the view then wait for the expected content itself (an explicit condition, never a sleep)."""
    page.wait_for_timeout(150)
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(state="attached")
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=TIMEOUT_MS)


def assert_healthy(page: Page) -> None:
    """No exception element, no "Page not found" dialog (a wrong url_path silently runs the main page)."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Page not found")).to_have_count(0)


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_test_id("stApp").wait_for(state="attached")
    wait_for_app_run(page)
    assert_healthy(page)


def go_to(page: Page, nav_label: str) -> None:
    """Switch page through the sidebar navigation link with this label."""
    link = page.get_by_test_id("stSidebarNavLink").filter(has_text=nav_label)
    expect(link).to_have_count(1)
    href = link.get_attribute("href") or ""
    link.click()
    page.wait_for_url(lambda u: u.split("?")[0].rstrip("/") == href.split("?")[0].rstrip("/"))
    wait_for_app_run(page)
    assert_healthy(page)


def chart_texts(page: Page) -> list[str]:
    """Titles and annotations drawn inside Plotly charts (SVG text has no innerText, so read textContent)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle, "
                 + "[data-testid='stPlotlyChart'] .annotation-text")].map((e) => e.textContent)"""
    )


def wait_for_chart_text(page: Page, text: str) -> None:
    page.wait_for_function(
        """(t) => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle, "
                  + "[data-testid='stPlotlyChart'] .annotation-text")].some((e) => e.textContent.includes(t))""",
        arg=text,
        timeout=TIMEOUT_MS,
    )


def shot(page: Page, name: str) -> Path:
    """Screenshot of the whole app at 1280 px width. Streamlit scrolls inside its main container, not the
    document, so ``full_page`` alone only captures the viewport: grow the viewport to the content first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    height = page.evaluate(
        """() => Math.max(...['stMain', 'stAppViewContainer', 'stSidebarContent'].map(
            (id) => document.querySelector(`[data-testid='${id}']`)?.scrollHeight || 0))"""
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(min(max(VIEWPORT["height"], height), 6000))})
    try:
        page.wait_for_timeout(400)  # Plotly relayouts on resize
        expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 10_000, f"{path}: suspiciously small screenshot"
    return path


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_") or "home"


# ----------------------------------------------------------------------------------------------------------------
# every page of the navigation (dashboard/app.py: url_path -> title) with its charts

# screenshot name, sidebar label, page title, minimum number of Plotly charts (Samples draws charts only for an
# opened sample). Order = the navigation's order in dashboard/app.py.
PAGES = [
    ("overview", "Overview", "Run overview", 1),
    ("samples", "Samples", "Samples", 0),
    ("dynamics", "Label dynamics", "Label dynamics", 1),
    ("human", "Generated vs human", "Generated vs human labels", 1),
    ("conflicts", "Conflicts", "Modality conflicts", 1),
    ("embeddings", "Embeddings", "Embeddings", 1),
    ("compare", "Compare runs", "Compare runs", 1),
    ("generators", "Label generators", "Label generators", 3),
]


def test_navigation_lists_every_page(page):
    links = page.get_by_test_id("stSidebarNavLink")
    labels = [links.nth(i).inner_text().strip() for i in range(links.count())]
    assert labels == [nav for _, nav, _, _ in PAGES], "dashboard/app.py's navigation changed: update PAGES here"


@pytest.mark.parametrize(("name", "nav", "title", "min_charts"), PAGES, ids=[p[0] for p in PAGES])
def test_page_renders(page, name, nav, title, min_charts):
    go_to(page, nav)
    expect(page.get_by_test_id("stHeading").filter(has_text=title).first).to_be_visible()
    charts = page.get_by_test_id("stPlotlyChart")
    if min_charts:
        expect(charts.first).to_be_visible()
        # Plotly draws an SVG once the figure is laid out; an empty chart container means a broken figure
        expect(charts.first.locator(".main-svg").first).to_be_attached()
    assert charts.count() >= min_charts, f"{nav}: {charts.count()} Plotly charts, expected >= {min_charts}"
    shot(page, name)


# ----------------------------------------------------------------------------------------------------------------
# interactions


def test_epoch_slider_updates_the_view(page):
    """Human page: the epoch slider redraws the scatter for the chosen epoch (End = last epoch 4, Home = epoch 0).

    The epoch is shared between pages (another page may have set it), hence End first rather than assuming 4.
    Each step waits for explicit conditions: the slider's value, then the redrawn chart title."""
    go_to(page, "Generated vs human")
    slider = page.get_by_test_id("stMain").get_by_test_id("stSlider").first.get_by_role("slider")
    for key, epoch in (("End", 4), ("Home", 0)):
        slider.focus()
        page.keyboard.press(key)
        expect(slider).to_have_attribute("aria-valuetext", str(epoch))
        wait_for_chart_text(page, f"Generated vs human T label at epoch {epoch}")
        wait_for_app_run(page)
        assert_healthy(page)
        stale = [t for t in chart_texts(page) if "label at epoch" in t and not t.endswith(f"epoch {epoch}")]
        assert not stale, f"charts not redrawn for epoch {epoch}: {stale}"


def test_compare_page_selects_two_seeds(page):
    """Compare page: adding the experiment's two seeds draws the A-vs-B scatter of generated labels. After every
    change the test waits for the multiselect's tags to show it (the page reruns and redraws the widget)."""
    go_to(page, "Compare runs")
    expect(page.get_by_text("Select a second run")).to_be_visible()
    box = page.get_by_test_id("stMultiSelect").first
    tags = box.locator("[data-tag]")
    expect(tags).to_have_count(1)  # the sidebar's run
    box.get_by_role("button", name="Remove demo-sims").click()  # the sidebar's run is not in the experiment
    expect(tags).to_have_count(0)
    wait_for_app_run(page)
    for n, label in enumerate(("exp/ulgm/seed_1111", "exp/ulgm/seed_1112"), start=1):
        field = box.get_by_role("combobox")
        field.click()
        field.fill(label)
        page.get_by_role("option", name=label, exact=True).click()
        expect(tags.filter(has_text=label)).to_have_count(1)
        expect(tags).to_have_count(n)
        wait_for_app_run(page)
    page.keyboard.press("Escape")
    expect(tags).to_have_count(2)
    wait_for_chart_text(page, "T (text): r = ")
    wait_for_app_run(page)
    assert_healthy(page)
    expect(page.get_by_text("Experiment results")).to_be_visible()
    shot(page, "compare_two_seeds")


def test_every_page_is_reachable_by_its_url_path(server, page):
    """`/overview` (the default page) and `/` both open the Overview; a link to any page by url_path works."""
    open_page(page, f"{server}/overview?run=exp/ulgm/seed_1111")
    expect(page.get_by_test_id("stHeading").filter(has_text="Run overview").first).to_be_visible()
    picker = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Run")
    expect(picker).to_have_value("exp/ulgm/seed_1111 (finished)")  # a nested experiment run, picked by the link
    open_page(page, f"{server}/?run=demo-sims")
    page.wait_for_url(re.compile(r"/overview\?run=demo-sims(&|$)"))  # + the page's controls
    expect(page.get_by_test_id("stHeading").filter(has_text="Run overview").first).to_be_visible()
    open_page(page, f"{server}/conflicts?run=demo-sims")
    expect(page.get_by_test_id("stHeading").filter(has_text="Modality conflicts").first).to_be_visible()


def test_deep_link_opens_the_sample(server, page, runs_root):
    """`?run=...&sample=...` opens the Samples page's drill-down for that sample, with its charts."""
    import pandas as pd

    samples = pd.read_parquet(runs_root / "demo-sims" / "samples.parquet")
    sid = str(samples.loc[samples["split"] == "train", "sample_id"].iloc[3])
    open_page(page, f"{server}/samples?run=demo-sims&sample={sid}")
    expect(page.get_by_test_id("stHeading").filter(has_text=f"Sample {sid}")).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    assert page.get_by_test_id("stPlotlyChart").count() >= 2  # label + weight trajectories (+ predictions)
    assert f"sample={sid}" in page.url.replace("%24", "$")  # the URL keeps the deep link
    shot(page, "samples_deep_link")


def test_crafted_sample_link_requests_nothing_external(server, browser):
    """A crafted ``?sample=`` deep link (Markdown image + link + HTML) renders as text: the page requests nothing
    outside 127.0.0.1, and the crafted value is visible literally."""
    from urllib.parse import quote, urlsplit

    evil = "x` ![x](http://evil.example/pixel.png) [y](http://evil.example/) <img src=http://evil.example/i.png> `y"
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    hosts: list[str] = []
    pg.on("request", lambda req: hosts.append(urlsplit(req.url).hostname or ""))
    try:
        open_page(pg, f"{server}/samples?run=demo-sims&sample={quote(evil)}")
        expect(pg.get_by_text("evil.example/pixel.png", exact=False).first).to_be_visible()
        expect(pg.locator("a[href*='evil.example']")).to_have_count(0)  # no link, not even an autolink
        pg.wait_for_timeout(1000)  # give a would-be image request time to start
        shot(pg, "crafted_sample_link")
    finally:
        ctx.close()
    assert hosts and set(hosts) <= {"127.0.0.1", "localhost"}, sorted(set(hosts))


# ----------------------------------------------------------------------------------------------------------------
# the front door: the README's `streamlit run dashboard/app.py`, no runs folder given, on the shipped demo run


@pytest.mark.timeout(300)
def test_shipped_demo_opens_by_default_and_every_page_renders(browser):
    """With no argument and no ``SELFMM_RUNS_DIR`` the app opens ``checkpoints/demo-sims`` (the committed run, 2,281
    samples, UMAP projections): every page renders on it, and a sample whose human T label disagrees with M opens
    with its charts. Screenshots: ``artifacts/screenshots/shipped_demo_<page>.png``."""
    import pandas as pd

    samples = pd.read_parquet(REPO / "checkpoints" / "demo-sims" / "samples.parquet")
    train = samples[samples["split"] == "train"]
    conflict = train[(train["y_T"] * train["y_m"] < 0) & (train["y_m"].abs() >= 0.4)]
    assert len(conflict), "the demo has no clip whose human T label opposes M"
    sid = str(conflict["sample_id"].iloc[0])

    with streamlit_server(None) as base:
        ctx = browser.new_context(viewport=VIEWPORT)
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            open_page(page, base)
            picker = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Run")
            expect(picker).to_have_value("demo-sims (finished)")
            expect(page.get_by_test_id("stSidebar").get_by_text("checkpoints")).to_be_visible()
            for name, nav, title, min_charts in PAGES:
                go_to(page, nav)
                expect(page.get_by_test_id("stHeading").filter(has_text=title).first).to_be_visible()
                if min_charts:
                    expect(page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first).to_be_attached()
                if name == "embeddings":  # the demo ships UMAP projections, not only PCA
                    wait_for_chart_text(page, "UMAP of")
                shot(page, f"shipped_demo_{name}")
            open_page(page, f"{base}/samples?run=demo-sims&sample={sid}")
            expect(page.get_by_test_id("stHeading").filter(has_text=f"Sample {sid}")).to_be_visible()
            wait_for_chart_text(page, "Generated unimodal labels")
            assert page.get_by_test_id("stPlotlyChart").count() >= 3  # labels, weights, predictions (+ positions)
            shot(page, "shipped_demo_sample")
        finally:
            ctx.close()


# ----------------------------------------------------------------------------------------------------------------
# issue 11: a real click on a chart point, the sidebar in the same rerun


def _point_on_screen(page: Page, chart) -> dict:
    """Page coordinates and sample id of a data point of a Plotly chart (Scattergl draws no DOM node per point:
    Plotly's own axis maps turn the point's data coordinates into pixels). Picks a point far from the others."""
    return chart.locator(".js-plotly-plot").first.evaluate(
        """(gd) => {
            const L = gd._fullLayout, box = gd.getBoundingClientRect();
            const t = gd._fullData.find((d) => d.customdata && d.x && d.x.length);
            const px = (i) => [box.left + L._size.l + L.xaxis.d2p(t.x[i]), box.top + L._size.t + L.yaxis.d2p(t.y[i])];
            let best = 0, bestGap = -1;
            for (let i = 0; i < t.x.length; i++) {  // the point with the largest distance to its nearest neighbour
                const [x, y] = px(i); let gap = Infinity;
                for (let j = 0; j < t.x.length; j++) if (j !== i) {
                    const [u, v] = px(j); gap = Math.min(gap, Math.hypot(x - u, y - v));
                }
                if (gap > bestGap) { bestGap = gap; best = i; }
            }
            const [x, y] = px(best);
            return {x, y, id: String(t.customdata[best][0]), gap: bestGap, dragmode: L.dragmode};
        }"""
    )


def test_click_on_embeddings_point_opens_that_sample(page):
    """A real mouse click on one point of the Embeddings scatter opens that sample (drill-down heading) and the
    sidebar names it in the same rerun (issue 11, items 3 and 4)."""
    go_to(page, "Embeddings")
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".main-svg").first).to_be_attached()
    page.wait_for_timeout(500)  # Plotly's first layout pass
    pt = _point_on_screen(page, chart)
    assert pt["dragmode"] != "lasso", "the chart starts in lasso mode: a click selects nothing"
    page.mouse.move(pt["x"], pt["y"])
    page.wait_for_timeout(300)  # hover first, as a person does
    page.mouse.click(pt["x"], pt["y"])
    expect(page.get_by_test_id("stHeading").filter(has_text=f"Sample {pt['id']}")).to_be_visible()
    wait_for_app_run(page)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Selected sample: {pt['id']}")).to_be_visible()
    assert_healthy(page)
    shot(page, "embeddings_click")


def test_lasso_count_in_sidebar_matches_the_page(page):
    """A real lasso on the Embeddings scatter: the sidebar's count is the page's count, in the same rerun."""
    go_to(page, "Embeddings")
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".main-svg").first).to_be_attached()
    box = chart.locator(".nsewdrag").first.bounding_box()  # the plot area
    chart.hover()
    chart.get_by_role("button", name="Lasso Select").click()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 3
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r + 2)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    counted = page.get_by_test_id("stMain").get_by_text(re.compile(r"^\d+ selected samples"))
    expect(counted).to_be_visible()
    wait_for_app_run(page)
    n = int(counted.inner_text().split()[0])
    assert n > 0
    side = f"{n} sample{'' if n == 1 else 's'} selected on a chart"
    expect(page.get_by_test_id("stSidebar").get_by_text(side)).to_be_visible()
    shot(page, "embeddings_lasso")


def test_sample_opened_from_conflicts_shows_in_sidebar(page):
    """A row click on the Conflicts table opens the sample; the sidebar names it in the same rerun."""
    go_to(page, "Conflicts")
    grid = page.get_by_test_id("stDataFrame").last
    expect(grid).to_be_visible()
    grid.scroll_into_view_if_needed()
    b = grid.bounding_box()
    page.mouse.click(b["x"] + 14, b["y"] + 35 + 17)  # the first row's selection box (header and rows ~35 px)
    link = page.get_by_test_id("stPageLink").filter(has_text="on the Samples page")
    expect(link).to_be_visible()
    sid = link.inner_text().split("Open ", 1)[1].rsplit(" on the Samples page", 1)[0].strip()
    wait_for_app_run(page)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Selected sample: {sid}")).to_be_visible()
    shot(page, "conflicts_sample")


def test_export_menu_downloads_svg_and_csv(page, tmp_path):
    """Overview: the Export menu under the training curves downloads the figure as SVG (rendered by kaleido
    through Debian's Chromium) and the data behind it as CSV; the SVG is opened and photographed."""
    go_to(page, "Overview")
    menu = page.get_by_test_id("stPopover").first
    menu.get_by_role("button").first.click()
    body = page.get_by_test_id("stPopoverBody")
    expect(body).to_be_visible()
    with page.expect_download(timeout=TIMEOUT_MS) as dl:
        body.get_by_role("button", name="SVG figure").click()
    svg = tmp_path / "curves.svg"
    dl.value.save_as(svg)
    head = svg.read_bytes()[:200]
    assert head.startswith(b"<svg"), head
    with page.expect_download(timeout=TIMEOUT_MS) as dl:
        body.get_by_role("button", name="Data behind this chart (CSV)").click()
    csv = tmp_path / "curves.csv"
    dl.value.save_as(csv)
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "trace,x,y" and len(lines) > 10
    shot(page, "export_menu")  # last: the screenshot resizes the viewport under the open menu
    page.keyboard.press("Escape")
    view = page.context.new_page()  # the exported file itself, as a reader of the paper would see it
    try:
        view.set_viewport_size({"width": 1100, "height": 420})
        view.set_content(f"<html><body style='margin:0'>{svg.read_text(encoding='utf-8')}</body></html>")
        SHOTS.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(SHOTS / "export_svg.png"))
    finally:
        view.close()
