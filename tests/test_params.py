"""Parameter declaration, validation and resolution (salesbench.params) on hand-made files."""
from __future__ import annotations

import copy
import datetime as dt
import textwrap
from pathlib import Path

import pytest

from salesbench import params as P

FIXTURES = Path(__file__).parent / "notebooks"

FUNNEL = """
_title: Sales funnel
_order: 30
_requires: [opportunities, stage_history]
_types: {as_of: "date?", top_n: "int|str", regions: "list[str]"}
data: demo
out_dir: "."
as_of: null
start: 2024-01-01
stuck_after_days: 60
min_share: 0.05
channel: direct
include_open: true
top_n: 10
regions: [North, South]
options: {bins: 5}
"""
SEGMENTS = """
_order: 20
region: North
k: 4
"""


@pytest.fixture()
def pdir(tmp_path, monkeypatch):
    """A params folder with two declarations and a notebooks folder holding both notebooks."""
    params_dir = tmp_path / "params"
    nb_dir = tmp_path / "notebooks"
    params_dir.mkdir()
    nb_dir.mkdir()
    (params_dir / "funnel.yaml").write_text(FUNNEL)
    (params_dir / "segments.yaml").write_text(SEGMENTS)
    for name in ("funnel", "segments", "data_quality"):
        (nb_dir / f"{name}.ipynb").write_text(
            '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Data quality\\n"]}], '
            '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
        )
    (params_dir / "data_quality.yaml").write_text("_order: 1\n")
    monkeypatch.setenv("SALESBENCH_PARAMS", str(params_dir))
    monkeypatch.setenv("SALESBENCH_NOTEBOOKS", str(nb_dir))
    return params_dir


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# ----------------------------------------------------------------------------- declarations
def test_declaration_types_defaults_and_meta(pdir):
    d = P.declaration("funnel")
    assert d.title == "Sales funnel" and d.order == 30
    assert d.requires == ["opportunities", "stage_history"]
    assert {k: str(t) for k, t in d.types.items()} == {
        "data": "str", "out_dir": "str", "as_of": "date?", "start": "date", "stuck_after_days": "int",
        "min_share": "float", "channel": "str", "include_open": "bool", "top_n": "int|str",
        "regions": "list[str]", "options": "dict",
    }
    assert P.defaults("funnel")["start"] == dt.date(2024, 1, 1)
    # common keys are added when a declaration omits them; title falls back to the notebook's heading
    seg = P.declaration("segments")
    assert seg.defaults["data"] == "demo" and seg.defaults["out_dir"] == "."
    assert P.declaration("data_quality").title == "Data quality"
    assert P.notebook_names() == ["data_quality", "segments", "funnel"]  # by _order


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("as_of: null\n", "as_of", "declare its type under _types"),
        ("_types: {n: intt}\nn: 3\n", "n", "unknown type"),
        ("_types: {n: int}\nn: 2.5\n", "n", "whole number"),
        ("_requires: [opportunity]\n", "_requires", "not a canonical table"),
        ("_colour: red\n", "_colour", "unknown meta key"),
        ("label: x\n", "label", "cannot be a parameter name"),
    ],
)
def test_bad_declaration_names_file_and_key(pdir, text, key, expected):
    (pdir / "broken.yaml").write_text(text)
    with pytest.raises(P.ParamError) as err:
        P.declaration("broken")
    msg = str(err.value)
    assert str(pdir / "broken.yaml") in msg and key in msg and expected in msg
    assert err.value.key == key


def test_paths_default_to_repo_and_follow_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SALESBENCH_PARAMS", raising=False)
    monkeypatch.delenv("SALESBENCH_NOTEBOOKS", raising=False)
    root = Path(__file__).resolve().parents[1]
    assert P.params_dir() == root / "params" and P.notebooks_dir() == root / "notebooks"
    monkeypatch.setenv("SALESBENCH_PARAMS", str(tmp_path))
    assert P.params_dir() == tmp_path


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "values, key, expected",
    [
        ({"stuck_after_dayz": 3}, "stuck_after_dayz", "did you mean 'stuck_after_days'"),
        ({"stuck_after_days": "abc"}, "stuck_after_days", "expected a whole number, got the text 'abc'"),
        ({"stuck_after_days": True}, "stuck_after_days", "expected a whole number, got the boolean true"),
        ({"stuck_after_days": 2.5}, "stuck_after_days", "whole number"),
        ({"start": "2025-02-30"}, "start", "expected a date (YYYY-MM-DD)"),
        ({"start": "31/01/2025"}, "start", "expected a date (YYYY-MM-DD)"),
        ({"start": 20250131}, "start", "expected a date"),
        ({"channel": True}, "channel", "quote the value"),
        ({"channel": 2024}, "channel", "quote the value"),
        ({"min_share": "five"}, "min_share", "expected a number"),
        ({"regions": ["North", 3]}, "regions", "item 1 of the list"),
        ({"include_open": "yes"}, "include_open", "expected true or false"),
        ({"start": None}, "start", "got null"),
        ({"top_n": 2.5}, "top_n", "a whole number or text"),
    ],
)
def test_validate_errors_name_key_source_and_expectation(pdir, values, key, expected):
    with pytest.raises(P.ParamError) as err:
        P.validate("funnel", values, sources={key: "my.yaml"})
    msg = str(err.value)
    assert msg.startswith("my.yaml: ") and f"'{key}'" in msg and expected in msg, msg
    assert err.value.key == key and err.value.source == "my.yaml"


