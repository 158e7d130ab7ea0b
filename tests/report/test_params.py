"""Parameter declaration, validation and resolution (salesbench.report.params) on hand-made files."""
from __future__ import annotations

import copy
import datetime as dt
import textwrap
from pathlib import Path

import pytest

from salesbench.report import params as P

FIXTURES = Path(__file__).resolve().parents[1] / "notebooks"

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
        "data": "str", "out_dir": "str", "lang": "str", "as_of": "date?", "start": "date", "stuck_after_days": "int",
        "min_share": "float", "channel": "str", "include_open": "bool", "top_n": "int|str",
        "regions": "list[str]", "options": "dict",
    }
    assert P.defaults("funnel")["start"] == dt.date(2024, 1, 1)
    # common keys are added when a declaration omits them; title falls back to the notebook's heading
    seg = P.declaration("segments")
    assert seg.defaults["data"] == "demo" and seg.defaults["out_dir"] == "." and seg.defaults["lang"] == "en"
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
    root = Path(__file__).resolve().parents[2]
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
    assert dict(p)["include_open"] is True and len(p) == 12
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
    from salesbench.report import params

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


@pytest.mark.parametrize("notebook, override, fragments", [
    ("segmentation", "rfm_segments={A: {r: [1, 5], f: [1, 4]}}",
     ["parameter 'rfm_segments'", "do not cover every R/F cell", "R1F5, R2F5, R3F5, R4F5, R5F5"]),
    ("segmentation", "tier_names=[big, small]", ["parameter 'tier_names'", "needs 4 names for the 3 tier_cuts, got 2"]),
    ("segmentation", "tier_cuts=[0.5, 0.4, 0.9]", ["parameter 'tier_cuts'", "must increase strictly"]),
    ("segmentation", "score_ties=max", ["parameter 'score_ties'", "'first' or 'min', not 'max'"]),
    ("segmentation", "top_fraction=0", ["parameter 'top_fraction'", "must be in (0, 1]"]),
    ("segmentation", "cluster_weights={recency: 1, loyalty: 1}", ["parameter 'cluster_weights'",
                                                                  "unknown cluster feature 'loyalty'"]),
    ("segmentation", "cluster_weights={recency: 0}", ["every weight is 0"]),
    ("segmentation", "k_min=9", ["parameter 'k_max'", "no k to try: k_min = 9 and k_max = 8"]),
    ("segmentation", "k=1", ["parameter 'k'", "at least 2"]),
    ("segmentation", "lifecycle_at_risk_after=5", ["lifecycle_at_risk_after < lifecycle_lapsed_after, got 5.0 and 4.0"]),
    ("funnel", "stages=[lead, lead]", ["parameter 'stages'", "at least two distinct names"]),
    ("funnel", "stages=[lead, lost]", ["'lost' is the closing stage"]),
    ("funnel", "sla_hours={demo: 4}", ["parameter 'sla_hours'", "SLA stage 'demo' is not one of the funnel stages"]),
    ("funnel", "sla_hours={lead: 4}", ["'lead' is the first stage"]),
    ("funnel", "coverage_threshold=0", ["parameter 'coverage_threshold'", "must be a positive number"]),
    ("funnel", "credible_mass=1.5", ["parameter 'credible_mass'", "between 0 and 1"]),
    ("forecasting", "frequency=Q", ["parameter 'frequency'", "one of M, W, not 'Q'"]),
    ("forecasting", "metric=profit", ["parameter 'metric'", "not 'profit'"]),
    ("forecasting", "dimensions=[region, colour]", ["parameter 'dimensions'", "unknown hierarchy level 'colour'"]),
    ("forecasting", "deep_models=[prophet]", ["parameter 'deep_models'", "unknown model 'prophet'"]),
    ("forecasting", "reconciliation=top_down", ["parameter 'reconciliation'", "not 'top_down'"]),
    ("forecasting", "season_length=0", ["parameter 'season_length'", "at least 1"]),
    ("forecasting", "lifecycle_growth=-0.2", ["parameter 'lifecycle_growth'", "above the decline threshold"]),
    ("churn", "model=bgnbd", ["parameter 'model'", "one of auto, bg_nbd, mbg_nbd, pareto_nbd, not 'bgnbd'"]),
    ("churn", "at_risk_signal=clv", ["parameter 'at_risk_signal'", "not 'clv'"]),
    ("churn", "fit_method=nuts", ["parameter 'fit_method'", "not 'nuts'"]),
    ("churn", "priors=wide", ["parameter 'priors'", "not 'wide'"]),
    ("churn", "time_unit=Y", ["parameter 'time_unit'", "not 'Y'"]),
    ("performance", "period=week", ["parameter 'period'", "got 'week'"]),
    ("performance", "warning_lines={score: {red: 60, amber: 50}}", ["parameter 'warning_lines'",
                                                                    "must not be above amber"]),
])
def test_cross_key_and_choice_rules_are_checked_before_any_kernel(notebook, override, fragments):
    """Rules the analysis code enforces inside the kernel, caught from the parameters alone (params/*.yaml _check)."""
    with pytest.raises(P.ParamError) as err:
        P.resolve(notebook, overrides=[override])
    msg = str(err.value)
    assert msg.startswith(f"-p: parameter '{err.value.key}' of notebook '{notebook}': "), msg
    for frag in fragments:
        assert frag in msg, msg


