"""Reports and the index in Chinese: ``salesbench run --lang zh-CN`` end to end, and the render step alone.

``page_english_words`` (``tests/zh_visible_text.py``, the check of every Chinese test) is
the generic check: the English words left in the *visible text* of a rendered page (tags
stripped; ``<code>``, ``<pre>``, scripts and styles left out; acronyms, ids, file names,
paths and words of the data allowed). It is applied to every report: a report whose
analysis catalog is not translated yet (``salesbench catalogs --check`` finds problems in
its domain) is an expected failure, so the marks fall away by themselves once a domain is
translated.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from salesbench.core import i18n, schema
from salesbench.report import catalogs, params, render
from zh_visible_text import english_words, page_english_words, visible_text

ROOT = Path(__file__).resolve().parents[2]
#: The reports the shared ``zh_run`` fixture renders (all of them, with cheap model settings).
RENDERED = tuple(params.notebook_names())
CJK = re.compile(r"[\u3400-\u9fff]")


def data_words(folder: Path) -> set[str]:
    """Every word of the text columns of the data's customers, reps and products (names, regions, channels ...)."""
    words: set[str] = set()
    for table in ("customers", "reps", "products"):
        path = Path(folder) / f"{table}.parquet"
        if path.exists():
            df = pd.read_parquet(path)
            for col in df.select_dtypes(include=["object", "string"]).columns:
                for value in df[col].dropna().astype(str).unique():
                    words.update(re.findall(r"[A-Za-z]+", value))
    return words


def untranslated(name: str) -> bool:
    """True while the analysis' catalog has problems (messages missing or not translated)."""
    return bool(catalogs.problems("zh-CN", name))


def _report_param(name: str):
    if untranslated(name):
        return pytest.param(name, marks=pytest.mark.xfail(
            strict=False, reason=f"the {name} catalog is not translated yet"))
    return name


@pytest.fixture(scope="module")
def zh_pages(zh_run):
    """``zh_pages(name)`` → the HTML of a report of the shared Chinese run."""
    return lambda name: (zh_run.out_dir / f"{name}.html").read_text(encoding="utf-8")


def _expected_headings(name: str) -> list[str]:
    """The ``##`` headings of a notebook in Chinese, as the analysis catalog translates them."""
    nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
    with i18n.language("zh-CN"):
        return [line[3:].strip()
                for cell in nb.cells if cell.cell_type == "markdown"
                for line in i18n.translate_markdown(cell.source, name).splitlines() if line.startswith("## ")]


@pytest.mark.parametrize("name", RENDERED)
def test_zh_report_header_headings_contents_and_cards(zh_run, zh_pages, name):
    page = zh_pages(name)
    assert '<html lang="zh-CN">' in page
    assert '"Microsoft YaHei","Noto Sans CJK SC"' in page  # the CJK font stack, after the Latin fonts
    with i18n.language("zh-CN"):
        title = i18n.messages(name).gettext(params.declaration(name).title)
    assert f'<div class="sb-title">{title}</div>' in page and f"<title>{title}</title>" in page
    header = re.search(r'<header class="sb-header">.*?</header>', page, re.S).group(0)
    for word in ("全部报告", "salesbench 报告", "<b>运行</b>", "<b>数据</b>", "<b>参数</b>", "年", "文件夹 "):
        assert word in header, word
    assert not page_english_words(header.replace(title, ""))  # the title is the analysis' (checked above)
    toc = re.search(r'<nav class="sb-toc" aria-label="目录"><strong>目录</strong>(.*?)</nav>', page, re.S)
    assert toc, "no Chinese contents line"
    assert re.findall(r'<a href="#[^"]+">([^<]+)</a>', toc.group(1)) == \
        [h.replace("&", "&amp;") for h in _expected_headings(name)]
    badges = re.findall(r'<span class="b">([^<]*)</span>', page)  # the RAG status words of the headline cards
    assert badges and set(badges) <= {"绿灯", "黄灯", "红灯", "无数据"}, badges


@pytest.mark.parametrize("name", [_report_param(n) for n in params.notebook_names()])
def test_zh_report_has_no_english_word(zh_pages, small_demo, name):
    # canonical table and column names are identifiers (the data-quality report names them as the data has them)
    identifiers = set(schema.TABLE_NAMES) | {c for t in schema.TABLE_NAMES for c in schema.table(t).column_names}
    words = page_english_words(zh_pages(name), data_words(small_demo) | set(params.notebook_names()) | identifiers)
    assert not words, f"{len(words)} English words in {name}.html (zh-CN): {sorted(set(words))[:40]}"


