"""``salesbench catalogs``: extract every message a reader can see, update and check the translations.

Babel extracts the marked messages (``_``, ``ngettext``, ``pgettext``,
``N_``, ``NP_``; see :mod:`salesbench.core.i18n`) per domain:

* ``<analysis>``: ``salesbench/analyses/<analysis>/**/*.py``, the markdown
  cells of ``notebooks/<analysis>.ipynb`` (one message per paragraph) and the
  ``_title`` of ``params/<analysis>.yaml``;
* ``salesbench`` (shared): every other module of the package.

``salesbench catalogs`` writes ``salesbench/locale/<ll_CC>/LC_MESSAGES/<domain>.po``
for every translated language, keeping existing translations, adding new
messages untranslated and dropping messages the code no longer has.
``salesbench catalogs --check`` changes nothing and exits 1 when a catalog is
out of date, a message is untranslated or fuzzy, or a translation does not
use the same ``{fields}`` as its message (the test suite runs the check).
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator

from salesbench.core import i18n

PACKAGE = Path(i18n.__file__).resolve().parents[1]
REPO = PACKAGE.parent
#: languages that have catalogs (English is the source language)
TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]
_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:[!:][^{}]*)?\}")


def domains() -> list[str]:
    """The shared domain and one domain per analysis package."""
    names = sorted(p.name for p in (PACKAGE / "analyses").iterdir() if (p / "__init__.py").is_file())
    return [i18n.SHARED, *names]


def _python_files(domain: str) -> list[Path]:
    if domain != i18n.SHARED:
        return sorted((PACKAGE / "analyses" / domain).rglob("*.py"))
    analyses = PACKAGE / "analyses"
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not (p.parent != analyses and analyses in p.parents))


def _python_messages(path: Path) -> Iterator[tuple[int, str | tuple[str, ...], str | None]]:
    """``(line, message or (singular, plural), context)`` of the marked calls in ``path``."""
    from babel.messages.extract import extract

    with path.open("rb") as f:
        for lineno, message, _comments, context in extract("python", f, keywords=i18n.KEYWORDS):
            yield lineno, message, context


def _notebook_messages(domain: str) -> Iterator[tuple[Path, int, str]]:
    nb = REPO / "notebooks" / f"{domain}.ipynb"
    if not nb.is_file():
        return
    cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "markdown":
            for text in i18n.markdown_messages("".join(cell.get("source", []))):
                yield nb, i + 1, text


def _params_messages(domain: str) -> Iterator[tuple[Path, int, str]]:
    path = REPO / "params" / f"{domain}.yaml"
    if not path.is_file():
        return
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("_title:"):
            yield path, lineno, line.split(":", 1)[1].strip().strip("'\"")


def extract(domain: str):
    """The Babel template catalog (messages, no translations) of ``domain``."""
    from babel.messages.catalog import Catalog

    template = Catalog(domain=domain, project="salesbench", charset="utf-8")
    for path in _python_files(domain):
        for lineno, message, context in _python_messages(path):
            if not message or (isinstance(message, tuple) and not message[0]):
                continue
            template.add(message, locations=[(_rel(path), lineno)], context=context)
    for path, lineno, text in [*_notebook_messages(domain), *_params_messages(domain)]:
        template.add(text, locations=[(_rel(path), lineno)])
    return template


def _rel(path: Path) -> str:
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return path.as_posix()


def _read(domain: str, lang: str):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    path = i18n.catalog_path(domain, lang)
    if not path.is_file():
        return Catalog(locale=i18n.locale_dir_name(lang), domain=domain, project="salesbench", charset="utf-8")
    with path.open("rb") as f:
        return read_po(f, locale=i18n.locale_dir_name(lang), domain=domain)


def _render(catalog) -> bytes:
    from babel.messages.pofile import write_po

    catalog.copyright_holder = catalog.last_translator = catalog.language_team = "salesbench developers"
    catalog.msgid_bugs_address = ""
    catalog.fuzzy = False
    buf = io.BytesIO()
    write_po(buf, catalog, width=120, sort_output=True, omit_header=False, include_previous=False,
             ignore_obsolete=True, include_lineno=False)  # no line numbers: a moved line does not touch the catalog
    # no dates in the header: regenerating an unchanged catalog leaves the file as it is
    return re.sub(rb'"(POT-Creation|PO-Revision)-Date: [^"]*"\n', b"", buf.getvalue())


def update(lang: str, domain: str) -> Path:
    """Bring ``<domain>.po`` of ``lang`` in line with the code (new messages empty, removed ones dropped)."""
    catalog = _read(domain, lang)
    catalog.update(extract(domain), no_fuzzy_matching=True)
    path = i18n.catalog_path(domain, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_render(catalog))
    return path


def _fields(text: str) -> set[str]:
    return set(_FIELD.findall(text))


def _ids(message) -> tuple:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def problems(lang: str, domain: str) -> list[str]:
    """What is wrong with ``<domain>.po`` of ``lang``: one sentence per problem (empty: all good)."""
    path = _rel(i18n.catalog_path(domain, lang))
    catalog = _read(domain, lang)
    out = []
    for message in extract(domain):
        if not message.id:
            continue
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
        have = catalog.get(message.id, context=message.context)
        label = repr(_ids(message)[0]) + (f" (context {message.context!r})" if message.context else "")
        if have is None:
            out.append(f"{path}: message {label} from {where} is missing (run `salesbench catalogs`)")
            continue
        strings = have.string if isinstance(have.string, tuple) else (have.string,)
        if not all(strings):
            out.append(f"{path}: message {label} from {where} is not translated")
        elif have.fuzzy:
            out.append(f"{path}: message {label} is marked fuzzy (check the translation, then remove the flag)")
        else:
            want = set().union(*(_fields(s) for s in _ids(message)))
            for s in strings:
                if _fields(s) != want:
                    out.append(f"{path}: message {label}: the translation uses fields {sorted(_fields(s))}, "
                               f"the message {sorted(want)}")
    template = extract(domain)
    for message in catalog:
        if message.id and template.get(message.id, context=message.context) is None:
            out.append(f"{path}: message {_ids(message)[0]!r} is no longer in the code (run `salesbench catalogs`)")
    return out


def all_problems(langs: Iterable[str] = TRANSLATED) -> list[str]:
    return [p for lang in langs for domain in domains() for p in problems(lang, domain)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a catalog is out of date or has untranslated messages")
    parser.add_argument("--lang", action="append", choices=TRANSLATED,
                        help="only this language (repeatable; default: all translated languages)")


def main(args: argparse.Namespace) -> int:
    langs = args.lang or TRANSLATED
    if args.check:
        found = all_problems(langs)
        for p in found:
            print(p, file=sys.stderr)
        print(f"{len(found)} problem(s) in the catalogs of {', '.join(langs)}", file=sys.stderr if found else sys.stdout)
        return 1 if found else 0
    for lang in langs:
        for domain in domains():
            path = update(lang, domain)
            left = sum(1 for m in _read(domain, lang) if m.id and not all(
                m.string if isinstance(m.string, tuple) else (m.string,)))
            print(f"{_rel(path)}: {left} message(s) to translate")
    return 0