def test_driver_plan_file_is_checked_before_any_kernel(tmp_path, monkeypatch, run_cli):
    """forecasting `driver_plan`: a missing file or one without `period` is exit 2 naming the key and the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "bad.csv").write_text("month,promo_share\n2026-01-01,0.2\n")
    (tmp_path / "plans" / "ok.csv").write_text("period,discount\n2026-01-15,0.1\n")
    for name, words in [("plans/2026.csv", "no such file"), ("plans/bad.csv", "needs a 'period' column")]:
        with pytest.raises(P.ParamError) as err:
            P.resolve("forecasting", overrides=[f"driver_plan={name}"])
        assert err.value.key == "driver_plan"
        assert str(err.value).startswith(f"-p: parameter 'driver_plan' of notebook 'forecasting': "
                                         f"{tmp_path / name}: {words}"), str(err.value)
    assert P.resolve("forecasting", overrides=["driver_plan=plans/ok.csv"])[0]["driver_plan"] == "plans/ok.csv"
    out = tmp_path / "out"  # through the CLI, relative to where salesbench was started: no kernel, nothing written
    proc = run_cli("run", "forecasting", "-p", "driver_plan=plans/2026.csv", "--out", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "parameter 'driver_plan'" in proc.stderr and str(tmp_path / "plans" / "2026.csv") in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_runner_passes_the_driver_plan_to_the_kernel_as_an_absolute_path(tmp_path, monkeypatch):
    """Kernels run in the report folder: a plan path relative to the caller's folder is made absolute."""
    from salesbench.report import execute, plan

    monkeypatch.chdir(tmp_path)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "ok.csv").write_text("period,discount\n2026-01-15,0.1\n")
    p = P.resolve("forecasting", overrides=["driver_plan=plans/ok.csv"])[0]
    job = plan.Job(1, "forecasting", "Sales forecast", p, "", "demo")
    assert execute._inject(job, "demo")["driver_plan"] == str(tmp_path / "plans" / "ok.csv")
    assert execute._inject(plan.Job(1, "forecasting", "x", P.resolve("forecasting")[0], "", "demo"),
                           "demo")["driver_plan"] is None


def test_every_declared_check_accepts_the_defaults():
    for name in P.notebook_names():
        decl = P.declaration(name)
        assert decl.check is None or decl.check.startswith(f"salesbench.analyses.{name}.model:"), (name, decl.check)
        assert P.resolve(name)[0]["data"] == "demo"
    assert all(P.declaration(n).check for n in ("segmentation", "funnel", "forecasting", "churn", "performance"))


def test_check_error_names_where_the_key_came_from(tmp_path):
    seg = tmp_path / "seg.yaml"
    seg.write_text("score_ties: max\n")
    with pytest.raises(P.ParamError, match=rf"^{seg}: parameter 'score_ties' of notebook 'segmentation'"):
        P.resolve("segmentation", files=[str(seg)], overrides=["k=4"])  # the key's own source, not -p
    seg.write_text("k_min: 9\n")  # k_max keeps its default: the message names where the change came from
    with pytest.raises(P.ParamError, match=rf"^{seg}: parameter 'k_max' of notebook 'segmentation': no k to try"):
        P.resolve("segmentation", files=[str(seg)])


def test_unloadable_check_hook_is_an_error_in_the_declaration(pdir):
    (pdir / "funnel.yaml").write_text(FUNNEL + '_check: "salesbench.analyses.funnel.model:no_such_check"\n')
    with pytest.raises(P.ParamError, match=r"funnel.yaml: _check .salesbench.analyses.funnel.model:no_such_check. cannot be loaded"):
        P.resolve("funnel")


def test_uncovered_rfm_cells_stop_the_cli_before_data_or_kernel(tmp_path, run_cli):
    """The issue: caught only inside the kernel after ~8 s; now exit 2 before the data source is even opened."""
    out = tmp_path / "out"
    proc = run_cli("run", "segmentation", "--data", tmp_path / "no-such-data", "--out", out,
                   "-p", "rfm_segments={A: {r: [1, 5], f: [1, 4]}}")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        "salesbench run: error: -p: parameter 'rfm_segments' of notebook 'segmentation': rfm_segments do not "
        "cover every R/F cell (rules with an 'm' range do not count as cover): R1F5, R2F5, R3F5, R4F5, R5F5")
    assert not out.exists()


def test_lang_is_a_common_key_normalised_and_checked(pdir):
    assert P.validate("funnel", {"lang": "zh_CN"})["lang"] == "zh-CN"
    assert P.validate("funnel", {})["lang"] == "en"
    with pytest.raises(P.ParamError, match=r"parameter 'lang' of notebook 'funnel': unknown language 'fr'; use one of en, zh-CN"):
        P.validate("funnel", {"lang": "fr"}, sources={"lang": "-p"})
