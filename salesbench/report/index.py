"""The run's ``index.html``: a summary line, one card per status, then one row per report.

The page is the Jinja template ``report/templates/run_index.html.j2`` with
autoescape on, so every text that comes from data or parameters (titles, sweep
labels, skip reasons, error messages, headline figures, data labels) is
HTML-escaped. :func:`index_rows` turns jobs into plain rows; the template only
lays them out.
"""
from __future__ import annotations

import html
from typing import Any

import jinja2
import markupsafe

from salesbench.report.plan import Job
from salesbench.report.render import TEMPLATES_DIR
from salesbench.viz.palette import STATUS

#: The index template, next to the HTML report template.
INDEX_TEMPLATE = "run_index.html.j2"
#: Status → card and badge colour (the palette's status colours).
STATUS_COLORS = {"ok": STATUS["green"], "failed": STATUS["red"], "skipped": STATUS["grey"]}



def _escape(value: Any) -> markupsafe.Markup:
    """Autoescape with :func:`html.escape` (``&quot;``/``&#x27;``), the entities the page has always used."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.Markup(html.escape(str(value), quote=True))


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True, keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined, finalize=_escape,
)


def index_row(j: Job) -> dict[str, Any]:
    """One report's row: link, status colour and reason, up to six headline figures, duration, error, file links."""
    links = []
    if j.has_ipynb:
        links.append((j.path(".ipynb"), "executed notebook"))
    if j.has_results:
        links.append((j.path(".results.json"), "results.json"))
    return {
        "status": j.status,
        "title": j.title,
        "label": j.label,
        "name": j.name,
        "href": j.path(".html") if j.has_html else None,
        "color": STATUS_COLORS.get(j.status, STATUS["grey"]),
        "why": f"skipped: {j.reason or ''}".strip() if j.status == "skipped" else None,
        "heads": [(h.get("label", ""), h.get("text", h.get("value", ""))) for h in j.headline[:6]],
        "duration": "–" if j.duration_s is None else f"{j.duration_s:.1f} s",
        "error": (j.error or "failed") if j.status == "failed" else None,
        "links": links,
    }


def index_html(jobs: list[Job], meta: dict[str, Any]) -> str:
    """The page for ``jobs``; ``meta`` holds ``run_date`` (text), ``duration_s``, ``version`` and
    ``data`` (a list of ``{label, fingerprint}``)."""
    cards = [{"status": s, "color": STATUS_COLORS[s], "count": sum(j.status == s for j in jobs)}
             for s in ("ok", "failed", "skipped")]
    return _ENV.get_template(INDEX_TEMPLATE).render(meta=meta, cards=cards, rows=[index_row(j) for j in jobs])
