"""Notebook parameters: declared once in ``params/<name>.yaml``, validated everywhere.

Declaration file
----------------
``params/<name>.yaml`` lists a notebook's parameters with their defaults. The
type of each key is the type of its default (``bool``, ``int``, ``float``,
``str``, ``date``, ``list``, ``dict``). A key whose default is ``null`` or
that accepts several types declares its type under ``_types``::

    _title: Sales funnel            # report title (index, HTML header)
    _order: 30                      # position in the index (data_quality first)
    _requires: [opportunities, stage_history]   # canonical tables it needs
    _types: {as_of: "date?", top_n: "int|str", regions: "list[str]"}
    _check: "salesbench.analyses.funnel.model:Funnel.check_params"   # rules across keys, run before any kernel
    data: demo                      # common key: data source
    out_dir: "."                    # common key: where Results are written
    lang: en                        # common key: language of the report (en, zh-CN)
    as_of: null
    stuck_after_days: 60

Type strings: ``bool``, ``int``, ``float``, ``str``, ``date``, ``list``,
``list[<type>]``, ``dict``, alternatives joined by ``|``, and a trailing ``?``
for "may be null". Every notebook has the common keys ``data`` (default
``"demo"``), ``out_dir`` (default ``"."``) and ``lang`` (default ``"en"``,
see :data:`salesbench.core.i18n.LANGUAGES`); they are added when a file
omits them.

Parameter files for runs (``salesbench run -f FILE``)
-----------------------------------------------------
A run file is a YAML mapping with three kinds of top-level entries::

    region: North                   # plain keys: apply to every requested
    as_of: 2025-06-30               #   notebook that declares them
    sweep:                          # a list of parameter sets: each becomes
      - {region: North}             #   its own sub-report
      - {region: South, _label: south-only}
    notebooks:                      # per-notebook sections
      funnel:
        stuck_after_days: 45
        sweep: [{channel: direct}, {channel: online}]

Precedence, lowest first: the declaration's defaults, plain keys of each ``-f``
file in order, the notebook's section of each file in order, the sweep set,
``--data`` and ``--lang``, then ``-p key=value`` (``-p funnel.key=value`` targets one
notebook). A key that no requested notebook declares is an error naming the
file; a key declared by only some of them applies to those. A notebook's own
``sweep`` replaces the top-level one; a notebook that declares none of a
sweep's keys runs once. ``-p`` values are parsed as YAML scalars
(``-p top_n=10`` is an int, ``-p as_of=2025-06-30`` a date,
``-p regions=[North,South]`` a list).

Validation uses pydantic (a model built with ``create_model``, extra keys
forbidden) with checks for the YAML 1.1 traps: ``1e-3`` arrives as a string
(accepted for a float), ``yes``/``no``/``on``/``off`` arrive as booleans
(rejected for a text parameter with a hint to quote them), and dates must be
real ISO dates (``2025-02-30`` is rejected). Every error is a
:class:`ParamError` whose message names the key, where the value came from
(the params file, ``-p`` for the command line, ``--data``) and what was
expected.

In a notebook, the first code cell after the ``parameters`` cell is::

    P = sb.params.load("funnel", globals())   # P.as_of, P["region"]
"""
from __future__ import annotations

import ast
import datetime as _dt
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterable, Mapping, Sequence

import yaml
from salesbench.core import i18n
from salesbench.core.errors import CheckError, ParamError  # noqa: F401  (re-exported)
from pydantic import BeforeValidator, ConfigDict, ValidationError, create_model

#: Keys every notebook has, with their defaults.
COMMON_DEFAULTS: dict[str, Any] = {"data": "demo", "out_dir": ".", "lang": "en"}
#: Meta keys of a declaration file (not parameters).
META_KEYS = ("_types", "_title", "_requires", "_order", "_check")
#: Reserved top-level keys of a run file (``-f``).
RUN_FILE_KEYS = ("sweep", "notebooks")
#: Names a parameter cannot have: they are attributes/methods of :class:`Params`.
RESERVED_NAMES = frozenset({"name", "label", "sources", "as_dict", "plain", "changed", "keys", "items", "values",
                            "get"})
#: Order given to notebooks whose declaration has no ``_order``.
DEFAULT_ORDER = 100

