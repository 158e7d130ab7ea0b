"""Computed columns of a source spec: a small, restricted expression language.

A spec may compute a canonical column from the fields of the file, e.g.
``cost: {expr: "Sales - Profit"}``. The text is parsed with Python's
:mod:`ast` (``mode="eval"``) and every node is checked against a whitelist;
the accepted tree is translated into an ibis expression over the spec's text
fields, so the computation runs in the engine (DuckDB). Raw text is never
``eval``-ed and never pasted into SQL: field names become ibis column
references and constants become ibis literals.

Grammar (everything else is refused with a message naming the construct):

* **names** — a field of the file (as named by ``columns:`` or the header);
  ``field("Order Date")`` for names that are not identifiers. Fields are text.
  Names in other scripts are identifiers too: ``销售额 - 成本`` (Python reads
  a name in its NFKC form, so a header written with compatibility characters,
  full-width ``ｑｔｙ`` say, is still found).
* **constants** — numbers, ``'text'``, ``True``, ``False``, ``None``.
* **arithmetic** — ``+ - * / %`` and unary ``-``; text operands are read as
  numbers (``TRY_CAST``: text that is no number gives an empty value).
  ``date + n`` / ``date - n`` add or subtract ``n`` days.
* **comparisons** — ``== != < <= > >=`` (a number on one side reads the other
  side as a number, a date as a date); ``and``, ``or``, ``not``;
  ``a if condition else b``.
* **functions** — ``number(x)``, ``int(x)`` (rounded), ``text(x)``,
  ``round(x[, digits])``, ``abs(x)``, ``coalesce(a, b, ...)``,
  ``if_else(condition, a, b)``, ``upper(s)``, ``lower(s)``, ``strip(s)``,
  ``substr(s, start[, length])`` (``start`` 1-based as in SQL),
  ``concat(a, b, ...)``, ``date(s[, format])`` (ISO text, or a ``strptime``
  format such as ``'%d/%m/%Y'``), ``timestamp(s[, format])``, ``make_date(year, month, day)``,
  ``add_days(date, n)``, ``week_to_date(year, week)`` (the Monday of ISO week
  ``week``), ``year(d)``, ``month(d)``, ``day(d)``.

Values that cannot be computed (a text that is no number, 31 February, a
division by zero, a date outside the years 1-9999) give an empty value, which
validation reports; they never fail a query.
"""
from __future__ import annotations

import ast
import unicodedata
from typing import Callable

import ibis
import ibis.expr.datatypes as dt

from salesbench.core.errors import ExprError  # noqa: F401  (re-exported)


MAX_LENGTH = 2000  # characters of one expression
MAX_NODES = 400  # syntax-tree nodes of one expression (keeps the generated SQL small)


_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _kind(e) -> str:
    t = e.type()
    if t.is_boolean():
        return "bool"
    if t.is_numeric():
        return "number"
    if t.is_date():
        return "date"
    if t.is_timestamp():
        return "timestamp"
    if t.is_string():
        return "text"
    if t.is_null():
        return "null"
    return str(t)


def _num(e, what: str):
    k = _kind(e)
    if k == "number":
        return e
    if k == "text":
        return e.strip().try_cast(dt.float64)
    if k == "null":
        return e.cast(dt.float64)
    if k == "bool":
        return e.cast(dt.int64)
    raise ExprError(f"{what} needs a number, got a {k}")


def _int(e, what: str):
    n = _num(e, what)
    if n.type().is_integer():
        return n.cast(dt.int64)
    n = ibis.ifelse(n.abs() < 9e15, n, ibis.null().cast(dt.float64))  # 1e300 gives an empty value, not an error
    return n.round(0).cast(dt.int64)


MAX_DAYS = 3_660_000  # ~10,000 years: larger day counts are empty values (no engine overflow)
_FIRST, _LAST = (1, 1, 1), (9999, 12, 31)


def add_days(date, days):
    """``date + days`` (whole days, negative allowed); day counts beyond :data:`MAX_DAYS` give NULL."""
    days = ibis.ifelse(days.abs() <= MAX_DAYS, days, ibis.null().cast(dt.int64))
    # DuckDB types date + interval as a timestamp while ibis says date (and drops a date->date cast):
    # the round trip makes the column a date in the engine too
    return (date + days.as_interval("D")).cast(dt.timestamp).cast(dt.date)