def test_validate_converts_yaml_quirks(pdir):
    p = P.validate("funnel", {"min_share": "1e-3", "start": "2025-03-01", "as_of": dt.date(2025, 6, 30),
                              "top_n": "all", "stuck_after_days": 45})
    assert p.min_share == pytest.approx(0.001) and isinstance(p.min_share, float)
    assert p.start == dt.date(2025, 3, 1) and p["as_of"] == dt.date(2025, 6, 30)
    assert p.top_n == "all" and p.stuck_after_days == 45
    assert P.validate("funnel", {"min_share": 1}).min_share == 1.0  # int is fine for a float
    assert P.validate("funnel", {"as_of": None}).as_of is None  # nullable
    assert p.changed() == {"min_share": 0.001, "start": dt.date(2025, 3, 1), "as_of": dt.date(2025, 6, 30),
                           "top_n": "all", "stuck_after_days": 45}
    assert p.plain()["start"] == "2025-03-01"


def test_load_reads_notebook_namespace(pdir):
    namespace = {"stuck_after_days": 30, "as_of": "2025-01-31", "pd": object(), "_": None, "In": []}
    p = P.load("funnel", namespace)
    assert p.stuck_after_days == 30 and p.as_of == dt.date(2025, 1, 31)
    assert p.channel == "direct"  # not in the namespace: the default
    assert dict(p)["include_open"] is True and len(p) == 11
    with pytest.raises(AttributeError):
        p.channel = "online"
    assert copy.deepcopy(p) == p and copy.deepcopy(p).stuck_after_days == 30
    with pytest.raises(P.ParamError, match=r"notebook funnel .*'as_of'.*date"):
        P.load("funnel", {"as_of": "last week"})


def test_fixture_notebooks_parameters_cell_matches_declaration(monkeypatch):
    """The parameters cell of each fixture notebook holds exactly the declared keys and defaults."""
    monkeypatch.setenv("SALESBENCH_PARAMS", str(FIXTURES / "params"))
    monkeypatch.setenv("SALESBENCH_NOTEBOOKS", str(FIXTURES))
    names = P.notebook_names()
    assert names == ["hello", "boom", "needs_opps", "slow"]
    for name in names:
        cell = P.parameters_cell_values(FIXTURES / f"{name}.ipynb")
        assert cell == P.declaration(name).defaults, name


# ----------------------------------------------------------------------------- resolution
@pytest.mark.parametrize(
    "text, expected",
    [("10", 10), ("2.5", 2.5), ("1e-3", "1e-3"), ("2025-06-30", dt.date(2025, 6, 30)), ("yes", True),
     ("[North, South]", ["North", "South"]), ("", None), ("a: b", "a: b"), ("North", "North"),
     ("postgres://u:pw@h/db", "postgres://u:pw@h/db"), ('"yes"', "yes")],
)
def test_parse_override_yaml_scalars(text, expected):
    assert P.parse_override(f"key={text}") == (None, "key", expected)


def test_parse_override_target_and_errors():
    assert P.parse_override("funnel.top_n=5") == ("funnel", "top_n", 5)
    with pytest.raises(P.ParamError, match="expected key=value"):
        P.parse_override("top_n")


def test_resolve_precedence(pdir, tmp_path):
    f1 = write(tmp_path, "a.yaml", """
        stuck_after_days: 10
        channel: online
        notebooks:
          funnel: {channel: store, min_share: 0.2}
        """)
    f2 = write(tmp_path, "b.yaml", "stuck_after_days: 20\n")
    [p] = P.resolve("funnel", [f1, f2], ["min_share=0.3"], data="/data/folder")
    assert p.stuck_after_days == 20  # later file wins
    assert p.channel == "store"  # notebook section beats plain keys
    assert p.min_share == 0.3  # -p beats everything
    assert p.data == "/data/folder"  # --data
    assert p.sources["stuck_after_days"] == f2 and p.sources["min_share"] == "-p"
    assert p.sources["channel"] == f"{f1} (notebooks.funnel)" and p.sources["data"] == "--data"
    assert p.sources["regions"] == str(pdir / "funnel.yaml")