BASE_TYPES = ("bool", "int", "float", "str", "date", "list", "dict")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that an impossible date (``2025-02-30``) stays a string.

    PyYAML raises a bare ``ValueError`` for it while parsing, which cannot name
    the key; kept as text, the date check below reports it with key and file.
    """


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def yaml_load(text: str) -> Any:
    """Parse YAML like ``yaml.safe_load`` (YAML 1.1 rules), keeping impossible dates as text."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader




# --------------------------------------------------------------------------- locations
def repo_root() -> Path:
    """The project folder that holds ``salesbench/``, ``params/`` and ``notebooks/``."""
    import salesbench

    return Path(salesbench.__file__).resolve().parents[1]


def params_dir() -> Path:
    """Folder of the declaration files: ``$SALESBENCH_PARAMS`` or ``<repo>/params``."""
    env = os.environ.get("SALESBENCH_PARAMS")
    return Path(env).expanduser().resolve() if env else repo_root() / "params"


def notebooks_dir() -> Path:
    """Folder of the notebooks: ``$SALESBENCH_NOTEBOOKS`` or ``<repo>/notebooks``."""
    env = os.environ.get("SALESBENCH_NOTEBOOKS")
    return Path(env).expanduser().resolve() if env else repo_root() / "notebooks"


def notebook_names() -> list[str]:
    """Names of the notebooks in :func:`notebooks_dir`, in report order (``_order``, then name)."""
    folder = notebooks_dir()
    names = [p.stem for p in sorted(folder.glob("*.ipynb"))] if folder.is_dir() else []
    return sorted(names, key=lambda n: (declaration(n).order, n))


# --------------------------------------------------------------------------- types
def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, _dt.datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, _dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(f"expected true or false, got {_describe(v)}")


def _check_int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise ValueError(f"expected a whole number, got {_describe(v)}")


def _check_float(v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str) and _FLOAT_RE.match(v.strip()):
        # YAML 1.1 reads 1e-3 (no dot in the mantissa) as a string.
        return float(v.strip())
    raise ValueError(f"expected a number, got {_describe(v)}")


def _check_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        raise ValueError(
            f"expected text, got {_describe(v)} — YAML reads unquoted yes/no/on/off/true/false as booleans; "
            'quote the value (key: "yes" in a file, -p \'key="yes"\' on the command line)'
        )
    if isinstance(v, (int, float, _dt.date)):
        raise ValueError(f"expected text, got {_describe(v)}; quote the value to pass it as text")
    raise ValueError(f"expected text, got {_describe(v)}")


def _check_date(v: Any) -> _dt.date:
    if isinstance(v, _dt.datetime):
        if v.time() == _dt.time(0) and v.tzinfo is None:
            return v.date()
        raise ValueError(f"expected a date (YYYY-MM-DD), got {_describe(v)}")
    if isinstance(v, _dt.date):
        return v
    if isinstance(v, str) and _DATE_RE.match(v.strip()):
        try:
            return _dt.date.fromisoformat(v.strip())
        except ValueError as exc:
            raise ValueError(f"expected a date (YYYY-MM-DD), got {_describe(v)}: {exc}") from None
    raise ValueError(f"expected a date (YYYY-MM-DD), got {_describe(v)}")


def _check_list(v: Any) -> list:
    if isinstance(v, (list, tuple)):
        return list(v)
    raise ValueError(f"expected a list, got {_describe(v)}")


def _check_dict(v: Any) -> dict:
    if isinstance(v, Mapping):
        return dict(v)
    raise ValueError(f"expected a mapping, got {_describe(v)}")


_CHECKS = {
    "bool": _check_bool,
    "int": _check_int,
    "float": _check_float,
    "str": _check_str,
    "date": _check_date,
    "list": _check_list,
    "dict": _check_dict,
}


