"""The report runner end to end on tiny fixture notebooks (tests/notebooks, tests/notebooks/params).

Every run executes real kernels through Papermill, as scheduled runs do. The
fixture notebooks: ``hello`` (ok: parameters, a figure, a table, results),
``boom`` (raises), ``needs_opps`` (requires opportunities + stage_history),
``slow`` (sleeps ``seconds``).
"""
from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from salesbench import cli
from salesbench.report import outdir, publish, runner
from salesbench.core.dataset import Dataset
from salesbench.io.folder import open_folder

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "notebooks"
PASSWORD = "S3cr3t-Pa55word"


@pytest.fixture(scope="module")
def fixture_env(tmp_path_factory):
    """Environment pointing salesbench at the fixture notebooks, plus a tiny orders-only data folder."""
    base = tmp_path_factory.mktemp("runner")
    data = base / "data"
    data.mkdir()
    pd.DataFrame({
        "customer_id": ["c1", "c2", "c1"],
        "order_date": ["2024-01-05", "2024-02-01", "2024-03-09"],
        "revenue": [10.5, 20.0, 7.25],
    }).to_csv(data / "orders.csv", index=False)
    env = {
        "SALESBENCH_NOTEBOOKS": str(FIXTURES),
        "SALESBENCH_PARAMS": str(FIXTURES / "params"),
        "SALESBENCH_REPORTS": str(base / "reports"),
    }
    return {"base": base, "data": data, "env": env}


@pytest.fixture()
def env(fixture_env, monkeypatch):
    for k, v in fixture_env["env"].items():
        monkeypatch.setenv(k, v)
    return fixture_env


def cli_run(fx, *args, timeout=120):
    full = dict(os.environ, **fx["env"])
    return subprocess.run([sys.executable, "-m", "salesbench", "run", *map(str, args)], capture_output=True,
                          text=True, env=full, cwd=ROOT, timeout=timeout)


class Tags(HTMLParser):
    """Collects (tag, attrs) of every start tag and the text of the page."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Tags:
    t = Tags()
    t.feed(path.read_text(encoding="utf-8"))
    return t


# ----------------------------------------------------------------------------- one mixed run
@pytest.fixture(scope="module")
def mixed_run(fixture_env):
    """One CLI run, two jobs, into an --out folder holding a previous run.

    hello swept over two parameter sets (ok), boom (fails), needs_opps (skipped: no opportunities table).
    """
    out = fixture_env["base"] / "mixed"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    (out / "manifest.json").write_text(json.dumps({"generator": "salesbench run",
                                                   "run_files": ["stale.txt", "index.html", "manifest.json"]}))
    sweep = fixture_env["base"] / "sweep.yaml"
    sweep.write_text("greeting: bonjour\nsweep:\n  - {greeting: hola}\n  - {greeting: salut, _label: team b/west}\n")
    t0 = time.monotonic()
    data = os.path.relpath(fixture_env["data"], ROOT)  # relative to the runner's cwd; kernels run elsewhere
    proc = cli_run(fixture_env, "hello", "boom", "needs_opps", "--data", data, "--out", out,
                   "--jobs", "2", "-f", sweep, "-p", "n=5", "-p", "as_of=2025-01-31", "-p", "regions=[North, West]")
    return {"proc": proc, "out": out, "elapsed": time.monotonic() - t0, "sweep": sweep, "data": fixture_env["data"],
            "hola": out / "hello" / "greeting=hola", "salut": out / "hello" / "team_b_west"}


def test_failure_isolation_and_exit_status(mixed_run):
    proc, out = mixed_run["proc"], mixed_run["out"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not (out / "stale.txt").exists()  # the previous run's own files replaced at the end
    hola = mixed_run["hola"]
    res = json.loads((hola / "hello.results.json").read_text())
    assert res["status"] == "ok" and res["n"] == 5 and res["as_of"] == "2025-01-31"
    assert res["regions"] == ["North", "West"] and res["out_dir_seen"] == "."
    assert res["kernel_transport"] == "ipc"  # parallel kernels cannot collide on TCP ports
    assert res["data_seen"] == str(mixed_run["data"])  # the relative --data was made absolute
    assert res["headline"] == [{"label": "Answer", "value": 10, "text": "10 widgets"}]
    assert (hola / "hello.numbers.csv").read_text().splitlines() == ["k,v", "1,5", "2,10"]
    assert (hola / "hello.html").exists() and (hola / "hello.ipynb").exists()
    assert (out / "boom.ipynb").exists() and not (out / "boom.html").exists()
    assert not list(out.parent.glob(f".{out.name}.sb*"))  # no temporary folder left behind
    # terminal progress: one line per report with its elapsed time, and the index path at the end
    lines = proc.stdout.splitlines()
    assert any(re.search(r"hello · greeting=hola\s+\d+\.\d s\s+ok", l) for l in lines), proc.stdout
    assert any(re.search(r"boom\s+\d+\.\d s\s+FAILED\s+ValueError: deliberate failure", l) for l in lines)
    assert any("needs_opps" in l and "skipped: no opportunities table" in l for l in lines)
    assert lines[-1] == f"index: {out / 'index.html'}"


def _outputs(folder: Path) -> dict[str, object]:
    """Every results.json (without timing fields) and CSV below ``folder``, by relative path."""
    found = {}
    for path in sorted(folder.rglob("*.results.json")):
        doc = json.loads(path.read_text())
        found[str(path.relative_to(folder))] = {k: v for k, v in doc.items() if "time" not in k}
    for path in sorted(folder.rglob("*.csv")):
        found[str(path.relative_to(folder))] = path.read_text()
    return found


def test_parallel_run_writes_what_a_serial_run_writes(mixed_run, fixture_env):
    """The mixed run ran hello's two sweep sets side by side (--jobs 2); one at a time gives the same outputs."""
    serial = fixture_env["base"] / "serial"
    data = os.path.relpath(fixture_env["data"], ROOT)
    proc = cli_run(fixture_env, "hello", "--data", data, "--out", serial, "--jobs", "1", "-f", mixed_run["sweep"],
                   "-p", "n=5", "-p", "as_of=2025-01-31", "-p", "regions=[North, West]")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parallel = _outputs(mixed_run["out"] / "hello")
    assert len(parallel) == 4 and parallel == _outputs(serial / "hello")  # 2 results.json + 2 numbers.csv