def test_resolve_sweeps(pdir, tmp_path):
    f = write(tmp_path, "sweep.yaml", """
        sweep:
          - {region: North}
          - {region: South, _label: south}
          - {region: West, k: 6}
        notebooks:
          funnel:
            sweep: [{channel: direct}, {channel: online}]
        """)
    sets = P.resolve_all(["data_quality", "segments", "funnel"], [f], ["k=5"])
    assert [p.label for p in sets["data_quality"]] == [None]  # declares no sweep key: runs once
    seg = sets["segments"]
    assert [p.label for p in seg] == ["region=North", "south", "region=West,k=6"]
    assert [(p.region, p.k) for p in seg] == [("North", 5), ("South", 5), ("West", 5)]  # -p wins over sweep
    assert [(p.label, p.channel) for p in sets["funnel"]] == [("channel=direct", "direct"), ("channel=online", "online")]


def test_resolve_multi_notebook_key_scope(pdir, tmp_path):
    # 'region' is declared by segments only: applies there, ignored for funnel
    sets = P.resolve_all(["segments", "funnel"], [], ["region=East"])
    assert sets["segments"][0].region == "East" and "region" not in sets["funnel"][0]
    # ... but when only funnel runs, 'region' is an unknown key
    with pytest.raises(P.ParamError, match=r"^-p: unknown parameter 'region'"):
        P.resolve("funnel", [], ["region=East"])
    # a key for one notebook only
    sets = P.resolve_all(["segments", "funnel"], [], ["funnel.channel=store"])
    assert sets["funnel"][0].channel == "store"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("stuck_after_dys: 3\n", "unknown parameter 'stuck_after_dys'"),
        ("start: 2025-02-30\n", "parameter 'start' of notebook 'funnel': expected a date"),
        ("channel: no\n", "parameter 'channel' of notebook 'funnel': expected text, got the boolean false"),
        ("stuck_after_days: 1e-3\n", "parameter 'stuck_after_days' of notebook 'funnel': expected a whole number"),
        ("out_dir: /tmp/x\n", "'out_dir' is set by the runner"),
        ("sweep: {region: North}\n", "'sweep' must be a non-empty list"),
        ("notebooks: {funel: {k: 1}}\n", "section for unknown notebook 'funel' — did you mean 'funnel'?"),
        ("sweep: [{channel: direct}, {channel: direct}]\n", "share the label"),
        ("- a\n- b\n", "must be a mapping"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_resolve_file_errors_name_the_file(pdir, tmp_path, text, fragment):
    f = write(tmp_path, "run.yaml", text)
    with pytest.raises(P.ParamError) as err:
        P.resolve("funnel", [f])
    assert str(err.value).startswith(f), str(err.value)
    assert fragment in str(err.value), str(err.value)


def test_resolve_accepts_1e3_for_float(pdir, tmp_path):
    f = write(tmp_path, "run.yaml", "min_share: 1e-3\nchannel: 'yes'\n")
    [p] = P.resolve("funnel", [f])
    assert p.min_share == pytest.approx(0.001) and p.channel == "yes"


def test_parameters_cell_for_interactive_reruns(pdir, tmp_path, capsys):
    f = write(tmp_path, "run.yaml", "sweep: [{channel: store}, {channel: online}]\n")
    assert P.main(["funnel", "-f", f, "-p", "top_n=7", "--data", "postgres://ann:hunter22@db/sales"]) == 0
    out = capsys.readouterr().out
    cells = out.split("\n\n")
    assert len(cells) == 2 and cells[0].startswith("# funnel · channel=store\n")
    namespace: dict = {}
    exec(cells[1], namespace)  # the printed cell is valid Python that load() accepts
    p = P.load("funnel", namespace)
    assert p.channel == "online" and p.top_n == 7 and p.start == dt.date(2024, 1, 1)
    assert p.data == "postgres://ann@db/sales" and "hunter22" not in out and "PGPASSWORD" in out
    assert P.main(["funnel", "-p", "top_n=1.5"]) == 2
    assert "parameter 'top_n'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- cross-key checks
def test_declared_check_rejects_weights_that_do_not_sum_to_one_before_any_kernel(tmp_path, run_cli):
    """performance declares `_check`: bad weights stop the run with exit 2, nothing written."""
    from salesbench import params

    bad = tmp_path / "weights.yaml"
    bad.write_text("weights: {revenue: 0.5, csat: 0.4}\n")
    with pytest.raises(params.ParamError, match=r"weights.yaml: .*sum to 1; they sum to 0.9"):
        params.validate("performance", {"weights": {"revenue": 0.5, "csat": 0.4}},
                        sources={"weights": str(bad)})
    assert params.validate("performance", {"weights": {"revenue": 0.6, "csat": 0.4}})["weights"]["csat"] == 0.4
    out = tmp_path / "out"
    proc = run_cli("run", "performance", "-f", bad, "--out", out)
    assert proc.returncode == 2
    assert "weights.yaml" in proc.stderr and "sum to 0.9" in proc.stderr
    assert not out.exists()
    proc = run_cli("run", "performance", "-p", "weights={revenue: 0.5, csat: 0.4}", "--out", out)
    assert proc.returncode == 2 and "-p" in proc.stderr and not out.exists()
