"""YAML source specs: map a foreign export onto the canonical tables.

A source spec describes, per canonical table, which file(s) to read and how
their fields become canonical columns. The files are read by DuckDB
(``read_csv`` with explicit text columns, or one line per row split on a
whitespace regular expression), so a spec scales to files larger than memory;
conversions (date formats, unit conversions, casts) run in the engine and use
``TRY_CAST`` / ``TRY_STRPTIME`` so a bad value becomes NULL and is reported by
:mod:`salesbench.validate` instead of failing a query.

Format (every key except ``tables`` and a table's file source is optional)::

    name: CDNOW 1/10 sample              # label shown in reports
    tables:
      orders:
        dataset: cdnow_sample            # a data set salesbench knows (cdnow_sample | cdnow_master)
        # files: exports/orders_*.txt    # or file(s): relative to this spec, ~ and $VARS expanded, globs
        delimiter: whitespace            # "," (default) ";" "\\t" "|" ... or whitespace (runs of blanks)
        header: false                    # the first line (after skip_rows) holds field names
        skip_rows: 0                     # lines to skip before the header / data
        columns: [customer_id, sample_id, date, cds, dollars]   # field names in file order
        map:                             # canonical column <- field
          customer_id: customer_id       #   a field name,
          order_date: {from: 3, format: "%Y%m%d"}   # a 1-based position, or a dict:
          quantity: {from: cds, type: float}
          revenue: {from: dollars, multiply: 1.0}
        constants:                       # canonical column: constant value
          channel: online

Field conversions in a ``map`` dict (applied in this order):

``from``        field name or 1-based position (default: the canonical name)
``type``        parse the text as ``int``/``float``/``str``/``date``/``timestamp``/``bool``
``format``      ``strptime`` format for a date/timestamp column (e.g. ``%Y%m%d``, ``%d/%m/%Y``)
``days_since``  the field is a number of days since this date (``1997-01-01``) → date
``multiply``    multiply the number (unit conversion, e.g. cents → 0.01)
``add``         add a constant after multiplying

Fields of the file that are mapped to no canonical column are dropped; a
field whose name already is a canonical column name is kept under that name.
Ids are always strings (``00042`` stays ``00042``). Errors in a spec raise
:class:`SpecError` naming the spec file and the key.
"""
from __future__ import annotations

import datetime as _dt
import glob
import os
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import yaml

from . import schema
from .data import IBIS_TYPES, DataError, Dataset

#: Data sets a spec can name with ``dataset:`` instead of ``files:``.
KNOWN_DATASETS = ("cdnow_sample", "cdnow_master")

TOP_KEYS = {"name", "tables", "description"}
TABLE_KEYS = {"files", "file", "dataset", "delimiter", "header", "skip_rows", "columns", "map", "constants", "quote", "nulls", "description"}
MAP_KEYS = {"from", "type", "format", "days_since", "multiply", "add"}
WHITESPACE = {"whitespace", "space", "spaces", "blank", "blanks", r"\s+"}
_SPLIT_CHAR = "\x1f"  # ASCII unit separator: never in text exports, so each line stays one field


class SpecError(DataError):
    """A source spec is invalid; the message names the spec file and the key."""


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
            self.doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"source spec {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise SpecError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(self.doc, dict):
            raise SpecError(f"{path}: a source spec is a mapping with a 'tables' key")

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key}: {message}")


def _resolve_files(spec: _Spec, name: str, tdef: dict) -> list[Path]:
    key = f"tables.{name}"
    given = [k for k in ("files", "file", "dataset") if k in tdef]
    if len(given) != 1:
        raise spec.fail(key, "give exactly one of files, file or dataset")
    if "dataset" in tdef:
        which = tdef["dataset"]
        if which not in KNOWN_DATASETS:
            raise spec.fail(f"{key}.dataset", f"unknown data set {which!r}; known: {', '.join(KNOWN_DATASETS)}")
        from .datasets import cdnow_path

        return [cdnow_path(which.split("_", 1)[1])]
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
        if not matches:
            raise spec.fail(f"{key}.{given[0]}", f"no file matches {pattern!r} (looked for {expanded})")
        out += [Path(m) for m in matches]
    return out