@dataclass(frozen=True)
class ParamType:
    """A parsed type string such as ``"date?"``, ``"int|str"`` or ``"list[str]"``."""

    alternatives: tuple[str, ...]  # each a base type or "list[<base>]"
    nullable: bool = False

    @classmethod
    def parse(cls, spec: str) -> "ParamType":
        text = str(spec).strip().replace(" ", "")
        nullable = text.endswith("?")
        if nullable:
            text = text[:-1]
        alts = tuple(a for a in text.split("|") if a)
        if not alts:
            raise ValueError(f"empty type {spec!r}")
        for alt in alts:
            m = re.fullmatch(r"list\[(\w+)\]", alt)
            base = m.group(1) if m else alt
            if base not in BASE_TYPES or (m and base in ("list", "dict")):
                raise ValueError(
                    f"unknown type {spec!r} (use {', '.join(BASE_TYPES)}, list[<type>], 'a|b' and a trailing '?')"
                )
        return cls(alts, nullable)

    @classmethod
    def of_default(cls, value: Any) -> "ParamType":
        """The type implied by a default value (``None`` has no type)."""
        if isinstance(value, bool):
            return cls(("bool",))
        if isinstance(value, int):
            return cls(("int",))
        if isinstance(value, float):
            return cls(("float",))
        if isinstance(value, _dt.datetime):
            raise ValueError("timestamps are not a parameter type; use a date")
        if isinstance(value, _dt.date):
            return cls(("date",))
        if isinstance(value, str):
            return cls(("str",))
        if isinstance(value, list):
            return cls(("list",))
        if isinstance(value, dict):
            return cls(("dict",))
        raise ValueError(f"cannot infer a type from {_describe(value)}")

    def __str__(self) -> str:
        return "|".join(self.alternatives) + ("?" if self.nullable else "")

    def check(self, value: Any) -> Any:
        """Return the value converted to this type, or raise ``ValueError`` saying what was expected."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"expected {self.describe()}, got null")
        errors = []
        for alt in self.alternatives:
            m = re.fullmatch(r"list\[(\w+)\]", alt)
            try:
                if m:
                    items = _check_list(value)
                    out = []
                    for i, item in enumerate(items):
                        try:
                            out.append(_CHECKS[m.group(1)](item))
                        except ValueError as exc:
                            raise ValueError(f"item {i} of the list: {exc}") from None
                    return out
                return _CHECKS[alt](value)
            except ValueError as exc:
                errors.append(str(exc))
        if len(errors) == 1:
            raise ValueError(errors[0])
        raise ValueError(f"expected {self.describe()}, got {_describe(value)}")

    def describe(self) -> str:
        words = {
            "bool": "true/false", "int": "a whole number", "float": "a number", "str": "text",
            "date": "a date (YYYY-MM-DD)", "list": "a list", "dict": "a mapping",
        }
        parts = []
        for alt in self.alternatives:
            m = re.fullmatch(r"list\[(\w+)\]", alt)
            parts.append(f"a list of {words[m.group(1)]}" if m else words[alt])
        return " or ".join(parts) + (" or null" if self.nullable else "")


def to_plain(value: Any) -> Any:
    """A validated value as plain JSON-able Python (dates → ISO strings), as injected into notebooks."""
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- declarations
@dataclass
class Declaration:
    """What ``params/<name>.yaml`` declares for one notebook."""

    name: str
    path: Path | None
    defaults: dict[str, Any]
    types: dict[str, ParamType]
    title: str
    order: int = DEFAULT_ORDER
    requires: list[str] = field(default_factory=list)
    check: str | None = None  # "module:callable" run on the validated values (cross-key rules)

    @property
    def source(self) -> str:
        return str(self.path) if self.path else f"the built-in defaults of {self.name}"

    def model(self):
        """A pydantic model of the parameters (every key optional with its default, extra keys forbidden)."""
        fields = {}
        for key, ptype in self.types.items():
            fields[key] = (Annotated[Any, BeforeValidator(ptype.check)], self.defaults[key])
        return create_model(
            f"{_identifier(self.name)}_params", __config__=ConfigDict(extra="forbid"), **fields
        )


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name) or "notebook"


def _read_yaml(path: Path, what: str) -> Any:
    try:
        if path.is_dir():
            raise ParamError(f"{path}: cannot read {what}: it is a folder, not a file", source=str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise ParamError(f"{path}: cannot read {what}: {exc.strerror}", source=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ParamError(f"{path}: {what} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at position {exc.start} "
                         f"(line {line}); save it as UTF-8", source=str(path)) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark from Windows editors
    try:
        return yaml_load(text)
    except yaml.YAMLError as exc:
        raise ParamError(f"{path}: not valid YAML{_yaml_where(exc)}", source=str(path)) from None


def _title_from_notebook(name: str) -> str | None:
    nb = notebooks_dir() / f"{name}.ipynb"
    if not nb.exists():
        return None
    try:
        cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", []))
            for line in src.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


_DECL_CACHE: dict[tuple[str, str, float], Declaration] = {}


def declaration(name: str) -> Declaration:
    """Read and check ``<params_dir>/<name>.yaml``.

    A notebook without a declaration file gets the common keys only, its title
    from its first ``# `` heading and order :data:`DEFAULT_ORDER`. Raises
    :class:`ParamError` naming the file for a malformed declaration (a ``null``
    default without ``_types``, a default that does not match its declared
    type, an unknown meta key or type string).
    """
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name or ""):
        raise ParamError(f"{name!r} is not a notebook name", source="command line")
    path = params_dir() / f"{name}.yaml"
    stamp = path.stat().st_mtime if path.exists() else -1.0
    cache_key = (str(path), name, stamp)
    if cache_key in _DECL_CACHE:
        return _DECL_CACHE[cache_key]
    raw: Any = {}
    if path.exists():
        raw = _read_yaml(path, "the parameter declaration") or {}
        if not isinstance(raw, dict):
            raise ParamError(f"{path}: a parameter declaration must be a mapping of key: default", source=str(path))
    src = str(path)
    meta = {k: raw.pop(k) for k in list(raw) if isinstance(k, str) and k.startswith("_")}
    unknown_meta = sorted(set(meta) - set(META_KEYS))
    if unknown_meta:
        raise ParamError(
            f"{src}: unknown meta key {unknown_meta[0]!r} (meta keys: {', '.join(META_KEYS)})",
            key=unknown_meta[0], source=src,
        )
    defaults: dict[str, Any] = dict(COMMON_DEFAULTS)
    for key, value in raw.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ParamError(f"{src}: parameter name {key!r} is not a valid Python identifier", key=str(key), source=src)
        if key in RESERVED_NAMES:
            raise ParamError(f"{src}: '{key}' cannot be a parameter name (reserved: {', '.join(sorted(RESERVED_NAMES))})",
                             key=key, source=src)
        defaults[key] = value
    declared_types = meta.get("_types") or {}
    if not isinstance(declared_types, dict):
        raise ParamError(f"{src}: _types must be a mapping of key: type", key="_types", source=src)
    types: dict[str, ParamType] = {}
    for key, value in defaults.items():
        try:
            if key in declared_types:
                types[key] = ParamType.parse(declared_types[key])
            elif value is None:
                raise ValueError("its default is null, so declare its type under _types (e.g. \"date?\")")
            else:
                types[key] = ParamType.of_default(value)
            defaults[key] = types[key].check(value)
        except ValueError as exc:
            raise ParamError(f"{src}: parameter '{key}': {exc}", key=key, source=src) from None
    extra_types = sorted(set(declared_types) - set(defaults))
    if extra_types:
        raise ParamError(f"{src}: _types names '{extra_types[0]}', which has no default", key=extra_types[0], source=src)
    requires = meta.get("_requires") or []
    if isinstance(requires, str):
        requires = [requires]
    from salesbench.core import schema

    for table in requires:
        if table not in schema.TABLE_NAMES:
            raise ParamError(
                f"{src}: _requires names {table!r}, not a canonical table ({', '.join(schema.TABLE_NAMES)})",
                key="_requires", source=src,
            )
    order = meta.get("_order", DEFAULT_ORDER)
    if isinstance(order, bool) or not isinstance(order, int):
        raise ParamError(f"{src}: _order must be a whole number, got {_describe(order)}", key="_order", source=src)
    title = meta.get("_title") or _title_from_notebook(name) or name.replace("_", " ").capitalize()
    check = meta.get("_check")
    if check is not None and (not isinstance(check, str) or ":" not in check):
        raise ParamError(f"{src}: _check must be 'module:callable', got {_describe(check)}", key="_check", source=src)
    decl = Declaration(
        name=name, path=path if path.exists() else None, defaults=defaults, types=types,
        title=str(title), order=order, requires=list(requires), check=check,
    )
    _DECL_CACHE[cache_key] = decl
    return decl


def defaults(name: str) -> dict[str, Any]:
    """The declared defaults of notebook ``name`` (validated, dates as ``datetime.date``)."""
    return dict(declaration(name).defaults)


# --------------------------------------------------------------------------- validated values
class Params(Mapping[str, Any]):
    """Validated parameters: attribute access (``P.as_of``) and dict access (``P["as_of"]``).

    ``label`` names a sweep set (``"region=North"``) and is ``None`` otherwise;
    ``sources`` maps each key to where its value came from.
    """

    def __init__(self, name: str, values: Mapping[str, Any], label: str | None = None,
                 sources: Mapping[str, str] | None = None):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "sources", dict(sources or {}))

    name = property(lambda self: self._name)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):  # internals (copy/pickle probe these before __init__ has run)
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"notebook {self._name!r} has no parameter {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Params are read-only; change the parameters cell or the params file")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def plain(self) -> dict[str, Any]:
        """Values as plain JSON types (dates → ISO strings), as Papermill injects them."""
        return {k: to_plain(v) for k, v in self._values.items()}

    def changed(self) -> dict[str, Any]:
        """The values that differ from the declared defaults."""
        d = defaults(self._name)
        return {k: v for k, v in self._values.items() if d.get(k) != v}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Params({self._name!r}, {inner})"


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" — did you mean '{close[0]}'?" if close else ""


def validate(name: str, values: Mapping[str, Any], sources: Mapping[str, str] | None = None,
             label: str | None = None, default_source: str = "parameters") -> Params:
    """Validate ``values`` (a subset of the declared keys) against notebook ``name``'s declaration.

    Missing keys take their defaults. ``sources`` maps a key to where its value
    came from, for the error message (``default_source`` otherwise). Raises
    :class:`ParamError` for an unknown key, a wrong type or a bad date.
    """
    decl = declaration(name)
    sources = dict(sources or {})
    for key in values:
        if key not in decl.types:
            src = sources.get(key, default_source)
            raise ParamError(
                f"{src}: unknown parameter '{key}' for notebook '{name}'{_suggest(key, decl.types)} "
                f"(it declares: {', '.join(decl.types)}; declarations in {decl.source})",
                key=key, source=src,
            )
    try:
        model = decl.model().model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err.get("loc") else None
        src = sources.get(key, default_source) if key else default_source
        msg = err.get("msg", "invalid value")
        msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
        if key in decl.types:
            msg = f"{msg} (declared type: {decl.types[key]})"
        raise ParamError(f"{src}: parameter '{key}' of notebook '{name}': {msg}", key=key, source=src) from None
    out = {k: getattr(model, k) for k in decl.types}
    if "lang" in out:
        try:
            out["lang"] = i18n.normalize(out["lang"])
        except ValueError as exc:
            src = sources.get("lang", default_source)
            raise ParamError(f"{src}: parameter 'lang' of notebook '{name}': {exc}", key="lang", source=src) from None
    if decl.check:
        _run_check(decl, out, sources, default_source)
    return Params(name, out, label=label, sources={k: sources.get(k, decl.source) for k in out})




def _run_check(decl: "Declaration", values: dict[str, Any], sources: Mapping[str, str], default_source: str) -> None:
    """Run the declaration's ``_check`` hook (rules across keys, e.g. weights summing to 1).

    The hook takes the validated values and raises ``ValueError`` when they are
    inconsistent; that becomes a :class:`ParamError` — before any kernel starts.
    A :class:`CheckError` names its key: the message then says where that key's
    value came from (or, for a default, where the changed values came from).
    A hook that cannot be imported is an error in the declaration file.
    """
    import importlib

    module, _, attr = decl.check.partition(":")
    try:
        fn: Any = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as exc:
        raise ParamError(f"{decl.source}: _check {decl.check!r} cannot be loaded: {exc}", key="_check",
                         source=decl.source) from None
    try:
        fn(dict(values))
    except ValueError as exc:
        changed = sorted({sources[k] for k in values if k in sources})
        src = ", ".join(changed) if changed else (default_source if default_source != "parameters" else decl.source)
        key = getattr(exc, "key", None)
        if key is not None:
            src = sources.get(key) or src
            raise ParamError(f"{src}: parameter '{key}' of notebook '{decl.name}': {exc}", key=key, source=src) from None
        raise ParamError(f"{src}: parameters of notebook '{decl.name}': {exc}", source=src) from None


def load(name: str, namespace: Mapping[str, Any] | None = None) -> Params:
    """Validate a notebook's current parameter values; the first code cell of every notebook.

    ``P = sb.params.load("funnel", globals())`` reads the declared keys from the
    notebook's namespace (the ``parameters`` cell plus anything Papermill
    injected), fills missing keys with their defaults and returns validated
    :class:`Params` (dates as ``datetime.date``). Raises :class:`ParamError`.
    """
    decl = declaration(name)
    ns = namespace or {}
    values = {k: ns[k] for k in decl.types if k in ns}
    return validate(name, values, default_source=f"notebook {name} (parameters cell / injected parameters)")


# --------------------------------------------------------------------------- run files
def parse_override(text: str) -> tuple[str | None, str, Any]:
    """``"key=value"`` → ``(None, key, value)``; ``"funnel.key=value"`` → ``("funnel", key, value)``.

    The value is parsed as a YAML scalar (``10`` → int, ``2025-06-30`` → date,
    ``[a, b]`` → list, ``{a: 1}`` → mapping, empty → null); text that is not
    valid YAML, or a bare ``a: b``, stays text.
    """
    if "=" not in text:
        raise ParamError(f"-p: expected key=value, got {text!r}", source="-p")
    key, _, raw = text.partition("=")
    key = key.strip()
    target = None
    if "." in key:
        target, _, key = key.partition(".")
    if target is not None and not target:
        raise ParamError(f"-p: {text!r}: nothing before the '.'; write key=value or NOTEBOOK.key=value",
                         key=key, source="-p")
    if not key.isidentifier():
        raise ParamError(f"-p: {key!r} is not a parameter name (in {text!r}); write key=value or NOTEBOOK.key=value",
                         key=key, source="-p")
    try:
        value = yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict) and not raw.strip().startswith("{"):
        value = raw  # "a: b" is meant as text on a command line; "{a: 1, b: 2}" as a mapping
    return target, key, value


@dataclass
class RunFile:
    """A parsed ``-f`` file: plain keys, a top-level sweep, per-notebook sections."""

    path: str
    plain: dict[str, Any]
    sweep: list[dict[str, Any]] | None
    sections: dict[str, "RunFile"]


def read_run_file(path: str | os.PathLike) -> RunFile:
    """Parse a parameter file given with ``-f`` (format in the module docstring)."""
    raw = _read_yaml(Path(path), "the parameter file")
    return _run_file_from(raw if raw is not None else {}, str(path))


def _run_file_from(raw: Any, src: str, nested: bool = False) -> RunFile:
    if not isinstance(raw, dict):
        raise ParamError(f"{src}: a parameter file must be a mapping of key: value, got {_describe(raw)}", source=src)
    plain, sweep, sections = {}, None, {}
    for key, value in raw.items():
        if key == "sweep":
            if not isinstance(value, list) or not value or not all(isinstance(s, dict) for s in value):
                raise ParamError(f"{src}: 'sweep' must be a non-empty list of mappings (one parameter set each)",
                                 key="sweep", source=src)
            sweep = [dict(s) for s in value]
            for item in sweep:
                for k in item:
                    if not isinstance(k, str) or not (k.isidentifier() or k == "_label"):
                        raise ParamError(f"{src}: sweep set {to_plain(item)!r}: {k!r} is not a parameter name",
                                         key="sweep", source=src)
        elif key == "notebooks" and not nested:
            if not isinstance(value, dict):
                raise ParamError(f"{src}: 'notebooks' must map notebook names to parameter sections",
                                 key="notebooks", source=src)
            for nb, body in value.items():
                if body is not None and not isinstance(body, dict):
                    raise ParamError(f"{src}: 'notebooks.{nb}' must be a mapping of key: value, got {_describe(body)}",
                                     key="notebooks", source=src)
                sections[str(nb)] = _run_file_from(body or {}, src, nested=True)
        elif isinstance(key, str) and key.startswith("_"):
            raise ParamError(f"{src}: '{key}' is a declaration meta key; it belongs in params/<name>.yaml",
                             key=key, source=src)
        else:
            plain[str(key)] = value
    return RunFile(src, plain, sweep, sections)


def _sweep_label(item: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={to_plain(v)}" for k, v in item.items())


def resolve_all(names: Sequence[str], files: Sequence[str | os.PathLike] = (),
                overrides: Sequence[str] | Mapping[str, Any] = (), data: str | None = None,
                lang: str | None = None) -> dict[str, list[Params]]:
    """Validated parameter sets for every requested notebook (see the module docstring for precedence).

    ``lang`` (``salesbench run --lang``) sets the common key ``lang`` of every
    notebook like ``--data`` sets ``data``: above files and sweeps, below ``-p``.
    Returns ``{name: [Params, ...]}`` — one entry per sweep set (a single entry
    without a sweep). Every value is validated here, so a run can fail with
    :class:`ParamError` before any kernel starts.
    """
    if lang is not None:
        try:
            lang = i18n.normalize(lang)
        except ValueError as exc:
            raise ParamError(f"--lang: {exc}", key="lang", source="--lang") from None
    names = list(names)
    decls = {n: declaration(n) for n in names}
    run_files = [read_run_file(f) for f in files]
    _check_sections(run_files, decls)
    parsed = _parse_overrides(overrides, decls)
    _check_unknown_keys(run_files, parsed, decls, names)  # up front, so that the message names the right file
    return {name: _parameter_sets(name, decls[name], run_files, parsed, data, lang) for name in names}


def _check_sections(run_files: list[RunFile], decls: Mapping[str, Declaration]) -> None:
    """A ``notebooks:`` section must name an existing notebook."""
    for rf in run_files:
        for nb in rf.sections:
            if nb not in decls and nb not in _all_notebook_names():
                raise ParamError(f"{rf.path}: section for unknown notebook '{nb}'{_suggest(nb, _all_notebook_names())}",
                                 key=nb, source=rf.path)


def _parse_overrides(overrides: Sequence[str] | Mapping[str, Any],
                     decls: Mapping[str, Declaration]) -> list[tuple[str | None, str, Any]]:
    """``-p`` values as ``(notebook or None, key, value)``; ``NAME.KEY`` must name a notebook of this run."""
    if isinstance(overrides, Mapping):
        parsed = [(None, k, v) for k, v in overrides.items()]
    else:
        parsed = [parse_override(o) for o in overrides]
    for target, key, _ in parsed:
        if target is not None and target not in decls:
            raise ParamError(f"-p: '{target}.{key}' names notebook '{target}', which is not part of this run",
                             key=key, source="-p")
    return parsed


def _check_known(decls: Mapping[str, Declaration], key: str, src: str, scope: Iterable[str]) -> None:
    """``key`` (from ``src``) must be declared by one of the notebooks ``scope``; ``out_dir`` is the runner's."""
    scope = list(scope)
    if not any(key in decls[n].types for n in scope):
        known = sorted({k for n in scope for k in decls[n].types})
        where = f"notebook '{scope[0]}'" if len(scope) == 1 else f"any of the notebooks {', '.join(scope)}"
        raise ParamError(
            f"{src}: unknown parameter '{key}'{_suggest(key, known)} — not declared by {where} "
            f"(declared keys: {', '.join(known)})",
            key=key, source=src,
        )
    if key == "out_dir" and src != "notebook":
        raise ParamError(f"{src}: 'out_dir' is set by the runner; use --out to choose the output folder",
                         key=key, source=src)