def in_date_range(e):
    """``e`` where it lies in years 1..9999 (what reports and pandas can hold), else NULL."""
    lo, hi = ibis.date(*_FIRST), ibis.date(*_LAST)
    if e.type().is_timestamp():
        lo, hi = lo.cast(e.type()), ibis.timestamp(*_LAST, 23, 59, 59).cast(e.type())
    return ibis.ifelse((e >= lo) & (e <= hi), e, ibis.null().cast(e.type()))


def _text(e, what: str):
    k = _kind(e)
    if k == "text":
        return e
    if k in {"number", "date", "timestamp", "bool", "null"}:
        return e.cast(dt.string)
    raise ExprError(f"{what} needs text, got a {k}")  # pragma: no cover - every kind above casts


def _date(e, what: str):
    k = _kind(e)
    if k == "date":
        return e
    if k == "timestamp":
        return e.cast(dt.date)
    if k == "text":
        return e.strip().try_cast(dt.date)
    if k == "null":
        return e.cast(dt.date)
    raise ExprError(f"{what} needs a date, got a {k}")


def _ts(e, what: str):
    k = _kind(e)
    if k == "timestamp":
        return e
    if k == "text":
        return e.strip().try_cast(dt.timestamp)
    if k in {"date", "null"}:
        return e.cast(dt.timestamp)
    raise ExprError(f"{what} needs a timestamp, got a {k}")


def _bool(e, what: str):
    k = _kind(e)
    if k == "bool":
        return e
    if k == "null":
        return e.cast(dt.boolean)
    raise ExprError(f"{what} needs a condition (a comparison), got a {k}")