def test_index_lists_every_report(mixed_run):
    out = mixed_run["out"]
    page = (out / "index.html").read_text()
    rows = re.findall(r'<tr class="(ok|failed|skipped)">(.*?)</tr>', page, re.S)
    assert [r[0] for r in rows] == ["ok", "ok", "failed", "skipped"]
    hello, hello_b, boom, opps = (r[1] for r in rows)
    assert 'href="hello/greeting=hola/hello.html"' in hello and "10 widgets" in hello and "Hello report" in hello
    assert 'href="hello/team_b_west/hello.html"' in hello_b and "· team b/west" in hello_b
    assert "deliberate failure for the runner tests" in boom and 'href="boom.ipynb"' in boom
    assert "skipped: no opportunities table and no stage_history table" in opps
    assert re.search(r"\d+\.\d s", hello)
    assert not any(tag == "script" for tag, _ in parse(out / "index.html").tags)


def test_skip_by_requires_starts_no_kernel(mixed_run):
    out = mixed_run["out"]
    assert not (out / "needs_opps.ipynb").exists() and not (out / "needs_opps.results.json").exists()
    rep = {r["name"]: r for r in json.loads((out / "manifest.json").read_text())["reports"]}
    assert rep["needs_opps"]["status"] == "skipped" and rep["needs_opps"]["duration_s"] == 0.0
    assert rep["needs_opps"]["reason"] == "no opportunities table and no stage_history table"