def _check_sweep_keys(decls: Mapping[str, Declaration], sweep: list | None, src: str, scope: Iterable[str]) -> None:
    for item in sweep or []:
        for key in item:
            if key != "_label":
                _check_known(decls, key, src, scope)


def _check_unknown_keys(run_files: list[RunFile], parsed: list[tuple[str | None, str, Any]],
                        decls: Mapping[str, Declaration], names: list[str]) -> None:
    """Every key of every file, sweep set, section and ``-p`` is declared where it applies."""
    for rf in run_files:
        for key in rf.plain:
            _check_known(decls, key, rf.path, names)
        _check_sweep_keys(decls, rf.sweep, f"{rf.path} (sweep)", names)
        for nb, sec in rf.sections.items():
            if nb not in decls:
                continue
            for key in sec.plain:
                _check_known(decls, key, f"{rf.path} (notebooks.{nb})", [nb])
            _check_sweep_keys(decls, sec.sweep, f"{rf.path} (notebooks.{nb}.sweep)", [nb])
    for target, key, _ in parsed:
        _check_known(decls, key, "-p", [target] if target else names)


def _file_values(name: str, decl: Declaration, run_files: list[RunFile]):
    """Values from the run files for one notebook: ``(values, sources, sweep, sweep source)``; sections win."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def put(mapping: Mapping[str, Any], src: str) -> None:
        for k, v in mapping.items():
            if k in decl.types:
                values[k] = v
                sources[k] = src

    sweep, sweep_src = None, None
    for rf in run_files:
        put(rf.plain, rf.path)
        if rf.sweep is not None:
            sweep, sweep_src = rf.sweep, f"{rf.path} (sweep)"
    for rf in run_files:
        sec = rf.sections.get(name)
        if sec is not None:
            put(sec.plain, f"{rf.path} (notebooks.{name})")
            if sec.sweep is not None:
                sweep, sweep_src = sec.sweep, f"{rf.path} (notebooks.{name}.sweep)"
    return values, sources, sweep, sweep_src


def _parameter_sets(name: str, decl: Declaration, run_files: list[RunFile],
                    parsed: list[tuple[str | None, str, Any]], data: str | None,
                    lang: str | None = None) -> list[Params]:
    """One notebook's validated sets: file values ← sweep set ← ``--data``/``--lang`` ← ``-p``; sweep labels unique."""
    values, sources, sweep, sweep_src = _file_values(name, decl, run_files)
    sets: list[tuple[str | None, dict[str, Any], dict[str, str]]] = []
    seen_labels: set[str] = set()
    for item in sweep or [None]:
        v, s = dict(values), dict(sources)
        label = None
        if item is not None:
            applied = {k: x for k, x in item.items() if k in decl.types}
            if applied:
                label = str(item.get("_label") or _sweep_label(applied))
                for k, x in applied.items():
                    v[k], s[k] = x, sweep_src
        if data is not None:
            v["data"], s["data"] = data, "--data"
        if lang is not None and "lang" in decl.types:
            v["lang"], s["lang"] = lang, "--lang"
        for target, key, value in parsed:
            if (target is None or target == name) and key in decl.types:
                v[key], s[key] = value, "-p"
        if label is None and any(lbl is None for lbl, _, _ in sets):
            continue  # the notebook declares none of this sweep set's keys: it runs once
        if label is not None and label in seen_labels:
            raise ParamError(f"{sweep_src}: two sweep sets of '{name}' share the label {label!r}",
                             key="_label", source=sweep_src)
        if label is not None:
            seen_labels.add(label)
        sets.append((label, v, s))
    return [validate(name, v, sources=s, label=label, default_source=decl.source) for label, v, s in sets]