def _header_fields(spec: _Spec, key: str, first_file: Path, skip: int, whitespace: bool, delimiter: str) -> list[str]:
    with open(first_file, encoding="utf-8", errors="replace") as fh:
        for _ in range(skip):
            fh.readline()
        line = fh.readline().strip("\r\n")
    if not line.strip():
        raise spec.fail(f"{key}.header", f"{first_file.name} has no header line after {skip} skipped rows")
    fields = line.split() if whitespace else [f.strip().strip('"') for f in line.split(delimiter)]
    return fields


def _raw_select(spec: _Spec, name: str, tdef: dict, files: list[Path]) -> tuple[str, list[str]]:
    """SQL giving one text column per field of the file(s), and the field names."""
    key = f"tables.{name}"
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
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise spec.fail(f"{key}.columns", "expected a list of field names in file order")
    if columns is not None and len(set(columns)) != len(columns):
        raise spec.fail(f"{key}.columns", "field names must be unique")
    quote = tdef.get("quote", '"')
    nulls = tdef.get("nulls", [""])
    if isinstance(nulls, str):
        nulls = [nulls]
    file_list = "[" + ", ".join(_sql_str(f) for f in files) + "]"

    if header:
        fields = _header_fields(spec, key, files[0], skip, whitespace, delimiter)
        if columns is not None:
            if len(columns) != len(fields):
                raise spec.fail(f"{key}.columns", f"{len(columns)} names given but the header of {files[0].name} has {len(fields)} fields")
            fields = columns
    elif columns is None:
        raise spec.fail(f"{key}.columns", "a file without header needs 'columns' (the field names in file order)")
    else:
        fields = list(columns)
    data_skip = skip + (1 if header else 0)

    if whitespace:
        line = "trim(line, ' ' || chr(9) || chr(13))"
        parts = ", ".join(
            f"nullif(regexp_split_to_array({line}, '\\s+')[{i + 1}], '') AS {_ident(f)}" for i, f in enumerate(fields)
        )
        sql = (
            f"SELECT {parts} FROM read_csv({file_list}, columns={{'line': 'VARCHAR'}}, delim={_sql_str(_SPLIT_CHAR)}, "
            f"header=false, skip={data_skip}, quote='', escape='', auto_detect=false, all_varchar=true) "
            f"WHERE {line} <> ''"
        )
    else:
        cols = "{" + ", ".join(f"{_sql_str(f)}: 'VARCHAR'" for f in fields) + "}"
        null_list = "[" + ", ".join(_sql_str(n) for n in nulls) + "]"
        sql = (
            f"SELECT * FROM read_csv({file_list}, columns={cols}, delim={_sql_str(delimiter)}, header=false, "
            f"skip={data_skip}, quote={_sql_str(quote)}, auto_detect=false, nullstr={null_list})"
        )
    return sql, fields


def _field_ref(spec: _Spec, key: str, ref: Any, fields: list[str]) -> str:
    if isinstance(ref, bool):
        raise spec.fail(key, f"expected a field name or a 1-based position, got {ref!r}")
    if isinstance(ref, int):
        if not 1 <= ref <= len(fields):
            raise spec.fail(key, f"position {ref} is outside 1..{len(fields)}")
        return fields[ref - 1]
    if isinstance(ref, str):
        if ref not in fields:
            raise spec.fail(key, f"no field named {ref!r} (fields: {', '.join(fields)})")
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
            parsed = try_strptime(value, fmt)
            return parsed.cast(dt.date) if canon.type == "date" else parsed
        if origin is not None:
            days = value.try_cast(dt.int64)
            out = ibis.date(origin.year, origin.month, origin.day) + days.as_interval("D")
            return out if canon.type == "date" else out.cast(dt.timestamp)
        if parse_type is not None:
            value = value.try_cast(IBIS_TYPES[parse_type])
        if numeric:
            if not value.type().is_numeric():
                value = value.try_cast(dt.float64)
            value = value.cast(dt.float64) * numeric.get("multiply", 1.0) + numeric.get("add", 0.0)
        if value.type().is_string():
            return value if want.is_string() else value.try_cast(want)
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