def test_manifest_fields(mixed_run, fixture_env):
    import papermill

    out = mixed_run["out"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["salesbench_version"] == "0.1.0" and m["summary"] == {"ok": 2, "failed": 1, "skipped": 1}
    assert m["packages"]["papermill"] == papermill.__version__ and m["packages"]["python"]
    ds = open_folder(fixture_env["data"])
    assert m["data"] == [{"source": ds.label, "fingerprint": ds.fingerprint(), "tables": ["orders"]}]
    assert "run hello boom needs_opps" in m["command"] and "-p n=5" in m["command"]
    assert m["options"]["jobs"] == 2
    assert m["options"]["files"] == [str(mixed_run["sweep"])]
    rep = {(r["name"], r["sweep_label"]): r for r in m["reports"]}
    assert list(rep) == [("hello", "greeting=hola"), ("hello", "team b/west"), ("boom", None), ("needs_opps", None)]
    hello = rep["hello", "greeting=hola"]
    assert hello["status"] == "ok" and hello["dir"] == "hello/greeting=hola"
    assert hello["html"] == "hello/greeting=hola/hello.html"
    assert hello["results"] == "hello/greeting=hola/hello.results.json"
    assert hello["parameters"] == {"data": str(fixture_env["data"]), "out_dir": ".", "lang": "en", "greeting": "hola", "n": 5,
                                   "rate": 0.5, "as_of": "2025-01-31", "regions": ["North", "West"], "flag": False}
    assert hello["parameter_sources"]["n"] == "-p" and hello["parameter_sources"]["data"] == "--data"
    assert hello["parameter_sources"]["greeting"] == f"{mixed_run['sweep']} (sweep)"
    rep = {r["name"]: r for r in m["reports"]}
    assert hello["data_fingerprint"] == ds.fingerprint() and 0 < hello["duration_s"] < mixed_run["elapsed"]
    # CPU seconds of worker + kernel: the kernel's start alone (ipykernel, pandas) costs more than 0.3 s
    assert 0.3 < hello["cpu_s"] < 4 * mixed_run["elapsed"] and rep["needs_opps"]["cpu_s"] is None
    assert rep["boom"]["status"] == "failed" and "deliberate failure" in rep["boom"]["error"]
    assert rep["boom"]["ipynb"] == "boom.ipynb" and rep["boom"]["html"] is None


def test_html_is_offline_without_code_or_parameters(mixed_run, fixture_env):
    path = mixed_run["hola"] / "hello.html"
    page = path.read_text()
    doc = parse(path)
    urls = [a.get(attr, "") for tag, a in doc.tags for attr in ("src", "href")
            if (tag, attr) in {("script", "src"), ("link", "href"), ("img", "src")}]
    assert not [u for u in urls if re.match(r"^\s*(https?:)?//", u)], urls
    imgs = [a["src"] for tag, a in doc.tags if tag == "img"]
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    # no code, no parameters cell, no injected parameters; outputs and markdown stay
    assert "CODE_MARKER_7F3A" not in page and "sb.params.load" not in page
    assert 'greeting = "hi"' not in page and "# Parameters" not in page and "injected-parameters" not in page
    assert 'greeting = "hola"' not in page
    assert "doubled 10" in page and "A tiny report the runner tests execute" in page
    # header: title, run date, data source, changed parameters; table of contents from the ## headings
    assert "<title>Hello report · greeting=hola</title>" in page
    text = " ".join(doc.text)
    assert "Hello report" in text and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert f"folder {fixture_env['data']}" in text and "n = 5" in text and "as_of = 2025-01-31" in text
    assert "greeting = hola" in text and "Hello report · greeting=hola" in text
    assert 'href="../../index.html"' in page  # back link from a sub-report to the run's index
    toc = re.search(r'<nav class="sb-toc".*?</nav>', page, re.S).group(0)
    links = re.findall(r'href="#([^"]+)">([^<]+)<', toc)
    assert [t for _, t in links] == ["Figures", "Numbers &amp; totals"]
    h2_ids = {a.get("id") for tag, a in doc.tags if tag == "h2"}
    assert {i.replace("&amp;", "&") for i, _ in links} <= h2_ids


def test_english_run_is_english(mixed_run):
    """Without --lang every page says lang="en", carries no Chinese and no CJK font stack."""
    manifest = json.loads((mixed_run["out"] / "manifest.json").read_text())
    assert manifest["lang"] == "en" and manifest["options"]["lang"] is None
    for page in (mixed_run["hola"] / "hello.html", mixed_run["out"] / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert '<html lang="en">' in text, page
        assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", text), page
        assert "PingFang SC" not in text


def test_lang_flag_sets_every_notebook_below_per_notebook_p(env, tmp_path):
    from salesbench.report import params

    sets = params.resolve_all(["hello", "boom"], overrides=["boom.lang=en"], lang="zh_CN")
    assert sets["hello"][0].lang == "zh-CN" and sets["hello"][0].sources["lang"] == "--lang"
    assert sets["boom"][0].lang == "en" and sets["boom"][0].sources["lang"] == "-p"
    run_file = tmp_path / "langs.yaml"
    run_file.write_text("sweep: [{lang: en}, {lang: zh-CN}]\n")
    swept = params.resolve_all(["hello"], files=[str(run_file)])["hello"]
    assert [(p.label, p.lang) for p in swept] == [("lang=en", "en"), ("lang=zh-CN", "zh-CN")]
    jobs = [runner.Job(i, "hello", "Hello report", p, "", "demo") for i, p in enumerate(swept + swept[1:])]
    assert publish.run_language(jobs) == "zh-CN" and publish.run_language(jobs, "en") == "en"
    assert publish.run_language(jobs[:1]) == "en" and publish.run_language([]) == "en"


# ----------------------------------------------------------------------------- sweeps
def test_sweep_gives_one_sub_report_per_set(mixed_run):
    out = mixed_run["out"]
    for folder, greeting in ((mixed_run["hola"], "hola"), (mixed_run["salut"], "salut")):
        res = json.loads((folder / "hello.results.json").read_text())
        assert res["greeting"] == greeting and res["n"] == 5
        assert (folder / "hello.html").exists() and (folder / "hello.numbers.csv").exists()
        assert f"Hello report · {'greeting=hola' if greeting == 'hola' else 'team b/west'}" in (
            folder / "hello.html").read_text()
    assert sorted(p.name for p in (out / "hello").iterdir()) == ["greeting=hola", "team_b_west"]
    assert not (out / "hello.html").exists()  # the swept notebook has no top-level report
    assert (out / "boom.ipynb").exists()  # boom declares no 'greeting': it ran once, at the top


# ----------------------------------------------------------------------------- parameter errors
@pytest.mark.parametrize(
    "args, file_text, fragments",
    [
        (["-p", "greting=hey"], None, ["-p: unknown parameter 'greting'", "did you mean 'greeting'"]),
        (["-p", "n=many"], None, ["-p: parameter 'n' of notebook 'hello': expected a whole number"]),
        ([], "as_of: 2025-02-30\n", ["{file}: parameter 'as_of'", "expected a date (YYYY-MM-DD)"]),
        ([], "greeting: yes\n", ["{file}: parameter 'greeting'", "got the boolean true", "quote the value"]),
        ([], "n: 1e-3\n", ["{file}: parameter 'n'", "expected a whole number, got the text '1e-3'"]),
        ([], "notebooks:\n  hello: {colour: red}\n", ["{file} (notebooks.hello): unknown parameter 'colour'"]),
        (["nope"], None, ["unknown notebook 'nope'"]),
        ([], b"greeting: caf\xe9\n", ["{file}: the parameter file is not UTF-8 text: byte 0xe9 at position 13 (line 1)"]),
        ([], "- greeting: hola\n", ["{file}: a parameter file must be a mapping of key: value, got a list"]),
        ([], "sweep:\n  - {1: 2}\n", ["{file}: sweep set {{'1': 2}}: 1 is not a parameter name"]),
        ([], "sweep: {greeting: hola}\n", ["{file}: 'sweep' must be a non-empty list of mappings"]),
        ([], "notebooks:\n  hello: [1, 2]\n", ["{file}: 'notebooks.hello' must be a mapping of key: value, got a list"]),
        (["--lang", "fr"], None, ["--lang: unknown language 'fr'; use one of en, zh-CN"]),
    ],
)
def test_parameter_errors_exit_2_before_anything_runs(env, tmp_path, monkeypatch, capsys, args, file_text, fragments):
    def no_data(*_a, **_k):
        raise AssertionError("the data source must not be opened before parameters are valid")

    monkeypatch.setattr("salesbench.io.sources.open_data", no_data)
    monkeypatch.setenv("SALESBENCH_REPORTS", str(tmp_path / "reports"))
    argv = ["run", "hello", *args, "--out", str(tmp_path / "out")]
    f = tmp_path / "run.yaml"
    if file_text is not None:
        f.write_bytes(file_text if isinstance(file_text, bytes) else file_text.encode())
        argv += ["-f", str(f)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    for frag in fragments:
        assert frag.format(file=f) in err, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    assert not (tmp_path / "reports").exists()
    # the same without --out: no timestamped folder either
    assert cli.main(argv[:-2]) == 2 and not (tmp_path / "reports").exists()


def test_parameter_error_through_the_cli_process(env, tmp_path):
    proc = cli_run(env, "hello", "-p", "rate=fast", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "-p: parameter 'rate' of notebook 'hello': expected a number, got the text 'fast'" in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- secrets
def test_database_password_never_reaches_outputs(env, tmp_path, monkeypatch, capfd):
    url = f"postgres://ann:{PASSWORD}@db.example.com:5432/sales"
    opened = []

    def fake_open(source):  # no server in tests: same tables as the fixture folder, label from the URL
        opened.append(source)
        return Dataset.from_frames({"orders": pd.read_csv(env["data"] / "orders.csv")}, label=source)

    monkeypatch.setattr("salesbench.io.sources.open_data", fake_open)
    out = tmp_path / "secret"
    result = runner.run_reports(["hello", "needs_opps"], data=url, out=out, command=["salesbench", "run", "--data", url])
    assert result.exit_code == 0 and opened == [url]
    res = json.loads((out / "hello.results.json").read_text())
    assert res["data_seen"] == "postgres://ann@db.example.com:5432/sales"  # injected without the password
    assert res["have_pgpassword"] is True  # handed to the kernel through the environment
    captured = capfd.readouterr()
    assert PASSWORD not in captured.out + captured.err and "ann:***@db.example.com" in captured.out
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"hello.html", "hello.ipynb", "hello.results.json", "index.html", "manifest.json"}
    for p in files:
        assert PASSWORD.encode() not in p.read_bytes(), p
    m = json.loads((out / "manifest.json").read_text())
    assert m["command"] == "salesbench run --data postgres://ann:***@db.example.com:5432/sales"


def test_split_secret():
    assert runner.split_secret("postgres://ann:p%40ss@h:5432/db?sslmode=require") == (
        "postgres://ann@h:5432/db?sslmode=require", "p@ss")
    assert runner.split_secret("postgresql://h/db?password=xyz&sslmode=require") == (
        "postgresql://h/db?sslmode=require", "xyz")
    assert runner.split_secret("/data/folder") == ("/data/folder", None)
    assert runner.split_secret("postgres://ann@h/db") == ("postgres://ann@h/db", None)


# ----------------------------------------------------------------------------- timeouts
def test_cell_timeout_fails_only_that_report(env, tmp_path):
    out = tmp_path / "timeout"
    lines = []
    result = runner.run_reports(["slow", "needs_opps"], data=str(env["data"]), overrides=["slow.seconds=30"],
                                out=out, timeout=2, echo=lines.append)
    assert result.exit_code == 1
    rep = {r["name"]: r for r in json.loads((out / "manifest.json").read_text())["reports"]}
    # which section and cell, and the limit (nbclient's own text would end in "-------------------")
    expected = 'timed out: section "Waiting", code cell 3 (import time) ran longer than the per-cell limit of 2 s'
    assert rep["slow"]["status"] == "failed" and rep["slow"]["error"].startswith(expected), rep["slow"]["error"]
    assert rep["slow"]["duration_s"] < 25 and rep["needs_opps"]["status"] == "skipped"
    assert any("FAILED" in line and expected in line for line in lines), lines
    assert html.escape(expected) in (out / "index.html").read_text()


def _processes_in(folder: Path) -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if str(folder) in p.cwd():
                found.append(p)
        except (psutil.Error, OSError):
            pass
    return found


def test_wall_clock_limit_kills_worker_and_kernel(env, tmp_path):
    out = tmp_path / "wall"
    t0 = time.monotonic()
    result = runner.run_reports(["slow"], data=str(env["data"]), overrides=["seconds=60"], out=out,
                                timeout=120, wall_timeout=4, echo=lambda _l: None)
    assert time.monotonic() - t0 < 30
    assert result.exit_code == 1
    [job] = result.jobs
    assert job.status == "failed" and "wall-clock limit of 4 s" in job.error
    _assert_no_processes_in(tmp_path, timeout=5)  # no orphaned kernel left running in the report folder


# ----------------------------------------------------------------------------- atomic latest
def _wait_for(proc, text, timeout=60):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if text in line:
            return
    raise AssertionError("never saw " + text + " in " + "".join(seen))


def test_killed_or_interrupted_run_never_replaces_latest(env, tmp_path):
    root = Path(env["env"]["SALESBENCH_REPORTS"])
    lines = []
    first = runner.run_reports(["needs_opps"], data=str(env["data"]), echo=lines.append)  # skipped: no kernel
    assert first.exit_code == 0
    latest = root / "latest"
    assert latest.is_symlink() and os.readlink(latest) == first.out_dir.name  # relative link
    good = latest.resolve()
    assert good == first.out_dir and (good / "index.html").exists()
    assert lines[-1] == f"index: {latest / 'index.html'}"  # the stable path users bookmark

    # killed: the runner process dies with SIGKILL while a report runs
    full = dict(os.environ, **env["env"])
    cmd = [sys.executable, "-m", "salesbench", "run", "slow", "-p", "seconds=60", "--data", str(env["data"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full, cwd=ROOT)
    try:
        _wait_for(proc, "started")
        time.sleep(1.0)
        proc.kill()
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert latest.resolve() == good and (good / "index.html").exists()
    assert {p.name for p in root.iterdir() if not p.name.startswith(".")} == {good.name, "latest"}
    _assert_no_processes_in(root)  # workers and kernels die with the runner

    # interrupted: SIGTERM while a report runs (sent from the progress callback, so it lands mid-run)
    def terminate_when_started(line):
        if "started" in line:
            os.kill(os.getpid(), signal.SIGTERM)

    interrupted = runner.run_reports(["slow"], data=str(env["data"]), overrides=["seconds=60"],
                                     echo=terminate_when_started)
    assert interrupted.exit_code == 128 + signal.SIGTERM and interrupted.out_dir is None
    assert latest.resolve() == good and (good / "index.html").exists()
    assert {p.name for p in root.iterdir() if not p.name.startswith(".")} == {good.name, "latest"}
    assert not [p for p in root.iterdir() if p.name.startswith(".") and str(os.getpid()) in p.name]  # cleaned up
    _assert_no_processes_in(root)

    # interrupted with --out on an existing folder: the old content stays
    out = tmp_path / "kept"
    out.mkdir()
    (out / "index.html").write_text("previous run")
    (out / "manifest.json").write_text('{"generator": "salesbench run", "run_files": ["index.html"]}')
    interrupted = runner.run_reports(["slow"], data=str(env["data"]), overrides=["seconds=60"], out=out,
                                     echo=terminate_when_started)
    assert interrupted.exit_code == 128 + signal.SIGTERM
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kept")] == []
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "manifest.json"]
    assert (out / "index.html").read_text() == "previous run"

    third = runner.run_reports(["needs_opps"], data=str(env["data"]), echo=lambda _l: None)
    assert third.exit_code == 0
    assert latest.resolve() != good and (latest / "index.html").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # the killed run's leftovers are gone


def _assert_no_processes_in(folder: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _processes_in(folder) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not _processes_in(folder)


# ----------------------------------------------------------------------------- list
def test_list_shows_notebooks_in_order(env, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.index("hello — Hello report") < out.index("boom — Boom report") < out.index("slow — Slow report")
    assert "needs_opps — Pipeline report  needs: opportunities, stage_history" in out
    assert "as_of: date? = null" in out and 'regions: list[str] = ["North"]' in out
    assert cli.main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in listed] == ["hello", "boom", "needs_opps", "slow"]
    assert listed[0]["parameters"]["n"] == {"type": "int", "default": 3}
    assert listed[2]["requires"] == ["opportunities", "stage_history"]


# ----------------------------------------------------------------------------- --out never destroys anything
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def no_kernel(monkeypatch):
    """Fail the test if a report would start: every refusal must happen before a worker is forked."""
    import multiprocessing as mp

    def forbidden(*_a, **_k):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(mp.get_context("fork"), "Process", forbidden)


def test_out_on_the_data_folder_is_refused_and_the_data_kept(env, tmp_path):
    """The issue's data loss: `run data_quality --data D --out D` deleted D; now exit 2, D untouched."""
    data = tmp_path / "D"
    data.mkdir()
    (data / "orders.csv").write_bytes((env["data"] / "orders.csv").read_bytes())
    (data / "notes.txt").write_text("mine")
    before = _snapshot(data)
    proc = cli_run(env, "needs_opps", "hello", "--data", data, "--out", data)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert f"--out {data} is the data source" in proc.stderr and "choose a new folder" in proc.stderr
    assert _snapshot(data) == before and [p.name for p in tmp_path.iterdir()] == ["D"]


@pytest.mark.parametrize("case, fragments", [
    ("parent_of_data", ["contains the data source"]),
    ("foreign", ["holds other files (a.txt, sub/b.txt)", "is not a previous salesbench run",
                 "never overwrites files it did not write"]),
    ("run_plus_user_file", ["is a previous salesbench run, but it also holds files salesbench did not write "
                            "(notes.txt)"]),
    ("file", ["exists and is not a folder"]),
    ("under_file", ["cannot create the output folder", "is a file, not a folder"]),
    ("home", ["is your home folder"]),
    ("project", ["is the salesbench project folder"]),
    ("reports", ["is the reports folder"]),
    ("read_only_proc", ["cannot create a folder in /proc"]),
    ("no_permission", ["no permission to create folders in"]),
])
def test_out_refusals_exit_2_before_any_kernel(env, tmp_path, monkeypatch, capsys, no_kernel, case, fragments):
    if case == "no_permission" and os.geteuid() == 0:  # root ignores folder permissions: deny through os.access
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p).name == "locked"
                            else real_access(p, mode, **kw))
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_bytes((env["data"] / "orders.csv").read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    out = {
        "parent_of_data": tmp_path, "foreign": work / "foreign", "run_plus_user_file": work / "run",
        "file": work / "file.txt", "under_file": work / "file.txt" / "x", "home": work / "home",
        "project": ROOT, "reports": Path(env["env"]["SALESBENCH_REPORTS"]), "read_only_proc": Path("/proc/sb-out"),
        "no_permission": work / "locked" / "x",
    }[case]
    (work / "foreign" / "sub").mkdir(parents=True)
    (work / "foreign" / "a.txt").write_text("a")
    (work / "foreign" / "sub" / "b.txt").write_text("b")
    (work / "run").mkdir()
    (work / "run" / "index.html").write_text("old report")
    (work / "run" / "manifest.json").write_text('{"generator": "salesbench run", "run_files": ["index.html"]}')
    (work / "run" / "notes.txt").write_text("added by the user")
    (work / "file.txt").write_text("a file")
    (work / "home").mkdir()
    (work / "home" / ".bashrc").write_text("")
    monkeypatch.setenv("HOME", str(work / "home"))
    (work / "locked").mkdir(mode=0o555)
    before = _snapshot(tmp_path)
    assert cli.main(["run", "hello", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for frag in fragments:
        assert frag in err, err
    assert _snapshot(tmp_path) == before  # nothing written, nothing removed
    assert not [p for p in tmp_path.rglob(".*sb*")]


def test_out_replaces_a_previous_run_but_only_its_own_files(env, tmp_path):
    data = str(env["data"])
    out = tmp_path / "weekly"
    out.mkdir()  # an empty folder is accepted
    first = runner.run_reports(["needs_opps"], data=data, out=out, echo=lambda _l: None)
    assert first.exit_code == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["generator"] == "salesbench run" and m["run_files"] == ["index.html", "manifest.json"]
    assert outdir.run_files(out) == {"index.html", "manifest.json"}
    second = runner.run_reports(["needs_opps"], data=data, out=out, echo=lambda _l: None)  # a previous run: replaced
    assert second.exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["started_at"] >= m["started_at"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weekly"]

    # a file added to the old run while the new one runs is neither deleted nor overwritten
    tmp = tmp_path / ".weekly.sbtmp-test"
    tmp.mkdir()
    (tmp / "index.html").write_text("new")
    (out / "my-notes.txt").write_text("mine")
    kept = publish.swap_in(tmp, out)
    assert (out / "index.html").read_text() == "new" and not (out / "my-notes.txt").exists()
    assert kept is not None and sorted(p.name for p in kept.iterdir()) == ["my-notes.txt"]
    assert (kept / "my-notes.txt").read_text() == "mine"


def test_run_files_of_a_run_written_before_the_signature(tmp_path):
    """Run folders of earlier versions (manifest without generator/run_files) are still recognised."""
    run = tmp_path / "old"
    (run / "hello" / "x").mkdir(parents=True)
    for name in ("index.html", "boom.ipynb", "hello/x/hello.html", "hello/x/hello.numbers.csv", "hello/x/other.txt"):
        (run / name).write_text("")
    (run / "manifest.json").write_text(json.dumps({"salesbench_version": "0.1.0", "reports": [
        {"name": "boom", "dir": "."}, {"name": "hello", "dir": "hello/x"}]}))
    assert outdir.run_files(run) == {"index.html", "manifest.json", "boom.ipynb", "hello/x/hello.html",
                                     "hello/x/hello.numbers.csv"}
    with pytest.raises(outdir.OutError, match=r"did not write \(hello/x/other.txt\)"):
        outdir.check_out(run)
    (run / "manifest.json").write_text('{"reports": []}')  # no signature at all: not a run
    assert outdir.run_files(run) is None
    # a hostile manifest cannot make the runner delete outside the old run folder
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    (run / "manifest.json").write_text(json.dumps({"generator": "salesbench run",
                                                   "run_files": ["../precious.txt", str(outside)]}))
    new = tmp_path / ".old.sbtmp-x"
    new.mkdir()
    publish.swap_in(new, run)
    assert outside.read_text() == "keep"
    # a previous run left half swapped out by a killed runner: the next run deletes only that run's files
    stale = tmp_path / ".weekly.sbold-999999999-abc123"
    stale.mkdir()
    (stale / "index.html").write_text("old")
    (stale / "mine.txt").write_text("mine")
    (stale / "manifest.json").write_text('{"generator": "salesbench run", "run_files": ["index.html"]}')
    outdir.clean_stale_tmp(tmp_path)
    [kept] = tmp_path.glob("weekly.kept-*")
    assert not stale.exists() and sorted(p.name for p in kept.iterdir()) == ["mine.txt"]


# ----------------------------------------------------------------------------- unique run folders
def test_run_folder_names_are_claimed_exclusively(tmp_path):
    import datetime as dt

    now = dt.datetime(2025, 10, 1, 6, 0, 0, tzinfo=dt.timezone.utc)
    a, claim_a = outdir.claim_run_dir(tmp_path, now)
    b, claim_b = outdir.claim_run_dir(tmp_path, now)  # the same second, while a still runs
    assert (a.name, b.name) == ("20251001-060000", "20251001-060000-2")
    assert claim_a.read_text() == str(os.getpid()) and claim_a.name == ".20251001-060000.sbclaim"
    a.mkdir()  # a published
    claim_a.unlink()
    c, _ = outdir.claim_run_dir(tmp_path, now)
    assert c.name == "20251001-060000-3"  # a's name is taken by its folder, b's by its claim
    # a claim left by a dead process is removed by the next run
    (tmp_path / ".20250101-000000.sbclaim").write_text("999999999")
    outdir.clean_stale_tmp(tmp_path)
    assert not (tmp_path / ".20250101-000000.sbclaim").exists() and claim_b.exists()


def test_concurrent_runs_get_their_own_folders_and_latest_is_complete(env, tmp_path):
    root = tmp_path / "reports"
    fx = {"env": {**env["env"], "SALESBENCH_REPORTS": str(root)}}
    full = dict(os.environ, **fx["env"])
    cmd = [sys.executable, "-m", "salesbench", "run", "needs_opps", "--data", str(env["data"])]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full, cwd=ROOT)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    announced = [re.search(r"output (\S+)", o).group(1) for o, _ in outs]
    assert len(set(announced)) == 2, announced
    runs = sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.name != "latest")
    assert [str(p) for p in runs] == sorted(announced)
    for run in runs:
        assert (run / "index.html").exists() and json.loads((run / "manifest.json").read_text())["output"] == str(run)
    assert (root / "latest").resolve() in runs and (root / "latest" / "index.html").exists()
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]  # no claim or temporary folder left


# ----------------------------------------------------------------------------- CLI mistakes
@pytest.mark.parametrize("argv, fragments", [
    (["--jobs", "0"], ["--jobs must be at least 1, got 0"]),
    (["--timeout", "nan"], ["--timeout must be a positive number of seconds, got nan"]),
    (["--timeout", "inf"], ["--timeout must be a positive number of seconds, got inf"]),
    (["-p", ".n=1"], ["-p: '.n=1': nothing before the '.'"]),
    (["-p", "=1"], ["-p: '' is not a parameter name (in '=1')"]),
    (["-p", "n"], ["-p: expected key=value, got 'n'"]),
    (["-f", "{dir}"], ["cannot read the parameter file: it is a folder, not a file"]),
    (["-f", "{missing}"], ["cannot read the parameter file: No such file or directory"]),
])
def test_cli_mistakes_exit_2_with_a_message(env, tmp_path, capsys, no_kernel, argv, fragments):
    argv = [a.format(dir=tmp_path, missing=tmp_path / "nope.yaml") for a in argv]
    assert cli.main(["run", "hello", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("salesbench run: error: "), err
    for frag in fragments:
        assert frag in err, err
    assert not (tmp_path / "out").exists()


def test_data_check_is_the_check_data_of_the_class_that_check_names():
    from salesbench.analyses.base import Analysis
    from salesbench.analyses.plan.model import SalesPlan
    from salesbench.report import params as _params
    from salesbench.report.plan import data_check

    assert data_check(_params.declaration("plan")) == SalesPlan.check_data
    decl = _params.Declaration(name="x", path=None, defaults={}, types={}, title="x",
                               check="salesbench.analyses.base:check_with")   # a plain function: no data hook
    assert data_check(decl) is None
    decl.check = "salesbench.analyses.base:Analysis.check_params"
    assert data_check(decl) == Analysis.check_data and Analysis.check_data({}, None) is None  # default: accepts