def _unify(a, b, what: str):
    """Bring two branches (if/else, coalesce) to one kind."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb or "null" in (ka, kb):
        return a, b
    kinds = {ka, kb}
    if "number" in kinds and kinds <= {"number", "text", "bool"}:
        return _num(a, what), _num(b, what)
    if "date" in kinds and kinds <= {"date", "text", "timestamp"}:
        return _date(a, what), _date(b, what)
    if kinds == {"text", "timestamp"}:
        return _ts(a, what), _ts(b, what)
    raise ExprError(f"{what} mixes a {ka} and a {kb}")


def _make_date(y, m, d):
    """A date from parts; impossible dates (month 13, 31 February) give NULL instead of an error."""
    text = (y.cast(dt.string).lpad(4, "0") + "-" + m.cast(dt.string).lpad(2, "0") + "-"
            + d.cast(dt.string).lpad(2, "0"))
    return text.try_cast(dt.date)


def _week_to_date(year, week):
    """The Monday of ISO week ``week`` of ``year`` (week 1 holds 4 January)."""
    jan4 = _make_date(year, ibis.literal(1), ibis.literal(4))
    monday1 = jan4 - jan4.day_of_week.index().as_interval("D")
    return add_days(monday1, (week - 1) * 7)


class _Compiler:
    def __init__(self, table, fields: list[str], try_strptime: Callable):
        self.t = table
        self.fields = list(fields)
        self.try_strptime = try_strptime
        self.used: list[str] = []

    # -- helpers ------------------------------------------------------------------
    def field(self, name: str, bare: bool = False):
        if name not in self.fields and bare:  # Python gives a bare name in its NFKC form; the header may not be
            name = next((f for f in self.fields if unicodedata.normalize("NFKC", f) == name), name)
        if name not in self.fields:
            raise ExprError(f"unknown name {name!r}; available columns: {', '.join(self.fields)}")
        if name not in self.used:
            self.used.append(name)
        return self.t[name]

    def const_str(self, node: ast.AST, what: str) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        raise ExprError(f"{what} must be a quoted text constant")

    def const_int(self, node: ast.AST, what: str) -> int:
        neg = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        inner = node.operand if neg else node
        if isinstance(inner, ast.Constant) and isinstance(inner.value, int) and not isinstance(inner.value, bool):
            return -inner.value if neg else inner.value
        raise ExprError(f"{what} must be a whole-number constant")

    # -- nodes --------------------------------------------------------------------
    def visit(self, node: ast.AST):
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Name):
            return self.field(node.id, bare=True)
        if isinstance(node, ast.Constant):
            v = node.value
            if v is None:
                return ibis.null()
            if isinstance(v, bool):
                return ibis.literal(v, type=dt.boolean)
            if isinstance(v, int):
                return ibis.literal(v, type=dt.int64)
            if isinstance(v, float):
                return ibis.literal(v, type=dt.float64)
            if isinstance(v, str):
                return ibis.literal(v, type=dt.string)
            raise ExprError(f"constant {v!r} is not allowed")
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -_num(self.visit(node.operand), "unary -")
            if isinstance(node.op, ast.UAdd):
                return _num(self.visit(node.operand), "unary +")
            if isinstance(node.op, ast.Not):
                return ~_bool(self.visit(node.operand), "not")
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.BoolOp):
            parts = [_bool(self.visit(v), "and/or") for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            out = None
            for op, right_node in zip(node.ops, node.comparators):
                if type(op) not in _COMPARE:
                    raise ExprError(f"comparison {type(op).__name__} is not allowed (use == != < <= > >=)")
                right = self.visit(right_node)
                out_one = self.compare(type(op), left, right)
                out = out_one if out is None else out & out_one
                left = right
            return out
        if isinstance(node, ast.IfExp):
            return self.if_else(node.test, node.body, node.orelse)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise ExprError(f"{type(node).__name__} ({ast.unparse(node)!r}) is not allowed in an expression")

    def compare(self, op, a, b):
        ka, kb = _kind(a), _kind(b)
        if "number" in (ka, kb):
            a, b = _num(a, "comparison"), _num(b, "comparison")
        elif "date" in (ka, kb):
            a, b = _date(a, "comparison"), _date(b, "comparison")
        elif "timestamp" in (ka, kb):
            a, b = _ts(a, "comparison"), _ts(b, "comparison")
        elif ka != kb and "null" not in (ka, kb):
            raise ExprError(f"cannot compare a {ka} with a {kb}")
        if op is ast.Eq:
            return a == b
        if op is ast.NotEq:
            return a != b
        if op is ast.Lt:
            return a < b
        if op is ast.LtE:
            return a <= b
        if op is ast.Gt:
            return a > b
        return a >= b

    def binop(self, node: ast.BinOp):
        if type(node.op) not in _ARITH:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed (use + - * / %)")
        sym = _ARITH[type(node.op)]
        a, b = self.visit(node.left), self.visit(node.right)
        ka, kb = _kind(a), _kind(b)
        if sym in "+-" and ka in {"date", "timestamp"} and kb != "date":
            days = _int(b, f"date {sym} days")
            return add_days(_date(a, sym), days if sym == "+" else -days)
        if sym == "+" and kb in {"date", "timestamp"} and ka != "date":
            return add_days(_date(b, "+"), _int(a, "days + date"))
        if ka in {"date", "timestamp"} or kb in {"date", "timestamp"}:
            raise ExprError(f"'{sym}' between a {ka} and a {kb} is not allowed (date ± number of days only)")
        a, b = _num(a, f"'{sym}'"), _num(b, f"'{sym}'")
        if sym == "+":
            return a + b
        if sym == "-":
            return a - b
        if sym in "/%":  # x / 0 and x % 0 are empty values (not inf or NaN)
            b = ibis.ifelse(b == 0, ibis.null().cast(dt.float64), b.cast(dt.float64))
            return a.cast(dt.float64) / b if sym == "/" else a.cast(dt.float64) % b
        return a * b

    def if_else(self, test, body, orelse):
        cond = _bool(self.visit(test), "the condition of if/else")
        a, b = _unify(self.visit(body), self.visit(orelse), "if/else")
        return ibis.ifelse(cond, a, b)

    def call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExprError(f"unknown function {name!r}; functions: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError(f"{node.func.id}() takes positional arguments only")
        fname = node.func.id
        lo, hi = FUNCTIONS[fname]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            raise ExprError(f"{fname}() takes {want} arguments, got {n}")
        args = node.args
        if fname == "field":
            return self.field(self.const_str(args[0], "the argument of field()"))
        if fname == "if_else":
            return self.if_else(args[0], args[1], args[2])
        if fname == "round":
            digits = self.const_int(args[1], "the digits of round()") if n > 1 else 0
            return _num(self.visit(args[0]), "round()").round(digits)
        if fname == "timestamp":
            text = _text(self.visit(args[0]), "timestamp()").strip()
            if n == 2:
                return self.try_strptime(text, self.const_str(args[1], "the format of timestamp()"))
            return text.try_cast(dt.timestamp)
        if fname == "date" and n == 2:
            fmt = self.const_str(args[1], "the format of date()")
            return self.try_strptime(_text(self.visit(args[0]), "date()").strip(), fmt).cast(dt.date)
        vals = [self.visit(a) for a in args]
        if fname == "number":
            return _num(vals[0], "number()")
        if fname == "int":
            return _int(vals[0], "int()")
        if fname == "text":
            return _text(vals[0], "text()")
        if fname == "abs":
            return _num(vals[0], "abs()").abs()
        if fname == "coalesce":
            out = vals[0]
            for v in vals[1:]:
                out, v = _unify(out, v, "coalesce()")
                out = ibis.coalesce(out, v)
            return out
        if fname == "upper":
            return _text(vals[0], "upper()").upper()
        if fname == "lower":
            return _text(vals[0], "lower()").lower()
        if fname == "strip":
            return _text(vals[0], "strip()").strip()
        if fname == "substr":
            start = _int(vals[1], "the start of substr()") - 1
            length = _int(vals[2], "the length of substr()") if n > 2 else None
            return _text(vals[0], "substr()").substr(start, length)
        if fname == "concat":
            out = _text(vals[0], "concat()")
            for v in vals[1:]:
                out = out.concat(_text(v, "concat()"))
            return out
        if fname == "date":
            return _date(vals[0], "date()")
        if fname == "make_date":
            return _make_date(*(_int(v, "make_date()") for v in vals))
        if fname == "add_days":
            return add_days(_date(vals[0], "add_days()"), _int(vals[1], "add_days()"))
        if fname == "week_to_date":
            return _week_to_date(_int(vals[0], "week_to_date()"), _int(vals[1], "week_to_date()"))
        if fname in {"year", "month", "day"}:
            d = _date(vals[0], f"{fname}()")
            return getattr(d, fname)().cast(dt.int64)
        raise AssertionError(fname)  # pragma: no cover - FUNCTIONS and this list agree


#: function name -> (min args, max args or None)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "field": (1, 1), "number": (1, 1), "int": (1, 1), "text": (1, 1), "round": (1, 2), "abs": (1, 1),
    "coalesce": (2, None), "if_else": (3, 3), "upper": (1, 1), "lower": (1, 1), "strip": (1, 1),
    "substr": (2, 3), "concat": (2, None), "date": (1, 2), "timestamp": (1, 2), "make_date": (3, 3), "add_days": (2, 2),
    "week_to_date": (2, 2), "year": (1, 1), "month": (1, 1), "day": (1, 1),
}


def compile_expr(text: str, table, fields: list[str], try_strptime: Callable, used: list[str] | None = None):
    """Translate ``text`` into an ibis expression over ``table`` (whose columns ``fields`` are text).

    Returns ``(expression, formats)`` where ``formats`` lists the ``date()``
    format strings used (the caller checks them against the engine); the fields
    the expression reads are appended to ``used`` when a list is given. Raises
    :class:`ExprError` when the text is not in the grammar or names an
    unknown field or function.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExprError("expected the expression as text, e.g. \"units * price\"")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is {len(text):,} characters long; at most {MAX_LENGTH:,} are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"not a valid expression ({exc.msg} at column {exc.offset})") from None
    except (RecursionError, MemoryError):
        raise ExprError("the expression is nested too deeply") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExprError(f"the expression has more than {MAX_NODES} parts; split the work or simplify it")
    formats = [n.args[1].value for n in ast.walk(tree)
               if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("date", "timestamp")
               and len(n.args) == 2 and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str)]
    comp = _Compiler(table, fields, try_strptime)
    try:
        expr = comp.visit(tree)
        if used is not None:
            used += [f for f in comp.used if f not in used]
    except ExprError:
        raise
    except (RecursionError, MemoryError):
        raise ExprError("the expression is nested too deeply") from None
    except Exception as exc:  # an ibis type error on an odd combination
        raise ExprError(f"cannot be computed: {type(exc).__name__}: {exc}") from None
    return expr, formats


def kind(expr) -> str:
    """``number``, ``text``, ``date``, ``timestamp``, ``bool`` or ``null``: the kind of an expression's result."""
    return _kind(expr)
