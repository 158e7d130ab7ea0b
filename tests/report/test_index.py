"""The run's index page (salesbench.report.index, template report/templates/run_index.html.j2)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from salesbench.report import index, params, plan
from salesbench.report.render import TEMPLATES_DIR

EVIL = "<script>alert('x')</script> & \"q\""


def _job(i, status, label=None, **kw):
    p = params.Params("hello", {"data": "demo", "out_dir": "."}, label=label)
    job = plan.Job(i, "hello", "Hello report", p, f"hello/{label}" if label else "", "demo")
    job.status = status
    for k, v in kw.items():
        setattr(job, k, v)
    return job


META = {"run_date": "2026-01-05 09:30 UTC", "duration_s": 12.34, "version": "1.2.3",
        "data": [{"label": "demo (seed 0)", "fingerprint": "abc123"}, {"label": EVIL, "fingerprint": "f<p>"}]}


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> Text:
    t = Text()
    t.feed(page)
    return t


def test_the_index_is_a_jinja_template_next_to_the_report_template():
    assert (TEMPLATES_DIR / index.INDEX_TEMPLATE).is_file()
    assert (TEMPLATES_DIR / "salesbench_report" / "index.html.j2").is_file()


def test_summary_cards_rows_links_and_durations():
    jobs = [
        _job(1, "ok", has_html=True, has_ipynb=True, has_results=True, duration_s=3.21,
             headline=[{"label": f"h{i}", "value": i, "text": f"v{i}"} for i in range(8)]),
        _job(2, "failed", label="b", error="ValueError: bad (cell 3)", has_ipynb=True, duration_s=1.0),
        _job(3, "skipped", reason="no opportunities table", duration_s=0.0),
        _job(4, "pending"),
    ]
    page = index.index_html(jobs, META)
    t = _parse(page)
    text = "".join(t.text)
    assert "<title>salesbench reports · 2026-01-05 09:30 UTC</title>" in page
    assert "Run 2026-01-05 09:30 UTC · 4 report(s) in 12.3 s · salesbench 1.2.3" in text
    cards = re.findall(r'<div class="v">(\d+)</div><div class="l">(\w+)</div>', page)
    assert cards == [("1", "ok"), ("1", "failed"), ("1", "skipped")]
    hrefs = [a["href"] for tag, a in t.tags if tag == "a"]
    assert hrefs == ["hello.html", "hello.ipynb", "hello.results.json", "hello/b/hello.ipynb", "manifest.json"]
    assert "executed notebook · results.json" in text
    assert [f"v{i}" for i in range(6)] == re.findall(r'<span class="hl">h\d</span> (v\d)</span>', page)  # six at most
    assert "ValueError: bad (cell 3)" in text and "skipped: no opportunities table" in text
    assert re.findall(r'<td class="num">([^<]*)</td>', page) == ["3.2 s", "1.0 s", "0.0 s", "–"]
    assert "Hello report · b" in text  # the sweep label
    assert page.endswith("</body></html>\n")


def test_every_text_from_data_is_escaped():
    jobs = [_job(1, "failed", label=EVIL, error=EVIL, headline=[{"label": EVIL, "text": EVIL}]),
            _job(2, "skipped", reason=EVIL)]
    jobs[0].title = EVIL
    page = index.index_html(jobs, META)
    assert "<script>" not in page and "alert(&#x27;x&#x27;)" in page and "&amp; &quot;q&quot;" in page
    assert "f&lt;p&gt;" in page
    t = _parse(page)
    assert not [tag for tag, _a in t.tags if tag == "script"]
    # title, sweep label, error, headline label and text, skip reason, data label: all shown as text
    assert "".join(t.text).count(EVIL) == 7