def resolve(name: str, files: Sequence[str | os.PathLike] = (),
            overrides: Sequence[str] | Mapping[str, Any] = (), data: str | None = None) -> list[Params]:
    """Validated parameter sets of one notebook: defaults ← ``files`` ← sweep ← ``data`` ← ``overrides``."""
    return resolve_all([name], files, overrides, data=data)[name]


def _all_notebook_names() -> list[str]:
    folder = notebooks_dir()
    return [p.stem for p in sorted(folder.glob("*.ipynb"))] if folder.is_dir() else []


# --------------------------------------------------------------------------- notebooks
def parameters_cell_values(notebook: str | os.PathLike) -> dict[str, Any]:
    """The literal assignments of a notebook's cell tagged ``parameters`` (``{}`` if none).

    Used to check that the parameters cell matches ``params/<name>.yaml``.
    Non-literal right-hand sides raise ``ValueError``.
    """
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell.get("source", []))
            out = {}
            for node in ast.parse(src).body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if isinstance(t, ast.Name) and node.value is not None:
                            out[t.id] = ast.literal_eval(node.value)
            return out
    return {}


def parameters_cell(p: Params) -> str:
    """Python source of a ``parameters`` cell holding ``p`` (dates as ISO strings), for interactive re-runs.

    A password in a database URL is left out (the data layer reads ``PGPASSWORD``).
    """
    from salesbench.core.secrets import split_secret

    lines = [f"# {p.name}" + (f" · {p.label}" if p.label else "")]
    for key, value in p.plain().items():
        if key == "data" and isinstance(value, str):
            value, password = split_secret(value)
            if password:
                lines.append("# the database password was removed: set PGPASSWORD in the environment")
        lines.append(f"{key} = {value!r}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m salesbench.report.params NAME [-f FILE] [-p key=value] [--data SRC]``.

    Prints the resolved parameters as a ``parameters`` cell (one per sweep set)
    to paste into the notebook in JupyterLab; exits 2 on a parameter error.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m salesbench.report.params",
                                     description="Print a notebook's resolved parameters as a parameters cell.")
    parser.add_argument("name")
    parser.add_argument("-f", "--file", dest="files", action="append", default=[])
    parser.add_argument("-p", "--param", dest="overrides", action="append", default=[])
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    try:
        sets = resolve(args.name, args.files, args.overrides, data=args.data)
    except ParamError as exc:
        from salesbench.core.secrets import redact

        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    print("\n".join(parameters_cell(p) for p in sets), end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def _yaml_where(exc: Exception) -> str:
    """`` at line L, column C: <problem>`` for a PyYAML error (one line), else the error text on one line."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is not None and problem:
        return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return ": " + " ".join(str(exc).split())
