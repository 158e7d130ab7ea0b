"""Render an executed notebook to the HTML report (nbconvert, the ``salesbench_report`` template).

nbconvert's HTML exporter with the ``salesbench_report`` template in
``report/templates/`` (extends ``lab``; CDN script blocks emptied, so the page
fetches nothing), inputs excluded, cells tagged ``parameters`` /
``injected-parameters`` / ``remove-cell`` removed, stderr streams dropped,
markdown images embedded, a header (title, run date, data source, changed
parameters) and a table of contents built from the rendered ``##`` headings.

Language (:mod:`salesbench.core.i18n`): the report's ``lang`` parameter. Every
markdown cell is translated paragraph by paragraph with the analysis' catalog
(:func:`salesbench.core.i18n.translate_markdown`) before nbconvert sees it; the
page says ``<html lang="zh-CN">``; CJK languages get a font stack that renders
Chinese on Windows, macOS and Linux without downloads (:data:`CJK_FONTS`); the
header, the contents line and the title (``_title``, from the analysis' catalog)
come from the catalogs. English output is what it always was.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

from salesbench.core import i18n
from salesbench.core.dataset import data_label_text  # noqa: F401  (re-exported: index.py)
from salesbench.core.i18n import messages
from salesbench.report import params as _params
from salesbench.report.plan import Job
from salesbench.viz.format import fmt_date

_, ngettext, pgettext = messages(__name__).functions()

#: Cell tags whose cells never appear in the HTML.
REMOVED_TAGS = ("parameters", "injected-parameters", "remove-cell")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "salesbench_report"
#: Fonts with Chinese glyphs that ship with the systems (macOS: PingFang SC, Hiragino Sans GB; Windows:
#: Microsoft YaHei; Linux: Noto Sans CJK SC / Source Han Sans SC, WenQuanYi Micro Hei), after the Latin fonts.
CJK_FONTS = ('"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",'
             '"WenQuanYi Micro Hei"')
#: The Latin fonts of the report (JupyterLab's and the header's), then :data:`CJK_FONTS`, then ``sans-serif``.
CJK_FONT_STACK = f'system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,{CJK_FONTS},sans-serif'


def header_words() -> dict[str, str]:
    """The words the report template writes around the header, in the current language."""
    return {
        "all_reports": _("all reports"),
        "kicker": _("salesbench report"),
        "run": _("Run"),
        "data": _("Data"),
        "fingerprint": _("data fingerprint"),
        "parameters": _("Parameters"),
        "defaults": _("defaults"),
        "contents": _("Contents"),
    }


def run_date_text(when: _dt.datetime) -> str:
    """The run's date and time as the reports and the index show it: ``2026-01-05 09:30 UTC``
    (zh-CN ``2026年1月5日 09:30 UTC``; :func:`salesbench.viz.format.fmt_date`)."""
    return f"{fmt_date(when.date())} {when.strftime('%H:%M')} UTC"


def header_params(p: _params.Params, scrub: Callable[[str], str], limit: int = 8) -> list[tuple[str, str]]:
    """Changed parameters (not ``data``/``out_dir``) as (key, short text) pairs for the HTML header.

    At most ``limit`` pairs; a last pair ``("…", "n more in manifest.json")`` says what was left out.
    """
    out = []
    changed = {k: v for k, v in p.changed().items() if k not in ("data", "out_dir")}
    for key, value in list(changed.items())[:limit]:
        if isinstance(value, (str, _dt.date)):
            text = str(value)
        else:
            text = json.dumps(_params.to_plain(value), ensure_ascii=False)
        if len(text) > 60:
            text = text[:57] + "…"
        out.append((key, scrub(text)))
    if len(changed) > limit:
        more = len(changed) - limit
        out.append(("…", _("{n} more in manifest.json", n=more)))
    return out



class _HeadingCollector(HTMLParser):
    """Collect ``(id, text)`` of every ``<h2 id=...>`` in rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str]] = []
        self._current: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            ident = dict(attrs).get("id")
            self._current = (ident, []) if ident else None
        elif tag == "a" and self._current is not None and "anchor-link" in (dict(attrs).get("class") or ""):
            self._current[1].append("\0")  # marks the ¶ anchor text to drop

    def handle_data(self, data):
        if self._current is not None:
            self._current[1].append(data)

    def handle_endtag(self, tag):
        if tag == "h2" and self._current is not None:
            ident, parts = self._current
            text = "".join(parts).split("\0")[0].strip()
            self.headings.append((ident, text))
            self._current = None


