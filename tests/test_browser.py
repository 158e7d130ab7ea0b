"""A real browser opens a rendered report set: offline, no errors, the answer on the first screen, no code, no XSS.

Builds ``salesbench run data_quality funnel`` on a copy of the small demo company
in which one customer's name carries script markup, then opens ``index.html``
and every report through ``file://`` in headless Chromium (1280×800), as an
executive would, and checks what the unit tests cannot: that the page fetches
nothing from the network, logs no error, shows the headline cards and a loaded
figure on the first screen, hides all code, and never runs markup from the data.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; another binary via
``SALESBENCH_CHROMIUM``) and the ``playwright`` package; the browser that
``playwright install`` would download is not used. Skipped when either is
missing. A screenshot of each first screen is written to the test's temporary
folder and, when ``SALESBENCH_BROWSER_SHOTS=DIR`` is set, copied into DIR.

A Chinese report (``salesbench run --lang zh-CN``, the shared ``zh_run``) is opened
too: its first screen must show the headline cards with real Chinese glyphs, not
missing-glyph boxes ("tofu"). Chromium uses the system's Chinese font; on a
machine without one, the Noto Sans CJK SC that ``mplfonts`` installs is offered
through a private fontconfig file (the report names it in its font stack).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pandas as pd
import pytest
from ci_guard import skip_or_fail

CHROMIUM = Path(os.environ.get("SALESBENCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
REPORTS = ("data_quality", "funnel")
# Text from the data that would run if any report inserted it unescaped: an inline
# script and an event handler (the latter also fires when injected via innerHTML).
EVIL_NAME = 'Evil <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> Corp'

if not CHROMIUM.is_file():
    skip_or_fail("the browser test", f"browser test needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)",
                 allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test needs the playwright package (pip install playwright)")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def evil_demo(small_demo, tmp_path_factory) -> Path:
    """A private copy of the small demo company with script markup in one customer's name."""
    out = tmp_path_factory.mktemp("browser_demo") / "data"
    shutil.copytree(small_demo, out)
    customers = pd.read_parquet(out / "customers.parquet")
    customers.loc[0, "name"] = EVIL_NAME
    customers.to_parquet(out / "customers.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def report_set(evil_demo, run_cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser_run") / "reports"
    run_cli("run", *REPORTS, "--data", evil_demo, "--out", out, "--jobs", "2",
            "-p", "funnel.mcmc_draws=100", "-p", "funnel.mcmc_tune=100", "-p", "funnel.mcmc_chains=1",
            check=True)
    return out


@pytest.fixture(scope="module")
def playwright():
    """One Playwright driver for the module (its sync API cannot be started twice at once)."""
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser_shots")


class Visit:
    """One page opened in a fresh context; records requests, failures and errors."""

    def __init__(self, browser, url: str):
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT)
        # Record every request; never let one leave the machine even if a report regresses.
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.route(lambda u: not u.startswith(("file:", "data:")), lambda route: route.abort())
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(url, wait_until="load")

    def check_clean(self, root: Path):
        external = [u for u in self.requests if not u.startswith(("file:", "data:"))]
        assert not external, f"requests leaving the file system: {external}"
        assert not self.failed, f"failed requests: {self.failed}"
        assert not self.errors, f"browser errors: {self.errors}"
        for u in self.requests:
            if u.startswith("file:"):
                p = _file_path(u)
                assert p.is_file() and root in p.parents, f"request for {u} is not a file of the report set"
        assert self.page.evaluate("typeof window.__pwned") == "undefined", "markup from the data was executed"
        injected = self.page.evaluate(
            "[...document.querySelectorAll('script,img')].filter("
            "e => (e.textContent || '').includes('__pwned') || (e.getAttribute('onerror') || '').includes('__pwned')).length")
        assert injected == 0, "markup from the data became elements of the page"

    def links(self) -> list[str]:
        """Absolute URLs of every <a href> (as the browser resolves them)."""
        return self.page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")

    def close(self):
        self.context.close()


def _file_path(url: str) -> Path:
    return Path(unquote(urlparse(urldefrag(url)[0]).path))


