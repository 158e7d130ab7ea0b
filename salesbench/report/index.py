"""The run's ``index.html``: a summary line, one card per status, then one row per report.

The page is the Jinja template ``report/templates/run_index.html.j2`` with
autoescape on, so every text that comes from data or parameters (titles, sweep
labels, skip reasons, error messages, headline figures, data labels) is
HTML-escaped. :func:`index_rows` turns jobs into plain rows; the template only
lays them out.

Language: the page is in ``meta["lang"]`` (the run's ``--lang``, else the language
most of its reports have: :func:`salesbench.report.publish.run_language`). Every
word the page writes comes from the shared catalog (:func:`page_words`); each
report's title and headline labels from its analysis' catalog (they are stored
in English in ``results.json`` and translated when the catalog knows them);
skip reasons through :func:`skip_reason_text`; the run date through
:func:`salesbench.report.render.run_date_text`. English is what it always was.
"""
from __future__ import annotations

import html
import re
from typing import Any

import jinja2
import markupsafe

from salesbench.core import i18n
from salesbench.core.dataset import reason_text
from salesbench.core.i18n import N_, NP_, messages
from salesbench.report.plan import Job
from salesbench.report.render import CJK_FONT_STACK, TEMPLATES_DIR, data_label_text, run_date_text
from salesbench.viz.palette import STATUS

_, ngettext, pgettext = messages(__name__).functions()

#: The index template, next to the HTML report template.
INDEX_TEMPLATE = "run_index.html.j2"
#: Status → card and badge colour (the palette's status colours).
STATUS_COLORS = {"ok": STATUS["green"], "failed": STATUS["red"], "skipped": STATUS["grey"]}
#: The page's fonts (CJK languages: :data:`salesbench.report.render.CJK_FONT_STACK`).
LATIN_FONT_STACK = 'system-ui,-apple-system,"Segoe UI",Roboto,sans-serif'
#: A report's status as a word (context ``run status``), marked for the catalog.
STATUS_WORDS = {"ok": NP_("run status", "ok"), "failed": NP_("run status", "failed"),
                "skipped": NP_("run status", "skipped"), "pending": NP_("run status", "pending")}
#: Skip reasons the runner and :meth:`salesbench.core.dataset.Dataset.require` write (English in
#: ``results.json`` and ``manifest.json``): ``"no orders table and no products table"``,
#: ``"orders has no rows (orders.csv)"``, joined by ``"; "``.
SKIP_REASONS = (N_("no {table} table"), N_("{table} has no rows ({source})"))
_NO_TABLE = re.compile(r"no (\S+) table")
_NO_ROWS = re.compile(r"(\S+) has no rows \((.*)\)")


def page_words(n_reports: int, run_date: str, duration_s: float, version: str) -> dict[str, str]:
    """The words of the index page in the current language."""
    return {
        "title": _("salesbench reports"),
        "summary": _("Run {date} · {n} report(s) in {seconds} s · salesbench {version}",
                     date=run_date, n=n_reports, seconds=format(duration_s, ".1f"), version=version),
        "fingerprint": _("fingerprint"),
        "report": _("Report"), "status": _("Status"), "headline": _("Headline figures"),
        "duration": _("Duration"), "details": _("Details"),
        "manifest": _("Parameters, data fingerprints, package versions and timings:"),
        "full_stop": pgettext("punctuation", "."),
    }


def status_text(status: str) -> str:
    """A report's status (``ok``, ``failed``, ``skipped``) as the word the page shows."""
    return pgettext("run status", STATUS_WORDS[status]) if status in STATUS_WORDS else status


def skip_reason_text(reason: str, name: str | None = None) -> str:
    """A skip reason (English, as stored) in the current language.

    A reason the analysis' catalog knows (``name``, e.g. a :class:`ReportSkipped`
    reason marked with ``N_``) is translated whole; the runner's own reasons
    (:data:`SKIP_REASONS`, joined by ``"; "`` / ``" and "``) part by part; any other
    text is shown as it is.
    """
    if i18n.get_language() == i18n.DEFAULT or not reason:
        return reason
    whole = messages(name or i18n.SHARED).gettext(reason)
    if whole != reason:
        return whole
    parts = []
    for part in reason.split("; "):
        tables = [m.group(1) for m in map(_NO_TABLE.fullmatch, part.split(" and ")) if m]
        if tables and len(tables) == len(part.split(" and ")):
            parts.extend(_("no {table} table", table=t) for t in tables)
        elif (m := _NO_ROWS.fullmatch(part)) is not None:
            parts.append(_("{table} has no rows ({source})", table=m.group(1), source=m.group(2)))
        else:
            parts.append(reason_text(part))
    return _("; ").join(parts)



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
    """One report's row, in the current language: link, status word, colour and reason, up to six headline
    figures, duration, error, file links."""
    catalog = messages(j.name)
    links = []
    if j.has_ipynb:
        links.append((j.path(".ipynb"), _("executed notebook")))
    if j.has_results:
        links.append((j.path(".results.json"), "results.json"))
    why = None
    if j.status == "skipped":
        why = _("skipped: {reason}", reason=skip_reason_text(j.reason or "", j.name)).strip()
    return {
        "status": j.status,
        "status_text": status_text(j.status),
        "title": catalog.gettext(j.title),
        "label": j.label,
        "name": j.name,
        "href": j.path(".html") if j.has_html else None,
        "color": STATUS_COLORS.get(j.status, STATUS["grey"]),
        "why": why,
        "heads": [(h.get("shown_label") or (catalog.gettext(str(h.get("label", ""))) if h.get("label") else ""),
                   h.get("text", h.get("value", ""))) for h in j.headline[:6]],
        "duration": "–" if j.duration_s is None else _("{seconds} s", seconds=format(j.duration_s, ".1f")),
        "error": (j.error or status_text("failed")) if j.status == "failed" else None,
        "links": links,
    }


def index_html(jobs: list[Job], meta: dict[str, Any]) -> str:
    """The page for ``jobs``; ``meta`` holds ``run_date`` (text), ``duration_s``, ``version``, ``data``
    (a list of ``{label, fingerprint}``) and optionally ``lang`` (the page's language, default ``en``)
    and ``run_at`` (the run's start time: the date is then written in the page's language)."""
    with i18n.language(meta.get("lang")) as lang:
        run_date = run_date_text(meta["run_at"]) if meta.get("run_at") is not None else meta["run_date"]
        words = page_words(len(jobs), run_date, meta["duration_s"], meta["version"])
        cards = [{"status": s, "text": status_text(s), "color": STATUS_COLORS[s],
                  "count": sum(j.status == s for j in jobs)} for s in ("ok", "failed", "skipped")]
        data = [{**d, "label": data_label_text(d["label"])} for d in meta.get("data", [])]
        return _ENV.get_template(INDEX_TEMPLATE).render(
            meta={**meta, "data": data}, lang=lang, run_date=run_date, w=words, cards=cards, rows=[index_row(j) for j in jobs],
            font_stack=markupsafe.Markup(CJK_FONT_STACK if i18n.is_cjk(lang) else LATIN_FONT_STACK))