def toc_html(body: str, label: str = "Contents") -> str:
    """A ``<nav>`` table of contents linking every ``##`` heading of a rendered report ('' if none);
    ``label`` is the word in front (the report's language)."""
    collector = _HeadingCollector()
    collector.feed(body)
    if not collector.headings:
        return ""
    items = " · ".join(
        f'<a href="#{html.escape(ident, quote=True)}">{html.escape(text)}</a>'
        for ident, text in collector.headings
    )
    # One compact line (wrapping if needed): the answer, not the contents, owns the first screen.
    label = html.escape(label)
    return f'<nav class="sb-toc" aria-label="{label}"><strong>{label}</strong> {items}</nav>'


def _drop_leading_title(nb) -> None:
    """Remove the ``# Title`` line of the first markdown cell: the report header already shows the title."""
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            if cell.get("cell_type") == "code" and not set(cell.get("metadata", {}).get("tags", [])) & set(REMOVED_TAGS):
                return
            continue
        lines = cell.get("source", "").splitlines()
        if lines and lines[0].startswith("# "):
            cell["source"] = "\n".join(lines[1:]).lstrip("\n")
        return


def render_html(ipynb: str | os.PathLike, out: str | os.PathLike, header: dict[str, Any]) -> Path:
    """Render an executed notebook to a self-contained HTML report for executives.

    Inputs are hidden, cells tagged :data:`REMOVED_TAGS` are dropped, stderr
    streams are dropped, images are embedded, no script/style is fetched from
    the network. ``header`` holds ``title``, ``run_date``, ``data_label``,
    ``fingerprint``, ``params`` (list of (key, text)) and optionally
    ``index_href``, ``lang`` (the report's language, default ``en``) and
    ``domain`` (the catalog of its markdown: the analysis name, default the
    notebook's file name); all of it is HTML-escaped by the template.
    """
    with i18n.language(header.get("lang")) as lang:
        return _render_html(ipynb, out, header, lang)


def _render_html(ipynb: str | os.PathLike, out: str | os.PathLike, header: dict[str, Any], lang: str) -> Path:
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(str(ipynb), as_version=4)
    domain = str(header.get("domain") or Path(ipynb).stem)
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown" and lang != i18n.DEFAULT:
            cell["source"] = i18n.translate_markdown(cell.get("source", ""), domain=domain)
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    _drop_leading_title(nb)
    nb.metadata["title"] = str(header.get("title") or Path(ipynb).stem)
    cfg = Config()
    cfg.TagRemovePreprocessor.enabled = True
    cfg.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_TAGS)
    cfg.HTMLExporter.preprocessors = ["nbconvert.preprocessors.TagRemovePreprocessor"]
    exporter = HTMLExporter(
        config=cfg, template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)],
    )
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    exporter.language_code = lang
    words = header_words()
    resources = {**header, "words": words, "cjk_font_stack": CJK_FONT_STACK if i18n.is_cjk(lang) else None}
    body, _resources = exporter.from_notebook_node(nb, resources={"salesbench": resources})
    body = body.replace("<!--SALESBENCH-TOC-->", toc_html(body, words["contents"]), 1)
    out = Path(out)
    out.write_text(body, encoding="utf-8")
    return out



def report_header(job: Job, run_date: str | _dt.datetime, source: dict[str, Any],
                  scrub: Callable[[str], str]) -> dict[str, Any]:
    """The header resources of one report's HTML, in the report's language: title (``_title`` from the
    analysis' catalog, with the sweep label), run date (a text, or the time: :func:`run_date_text`), data
    label and fingerprint, changed parameters, the relative link back to the run's ``index.html``,
    ``lang`` and ``domain`` (the analysis, whose catalog translates the markdown)."""
    depth = len(Path(job.rel_dir).parts) if job.rel_dir else 0
    with i18n.language(job.lang) as lang:
        title = messages(job.name).gettext(job.title)
        return {
            "run_date": run_date_text(run_date) if isinstance(run_date, _dt.datetime) else run_date,
            "title": title + (f" · {job.label}" if job.label else ""),
            "data_label": data_label_text(source["label"]),
            "fingerprint": source["fingerprint"],
            "params": header_params(job.params, scrub),
            "index_href": "../" * depth + "index.html",
            "lang": lang,
            "domain": job.name,
        }