def open_spec(path: str | os.PathLike) -> Dataset:
    """Open the source spec at ``path`` as a :class:`~salesbench.data.Dataset`.

    Each table becomes a DuckDB view over its file(s) with one text column per
    mapped canonical column (plus constants); the conversions of the spec are
    handed to the Dataset, which applies them when it builds the canonical
    table, so validation can compare raw text with the parsed value.
    """
    spec = _Spec(Path(os.path.expandvars(str(path))).expanduser().resolve())
    doc = spec.doc
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise spec.fail(sorted(unknown)[0], f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    tables_def = doc.get("tables")
    if not isinstance(tables_def, dict) or not tables_def:
        raise spec.fail("tables", "expected a mapping of canonical table name -> file description")
    from .data import duckdb_connect

    con = duckdb_connect()
    tables, converters, files_all, sources = {}, {}, [], {}
    for name, tdef in tables_def.items():
        key = f"tables.{name}"
        if name not in schema.TABLES:
            raise spec.fail(key, f"{name!r} is not a canonical table ({', '.join(schema.TABLE_NAMES)})")
        if not isinstance(tdef, dict):
            raise spec.fail(key, "expected a mapping (files, delimiter, header, columns, map, ...)")
        bad = set(tdef) - TABLE_KEYS
        if bad:
            raise spec.fail(f"{key}.{sorted(bad)[0]}", f"unknown key; allowed: {', '.join(sorted(TABLE_KEYS))}")
        canon_table = schema.TABLES[name]
        files = _resolve_files(spec, name, tdef)
        raw_sql, fields = _raw_select(spec, name, tdef, files)

        mapping = tdef.get("map") or {}
        if not isinstance(mapping, dict):
            raise spec.fail(f"{key}.map", "expected a mapping canonical column -> field")
        constants = tdef.get("constants") or {}
        if not isinstance(constants, dict):
            raise spec.fail(f"{key}.constants", "expected a mapping canonical column -> value")
        consts = {}
        for canon_name, value in constants.items():
            ckey = f"{key}.constants.{canon_name}"
            if canon_name not in canon_table.column_names:
                raise spec.fail(ckey, f"{canon_name!r} is not a column of {name}")
            consts[canon_name] = _constant(spec, ckey, canon_table.column(canon_name), value)
        selects: list[str] = []
        table_conv = {}
        for canon_name, rule in mapping.items():
            ckey = f"{key}.map.{canon_name}"
            if canon_name not in canon_table.column_names:
                raise spec.fail(ckey, f"{canon_name!r} is not a column of {name} ({', '.join(canon_table.column_names)})")
            if canon_name in constants:
                raise spec.fail(ckey, "mapped and also given as a constant")
            canon = canon_table.column(canon_name)
            if isinstance(rule, dict):
                src = _field_ref(spec, f"{ckey}.from", rule.get("from", canon_name), fields)
                table_conv[canon_name] = _converter(spec, ckey, canon, rule)
            else:
                src = _field_ref(spec, ckey, rule, fields)
            selects.append(f"{_ident(src)} AS {_ident(canon_name)}")
        mapped_sources = {s.split(" AS ")[0] for s in selects}
        for f in fields:  # fields already named like canonical columns pass through
            if f in canon_table.column_names and f not in mapping and f not in constants and _ident(f) not in mapped_sources:
                selects.append(f"{_ident(f)} AS {_ident(f)}")
        if not selects:
            raise spec.fail(f"{key}.map", "maps no field onto a canonical column")
        view_sql = f"SELECT {', '.join(selects)} FROM ({raw_sql})"
        try:
            con.con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS {view_sql}")
            raw = con.table(name)
        except Exception as exc:
            raise spec.fail(key, f"DuckDB cannot read {', '.join(f.name for f in files)}: {exc}") from None
        if consts:
            raw = raw.mutate(**consts)
        tables[name] = raw
        converters[name] = table_conv
        files_all += files
        shown = files[0].name if len(files) == 1 else f"{files[0].name} (+{len(files) - 1} files)"
        sources[name] = f"{shown} (spec {spec.path.name}, table {name})"
    label = str(doc.get("name") or f"source spec {spec.path.name}")
    return Dataset(con, tables, label, files=files_all, converters=converters, sources=sources,
                   truth_dir=None)
