"""viz.display: KPI cards, sentences, lists and tables are always HTML-escaped."""
from __future__ import annotations

import pandas as pd

from salesbench.viz.display import HTML, bullet_list, esc, headline, narrative, show, show_table
from salesbench.viz.palette import ACCENT, STATUS, status_color

EVIL = '<script>alert("x")</script>'


def test_headline_cards_escape_and_status_word():
    html = headline([{"label": EVIL, "value": "1.2k", "sub": "a & b", "status": "red"},
                     {"label": "Plain", "value": 3}])._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "a &amp; b" in html
    assert f"--c:{STATUS['red']}" in html and '<span class="b">red</span>' in html  # the word, not colour only
    assert f"--c:{ACCENT}" in html  # no status: the accent colour
    assert html.count('class="sb-card"') == 2


def test_narrative_and_bullets():
    note = narrative("Revenue rose.", None, EVIL)
    assert isinstance(note, HTML)
    assert 'class="sb-note">Revenue rose. &lt;script&gt;' in str(note)
    assert 'class="sb-warn"' in str(narrative("x", warning=True))
    assert str(bullet_list(["a", EVIL])) == "<ul><li>a</li><li>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</li></ul>"
    assert esc(None) == "" and esc("'") == "&#x27;"


def test_show_table_formats_escapes_and_cuts():
    df = pd.DataFrame({"name": [EVIL, "b", "c"], "share": [0.5, None, 0.25], "status": ["green", "red", "amber"]})
    html = show_table(df, max_rows=2, formats={"share": "{:.0%}".format, "missing": str}, status_col="status",
                      caption="Top")._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<td>50%</td>" in html and "<td>nan%</td>" in html  # a callable gets every value, NaN too
    assert f"background:{STATUS['green']}" in html and ">green</td>" in html
    assert "<caption>Top</caption>" in html
    assert "Showing 2 of 3 rows" in html and "<td>c</td>" not in html
    html2 = show_table(pd.DataFrame({"x": [1.5, None]}), formats={"x": ".1f"})._repr_html_()
    assert "<td>1.5</td>" in html2 and "<td>–</td>" in html2


def test_status_color_falls_back_to_grey():
    assert status_color("green") == STATUS["green"] and status_color("purple") == STATUS["grey"]


def test_show_displays_only_inside_ipython(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    show(narrative("x"))
    assert shown == []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    block = narrative("x")
    show(block)
    assert shown == [block]


def test_show_table_headers_and_translated_status_keep_their_colour():
    import pandas as pd

    from salesbench.viz import display, palette

    frame = pd.DataFrame({"rep": ["R1", "R2"], "status": ["red", "green"]})
    html = display.show_table(frame, status_col="status", headers={"rep": "销售代表", "status": "状态"},
                              formats={"status": {"red": "红", "green": "绿"}.get}).markup
    assert "<th>销售代表</th><th>状态</th>" in html
    assert f"background:{palette.status_color('red')}" in html and ">红</td>" in html
    assert f"background:{palette.status_color('green')}" in html and ">绿</td>" in html
