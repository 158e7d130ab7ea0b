"""Credentials never reach an output: one place that recognises URLs, redacts them and scrubs text.

* :func:`is_url` — whether a data source is a URL (``postgres://...``); the URL
  pattern (:data:`URL_SCHEME`) is written here once and used everywhere;
* :func:`redact` — passwords in URLs (``postgres://ann:***@db``) and
  ``password=``/``token=`` pairs become ``***``;
* :func:`split_secret` — a database URL → (URL without password, password);
* :class:`Scrubber` — removes :func:`redact`'s patterns plus every literal secret
  seen from messages, and from the files of a finished run.
"""
from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Iterable

#: A URL scheme (RFC 3986: a letter, then letters, digits, ``+ . -``).
URL_SCHEME = r"[a-zA-Z][a-zA-Z0-9+.-]*"
_URL = re.compile(rf"^{URL_SCHEME}://")
# ``://`` or ``:/`` (a URL that went through a path normalisation, e.g. ``postgres:/ann:pw@host``)
_URL_PASSWORD = re.compile(rf"(?P<scheme>{URL_SCHEME}:/{{1,2}})(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]*)@")
_KEY_VALUE_SECRET = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|api_key|apikey)=([^&;\s]+)")
#: query parameters that carry a password in a database URL
PASSWORD_KEYS = ("password", "passwd", "pwd")


def is_url(text: str) -> bool:
    """Whether ``text`` starts with ``<scheme>://`` (a database URL, not a file or ``demo``)."""
    return bool(_URL.match(str(text)))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove passwords and tokens from URLs and ``key=value`` strings.

    ``secrets`` are literal strings (e.g. the value of ``PGPASSWORD``) replaced
    by ``***`` wherever they occur.
    """
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    return _KEY_VALUE_SECRET.sub(r"\1=***", text)


def split_secret(source: str) -> tuple[str, str | None]:
    """Split a database URL into (URL without password, password or ``None``).

    ``postgres://ann:pw@db:5432/sales`` → ``("postgres://ann@db:5432/sales", "pw")``;
    a ``password=`` query parameter is removed the same way. Anything that is
    not a URL comes back unchanged with ``None``.
    """
    if not is_url(source):
        return source, None
    parts = urllib.parse.urlsplit(source)
    password = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user, _, pw = userinfo.partition(":")
            password = urllib.parse.unquote(pw)
            netloc = f"{user}@{hostport}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    kept = []
    for key, value in query:
        if key.lower() in PASSWORD_KEYS:
            password = password or value
        else:
            kept.append((key, value))
    safe = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, urllib.parse.urlencode(kept), parts.fragment))
    return safe, password


class Scrubber:
    """Removes credentials from any text: :func:`redact` plus every literal secret seen."""

    MIN_LITERAL = 4  # shorter secrets are too likely to occur by chance (e.g. inside base64 images)
    #: the file types of a run folder that can carry text
    TEXT_SUFFIXES = {".ipynb", ".html", ".json", ".csv", ".txt", ".md"}

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret:
            self.secrets.add(secret)
            quoted = urllib.parse.quote(secret, safe="")
            if quoted != secret:
                self.secrets.add(quoted)

    def __call__(self, text: str) -> str:
        text = redact(text)
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    def scrub_tree(self, root: Path) -> list[Path]:
        """Replace literal secrets in every text file under ``root``; returns the files changed."""
        changed = []
        secrets = [s for s in self.secrets if len(s) >= self.MIN_LITERAL]
        if not secrets:
            return changed
        for path in root.rglob("*"):
            if not path.is_file() or path.suffix.lower() not in self.TEXT_SUFFIXES:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            new = text
            for s in secrets:
                new = new.replace(s, "***")
            if new != text:
                path.write_text(new, encoding="utf-8")
                changed.append(path)
        return changed