def _save_shot(page, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))  # the first screen only: what an executive sees before scrolling
    extra = os.environ.get("SALESBENCH_BROWSER_SHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(extra) / path.name)
    return path


@pytest.fixture(scope="module")
def index_links(report_set, browser, shots) -> dict[str, str]:
    """Open index.html; return {report name: URL of its link}."""
    v = Visit(browser, (report_set / "index.html").as_uri())
    try:
        _save_shot(v.page, shots, "index")  # first, so that a failure has its picture
        v.check_clean(report_set)
        links = v.links()
        for url in links:  # every link of the index points at a file of the run
            assert url.startswith("file:"), url
            assert _file_path(url).is_file(), f"index links to a missing file: {url}"
        found = {}
        for name in REPORTS:
            matches = [u for u in links if _file_path(u) == report_set / f"{name}.html"]
            assert matches, f"index.html does not link {name}.html"
            found[name] = matches[0]
        return found
    finally:
        v.close()


def test_index_opens_offline_and_links_every_report(index_links):
    assert set(index_links) == set(REPORTS)


@pytest.mark.parametrize("name", REPORTS)
def test_report_in_browser(name, index_links, report_set, browser, shots):
    v = Visit(browser, index_links[name])  # opened through the index's own link
    try:
        page = v.page
        _save_shot(page, shots, name)
        v.check_clean(report_set)
        # The answer on the first screen: headline cards, then a figure that actually loaded.
        cards = page.locator(".sb-cards .sb-card")
        assert cards.count() >= 1, "no headline cards"
        first = cards.first
        assert first.is_visible()
        box = first.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], \
            f"first headline card not on the first screen: {box}"
        imgs = page.evaluate(
            "[...document.images].map(i => ({src: i.src.slice(0, 22), w: i.naturalWidth, ok: i.complete,"
            " y: i.getBoundingClientRect().top}))")
        figures = [i for i in imgs if i["src"].startswith("data:image/")]
        assert figures, f"no embedded figure: {imgs}"
        assert all(i["ok"] and i["w"] > 0 for i in figures), f"figure failed to load: {figures}"
        assert all(i["src"].startswith("data:") for i in imgs), f"image not embedded: {imgs}"
        assert figures[0]["y"] < VIEWPORT["height"], f"first figure starts below the first screen: {figures[0]}"
        # No code: no visible input area except rendered markdown (JupyterLab's markup puts
        # markdown cells in .jp-InputArea too), no editor or prompt, no code text in the page.
        code_inputs = (".jp-InputArea:not(.jp-MarkdownCell .jp-InputArea)", ".jp-CodeCell .jp-InputArea",
                       ".jp-InputArea-editor", ".jp-InputPrompt", ".jp-OutputPrompt", ".CodeMirror", ".cm-editor")
        for sel in code_inputs:
            loc = page.locator(sel)
            assert all(not loc.nth(i).is_visible() for i in range(loc.count())), f"visible {sel}"
        text = page.inner_text("body")
        for leak in ("import salesbench", "sb.params.load", "sb.viz.", "res.save()", "Traceback"):
            assert leak not in text, f"{leak!r} visible in {name}.html"
        # Every link works: the back link and files resolve, the table of contents hits its headings.
        for url in v.links():
            base, frag = urldefrag(url)
            if base == page.url.split("#")[0] and frag:
                assert page.locator(f"[id='{frag}']").count() == 1, f"contents link #{frag} has no target"
            elif url.startswith("file:"):
                assert _file_path(url).is_file(), f"{name}.html links to a missing file: {url}"
        if name == "data_quality":  # the suspicious name is listed, as text
            assert EVIL_NAME in text, "the data-quality report does not list the customer name with markup"
    finally:
        v.close()


# ----------------------------------------------------------------------------- Chinese
def _system_cjk_fonts() -> list[str]:
    """Families of the installed fonts with Chinese glyphs (``fc-list :lang=zh``; empty without fontconfig)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in out.splitlines() if line.strip()]


def _mplfonts_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    fonts = Path(list(spec.submodule_search_locations)[0]) / "fonts"
    return fonts if any(fonts.glob("NotoSansCJK*")) else None


@pytest.fixture(scope="module")
def cjk_browser(playwright, tmp_path_factory):
    """Headless Chromium that finds a Chinese font (the system's, else mplfonts' Noto Sans CJK SC)."""
    env = dict(os.environ)
    if not _system_cjk_fonts():
        fonts = _mplfonts_dir()
        if fonts is None:
            skip_or_fail("the Chinese browser test", "no font with Chinese glyphs: install fonts-noto-cjk "
                         "(Debian) or the mplfonts package")
        base = tmp_path_factory.mktemp("fontconfig")
        conf = base / "fonts.conf"
        conf.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
                        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
                        f"  <dir>{fonts}</dir>\n  <cachedir>{base / 'cache'}</cachedir>\n</fontconfig>\n")
        env["FONTCONFIG_FILE"] = str(conf)
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, env=env)
    yield b
    b.close()


#: Measures, inside an element (same font), the Chinese characters of its text and as many of a code
#: point no font has (U+10FFFD, private use: always drawn as the missing-glyph box).
_MEASURE_JS = r"""el => {
  const cjk = [...el.textContent].filter(c => /[\u3400-\u9fff]/.test(c)).join('');
  const measure = t => { const s = document.createElement('span'); s.style.whiteSpace = 'pre'; s.textContent = t;
                         el.appendChild(s); const w = s.getBoundingClientRect().width; s.remove(); return w; };
  return {text: el.textContent, cjk, width: el.getBoundingClientRect().width, glyphs: measure(cjk),
          tofu: measure('\u{10FFFD}'.repeat([...cjk].length)), size: parseFloat(getComputedStyle(el).fontSize)};
}"""


def test_zh_report_first_screen_draws_chinese_glyphs(zh_run, cjk_browser, shots):
    out = zh_run.out_dir
    v = Visit(cjk_browser, (out / "data_quality.html").as_uri())
    try:
        page = v.page
        _save_shot(page, shots, "data_quality-zh-CN")
        v.check_clean(out)
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        cards = page.locator(".sb-cards .sb-card")
        assert cards.count() >= 1, "no headline cards"
        box = cards.first.bounding_box()
        assert box and box["y"] + box["height"] <= VIEWPORT["height"], f"first card not on the first screen: {box}"
        # the first card's label (its RAG status word at least is Chinese), the header's title line and kicker
        for selector in (".sb-cards .sb-card .l", ".sb-header .sb-kicker", ".sb-header .sb-back"):
            m = page.locator(selector).first.evaluate(_MEASURE_JS)
            assert m["cjk"], f"{selector}: no Chinese text in {m['text']!r}"
            assert m["width"] > 0 and m["glyphs"] > 0, f"{selector}: {m}"
            # real glyphs and the missing-glyph box never have the same width (CJK glyphs are 1 em wide)
            assert abs(m["glyphs"] - m["tofu"]) > 0.05 * m["size"] * len(m["cjk"]), f"{selector}: tofu? {m}"
            assert abs(m["glyphs"] - m["size"] * len(m["cjk"])) < 0.1 * m["size"] * len(m["cjk"]), \
                f"{selector}: Chinese characters are not 1 em wide: {m}"
    finally:
        v.close()
