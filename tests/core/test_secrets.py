"""core.secrets: the one place that recognises URLs, redacts them and scrubs outputs."""
from __future__ import annotations

from pathlib import Path

from salesbench.core import secrets
from salesbench.core.secrets import Scrubber, is_url, redact, split_secret

PACKAGE = Path(secrets.__file__).resolve().parents[1]


def test_redact_removes_passwords_and_known_secrets():
    assert redact("postgres://ann:s3cr3t@db.example/sales") == "postgres://ann:***@db.example/sales"
    assert redact("host=x password=hunter2 user=y") == "host=x password=*** user=y"
    assert redact("failed for token abcdef", secrets=["abcdef"]) == "failed for token ***"


def test_redact_normalised_url_and_tokens():
    # a URL that went through a path normalisation keeps one slash; still redacted
    assert redact("cannot open postgres:/ann:pw@host/db") == "cannot open postgres:/ann:***@host/db"
    assert redact("https://api?api_key=abc123&x=1") == "https://api?api_key=***&x=1"
    assert redact("short ab", secrets=["ab"]) == "short ab"  # under 3 characters: too likely by chance


def test_is_url():
    assert is_url("postgres://ann@db/sales") and is_url("postgresql+psycopg://h/db")
    assert not is_url("demo") and not is_url("demo:seed=3") and not is_url("/data/folder")
    assert not is_url("C:\\data\\orders") and not is_url("1http://x")


def test_split_secret_password_in_userinfo_or_query():
    assert split_secret("postgres://ann:p%40ss@h:5432/db?sslmode=require") == (
        "postgres://ann@h:5432/db?sslmode=require", "p@ss")
    assert split_secret("postgresql://h/db?PWD=xyz&sslmode=require") == ("postgresql://h/db?sslmode=require", "xyz")
    assert split_secret("demo:seed=3") == ("demo:seed=3", None)


def test_scrubber_text_and_files(tmp_path):
    scrub = Scrubber()
    scrub.add("p@ss word")
    scrub.add(None)
    assert scrub.secrets == {"p@ss word", "p%40ss%20word"}
    assert scrub("connect postgres://ann:zz@h failed: p%40ss%20word / p@ss word") == \
        "connect postgres://ann:***@h failed: *** / ***"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "r.html").write_text("<p>p@ss word</p>", encoding="utf-8")
    (tmp_path / "img.png").write_bytes(b"p@ss word")
    (tmp_path / "ok.json").write_text("{}", encoding="utf-8")
    assert scrub.scrub_tree(tmp_path) == [tmp_path / "sub" / "r.html"]
    assert (tmp_path / "sub" / "r.html").read_text(encoding="utf-8") == "<p>***</p>"
    assert (tmp_path / "img.png").read_bytes() == b"p@ss word"  # not a text file of a report


def test_the_url_pattern_is_written_once():
    """Every URL test in the package goes through core.secrets (it was written four times)."""
    scheme = "[a-zA-Z][a-zA-Z0-9+.-]*"
    holders = sorted(str(f.relative_to(PACKAGE)) for f in PACKAGE.rglob("*.py") if scheme in f.read_text(encoding="utf-8"))
    assert holders == ["core/secrets.py"]
    for old in ("report/runner.py", "report/params.py", "core/dataset.py"):
        text = (PACKAGE / old).read_text(encoding="utf-8")
        assert "def redact(" not in text and "def split_secret(" not in text and "class Scrubber" not in text