def test_zh_index(zh_run, small_demo):
    page = (zh_run.out_dir / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((zh_run.out_dir / "manifest.json").read_text())
    assert manifest["lang"] == "zh-CN" and manifest["options"]["lang"] == "zh-CN"
    assert all(r["parameters"]["lang"] == "zh-CN" for r in manifest["reports"])
    assert '<html lang="zh-CN">' in page and '"Noto Sans CJK SC"' in page
    assert "<h1>salesbench 报告汇总</h1>" in page
    assert re.search(r"运行于 \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC · 共 7 份报告，耗时 [\d.]+ 秒", page)
    assert re.findall(r'<div class="l">([^<]*)</div>', page) == ["成功", "失败", "已跳过"]
    assert "<th>报告</th><th>状态</th><th>关键指标</th><th>耗时</th><th>详情</th>" in page
    assert page.count('">成功</span>') == len(RENDERED) and "已执行的笔记本" in page
    # English left only where an analysis catalog is not translated yet (its title and headline labels)
    pending = set()
    for name in RENDERED:
        if untranslated(name):
            pending.add(params.declaration(name).title)
            pending.update(str(h[k]) for h in manifest["reports"][RENDERED.index(name)]["headline"] for k in ("label", "text"))
    allowed = data_words(small_demo) | set(RENDERED) | {w for t in pending for w in re.findall(r"[A-Za-z]+", t)}
    assert not page_english_words(page, allowed)


def _tiny_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nall reports"),
                nbformat.v4.new_markdown_cell("## Contents\n\nParameters"),
                nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
                    "execute_result", {"text/plain": "2"}, execution_count=1)])]
    nbformat.write(nb, str(path))
    return path


def test_render_translates_markdown_paragraphs_with_the_domain_catalog(tmp_path):
    """The render step alone (no kernel): markdown paragraphs and headings go through the catalog of
    ``domain`` (here the shared one, which is translated), the page says lang="zh-CN"; in English
    nothing changes."""
    nb = _tiny_notebook(tmp_path / "tiny.ipynb")
    header = {"title": "salesbench reports", "run_date": "2026-01-05 09:30 UTC", "data_label": "folder /d",
              "fingerprint": "abc", "params": [], "lang": "zh-CN", "domain": i18n.SHARED}
    zh = render.render_html(nb, tmp_path / "zh.html", header).read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh and "全部报告" in visible_text(zh)
    assert re.search(r'<h2 id="[^"]*">目录', zh) and "<p>参数</p>" in zh
    assert '<nav class="sb-toc" aria-label="目录"><strong>目录</strong> <a href="#' in zh
    en = render.render_html(nb, tmp_path / "en.html", {**header, "lang": "en"}).read_text(encoding="utf-8")
    assert '<html lang="en">' in en and not CJK.search(en) and "PingFang" not in en
    assert "<p>all reports</p>" in en and '<strong>Contents</strong> <a href="#Contents">Contents</a>' in en
    assert i18n.get_language() == "en"  # the render restored the language


def test_english_words_finds_words_and_spares_acronyms_ids_files_and_code():
    html = ("<html><head><title>客户分群</title><style>body{font-family:Arial}</style></head><body>"
            "<h2>RFM 分群 Champions</h2><p>见 segmentation.customers.csv 与 /tmp/x/data，customer_id C0042</p>"
            "<code>lang = zh-CN</code><pre>Traceback</pre><td>North</td><p>P(alive) NaN salesbench</p></body></html>")
    assert page_english_words(html) == ["Champions", "North"]
    assert page_english_words(html, allowed={"north"}) == ["Champions"]
    # the same check on the texts of a report's pieces: a term of any shape is taken out whole, a word in its case
    texts = ["收敛 R-hat 1.05 ≥ 1.01; bulk ESS 150 < 200", "<p>RFM 分群 <b>Champions</b> &amp; rep_id</p>",
             "P(alive) < 50%，the rest"]
    assert english_words(texts) == ["hat", "bulk", "ESS", "Champions", "rep", "alive", "the", "rest"]
    assert english_words(texts, allowed={"R-hat", "bulk ESS", "rep_id", "P(alive)", "the rest"}) == ["Champions"]
    assert english_words(texts, allowed={"hat", "rep", "champions", "P(alive)", "the rest"}) == [
        "bulk", "ESS", "Champions"]


@pytest.mark.parametrize("name", RENDERED)
def test_zh_figures_have_every_glyph(zh_run, name):
    """No figure of a Chinese report drew a missing-glyph box: matplotlib's warning would be in a cell's output."""
    nb = nbformat.read(str(zh_run.out_dir / f"{name}.ipynb"), as_version=4)
    outputs = [json.dumps(o, ensure_ascii=False) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any('"image/png"' in o for o in outputs), f"{name}: no figure drawn"
    missing = [o[:300] for o in outputs if "missing from font" in o or "Glyph " in o]
    assert missing == [], f"{name}: {missing[:2]}"
